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
      expect(r).toEqual({ leases: { revoked: 3, notRevoked: 0 }, tokens: { revoked: 2, notRevoked: 0 }, revokeDenied: false });
      expect(vault.liveLeases()).toEqual([]);
      expect(vault.liveTokens()).toEqual([]);
    });

    it('without sys/leases/revoke, revoke-self still takes the leases of a login token: counted as revoked', async () => {
      const { vault, session } = setup({ allowRevoke: false });
      await session.request('app', dbRead);
      await session.request('app', dbRead);
      const r = await session.revokeAll();
      expect(r).toEqual({ leases: { revoked: 2, notRevoked: 0 }, tokens: { revoked: 1, notRevoked: 0 }, revokeDenied: true });
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
      expect(r).toEqual({ leases: { revoked: 0, notRevoked: 1 }, tokens: { revoked: 0, notRevoked: 1 }, revokeDenied: false });
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
