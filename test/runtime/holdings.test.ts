/**
 * The scheduler's Vault holdings (src/runtime/holdings.ts) with the real scheduler, Vault session, vault source and
 * pipeline, against the Vault model on the fake clock: tokens found dead are replaced once and their leases obtained
 * again once; a token replaced at its max TTL has its leases obtained again before it is released; nothing held by a
 * file is released. No process, no HTTP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { createScheduler, type LeaseScheduler } from '../../src/leases/scheduler.js';
import type { Renderer } from '../../src/render/index.js';
import { holdVault } from '../../src/runtime/holdings.js';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { VaultSource } from '../../src/sources/vault.js';
import { Metrics } from '../../src/supervisor/health.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthMethod } from '../../src/vault/auth.js';
import { TokenAuth } from '../../src/vault/auth-token.js';
import type { VaultClient } from '../../src/vault/client.js';
import { VaultSession } from '../../src/vault/session.js';
import { seededRng } from '../leases/helpers.js';
import { memoryLogger, tempDirs } from '../core/helpers.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeAuth, FakeVault } from './fake-vault.js';

const mkdir = tempDirs('tconfd-holdings-');
let scheduler: LeaseScheduler | undefined;
afterEach(async () => {
  await scheduler?.stop({ revoke: false });
});

const SEC = 1000;
const MIN = 60 * SEC;

async function setup(
  opts: { tokenTtlSec?: number; leaseTtlSec?: number; givenToken?: boolean; auth?: (vault: FakeVault) => AuthMethod; settleTurns?: number } = {},
) {
  const clock = new FakeClock({ ...(opts.settleTurns !== undefined ? { settleTurns: opts.settleTurns } : {}) });
  const vault = new FakeVault(clock);
  vault.tokenTtlSec = opts.tokenTtlSec ?? 3600;
  vault.leaseTtlSec = opts.leaseTtlSec ?? 600;
  const auth: AuthMethod & { logins?: number } = opts.auth?.(vault) ?? (opts.givenToken === true ? givenTokenAuth(vault) : new FakeAuth(vault));
  const logs = memoryLogger();
  const session = new VaultSession({ client: vault, auth, clock, logger: logs.logger });
  const source = new VaultSource({ session, clock });
  const root = mkdir({
    'conf/app.json': JSON.stringify({
      'app.jsonnet': { dir: 'out', secrets: { 'vault:app:database/creds/app': 'db', 'vault:app:secret/data/app': 'kv' } },
    }),
    'conf/app.jsonnet': '{}',
  });
  const config = loadConfig({ dir: `${root}/conf`, env: {} });
  const pipeline = new Pipeline({ config, sources: { vault: source }, renderer: {} as Renderer, logger: logs.logger, clock });
  await pipeline.fetchAll();
  scheduler = createScheduler({ clock, rng: seededRng(3), logger: logs.logger, timing: { staticRefreshMs: 10 * SEC, graceMs: 5 * SEC } });
  const changed: string[] = [];
  holdVault({ scheduler, session, source, pipeline, metrics: new Metrics(), logger: logs.logger, changed: (raw) => changed.push(raw) });
  return { clock, vault, auth, session, pipeline, changed, scheduler, logs };
}

/** --auth token: every "login" looks the same given token up again. */
function givenTokenAuth(vault: FakeVault): AuthMethod & { logins: number } {
  const given = vault.issueToken('app');
  return {
    kind: 'token',
    logins: 0,
    async login() {
      this.logins++;
      const info = await vault.lookupSelf(given.token);
      return { token: given.token, renewable: info.renewable, durationSec: info.ttlSec, obtainedAt: info.sentAt, byLogin: false };
    },
  };
}

const dbLeases = (vault: FakeVault) => [...vault.leases.values()].filter((l) => l.path === 'database/creds/app');

