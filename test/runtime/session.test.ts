/**
 * The Vault session (src/vault/session.ts): the only caller of login; a ledger of every token and every lease with the
 * token that created it; a dead token replaced exactly once; deferred releases; the exit sweep and its report.
 * Against a model of Vault (fake-vault.ts) on the fake clock: no HTTP, no process.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';
import { captureLogger } from '../vault-client/support.js';
import { VaultSession, REVOKE_POLICY_LINE } from '../../src/vault/session.js';
import { isPermissionDenied } from '../../src/vault/errors.js';
import { FakeAuth, FakeVault } from './fake-vault.js';

function setup(opts: { allowRevoke?: boolean } = {}) {
  const clock = new FakeClock();
  const vault = new FakeVault(clock);
  vault.allowRevoke = opts.allowRevoke ?? true;
  const auth = new FakeAuth(vault);
  const log = captureLogger();
  const session = new VaultSession({ client: vault, auth, clock, logger: log.logger });
  return { clock, vault, auth, log, session };
}

const dbRead = { method: 'GET', path: 'database/creds/app' } as const;
const kvRead = { method: 'GET', path: 'secret/data/app' } as const;
const leaseOf = (res: { body: unknown }): string => (res.body as { lease_id: string }).lease_id;

describe('VaultSession', () => {
  it('logs in once per role however many requests need a token at once', async () => {
    const { auth, session } = setup();
    await Promise.all([...Array.from({ length: 5 }, () => session.request('app', kvRead)), session.request('other', kvRead)]);
    expect(auth.logins).toBe(2);
  });

  it('records each lease with the token that created it, and renews it with that token after the role logged in again', async () => {
    const { vault, session } = setup();
    const first = leaseOf(await session.request('app', dbRead));
    const tokenA = session.currentGrant('app')!.token;
    const b = await session.replaceToken('app', tokenA);
    expect(b.token).not.toBe(tokenA);
    await session.renewLease(first, 'app', 60);
    expect(vault.calls.filter((c) => c.startsWith('PUT sys/leases/renew'))).toEqual([`PUT sys/leases/renew ${tokenA}`]);
    expect(session.ledger.findLease(first)!.token.grant.token).toBe(tokenA);
  });

  it('a token found dead by several requests at once is replaced by exactly one login; each request is retried once with it', async () => {
    const { vault, auth, session } = setup();
    const lease = leaseOf(await session.request('app', dbRead));
    const a = session.currentGrant('app')!.token;
    const dead: string[] = [];
    session.onTokenDead((t) => dead.push(t.grant.token));
    vault.revokeToken(a); // an operator: vault token revoke -accessor ...
    const [kv, db] = await Promise.all([
      session.request('app', kvRead),
      session.request('app', dbRead),
      session.renewLease(lease, 'app', 60).catch((e: unknown) => e),
    ]);
    expect(auth.logins).toBe(2);
    expect(dead).toEqual([a]);
    const b = session.currentGrant('app')!.token;
    expect(kv.status).toBe(200);
    expect(session.ledger.findLease(leaseOf(db))!.token.grant.token).toBe(b);
    // The lease of the dead token died with it: nothing to revoke, nothing reported as revoked.
    expect(session.ledger.findLease(lease)!.state).toBe('dead');
    // The scheduler's own re-login for the dead token is answered the replacement: still two logins.
    expect((await session.replaceToken('app', a)).token).toBe(b);
    expect(auth.logins).toBe(2);
  });

  it('a 403 from the policy (the token is fine) is an error, with no login', async () => {
    const { vault, auth, session } = setup();
    await session.request('app', kvRead);
    vault.forbidden.add('secret/data/other');
    const err = await session.request('app', { method: 'GET', path: 'secret/data/other' }).catch((e: unknown) => e);
    expect(isPermissionDenied(err)).toBe(true);
    expect(auth.logins).toBe(1);
    expect(vault.count('GET auth/token/lookup-self')).toBe(1);
  });

  it('a renew-self refused with 403 marks the token dead and replaces it', async () => {
    const { vault, auth, session } = setup();
    await session.request('app', kvRead);
    const a = session.currentGrant('app')!.token;
    vault.revokeToken(a);
    await expect(session.renewToken(a, 3600)).rejects.toThrow(/403/);
    await session.request('app', kvRead);
    expect(auth.logins).toBe(2);
    expect(session.currentGrant('app')!.token).not.toBe(a);
  });

  describe('a 403 on a token lookup-self accepts: the policy refused that path, the token is live', () => {
    const RENEW_SELF = 'path "auth/token/renew-self" { capabilities = ["update"] }';

    it('renew-self refused: the token stays in use (no login), answers "not renewable" with the TTL left, warned once naming the policy line', async () => {
      const { vault, auth, log, session, clock } = setup();
      vault.forbidden.add('auth/token/renew-self');
      await session.request('app', kvRead);
      const a = session.currentGrant('app')!.token;
      const dead: string[] = [];
      session.onTokenDead((t) => dead.push(t.grant.token));
      await clock.advance(600_000);
      const r = await session.renewToken(a, 3600);
      expect(r).toMatchObject({ renewable: false, durationSec: 3000 });
      expect(r.sentAt).toBe(clock.now());
      await session.request('app', kvRead);
      expect({ logins: auth.logins, dead, current: session.currentGrant('app')!.token }).toEqual({ logins: 1, dead: [], current: a });
      // Not asked again for this token; said once.
      expect(await session.renewToken(a, 3600)).toMatchObject({ renewable: false });
      expect(vault.count('POST auth/token/renew-self')).toBe(1);
      const warned = log.lines().filter((l) => l['policy'] === RENEW_SELF);
      expect(warned).toHaveLength(1);
      expect(warned[0]!['level']).toBe(40);
      expect(String(warned[0]!['msg'])).toContain(RENEW_SELF);
    });

    it('renew-self refused to a dead token: it is dead (lookup-self 403 too), replaced by one login', async () => {
      const { vault, auth, session } = setup();
      vault.forbidden.add('auth/token/renew-self');
      await session.request('app', kvRead);
      const a = session.currentGrant('app')!.token;
      vault.revokeToken(a);
      await expect(session.renewToken(a, 3600)).rejects.toThrow(/403/);
      await session.request('app', kvRead);
      expect(auth.logins).toBe(2);
    });

    it('renew-self refused and lookup-self unanswered: a transient failure (no status), the token stays live', async () => {
      const { vault, session } = setup();
      await session.request('app', kvRead);
      const a = session.currentGrant('app')!.token;
      vault.forbidden.add('auth/token/renew-self');
      vault.lookupSelf = async () => {
        throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
      };
      const err = (await session.renewToken(a, 3600).catch((e: unknown) => e)) as { status?: number; message: string };
      expect(err.status).toBeUndefined();
      expect(err.message).toMatch(/lookup-self could not tell/);
      expect(session.ledger.findToken(a)!.state).toBe('live');
    });

    it('token auth: the given token, looked up again by the next "login", keeps working and stays not renewable', async () => {
      const clock = new FakeClock();
      const vault = new FakeVault(clock);
      const given = vault.issueToken('app');
      const log = captureLogger();
      let logins = 0;
      const auth = {
        kind: 'token' as const,
        login: async () => {
          logins++;
          const info = await vault.lookupSelf(given.token);
          return { token: given.token, renewable: info.renewable, durationSec: info.ttlSec, obtainedAt: info.sentAt, byLogin: false };
        },
      };
      const session = new VaultSession({ client: vault, auth, clock, logger: log.logger });
      vault.forbidden.add('auth/token/renew-self');
      await session.request('app', kvRead);
      expect((await session.renewToken(given.token, 3600)).renewable).toBe(false);
      const again = await session.replaceToken('app', given.token);
      expect({ token: again.token === given.token, renewable: again.renewable }).toEqual({ token: true, renewable: false });
      await clock.advance(1000);
      expect((await session.request('other-role', kvRead)).status).toBe(200);
      expect(logins).toBe(2);
    });

    it('a token taken for dead that a login answers again (lookup-self accepts it) is live', async () => {
      const { session } = setup();
      const grant = { token: 's.given', renewable: true, durationSec: 60, obtainedAt: 0, byLogin: false };
      const rec = session.ledger.token('', 'app', grant);
      session.ledger.tokenDied(rec);
      expect(session.ledger.token('', 'app', grant).state).toBe('live');
    });

    it('sys/leases/renew refused: the lease answers "not renewable" with the time it has left, no login, warned once', async () => {
      const { vault, auth, log, session, clock } = setup();
      const lease = leaseOf(await session.request('app', dbRead));
      vault.forbidden.add('sys/leases/renew');
      await clock.advance(20_000);
      expect(await session.renewLease(lease, 'app', 60)).toMatchObject({ renewable: false, durationSec: 40 });
      expect(auth.logins).toBe(1);
      expect(log.lines().filter((l) => l['policy'] === 'path "sys/leases/renew" { capabilities = ["update"] }')).toHaveLength(1);
    });

    it("one role's token refused sys/leases/revoke does not stop revoking the leases of another role's token", async () => {
      const { vault, session } = setup();
      vault.forbiddenFor.set('norevoke', new Set(['sys/leases/revoke']));
      const l1 = leaseOf(await session.request('norevoke', dbRead));
      const l2 = leaseOf(await session.request('app', dbRead));
      const l3 = leaseOf(await session.request('norevoke', dbRead));
      await session.releaseLease(l1);
      await session.releaseLease(l2);
      await session.releaseLease(l3);
      expect({ l1: vault.leases.get(l1)!.revoked, l2: vault.leases.get(l2)!.revoked, l3: vault.leases.get(l3)!.revoked }).toEqual({ l1: false, l2: true, l3: false });
      // The refused token is not asked again.
      expect(vault.calls.filter((c) => c.startsWith('PUT sys/leases/revoke s.norevoke'))).toHaveLength(1);
    });

    it('revoke-self refused at exit: the token is live, counted as NOT revoked, the report names the policy line', async () => {
      const { vault, log, session } = setup();
      vault.forbidden.add('auth/token/revoke-self');
      await session.request('app', dbRead);
      const tok = session.currentGrant('app')!.token;
      const r = await session.revokeAll();
      expect(r).toEqual({
        leases: { revoked: 1, notRevoked: 0 },
        tokens: { revoked: 0, notRevoked: 1 },
        revokeDenied: false,
        missingPolicy: ['path "auth/token/revoke-self" { capabilities = ["update"] }'],
        kept: { leases: 0, tokens: 0 },
      });
      expect(vault.tokens.get(tok)!.alive).toBe(true);
      expect(log.lines().filter((l) => l['policy'] === 'path "auth/token/revoke-self" { capabilities = ["update"] }')).toHaveLength(1);
    });
  });

  it('a lease obtained for a caller that stopped waiting is revoked at once', async () => {
    const { vault, session } = setup();
    await session.token('app');
    const ac = new AbortController();
    const p = session.request('app', dbRead, ac.signal);
    ac.abort(new Error('gave up'));
    await expect(p).rejects.toThrow('gave up');
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(vault.leases.size).toBe(1);
    expect(vault.liveLeases()).toEqual([]);
  });

  describe('releases', () => {
    it('a replaced lease is not revoked while a file holds its credentials; it is once a newer rendering succeeded', async () => {
      const { vault, session } = setup();
      const lease = leaseOf(await session.request('app', dbRead));
      let held = true;
      session.setCredentialGate((id) => id === lease && held);
      await session.releaseLease(lease);
      expect(vault.leases.get(lease)!.alive).toBe(true);
      session.releaseDeferred();
      await new Promise((r) => setImmediate(r));
      expect(vault.leases.get(lease)!.alive).toBe(true);
      held = false;
      session.releaseDeferred();
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      expect(vault.leases.get(lease)!.revoked).toBe(true);
    });

    it('a replaced lease kept past its expiry is not revoked: tconfd says at info that it ran out by itself', async () => {
      const { clock, vault, log, session } = setup();
      const lease = leaseOf(await session.request('app', dbRead));
      let held = true; // the application not told yet (a held reload signal, --wait...)
      session.setCredentialGate((id) => id === lease && held);
      await session.releaseLease(lease);
      await clock.advance(vault.leaseTtlSec * 1000 + 1000);
      held = false;
      session.releaseDeferred();
      for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
      expect(vault.count('PUT sys/leases/revoke')).toBe(0);
      const said = log.lines().filter((l) => String(l['msg']).includes('expired while it was kept'));
      expect(said.map((l) => [l['level'], l['msg'], l['path']])).toEqual([
        [30, 'replaced lease expired while it was kept: not revoked, it ran out by itself', 'database/creds/app'],
      ]);
    });

    it('a replaced token is not revoked while a file holds credentials of one of its leases', async () => {
      const { vault, session } = setup();
      const lease = leaseOf(await session.request('app', dbRead));
      const a = session.currentGrant('app')!.token;
      await session.replaceToken('app', a);
      let held = true;
      session.setCredentialGate((id) => id === lease && held);
      await session.releaseToken(a);
      expect(vault.tokens.get(a)!.alive).toBe(true);
      held = false;
      session.releaseDeferred();
      for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
      expect(vault.tokens.get(a)!.revokedBySelf).toBe(true);
      expect(vault.leases.get(lease)!.alive).toBe(false);
    });

    it('without sys/leases/revoke: said once at info naming the policy line; later releases send nothing', async () => {
      const { vault, log, session } = setup({ allowRevoke: false });
      const l1 = leaseOf(await session.request('app', dbRead));
      const l2 = leaseOf(await session.request('app', dbRead));
      await session.releaseLease(l1);
      await session.releaseLease(l2);
      const said = log.lines().filter((l) => l['policy'] === REVOKE_POLICY_LINE);
      expect(said).toHaveLength(1);
      expect(said[0]!['level']).toBe(30);
      expect(String(said[0]!['msg'])).toMatch(/expire on their own/);
      expect(log.lines().filter((l) => (l['level'] as number) >= 40)).toEqual([]);
      expect(vault.count('PUT sys/leases/revoke')).toBe(1);
    });
  });

  describe('revokeAll (the exit sweep)', () => {
    it('revokes every lease recorded and not revoked, then every login token; the report counts them', async () => {
      const { vault, session } = setup();
      await session.request('app', dbRead);
      await session.request('app', dbRead);
      await session.request('other', dbRead);
      const r = await session.revokeAll();
      expect(r).toEqual({ leases: { revoked: 3, notRevoked: 0 }, tokens: { revoked: 2, notRevoked: 0 }, revokeDenied: false, missingPolicy: [], kept: { leases: 0, tokens: 0 } });
      expect(vault.liveLeases()).toEqual([]);
      expect(vault.liveTokens()).toEqual([]);
    });

    it('without sys/leases/revoke, revoke-self still takes the leases of a login token: counted as revoked', async () => {
      const { vault, session } = setup({ allowRevoke: false });
      await session.request('app', dbRead);
      await session.request('app', dbRead);
      const r = await session.revokeAll();
      expect(r).toEqual({ leases: { revoked: 2, notRevoked: 0 }, tokens: { revoked: 1, notRevoked: 0 }, revokeDenied: true, missingPolicy: [], kept: { leases: 0, tokens: 0 } });
      expect(vault.liveLeases()).toEqual([]);
    });

    it('a token replaced after an operator revoked it, and its leases, are revoked; the dead one is neither revoked nor a failure', async () => {
      const { vault, session } = setup();
      await session.request('app', dbRead);
      vault.revokeToken(session.currentGrant('app')!.token);
      await session.request('app', dbRead); // 403, lookup-self 403: a new login, retried
      const r = await session.revokeAll();
      expect(r.tokens).toEqual({ revoked: 1, notRevoked: 0 });
      expect(r.leases).toEqual({ revoked: 1, notRevoked: 0 });
      expect(vault.liveTokens()).toEqual([]);
      expect(vault.liveLeases()).toEqual([]);
    });

    it('leases kept on purpose (files hold them after a failed start) are not revoked, nor the token that created them', async () => {
      const { vault, session } = setup();
      const held = leaseOf(await session.request('app', dbRead));
      const unused = leaseOf(await session.request('other', dbRead));
      expect(session.keepLeases([held, 'no-such-lease'])).toEqual({ leases: 1, tokens: 1 });
      const r = await session.revokeAll();
      expect(r).toMatchObject({ leases: { revoked: 1, notRevoked: 0 }, tokens: { revoked: 1, notRevoked: 0 }, kept: { leases: 1, tokens: 1 } });
      expect({ held: vault.leases.get(held)!.alive, unused: vault.leases.get(unused)!.alive }).toEqual({ held: true, unused: false });
      expect(vault.tokens.get(session.ledger.findLease(held)!.token.grant.token)!.alive).toBe(true);
    });

    it('a token that expired before the sweep answers 403 to revoke-self: lookup-self (asked though the session is closing) finds it dead, nothing to report', async () => {
      const { vault, session, clock } = setup();
      vault.tokenTtlSec = 60;
      await session.request('app', kvRead);
      await clock.advance(61_000);
      const r = await session.revokeAll();
      expect(r.tokens).toEqual({ revoked: 0, notRevoked: 0 });
      expect(vault.count('GET auth/token/lookup-self')).toBe(1);
    });

    it('what Vault refuses to revoke is reported as not revoked, never as revoked', async () => {
      const { vault, session } = setup();
      await session.request('app', dbRead);
      const tok = session.currentGrant('app')!.token;
      const failing = async (): Promise<void> => {
        throw Object.assign(new Error('Vault did not answer: connection refused'), { status: undefined });
      };
      vault.revokeLease = failing;
      vault.revokeSelf = failing;
      const r = await session.revokeAll();
      expect(r).toEqual({ leases: { revoked: 0, notRevoked: 1 }, tokens: { revoked: 0, notRevoked: 1 }, revokeDenied: false, missingPolicy: [], kept: { leases: 0, tokens: 0 } });
      expect(vault.tokens.get(tok)!.alive).toBe(true);
    });

    it('waits (bounded) for a request in flight, and revokes the lease it brings', async () => {
      const { vault, session, clock } = setup();
      await session.token('app');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const exchange = vault.exchange.bind(vault);
      vault.exchange = async (req) => {
        await gate;
        return exchange(req);
      };
      const ac = new AbortController();
      const pending = session.request('app', dbRead, ac.signal).catch(() => undefined);
      ac.abort(new Error('SIGTERM'));
      const sweep = session.revokeAll();
      await clock.advance(100);
      release();
      const r = await sweep;
      await pending;
      expect(r.leases.revoked).toBe(1);
      expect(vault.liveLeases()).toEqual([]);
    });
  });
});
