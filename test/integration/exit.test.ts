/**
 * Scenarios 6 and 9: what tconfd leaves behind when it exits, and rconfd's daemon rule.
 * - SIGTERM in -D mode revokes every lease and every token it created; --no-revoke-on-exit revokes none;
 *   --once revokes nothing (the rendered files must stay usable).
 * - -D with only env/file secrets exits 0 saying why; -D with a Vault secret keeps running.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, ROOT, startTconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';
import { requireStandin } from '../vault/target.js';
import { writePolicy } from '../vault/setup.js';
import {
  database,
  jwtAuth,
  jwtRole,
  kv,
  leaseAlive,
  leaseGone,
  leasesLeft,
  liveLeases,
  marker,
  paths,
  policy,
  projectFiles,
  startWorld,
  tokenAlive,
  type World,
} from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let jwt: string;
const kvValue = marker('kv');
const rendered: Rendered[] = [];

interface Rendered {
  secrets: { db: { username: string; password: string }; self: { id: string; accessor: string } };
}

const SECRETS = { 'vault:app:database/creds/app': 'db', 'vault:app:auth/token/lookup-self': 'self' };

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 60, maxTtl: 3600 }]);
  await kv(world, 'app', { password: kvValue });
  await policy(world, 'app', { 'database/creds/app': ['read'], 'secret/data/app': ['read'] });
  const issuer = await jwtAuth(world);
  await jwtRole(world, 'app', ['app'], '1h', '2h');
  jwt = await issuer.sign();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

/**
 * Start tconfd with JWT auth on a fresh project; resolves once the first rendering is done (or --once exited), with
 * what it rendered and the lease it obtained (the one new live lease: the tests of this block run one at a time).
 */
async function start(extra: string[]): Promise<{ t: ReturnType<typeof startTconfd>; r: Rendered; lease: string }> {
  const root = tmp.make(projectFiles(SECRETS));
  const before = new Set(await liveLeases(world, 'database/creds/app'));
  const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', ...extra], {
    env: { CI_JOB_JWT: jwt },
  });
  if (extra.includes('-D')) await t.ready();
  else expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
  const r = readJson<Rendered>(paths(root).file());
  rendered.push(r);
  const fresh = (await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id));
  expect(fresh).toHaveLength(1);
  if (world.standin) {
    // The stand-in knows which token created it: the one tconfd logged in with.
    const l = world.standin.leases().find((x) => x.id === fresh[0]);
    expect(l?.creatingTokenAccessor).toBe(r.secrets.self.accessor);
  }
  return { t, r, lease: fresh[0]! };
}

