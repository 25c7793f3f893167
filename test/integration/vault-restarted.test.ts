/**
 * Issue 9, defect 1 (second repro): Vault is restarted empty while tconfd runs, as a `vault server -dev` restarted
 * loses everything: tconfd's token, its leases, the mounts and their data. The operator sets it up again (secrets,
 * database role, policy, then the auth method). Every component of tconfd meets the dead token sooner or later (the KV
 * refresh, the lease renewal, the token renewal): tconfd must log in once, obtain the lease once anew, render once and
 * send the command one SIGHUP; at exit it revokes the new token and its lease, and says so only if it is true.
 * Restarting Vault is a control of the stand-in: skipped visibly against a real Vault.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { Recorder, RECORDER_CMD } from '../support/recorder.js';
import { allOutput, killAll, onKillAll, startTconfd } from '../support/tconfd.js';
import { sleep, waitFor } from '../support/wait.js';
import { enableJwtAuth } from '../vault/setup.js';
import { requireStandin } from '../vault/target.js';
import {
  database,
  expectAllRevoked,
  jwtAuth,
  jwtRole,
  kv,
  leasesLeft,
  liveLeases,
  liveLoginTokens,
  marker,
  paths,
  policy,
  projectFiles,
  startWorld,
  type JwtIssuer,
  type World,
} from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let issuer: JwtIssuer;
let jwt: string;
const kvValue = marker('kv');
const seen: string[] = [];

/** What an application's configuration takes from its secrets: the values (not the KV version's metadata). */
interface Rendered {
  db: { username: string; password: string };
  kv: string;
}
const TEMPLATE = `local s = std.extVar('secrets');
{ 'out.json': { db: { username: s.db.username, password: s.db.password }, kv: s.kv.data.password } }
`;

/**
 * What a fresh dev server needs for tconfd, as an operator's script applies it: the secrets and the database role, the
 * policy, and the auth method last (with the same key: the JWT tconfd holds stays valid), so that tconfd cannot log in
 * to a half-configured Vault.
 */
async function setUp(): Promise<void> {
  await kv(world, 'app', { password: kvValue });
  await database(world, [{ name: 'app', defaultTtl: 60, maxTtl: 3600 }]);
  await policy(world, 'app', { 'database/creds/app': ['read'], 'secret/data/app': ['read'] });
  await enableJwtAuth(world.target, { publicKeyPem: issuer.publicKeyPem });
  // A 10 s token: tconfd renews it every few seconds, so the token's own renewal meets the dead token soon too.
  await jwtRole(world, 'app', ['app'], '10s', '2h');
}

beforeAll(async () => {
  world = await startWorld();
  issuer = await jwtAuth(world);
  jwt = await issuer.sign();
  await setUp();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('Vault restarted empty while tconfd runs', () => {
  it('one new login, the lease obtained once anew and rendered, one SIGHUP; at exit the new token and its lease are revoked', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'restarting Vault empty');
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/app': 'db', 'vault:app:secret/data/app': 'kv' }, TEMPLATE));
    const recorder = new Recorder(`${root}/recorder.jsonl`);
    onKillAll(() => recorder.killAll());
    const t = startTconfd(
      ['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--static-refresh', '1s', '--revoke-grace', '1s', '--wait', '500ms:2s'],
      { env: { CI_JOB_JWT: jwt, RECORDER_LOG: recorder.path, RECORDER_CONFIG: paths(root).file() }, command: RECORDER_CMD },
    );
    await recorder.waitForStart();
    const first = readJson<Rendered>(paths(root).file());
    seen.push(first.db.password);
    expect(await liveLoginTokens(world, 'auth/jwt/login')).toHaveLength(1);
    expect(await liveLeases(world, 'database/creds/app')).toHaveLength(1);

    // `vault server -dev` restarted: same address, nothing remembered; the operator sets it up again.
    const from = t.lines.length;
    const restartedAt = standin.requests.length;
    await standin.restartEmpty();
    // The test's own idle keep-alive connections were closed by the restart too: the first request may meet one.
    await waitFor('the restarted Vault to answer', () => fetch(`${world.addr}/v1/sys/health`).then((r) => r.ok, () => false));
    const since = (path: string, status = 200): number =>
      standin.requests.slice(restartedAt).filter((r) => r.path === path && r.status === status).length;
    // tconfd finds its token refused and tries to log in to the empty Vault, again and again (with backoff), before the
    // operator is done.
    await waitFor('login attempts on the empty Vault', () => standin.requests.slice(restartedAt).filter((r) => r.path === 'auth/jwt/login').length >= 3, {
      detail: () => t.tail(),
    });
    expect(since('auth/jwt/login')).toBe(0);
    await setUp();

    // Rendered again from a new token: new credentials (the old ones died with the old Vault).
    const text = await t.waitForFile(paths(root).file(), (c) => (JSON.parse(c) as Rendered).db.username !== first.db.username);
    const second = JSON.parse(text) as Rendered;
    seen.push(second.db.password);
    expect(second.kv).toBe(kvValue);
    await t.waitForLog('template rendered: files changed', { from });
    const [tokenB, ...others] = await liveLoginTokens(world, 'auth/jwt/login');
    expect(others).toEqual([]);

    // Every component has met the dead token once tconfd's token renewal uses the new one; and seconds later (the
    // defect: a second login 10 s after the first, every lease replaced twice, two SIGHUPs), still one of each.
    await waitFor('a renewal of the new token', () => standin.requests.slice(restartedAt).some((r) => r.path === 'auth/token/renew-self' && r.status === 200 && r.tokenAccessor === tokenB), {
      detail: () => t.tail(),
    });
    await sleep(12_000);
    const after = t.lines.slice(from);
    expect(recorder.signals('SIGHUP'), t.tail()).toHaveLength(1);
    expect(recorder.starts()).toHaveLength(1);
    expect(after.filter((l) => l.msg === 'logged in to Vault'), t.tail()).toHaveLength(1);
    expect(after.filter((l) => l.msg === 'template rendered: files changed'), t.tail()).toHaveLength(1);
    expect(after.filter((l) => l.msg === 'obtained a new vault:app:database/creds/app'), t.tail()).toHaveLength(1);
    expect(since('auth/jwt/login')).toBe(1);
    expect(since('database/creds/app')).toBe(1);
    expect(await liveLoginTokens(world, 'auth/jwt/login')).toEqual([tokenB]);
    const leasesB = await liveLeases(world, 'database/creds/app');
    expect(leasesB).toHaveLength(1);
    // Whatever used the new token was answered: no request with it was refused.
    expect(standin.requests.slice(restartedAt).filter((r) => r.tokenAccessor === tokenB && r.status === 403)).toEqual([]);

    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(recorder.signals('SIGTERM')).toHaveLength(1);
    // Nothing this run obtained from the restarted Vault outlives it; the exit log is true.
    expect(await liveLoginTokens(world, 'auth/jwt/login')).toEqual([]);
    expect(await leasesLeft(world, 'database/creds/app')).toEqual([]);
    expect(standin.databaseUsers().find((u) => u.username === second.db.username)?.dropped).toBe(true);
    expectAllRevoked(t, { leases: 1, tokens: 1 });
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token, KV value or database password appears in any output', () => {
    const text = allOutput();
    for (const s of [jwt, kvValue, ...seen]) expect(text).not.toContain(s);
  });
});
