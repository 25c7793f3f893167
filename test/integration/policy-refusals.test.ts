/**
 * A policy that refuses tconfd's token one of its own operations (renew-self, revoke-self) while the token is valid:
 * a 403 there is a policy refusal, not a dead token (lookup-self accepts it), and tconfd must tell the two apart.
 * - --auth token, renew-self refused: the given token keeps serving every read (it is not taken for dead);
 * - a login method, renew-self refused: the token is used until shortly before it expires, then replaced by ONE new
 *   login (its lease obtained again once); the old token is revoked, nothing of the run is alive after exit;
 * - revoke-self refused at exit: the exit log warns that the token was NOT revoked, naming the policy line, and never
 *   says "leases and tokens revoked".
 * Runs against the stand-in and against a real Vault alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, LEVEL, startTconfd, type LogLine } from '../support/tconfd.js';
import { createToken } from '../vault/setup.js';
import { database, jwtAuth, jwtRole, kv, leasesLeft, liveLeases, liveLoginTokens, marker, paths, policy, projectFiles, startWorld, tokenAlive, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let issuer: Awaited<ReturnType<typeof jwtAuth>>;
const seen: string[] = [];
const RENEW_SELF = 'path "auth/token/renew-self" { capabilities = ["update"] }';
const REVOKE_SELF = 'path "auth/token/revoke-self" { capabilities = ["update"] }';

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 300, maxTtl: 3600 }]);
  await kv(world, 'app', { password: marker('v1') });
  issuer = await jwtAuth(world);
  await policy(world, 'norenew', { 'database/creds/app': ['read'], 'secret/data/app': ['read'], 'auth/token/renew-self': ['deny'] });
  await policy(world, 'norevoke', { 'database/creds/app': ['read'], 'auth/token/revoke-self': ['deny'] });
  await jwtRole(world, 'norenew', ['norenew'], '20s', '2h');
  await jwtRole(world, 'norevoke', ['norevoke'], '1h', '2h');
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

const refused = (policyLine: string) => (l: LogLine): boolean => l['policy'] === policyLine;

describe('renew-self refused by the policy of a valid token', () => {
  it('--auth token: the refusal is warned once with the policy line, and the token keeps serving reads (a KV change is rendered)', async () => {
    const tok = await createToken(world.target, { policies: ['norenew'], ttl: '40s' });
    seen.push(tok.token);
    const root = tmp.make(projectFiles({ 'vault:app:secret/data/app': 'kv' }));
    const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'token', '-D', '--static-refresh', '1s'], {
      env: { VAULT_TOKEN: tok.token },
    });
    await t.ready();
    const warned = await t.waitForLog(refused(RENEW_SELF), { timeoutMs: 45_000 });
    expect(warned.level).toBe(LEVEL.warn);
    expect(warned.msg).toContain(RENEW_SELF);
    expect(await tokenAlive(world, tok.token)).toBe(true);
    const v2 = marker('v2');
    await kv(world, 'app', { password: v2 });
    await t.waitForFile(paths(root).file(), (c) => c.includes(v2), { timeoutMs: 20_000 });
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect({
      refusals: t.logs(refused(RENEW_SELF)).length,
      noValidToken: t.logs((l) => /no valid Vault token/.test(String(l['err'] ?? '') + l.msg)).length,
      takenForDead: t.logs('Vault no longer accepts').length,
    }).toEqual({ refusals: 1, noValidToken: 0, takenForDead: 0 });
  }, 90_000);

  it('a login method: one new login shortly before the token expires (not one per renewal), the old token revoked, nothing alive after exit', async () => {
    const jwt = await issuer.sign();
    seen.push(jwt);
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    const leasesBefore = new Set(await liveLeases(world, 'database/creds/app'));
    const root = tmp.make(projectFiles({ 'vault:norenew:database/creds/app': 'db' }));
    const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'JWT', '-D', '--revoke-grace', '1s'], {
      env: { JWT: jwt },
    });
    await t.ready();
    const first = readJson<{ secrets: { db: { username: string; password: string } } }>(paths(root).file()).secrets.db;
    seen.push(first.password);
    const warnedAt = (await t.waitForLog(refused(RENEW_SELF), { timeoutMs: 30_000 })).time;
    // The token (20 s) is used until shortly before it expires, then replaced by one login; its lease is obtained again.
    const relogin = await t.waitForLog('logged in to Vault', { count: 2, timeoutMs: 30_000 });
    expect(relogin.time - warnedAt, t.tail()).toBeGreaterThanOrEqual(0);
    await t.waitForFile(paths(root).file(), (c) => !c.includes(first.username), { timeoutMs: 20_000 });
    // After the grace, the replaced token is revoked (revoke-self is allowed): one token of the run alive, not two.
    await t.waitForLog('Vault token revoked (and the leases it created)', { timeoutMs: 20_000 });
    const aliveDuring = (await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a)).length;
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect({
      aliveDuring,
      logins: t.logs('logged in to Vault').length,
      churn: t.logs('cannot be renewed; acquiring a new one now').length,
      tokensOfThisRunAliveAfterExit: (await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a)).length,
      leasesOfThisRunAliveAfterExit: (await leasesLeft(world, 'database/creds/app', leasesBefore)).length,
    }, t.tail(20)).toEqual({ aliveDuring: 1, logins: 2, churn: 0, tokensOfThisRunAliveAfterExit: 0, leasesOfThisRunAliveAfterExit: 0 });
    expect(t.logs(refused(RENEW_SELF)).length).toBeLessThanOrEqual(1); // said once per role
  }, 120_000);
});

describe('revoke-self refused by the policy', () => {
  it('the exit log warns that the token was NOT revoked, naming the policy line; never "leases and tokens revoked"', async () => {
    const jwt = await issuer.sign();
    seen.push(jwt);
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    const root = tmp.make(projectFiles({ 'vault:norevoke:database/creds/app': 'db' }));
    const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'JWT', '-D'], { env: { JWT: jwt } });
    await t.ready();
    seen.push(readJson<{ secrets: { db: { password: string } } }>(paths(root).file()).secrets.db.password);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    const alive = (await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a));
    expect(alive).toHaveLength(1); // the policy forbids revoking it: the log must say so
    const warning = t.logs('NOT revoked', LEVEL.warn);
    expect({
      claimsRevoked: t.logs('leases and tokens revoked').length,
      notRevoked: warning.map((l) => l['notRevoked']),
      policy: warning.map((l) => l['policy']),
    }, t.tail()).toEqual({ claimsRevoked: 0, notRevoked: [{ leases: 0, tokens: 1 }], policy: [[REVOKE_SELF]] });
    expect(warning[0]!.msg).toContain(REVOKE_SELF);
  }, 60_000);
});

describe('secrecy', () => {
  it('no JWT, Vault token or database password in any output', () => {
    const text = allOutput();
    for (const s of seen) expect(text).not.toContain(s);
    expect(text).not.toMatch(/\bs\.[A-Za-z0-9]{24}\b|hvs\./);
  });
});
