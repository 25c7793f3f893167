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
import type { AuthMethod } from '../../src/vault/auth.js';
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

async function setup(opts: { tokenTtlSec?: number; leaseTtlSec?: number; givenToken?: boolean } = {}) {
  const clock = new FakeClock();
  const vault = new FakeVault(clock);
  vault.tokenTtlSec = opts.tokenTtlSec ?? 3600;
  vault.leaseTtlSec = opts.leaseTtlSec ?? 600;
  const auth: AuthMethod & { logins: number } = opts.givenToken === true ? givenTokenAuth(vault) : new FakeAuth(vault);
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
