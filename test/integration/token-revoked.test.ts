/**
 * Issue 9, defect 1: an operator revokes tconfd's login token while it runs (`vault token revoke -accessor ...`).
 * Vault revokes the token's leases with it. tconfd must notice once (whichever request hits the 403 first), log in
 * once, obtain the lease again with the new token and render it; and at exit revoke the new token and everything
 * obtained with it, saying so only if it is true. Runs against the stand-in and against a real Vault alike.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { Recorder, RECORDER_CMD } from '../support/recorder.js';
import { allOutput, killAll, onKillAll, startTconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';
import { database, expectAllRevoked, jwtAuth, jwtRole, kv, leaseGone, leasesLeft, liveLeases, liveLoginTokens, marker, paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let jwt: string;
const kvValue = marker('kv');
const seen: string[] = [];

interface Rendered {
  secrets: { db: { username: string; password: string }; kv: { data: { password: string } } };
}

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 60, maxTtl: 3600 }]);
  await kv(world, 'app', { password: kvValue });
  await policy(world, 'app', { 'database/creds/app': ['read'], 'secret/data/app': ['read'] });
  const issuer = await jwtAuth(world);
  // A 10 s token: tconfd renews it every few seconds, so a second component would soon notice the dead token too.
  await jwtRole(world, 'app', ['app'], '10s', '2h');
  jwt = await issuer.sign();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('the login token revoked by an operator while tconfd runs', () => {
  it('one new login, the lease obtained again with it and rendered, one SIGHUP; at exit the new token and its lease are revoked', async () => {
    const root = tmp.make(
      projectFiles({ 'vault:app:database/creds/app': 'db', 'vault:app:secret/data/app': 'kv' }),
    );
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    const recorder = new Recorder(`${root}/recorder.jsonl`);
    onKillAll(() => recorder.killAll());
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const t = startTconfd(
      ['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--static-refresh', '1s', '--revoke-grace', '1s', '--wait', '500ms:2s'],
      { env: { CI_JOB_JWT: jwt, RECORDER_LOG: recorder.path, RECORDER_CONFIG: paths(root).file() }, command: RECORDER_CMD },
    );
    await recorder.waitForStart();
    const first = readJson<Rendered>(paths(root).file());
    seen.push(first.secrets.db.password);
    const [leaseA] = (await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id));
    expect(leaseA).toBeDefined();
    const [tokenA] = (await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a));
    expect(tokenA).toBeDefined();

    // The operator: vault token revoke -accessor <tconfd's token>. Its lease goes with it (moments later: Vault revokes
    // a token's leases in the background).
    const revoked = await world.api('POST', 'auth/token/revoke-accessor', { accessor: tokenA });
    expect(revoked.status).toBe(204);
    expect(await leaseGone(world, leaseA!)).toBe(true);
    const from = t.lines.length;

    // Rendered again from a new token: new credentials (the old ones died with token A).
    const text = await t.waitForFile(paths(root).file(), (c) => (JSON.parse(c) as Rendered).secrets.db.username !== first.secrets.db.username);
    const second = JSON.parse(text) as Rendered;
    seen.push(second.secrets.db.password);
    const tokensB = (await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a));
    expect(tokensB).toHaveLength(1);
    const leasesB = (await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id));
    expect(leasesB).toHaveLength(1);

    // Exactly one login for the dead token and one new lease, whoever noticed first (KV refresh, lease renewal, token
    // renewal...), and one SIGHUP for the command: also seconds later, once every component has met the dead token.
    await t.waitForLog('template rendered: files changed', { from });
    await sleep(12_000);
    const after = t.lines.slice(from);
    expect(recorder.signals('SIGHUP'), t.tail()).toHaveLength(1);
    expect(after.filter((l) => l.msg === 'logged in to Vault'), t.tail()).toHaveLength(1);
    expect(after.filter((l) => l.msg === 'obtained a new vault:app:database/creds/app'), t.tail()).toHaveLength(1);
    expect(t.logs('logged in to Vault')).toHaveLength(2);

    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(recorder.signals('SIGTERM')).toHaveLength(1);
    // Nothing this run obtained outlives it: token B and its lease are revoked; the exit log is true.
    expect((await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a))).toEqual([]);
    expect(await leasesLeft(world, 'database/creds/app', before)).toEqual([]);
    expectAllRevoked(t, { leases: 1, tokens: 1 });
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token, KV value or database password appears in any output', () => {
    const text = allOutput();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const s of [jwt, kvValue, ...seen]) expect(text).not.toContain(s);
  });
});
