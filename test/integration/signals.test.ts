/**
 * Issue 9, defect 4, through the CLI: signals before and during shutdown.
 * - SIGUSR1 and SIGHUP while tconfd starts: Node's inspector never opens (it would listen on 127.0.0.1:9229 without
 *   authentication) and tconfd is not killed; the start completes.
 * - SIGTERM while the start waits on a slow secret: tconfd ends within a few seconds with 143, after revoking the
 *   login token and the lease it had already obtained.
 * - A second SIGTERM while the leases are being revoked (a slow Vault): the revocation still completes.
 * - A second SIGTERM while the command ignores the first: the command is killed at once, and the lease and the login
 *   token are still revoked.
 * All but the third hold on a real Vault too; the third needs the stand-in's delayed answers.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs, writeFiles } from '../support/files.js';
import { waitForFile } from '../support/wait.js';
import { allOutput, killAll, startTconfd } from '../support/tconfd.js';
import { requireStandin } from '../vault/target.js';
import { database, jwtAuth, jwtRole, leasesLeft, liveLeases, liveLoginTokens, paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let jwt: string;

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 60, maxTtl: 3600 }]);
  await policy(world, 'app', { 'database/creds/app': ['read'] });
  const issuer = await jwtAuth(world);
  await jwtRole(world, 'app', ['app'], '1h', '2h');
  jwt = await issuer.sign();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

/** A static exe secret that takes `sec` seconds: startup waits on it. */
const slow = (sec: number): string => `exe:str:/bin/sh -c "sleep ${sec}; echo ok"`;

describe('signals while tconfd starts', () => {
  it('SIGUSR1 and SIGHUP during startup: no inspector opens, tconfd is not killed, the start completes', async () => {
    const dir = tmp.make({});
    writeFiles(dir, projectFiles({ [slow(2)]: 'probe' }));
    const t = startTconfd(['-d', paths(dir).conf, '--once']);
    await t.waitForLog('config loaded');
    t.signal('SIGUSR1');
    t.signal('SIGHUP');
    t.signal('SIGUSR2');
    expect(await t.waitForExit()).toEqual({ code: 0, signal: null });
    expect(t.stderr).not.toMatch(/Debugger listening|inspector/i);
    expect(t.logs('signal ignored: no command is running').map((l) => l['signal']).sort()).toEqual(['SIGHUP', 'SIGUSR1', 'SIGUSR2']);
    expect(t.logs('template rendered')).toHaveLength(1);
  });

  it('SIGTERM while the start waits on a slow secret: exit 143 within seconds; the login token and the lease obtained are revoked', async () => {
    const root = tmp.make({});
    writeFiles(root, projectFiles({ 'vault:app:database/creds/app': 'db', [slow(30)]: 'probe' }));
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT'], {
      env: { CI_JOB_JWT: jwt },
    });
    await t.waitForLog((l) => l.msg === 'secret fetched' && l['secret'] === 'vault:app:database/creds/app');
    expect((await liveLeases(world, 'database/creds/app')).filter((id) => !before.has(id))).toHaveLength(1);
    const stopAt = Date.now();
    expect(await t.stop('SIGTERM', { timeoutMs: 20_000 })).toEqual({ code: 143, signal: null });
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(await leasesLeft(world, 'database/creds/app', before)).toEqual([]);
    expect((await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a))).toEqual([]);
    expect(t.logs('leases and tokens revoked')).toMatchObject([{ leases: 1, tokens: 1 }]);
    expect(t.logs('stopped before the first rendering was complete')).toHaveLength(1);
  });
});

describe('a second SIGTERM while revoking', () => {
  it('does not interrupt the revocation: the lease and the token are revoked and tconfd exits 0', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'slow revocation answers');
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/app': 'db' }));
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    const t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT'], {
      env: { CI_JOB_JWT: jwt },
    });
    await t.ready();
    // Vault takes 2 s to answer the lease revocation.
    standin.delayNext(1, 2_000, { pathPrefix: 'sys/leases/revoke' });
    t.signal('SIGTERM');
    await t.waitForLog('stopping');
    await new Promise((r) => setTimeout(r, 300));
    t.signal('SIGTERM');
    expect(await t.waitForExit({ timeoutMs: 20_000 })).toEqual({ code: 0, signal: null });
    expect(await leasesLeft(world, 'database/creds/app', before)).toEqual([]);
    expect((await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a))).toEqual([]);
    expect(t.logs('leases and tokens revoked')).toHaveLength(1);
  });
});

describe('a second SIGTERM while the command will not stop', () => {
  it('kills the command at once, and the lease and the login token are still revoked', async () => {
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/app': 'db' }));
    const pidFile = `${root}/command.pid`;
    const before = new Set(await liveLeases(world, 'database/creds/app'));
    const tokensBefore = new Set(await liveLoginTokens(world, 'auth/jwt/login'));
    // A command that ignores SIGTERM: without the second signal tconfd would wait --kill-timeout (60 s) for it.
    const t = startTconfd(['-d', paths(root).conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--kill-timeout', '60s'], {
      env: { CI_JOB_JWT: jwt },
      command: ['/bin/sh', '-c', `trap '' TERM; echo $$ > ${pidFile}.tmp; mv ${pidFile}.tmp ${pidFile}; while :; do sleep 1; done`],
    });
    const pid = Number((await waitForFile(pidFile, () => true, { timeoutMs: 60_000 })).trim());
    t.signal('SIGTERM');
    await t.waitForLog('stopping');
    await new Promise((r) => setTimeout(r, 300));
    expect(t.exit).toBeUndefined(); // waiting for the command
    const secondAt = Date.now();
    t.signal('SIGTERM');
    expect(await t.waitForExit({ timeoutMs: 30_000 })).toEqual({ code: 137, signal: null });
    expect(t.exitedAt! - secondAt).toBeLessThan(20_000); // not the 60 s --kill-timeout (slack for a busy machine)
    expect(() => process.kill(pid, 0)).toThrow();
    expect(await leasesLeft(world, 'database/creds/app', before)).toEqual([]);
    expect((await liveLoginTokens(world, 'auth/jwt/login')).filter((a) => !tokensBefore.has(a))).toEqual([]);
    expect(t.logs('leases and tokens revoked')).toHaveLength(1);
  });
});

describe('secrecy', () => {
  it('no JWT appears in any output', () => {
    expect(allOutput()).not.toContain(jwt);
  });
});
