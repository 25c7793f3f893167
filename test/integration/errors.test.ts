/**
 * Scenario 7: failures at start. tconfd exits 1 with one `tconfd: ...` line naming what failed (the secret path and
 * the role for a 403; the role and the login path for a refused login), writes no file, and never prints the JWT or a
 * Vault token.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { createToken, generateRsaKeyPair, signJwt } from '../vault/setup.js';
import { freePort } from '../vault/target.js';
import { jwtAuth, jwtRole, kv, marker, paths, policy, projectFiles, startWorld, type JwtIssuer, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let issuer: JwtIssuer;
let jwt: string;
let token: string;
const forged: string[] = [];
const kvValue = marker('kv');

beforeAll(async () => {
  world = await startWorld();
  await kv(world, 'app', { password: kvValue });
  await kv(world, 'other', { password: marker('other') });
  await policy(world, 'app', { 'secret/data/app': ['read'] });
  issuer = await jwtAuth(world);
  await jwtRole(world, 'app', ['app']);
  jwt = await issuer.sign();
  token = (await createToken(world.target, { policies: ['app'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

/** Run tconfd --once on a project with these secrets; returns it once exited, and where it would have written. */
async function runOnce(secrets: Record<string, string>, args: string[], env: Record<string, string>): Promise<{ t: Tconfd; out: string }> {
  const root = tmp.make(projectFiles(secrets));
  const t = startTconfd(['-d', paths(root).conf, '--once', '-u', world.addr, ...args], { env });
  await t.waitForExit();
  return { t, out: paths(root).out };
}

/** The one-line reason printed before exiting. */
function reason(t: Tconfd): string {
  expect(t.plain, t.tail()).toHaveLength(1);
  expect(t.plain[0]).toMatch(/^tconfd: /);
  return t.plain[0]!;
}

describe.concurrent('failures at start', () => {
  it('a 403 (policy without access to the path) exits 1 naming the path and the role', async () => {
    const { t, out } = await runOnce({ 'vault:app:secret/data/other': 'other' }, ['--auth', 'jwt', '-T', 'CI_JOB_JWT'], { CI_JOB_JWT: jwt });
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('secret/data/other');
    expect(line).toContain('role "app"');
    expect(line).toMatch(/permission denied/);
    expect(existsSync(out)).toBe(false);
  });

  it('a 403 with token auth names the path, not the token', async () => {
    const { t, out } = await runOnce({ 'vault:whatever:secret/data/other': 'other' }, [], { VAULT_TOKEN: token });
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('secret/data/other');
    expect(line).toMatch(/permission denied/);
    expect(existsSync(out)).toBe(false);
  });

  it('a JWT that Vault refuses (unknown signing key) exits 1 naming the role and the login path', async () => {
    const bad = await signJwt(generateRsaKeyPair().privateKey, { sub: 'ci-job-42', aud: ['tconfd'], iat: Math.floor(Date.now() / 1000) });
    forged.push(bad);
    const { t, out } = await runOnce({ 'vault:app:secret/data/app': 'kv' }, ['-T', 'CI_JOB_JWT', '-l', 'auth/jwt/login'], { CI_JOB_JWT: bad });
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('role "app"');
    expect(line).toContain('auth/jwt/login');
    expect(existsSync(out)).toBe(false);
  });

  it('an expired JWT exits 1 naming the role and the login path', async () => {
    const now = Math.floor(Date.now() / 1000);
    const expired = await signJwt(issuer.privateKey, { sub: 'ci-job-42', aud: ['tconfd'], iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
    forged.push(expired);
    const { t } = await runOnce({ 'vault:app:secret/data/app': 'kv' }, ['--auth', 'jwt', '-T', 'CI_JOB_JWT'], { CI_JOB_JWT: expired });
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('role "app"');
    expect(line).toContain('auth/jwt/login');
    expect(line).toMatch(/expired|exp/);
  });

  it('a role the auth method does not know exits 1 naming that role and the login path', async () => {
    const { t } = await runOnce({ 'vault:nosuch:secret/data/app': 'kv' }, ['--auth', 'jwt', '-T', 'CI_JOB_JWT'], { CI_JOB_JWT: jwt });
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('role "nosuch"');
    expect(line).toContain('auth/jwt/login');
  });

  it('a missing service-account token file exits 1 naming the file', async () => {
    const { t } = await runOnce({ 'vault:app:secret/data/app': 'kv' }, ['-t', '/nonexistent/sa-token'], {});
    expect(t.exit).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toContain('/nonexistent/sa-token');
    expect(line).toContain('role "app"');
  });

  it('an unreachable Vault exits 1 naming the secret, after the configured retries', async () => {
    const port = await freePort();
    const root = tmp.make(projectFiles({ 'vault:app:secret/data/app': 'kv' }));
    const t = startTconfd(
      ['-d', paths(root).conf, '--once', '-u', `http://127.0.0.1:${port}`, '--vault-retry-attempts', '3', '--vault-retry-min', '10ms', '--vault-retry-max', '20ms'],
      { env: { VAULT_TOKEN: token } },
    );
    expect(await t.waitForExit()).toEqual({ code: 1, signal: null });
    const line = reason(t);
    expect(line).toMatch(/ECONNREFUSED|connect/);
    expect(t.logs(/retrying/).length).toBe(2);
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token or KV value appears in any output', () => {
    const text = allOutput();
    expect(forged).toHaveLength(2);
    for (const s of [jwt, token, kvValue, ...forged]) expect(text).not.toContain(s);
    // Not even a JWT's signature or payload on its own.
    for (const j of [jwt, ...forged]) for (const part of j.split('.').slice(1)) expect(text).not.toContain(part);
  });
});