describe('Vault holdings', () => {
  it('a token revoked by an operator: one login, the lease obtained again once with the new token; the scheduler follows it', async () => {
    const { clock, vault, auth, session, changed } = await setup();
    const a = session.currentGrant('app')!.token;
    vault.revokeToken(a);
    await clock.advance(30 * SEC); // KV refresh (10 s) gets the 403 first; the lease is renewed meanwhile too
    expect(auth.logins).toBe(2);
    const b = session.currentGrant('app')!.token;
    const leases = dbLeases(vault);
    expect(leases).toHaveLength(2);
    expect(leases[1]!.token).toBe(b);
    expect(changed.filter((r) => r === 'vault:app:database/creds/app')).toHaveLength(1);
    // Hours later: still those two logins and two leases (the token holding renews B, it does not log in again).
    await clock.advance(2 * 60 * MIN);
    expect(auth.logins).toBe(2);
    expect(dbLeases(vault).filter((l) => l.alive)).toHaveLength(1);
    // At exit: B and its lease are revoked; A was dead: nothing to do for it.
    const report = await session.revokeAll();
    expect(report.tokens).toEqual({ revoked: 1, notRevoked: 0 });
    expect(vault.liveTokens()).toEqual([]);
    expect(vault.liveLeases()).toEqual([]);
  });

  it('a token found dead while Vault cannot log tconfd in (restarted empty): once a login works, the dead lease is obtained again at once, not at the end of its backoff', async () => {
    const vaultEmpty = { on: false };
    const { clock, vault, auth, session, changed, scheduler: s } = await setup({
      auth: (v) => {
        const a = new FakeAuth(v);
        const login = a.login.bind(a);
        a.login = async (role) => {
          if (vaultEmpty.on) throw new Error('jwt login as role "app" at auth/jwt/login failed: Vault answered 400: missing client token');
          return login(role);
        };
        return a;
      },
    });
    const a = session.currentGrant('app')!.token;
    // Vault restarted empty: the token and its lease are gone, and logins fail until the operator sets it up again.
    vault.revokeToken(a);
    vaultEmpty.on = true;
    await clock.advance(2 * MIN);
    expect(auth.logins).toBe(1);
    const db = s.snapshot().find((h) => h.name === 'vault:app:database/creds/app')!;
    expect(db.consecutiveFailures).toBeGreaterThan(2);
    // Set up again: the first retry that logs in (whichever secret or the token's own) brings the others along.
    vaultEmpty.on = false;
    const from = changed.length;
    while ((auth.logins ?? 0) < 2) await clock.advance(100);
    await clock.advance(100);
    const b = session.currentGrant('app')!.token;
    expect(dbLeases(vault).filter((l) => l.token === b && l.alive)).toHaveLength(1);
    expect(changed.slice(from).filter((r) => r === 'vault:app:database/creds/app')).toHaveLength(1);
    expect(s.snapshot().every((h) => h.consecutiveFailures === 0), JSON.stringify(s.snapshot())).toBe(true);
    await clock.advance(10 * MIN);
    expect(auth.logins).toBe(2);
    expect(dbLeases(vault).filter((l) => l.token === b)).toHaveLength(1);
  });

  it('a token at its max TTL: a new login, its lease obtained again, and only then the old token released (after the grace)', async () => {
    const { clock, vault, auth, session } = await setup({ tokenTtlSec: 120, leaseTtlSec: 600 });
    // The token cannot be renewed past 120 s: Vault keeps its expiry.
    vault.renewSelf = async (token) => {
      const t = vault.tokens.get(token)!;
      return { durationSec: Math.max(0, Math.floor((t.expiresAt - clock.now()) / 1000)), renewable: true, warnings: [], sentAt: clock.now() };
    };
    const a = session.currentGrant('app')!.token;
    await clock.advance(2 * MIN);
    expect(auth.logins).toBe(2);
    const b = session.currentGrant('app')!.token;
    expect(b).not.toBe(a);
    const [first, second] = dbLeases(vault);
    expect(second?.token).toBe(b);
    // The old token was revoked with revoke-self, taking the old lease with it; the new lease lives.
    expect(vault.tokens.get(a)!.revokedBySelf).toBe(true);
    expect(first!.alive).toBe(false);
    expect(second!.alive).toBe(true);
  });

  it('--auth token, renew-self refused by the policy: the given token is "obtained" again as it nears its end, its leases are not replaced', async () => {
    const { clock, vault, session, logs } = await setup({ tokenTtlSec: 600, givenToken: true });
    vault.forbidden.add('auth/token/renew-self');
    const token = session.currentGrant('app')!.token;
    await clock.advance(8 * MIN);
    // Still the one token and the one lease (renewed with it): no "new token" lease churn.
    expect(session.currentGrant('app')!.token).toBe(token);
    expect(dbLeases(vault)).toHaveLength(1);
    expect(logs.records().filter((r) => String(r['msg']).startsWith('new Vault token'))).toEqual([]);
    expect(logs.records().filter((r) => r['policy'] === 'path "auth/token/renew-self" { capabilities = ["update"] }')).toHaveLength(1);
  });

  it('a replaced lease a file still holds is not released after the grace; it is once a newer rendering succeeded', async () => {
    const { clock, vault, session, logs } = await setup({ leaseTtlSec: 600 });
    let held = true;
    const [first] = dbLeases(vault);
    session.setCredentialGate((id) => held && id === first!.id);
    // Renewals stop extending it (Vault keeps its expiry): it is replaced well before it expires.
    vault.renewLease = async (_t, leaseId) => {
      const l = vault.leases.get(leaseId)!;
      return { durationSec: Math.max(0, Math.floor((l.expiresAt - clock.now()) / 1000)), renewable: true, warnings: [], sentAt: clock.now() };
    };
    while (dbLeases(vault).length < 2) await clock.advance(10 * SEC);
    await clock.advance(10 * SEC); // past the grace (5 s)
    expect(clock.now()).toBeLessThan(first!.expiresAt);
    expect(first!.revoked).toBe(false);
    expect(logs.records().filter((r) => r['msg'] === 'replaced lease kept for now: a rendered file still holds its credentials')).toHaveLength(1);
    held = false;
    session.releaseDeferred();
    await clock.advance(1);
    expect(first!.revoked).toBe(true);
  });
});

