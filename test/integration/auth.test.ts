/**
 * Scenario 8: the auth methods end to end, with rconfd's flags.
 * - kubernetes: the service-account JWT file (-t) is read again at every login (rotated between logins);
 * - jwt: rconfd's GitLab CI usage, `tconfd --once -T CI_JOB_JWT -l auth/jwt/login`, with VAULT_URL ending in /v1;
 * - approle: role_id and secret_id files;
 * - token: VAULT_TOKEN (or --vault-token-file), looked up once; the role in secret paths is ignored.
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd } from '../support/tconfd.js';
import {
  createAppRole,
  createKubernetesRole,
  createToken,
  enableAppRole,
  enableKubernetesAuth,
  generateRsaKeyPair,
  makeServiceAccountJwt,
} from '../vault/setup.js';
import { requireStandin } from '../vault/target.js';
import { jwtAuth, jwtRole, kv, marker, paths, policy, projectFiles, startWorld, tokenAlive, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
const kvValue = marker('kv');
const secrets: string[] = [kvValue];

interface Rendered {
  secrets: { kv: { data: { password: string } }; self?: { id: string; accessor: string; meta: Record<string, string> | null; policies: string[] } };
}

beforeAll(async () => {
  world = await startWorld();
  await kv(world, 'app', { password: kvValue });
  await policy(world, 'app', { 'secret/data/app': ['read'] });
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe.concurrent('auth methods', () => {
  it('kubernetes: reads the service-account token file again at each login (rotated between logins)', async (ctx) => {
    // A real Vault's kubernetes auth asks a Kubernetes API server (TokenReview); the stand-in checks pem_keys.
    const standin = requireStandin(world.target, ctx, 'kubernetes auth without a Kubernetes API server');
    const { privateKey, publicKeyPem } = generateRsaKeyPair();
    await enableKubernetesAuth(world.target, { publicKeyPem });
    // token_ttl 2 s, token_max_ttl 3 s: the first renewal is capped, so tconfd logs in again after ~1.3 s.
    await createKubernetesRole(world.target, { name: 'app', serviceAccountNames: ['app'], namespaces: ['prod'], policies: ['app'], ttl: 2, maxTtl: 3 });
    const uids = [randomUUID(), randomUUID()];
    const sa = await Promise.all(uids.map((uid) => makeServiceAccountJwt(privateKey, { namespace: 'prod', serviceAccount: 'app', uid, style: 'projected', audience: ['vault'] })));
    secrets.push(...sa);
    const root = tmp.make(projectFiles({ 'vault:app:secret/data/app': 'kv', 'vault:app:auth/token/lookup-self': 'self' }));
    const tokenFile = join(root, 'sa-token');
    writeFileSync(tokenFile, sa[0]! + '\n');
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '-t', tokenFile, '--static-refresh', '500ms', '--revoke-grace', '200ms']);
    await t.ready();
    const first = readJson<Rendered>(paths(root).file());
    expect(first.secrets.self!.meta).toMatchObject({ service_account_uid: uids[0], service_account_namespace: 'prod', role: 'app' });
    expect(first.secrets.kv.data.password).toBe(kvValue);
    secrets.push(first.secrets.self!.id);
    // The kubelet rotates the projected token: the next login must use the new one.
    writeFileSync(tokenFile, sa[1]!);
    const text = await t.waitForFile(paths(root).file(), (c) => c.includes(uids[1]!));
    const second = JSON.parse(text) as Rendered;
    secrets.push(second.secrets.self!.id);
    expect(second.secrets.self!.id).not.toBe(first.secrets.self!.id);
    expect(standin.count({ method: 'POST', path: 'auth/kubernetes/login' })).toBeGreaterThanOrEqual(2);
    expect(t.logs((l) => l.msg === 'logged in to Vault' && l['auth'] === 'kubernetes').length).toBeGreaterThanOrEqual(2);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
  });

  it('jwt, GitLab CI style: --once -T CI_JOB_JWT -l auth/jwt/login with VAULT_URL ending in /v1', async (ctx) => {
    const issuer = await jwtAuth(world);
    await jwtRole(world, 'ci', ['app']);
    const jwt = await issuer.sign('project_path:group/app:ref_type:branch:ref:main');
    secrets.push(jwt);
    const root = tmp.make(projectFiles({ 'vault:ci:secret/data/app': 'kv', 'vault:ci:auth/token/lookup-self': 'self' }));
    const t = startTconfd(['-d', paths(root).conf, '--once', '-T', 'CI_JOB_JWT', '-l', 'auth/jwt/login'], {
      env: { CI_JOB_JWT: jwt, VAULT_URL: `${world.addr}/v1` },
    });
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
    const r = readJson<Rendered>(paths(root).file());
    expect(r.secrets.kv.data.password).toBe(kvValue);
    expect(r.secrets.self!.meta).toMatchObject({ role: 'ci' });
    expect(r.secrets.self!.policies).toContain('app');
    secrets.push(r.secrets.self!.id);
    // --once: the token stays valid (the files must stay usable).
    expect(await tokenAlive(world, r.secrets.self!.id)).toBe(true);
    const standin = requireStandin(world.target, ctx, 'request counts');
    expect(standin.requests.filter((q) => q.path === 'auth/jwt/login' && q.status === 200).length).toBeGreaterThanOrEqual(1);
  });

  it('approle: role_id and secret_id files, -u ending in /v1', async (ctx) => {
    await enableAppRole(world.target);
    const { roleId, secretId } = await createAppRole(world.target, { name: 'app', policies: ['app'], ttl: '1h' });
    secrets.push(roleId, secretId);
    const root = tmp.make({
      ...projectFiles({ 'vault:app:secret/data/app': 'kv', 'vault:app:auth/token/lookup-self': 'self' }),
      'role-id': roleId + '\n',
      'secret-id': secretId,
    });
    const t = startTconfd([
      '-d', paths(root).conf, '--once', '-u', `${world.addr}/v1/`, '--auth', 'approle',
      '--approle-role-id-file', join(root, 'role-id'), '--approle-secret-id-file', join(root, 'secret-id'),
    ]);
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
    const r = readJson<Rendered>(paths(root).file());
    expect(r.secrets.kv.data.password).toBe(kvValue);
    expect(r.secrets.self!.policies).toContain('app');
    secrets.push(r.secrets.self!.id);
    const standin = requireStandin(world.target, ctx, 'request counts');
    expect(standin.requests.filter((q) => q.path === 'auth/approle/login' && q.status === 200)).toHaveLength(1);
  });

  it('token: VAULT_TOKEN is looked up once and serves every role of the secret paths', async (ctx) => {
    const { token, accessor } = await createToken(world.target, { policies: ['app'], ttl: '1h' });
    secrets.push(token);
    const root = tmp.make(projectFiles({ 'vault:one:secret/data/app': 'kv', 'vault:two:auth/token/lookup-self': 'self' }));
    const t = startTconfd(['-d', paths(root).conf, '--once'], { env: { VAULT_TOKEN: token, VAULT_ADDR: world.addr } });
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
    const r = readJson<Rendered>(paths(root).file());
    expect(r.secrets.kv.data.password).toBe(kvValue);
    // The role "two" of the path is ignored: the given token itself was used.
    expect(r.secrets.self!.id).toBe(token);
    expect(t.logs('logged in to Vault')).toHaveLength(1);
    const standin = requireStandin(world.target, ctx, 'request counts');
    // With that token: one lookup-self for the token itself (auth), one for the "self" secret, one KV read.
    const mine = standin.requests.filter((q) => q.tokenAccessor === accessor).map((q) => `${q.method} ${q.path}`);
    expect(mine.sort()).toEqual(['GET auth/token/lookup-self', 'GET auth/token/lookup-self', 'GET secret/data/app']);
  });

  it('token: --vault-token-file, with -D: the token is renewed, never revoked', async () => {
    // A 20 s token: renewed within its first 14.6 s (the first renewal is spread over 7-73 % of the TTL), and however
    // slowly tconfd starts on a loaded machine (6 s to the first rendering was seen), its lookup-self still sees
    // seconds left (not a TTL rounded down to 0) and it renews the token before it expires.
    const token = (await createToken(world.target, { policies: ['app'], ttl: 20 })).token;
    secrets.push(token);
    const root = tmp.make({ ...projectFiles({ 'vault:app:secret/data/app': 'kv' }), 'token': token + '\n' });
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--vault-token-file', join(root, 'token')]);
    await t.ready();
    expect(t.logs('logged in to Vault')[0]?.['ttlSec']).toBeGreaterThan(0);
    await t.waitForLog((l) => l.msg === 'renewed' && l['holding'] === 'Vault token (--auth token)');
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(await tokenAlive(world, token)).toBe(true);
  });
});

describe('secrecy', () => {
  it('no JWT, role_id, secret_id, Vault token or KV value appears in any output', () => {
    const text = allOutput();
    expect(secrets.length).toBeGreaterThanOrEqual(8);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
