/**
 * Issue 9, defects 5 and 6, through the CLI:
 * - without `update` on sys/leases/revoke (Vault's default policy), a replaced lease cannot be revoked: tconfd says so
 *   once at info, naming the policy line, sends no more revocations, warns about nothing, and at exit revoke-self of
 *   its login token still revokes every lease of the run (holds on a real Vault too);
 * - Vault answering 503 to every lease renewal, with long client retries: the renewal gives up in time and a new
 *   lease is obtained and rendered while the old one still lives (stand-in fault injection).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, LEVEL, startTconfd } from '../support/tconfd.js';
import { requireStandin } from '../vault/target.js';
import { createToken, writePolicy } from '../vault/setup.js';
import { database, jwtAuth, jwtRole, leasesLeft, liveLeases, paths, policy, projectFiles, startWorld, tokenAlive, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let jwt: string;
const seen: string[] = [];

interface Rendered {
  secrets: { db: { username: string; password: string }; self?: { id: string } };
}

beforeAll(async () => {
  world = await startWorld();
  await database(world, [
    { name: 'rot', defaultTtl: 6, maxTtl: 16 },
    { name: 'ten', defaultTtl: 10, maxTtl: 3600 },
  ]);
  // Only what the templates read: no sys/leases/revoke (the default policy does not grant it either).
  await writePolicy(
    world.target,
    'norevoke',
    'path "database/creds/rot" {\n  capabilities = ["read"]\n}\npath "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n',
  );
  const issuer = await jwtAuth(world);
  await jwtRole(world, 'norevoke', ['norevoke'], '1h', '2h');
  jwt = await issuer.sign();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('a policy without sys/leases/revoke', () => {
  it('a replaced lease is left to expire, said once at info with the policy line; at exit revoke-self takes every lease', async () => {
    const root = tmp.make(projectFiles({ 'vault:norevoke:database/creds/rot': 'db', 'vault:norevoke:auth/token/lookup-self': 'self' }));
    const before = new Set(await liveLeases(world, 'database/creds/rot'));
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--revoke-grace', '1s'], {
      env: { CI_JOB_JWT: jwt },
    });
    await t.ready();
    const first = readJson<Rendered>(paths(root).file());
    seen.push(first.secrets.db.password, first.secrets.self!.id);
    // The lease reaches its max TTL and is replaced; after the grace tconfd tries to revoke the old one.
    await t.waitForLog('obtained a new vault:norevoke:database/creds/rot');
    const said = await t.waitForLog((l) => typeof l['policy'] === 'string');
    expect(said.level).toBe(LEVEL.info);
    expect(said['policy']).toBe('path "sys/leases/revoke" { capabilities = ["update"] }');
    expect(said.msg).toMatch(/expire on their own/);

    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.logs((l) => typeof l['policy'] === 'string')).toHaveLength(1);
    // Nothing to warn about: this is how the policy is meant to work.
    expect(t.logs(() => true, LEVEL.warn), t.tail()).toEqual([]);
    // revoke-self revoked the token and, with it, every lease it created (the replaced one too, if still alive).
    expect(await tokenAlive(world, first.secrets.self!.id)).toBe(false);
    expect(await leasesLeft(world, 'database/creds/rot', before)).toEqual([]);
    expect(t.logs('leases and tokens revoked')).toMatchObject([{ tokens: 1 }]);
    if (world.standin) {
      // One refused revocation, then none attempted: no 403 storm.
      expect(world.standin.requests.filter((q) => q.path === 'sys/leases/revoke')).toHaveLength(1);
    }
  });
});

describe('Vault answering 503 to every renewal', () => {
  it('gives up renewing in time: a new lease is obtained and rendered before the old one expires', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'fault injection on sys/leases/renew');
    await policy(world, 'ten', { 'database/creds/ten': ['read'] });
    const token = (await createToken(world.target, { policies: ['ten'], ttl: '1h' })).token;
    seen.push(token);
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/ten': 'db' }));
    // Long client retries: 2 s doubling to 8 s, 6 attempts (~15 s on average: past a 10 s lease).
    const t = startTconfd(
      ['-d', paths(root).conf, '-D', '-u', world.addr, '--vault-retry-min', '2s', '--vault-retry-max', '8s', '--revoke-grace', '1s'],
      { env: { VAULT_TOKEN: token } },
    );
    await t.ready();
    const first = readJson<Rendered>(paths(root).file()).secrets.db;
    seen.push(first.password);
    const [old] = standin.leases().filter((l) => l.path === 'database/creds/ten' && !l.revoked);
    standin.failNext(1000, 503, { pathPrefix: 'sys/leases/renew' });

    const text = await t.waitForFile(paths(root).file(), (c) => !c.includes(first.username));
    // When tconfd wrote it (its log), not when this test, perhaps descheduled on a busy machine, looked.
    const renderedAt = (await t.waitForLog('template rendered: files changed')).time;
    seen.push((JSON.parse(text) as Rendered).secrets.db.password);
    const oldLease = standin.leases().find((l) => l.id === old!.id)!;
    // The new credentials were in the file while the old ones were still valid.
    expect(renderedAt, t.tail()).toBeLessThan(oldLease.expiresAt);
    const renewals = standin.requests.filter((q) => q.path === 'sys/leases/renew' && q.status === 503);
    expect(renewals.length).toBeGreaterThanOrEqual(1);
    expect(t.logs('did not succeed within half of its remaining TTL')).not.toEqual([]);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token or database password appears in any output', () => {
    const text = allOutput();
    for (const s of [jwt, ...seen]) expect(text).not.toContain(s);
  });
});