/**
 * Issue 9, defect 5: a token given with VAULT_TOKEN or --vault-token-file whose lookup-self says ttl 0 with an
 * expire_time has less than a second left (Vault rounds down); it is no root token. README (Vault › Authentication):
 * renewed at once, or, when it cannot be renewed, reported (naming where it comes from, never the token), used until it
 * expires, and a valid token written to the file afterwards is taken up.
 */
/** Advance fake time, then give real I/O (a token file read) a moment: a bounded step of a wait on an event. */
async function advanceWithIo(clock: FakeClock, ms: number): Promise<void> {
  await clock.advance(ms);
  await new Promise((r) => setTimeout(r, 2));
}

describe('--auth token: a given token in its last second', () => {
  const LEFT_MS = 600;
  const DB = 'vault:app:database/creds/app';
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const errorsOf = (logs: ReturnType<typeof memoryLogger>) => logs.records().filter((r) => (r['level'] as number) >= 50);
  const expiring = (logs: ReturnType<typeof memoryLogger>) =>
    logs.records().filter((r) => String(r['msg']).includes('expires within seconds and cannot be renewed'));

  it('renewable: renewed at once, by its own TTL (not a second at a time); no warning', async () => {
    let given = '';
    const { clock, vault, session, logs } = await setup({
      auth: (v) => {
        given = v.issueToken('app', { ttlMs: LEFT_MS }).token;
        return new TokenAuth({ client: v as unknown as VaultClient, token: given });
      },
    });
    // Told apart from a root token (which never expires): under a second left.
    const grant = session.currentGrant('app')!;
    expect(grant.durationSec).toBeGreaterThan(0);
    expect(grant.durationSec).toBeLessThanOrEqual(1);
    await clock.advance(LEFT_MS - 1);
    expect(vault.count('POST auth/token/renew-self')).toBe(1);
    expect(vault.tokens.get(given)!.expiresAt).toBeGreaterThan(clock.now() + 30 * MIN);
    // An hour later: renewed a few times, as a token of an hour is, not every second; still the one token and lease.
    await clock.advance(60 * MIN);
    expect(vault.count('POST auth/token/renew-self')).toBeLessThanOrEqual(4);
    expect(vault.liveTokens().map((t) => t.id)).toEqual([given]);
    expect(dbLeases(vault)).toHaveLength(1);
    expect(dbLeases(vault)[0]!.alive).toBe(true);
    expect(logs.records().filter((r) => (r['level'] as number) >= 40)).toEqual([]);
    expect(logs.text()).not.toContain(given);
  });

  for (const variant of ['not renewable', 'renew-self refused by the policy'] as const) {
    it(`${variant}: reported once at error naming the token file (never the token), used until it expires; a valid token written to the file is taken up and renewed`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'tconfd-given-'));
      dirs.push(dir);
      const file = join(dir, 'vault-token');
      let first = '';
      const { clock, vault, session, pipeline, changed, logs } = await setup({
        // The token file is read at each login: real I/O between fake timers.
        settleTurns: 5,
        auth: (v) => {
          first = v.issueToken('app', { ttlMs: LEFT_MS, renewable: variant === 'not renewable' ? false : true }).token;
          if (variant !== 'not renewable') v.forbidden.add('auth/token/renew-self');
          writeFileSync(file, `${first}\n`);
          return new TokenAuth({ client: v as unknown as VaultClient, tokenFile: file });
        },
      });
      const before = pipeline.current(DB)!.value;
      const refused = (): boolean => logs.records().some((r) => String(r['err'] ?? '').includes(`Vault refused the Vault token in ${file}`));
      // Each login reads the file (real I/O): fake time moves in steps, with a moment for the reads between them.
      for (let i = 0; i < 200 && !refused(); i++) await advanceWithIo(clock, 250);
      expect(vault.liveTokens()).toEqual([]);
      // Reported, at error, naming the file; once, however often the token was looked up again before it expired.
      const said = expiring(logs);
      expect(said, JSON.stringify(logs.records().slice(0, 12))).toHaveLength(1);
      expect(said[0]).toMatchObject({ level: 50, source: `the Vault token in ${file}` });
      expect(String(said[0]!['msg'])).toContain(`write a valid token to ${file}`);
      // Used until it expired, then refused: the secrets keep their last values, and the failures name the file.
      expect(refused(), logs.text()).toBe(true);
      expect(pipeline.current(DB)!.value).toEqual(before);

      // The operator (or an agent) writes a valid token to the file: taken up at the next retry (at most 30 s apart),
      // the lease obtained again with it; and renewed from then on (a renewable token of an hour, hours later).
      vault.forbidden.clear();
      const second = vault.issueToken('app').token;
      writeFileSync(file, `${second}\n`);
      const from = changed.length;
      for (let i = 0; i < 240 && !(session.currentGrant('app')?.token === second && dbLeases(vault).some((l) => l.token === second)); i++) {
        await advanceWithIo(clock, 250);
      }
      expect(session.currentGrant('app')?.token).toBe(second);
      expect(dbLeases(vault).filter((l) => l.token === second)).toHaveLength(1);
      expect(changed.slice(from)).toContain(DB);
      const errors = errorsOf(logs).length;
      await clock.advance(3 * 60 * MIN);
      expect(vault.liveTokens().map((t) => t.id)).toEqual([second]);
      expect(vault.liveLeases().filter((l) => l.path === 'database/creds/app')).toHaveLength(1);
      expect(expiring(logs)).toHaveLength(1);
      expect(errorsOf(logs)).toHaveLength(errors);
      for (const t of [first, second]) expect(logs.text()).not.toContain(t);
    });
  }
});