describe('exit', () => {
  it('SIGTERM in -D mode revokes every lease and every token tconfd created', async (ctx) => {
    const { t, r, lease } = await start(['-D']);
    expect(await leaseAlive(world, lease)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(true);
    expect(await t.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(t.logs('leases and tokens revoked')).toHaveLength(1);
    expect(await leaseGone(world, lease)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(false);

    const standin = requireStandin(world.target, ctx, 'revocation inspection');
    const tk = standin.tokens().find((x) => x.accessor === r.secrets.self.accessor)!;
    expect(tk.revoked).toBe(true);
    // Revoked by tconfd, not expired (TTL 1 h).
    expect(tk.revokedAt!).toBeLessThan(tk.expiresAt! - 3_000_000);
    const l = standin.leases().find((x) => x.id === lease)!;
    expect(l.revoked).toBe(true);
    expect(l.revokeError).toBeUndefined();
    expect(standin.databaseUsers().find((u) => u.username === r.secrets.db.username)?.dropped).toBe(true);
    // Every token created by a JWT login of this tconfd (the lookup-self reads are by accessor) is revoked.
    const mine = standin.requests.filter((q) => q.tokenAccessor === tk.accessor);
    expect(mine.some((q) => q.path === 'auth/token/revoke-self' && q.status === 204)).toBe(true);
    expect(mine.some((q) => q.path === 'sys/leases/revoke' && q.status === 204)).toBe(true);
  });

  it('with a supervised command, SIGTERM stops the command first, then revokes', async (ctx) => {
    const root = tmp.make(projectFiles(SECRETS));
    const log = `${root}/recorder.log`;
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const t = startTconfd(
      ['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--', process.execPath, `${ROOT}/test/fixtures/child/recorder.mjs`],
      { env: { CI_JOB_JWT: jwt, RECORDER_LOG: log, RECORDER_CONFIG: paths(root).file() } },
    );
    await t.waitForFile(log, (c) => c.includes('"start"'));
    const r = readJson<Rendered>(paths(root).file());
    rendered.push(r);
    // The command started after the first rendering: it read the rendered credentials.
    const events = () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { event: string; t: number; config?: string; env?: string[] });
    expect(events()[0]!.config).toContain(r.secrets.db.username);
    // tconfd's Vault credentials are not passed on.
    expect(events()[0]!.env).not.toContain('CI_JOB_JWT');
    const [lease] = (await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id));
    expect(await t.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(events().map((e) => e.event)).toEqual(['start', 'signal', 'exit']);
    expect(await leaseGone(world, lease!)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(false);
    const standin = requireStandin(world.target, ctx, 'revocation times');
    const exitAt = events().at(-1)!.t;
    expect(standin.leases().find((l) => l.id === lease)!.revokedAt!).toBeGreaterThanOrEqual(exitAt);
  });

  it('without sys/leases/revoke in its policy, revoking its login token on exit still revokes its leases', async () => {
    // Vault's default policy does not allow sys/leases/revoke; leases die with the token that created them.
    await writePolicy(
      world.target,
      'norevoke',
      'path "database/creds/app" {\n  capabilities = ["read"]\n}\npath "auth/token/lookup-self" {\n  capabilities = ["read"]\n}\n',
    );
    await jwtRole(world, 'norevoke', ['norevoke'], '1h', '2h');
    const root = tmp.make(
      projectFiles({ 'vault:norevoke:database/creds/app': 'db', 'vault:norevoke:auth/token/lookup-self': 'self' }),
    );
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '-D'], {
      env: { CI_JOB_JWT: jwt },
    });
    await t.ready();
    const r = readJson<Rendered>(paths(root).file());
    rendered.push(r);
    const [lease] = (await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id));
    expect(await leaseAlive(world, lease!)).toBe(true);
    expect(await t.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(false);
    expect(await leaseGone(world, lease!)).toBe(true);
  });

  it('--check and a start that fails after fetching give back the leases and the login token they obtained', async () => {
    for (const [extra, template, code] of [
      [['--check'], undefined, 0],
      [['-D'], "local s = std.extVar('secrets'); { 'out.json': s.db.nope }", 1],
    ] as const) {
      const root = tmp.make(projectFiles(SECRETS, template));
      const before = new Set(await liveLeases(world, 'database/creds/app'));
      const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', ...extra], {
        env: { CI_JOB_JWT: jwt },
      });
      expect((await t.waitForExit()).code, t.tail()).toBe(code);
      // Every lease it obtained is revoked at once (not left to expire an hour later).
      expect(await leasesLeft(world, 'database/creds/app', before), `${extra.join(' ')}: ${t.tail()}`).toEqual([]);
    }
  });

  it('SIGINT revokes as well', async () => {
    const { t, r, lease } = await start(['-D']);
    expect(await t.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(await leaseGone(world, lease)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(false);
  });

  it('--no-revoke-on-exit leaves the leases and the token alive', async () => {
    const { t, r, lease } = await start(['-D', '--no-revoke-on-exit']);
    expect(await t.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(t.logs('leases and tokens revoked')).toEqual([]);
    expect(await leaseAlive(world, lease)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(true);
    if (world.standin) {
      expect(world.standin.databaseUsers().find((u) => u.username === r.secrets.db.username)?.dropped).toBe(false);
      expect(world.standin.requests.some((q) => q.tokenAccessor === r.secrets.self.accessor && /revoke/.test(q.path))).toBe(false);
    }
  });

  it('--once revokes nothing: the rendered credentials stay usable', async () => {
    const { t, r, lease } = await start(['--once']);
    expect(t.logs('template rendered')).toHaveLength(1);
    await sleep(300);
    expect(await leaseAlive(world, lease)).toBe(true);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(true);
    if (world.standin) {
      expect(world.standin.databaseUsers().find((u) => u.username === r.secrets.db.username)?.dropped).toBe(false);
      expect(world.standin.requests.some((q) => q.tokenAccessor === r.secrets.self.accessor && /revoke/.test(q.path))).toBe(false);
    }
  });

  it('without -D and without a command (rconfd\'s one-shot mode) revokes nothing either', async () => {
    const { r, lease } = await start([]);
    expect(await tokenAlive(world, r.secrets.self.id)).toBe(true);
    expect(await leaseAlive(world, lease)).toBe(true);
  });
});

describe.concurrent('rconfd daemon rule (-D)', () => {
  it('-D with only env and file secrets exits 0 and says why', async () => {
    const root = tmp.make({
      ...projectFiles({ 'env:str:APP_NAME': 'name', 'file:str:../data.txt': 'data' }),
      'data.txt': 'from a file',
    });
    const t = startTconfd(['-d', paths(root).conf, '-D'], { env: { APP_NAME: 'demo' } });
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
    expect(readJson(paths(root).file())).toEqual({ secrets: { name: 'demo', data: 'from a file' }, leases: {} });
    const why = t.logs('exiting daemon mode: no leased secret or token to keep fresh');
    expect(why).toHaveLength(1);
    expect(why[0]!.level).toBe(30);
  });

  it('-D with a Vault secret keeps running until a signal', async () => {
    const root = tmp.make(projectFiles({ 'vault:app:secret/data/app': 'kv' }));
    // Token auth with the root token: a token that never expires, and a KV value without a lease: still kept fresh.
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr], { env: { VAULT_TOKEN: world.target.rootToken } });
    await t.ready();
    expect(readJson<{ secrets: { kv: { data: { password: string } } } }>(paths(root).file()).secrets.kv.data.password).toBe(kvValue);
    await sleep(1500);
    expect(t.running).toBe(true);
    expect(t.logs('exiting daemon mode')).toEqual([]);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    // The given token is the user's: never revoked.
    expect(await tokenAlive(world, world.target.rootToken)).toBe(true);
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token, KV value or database password appears in any output', () => {
    const text = allOutput();
    expect(rendered.length).toBeGreaterThanOrEqual(5);
    for (const s of [jwt, kvValue, ...rendered.flatMap((r) => [r.secrets.db.password, r.secrets.self.id])]) {
      expect(text).not.toContain(s);
    }
  });
});
