/**
 * Issue 9, defects 2 and 3, through the CLI:
 * - a rendering that fails when a lease rotates (a dynamic exe secret failing for a while) leaves the previous files;
 *   the replaced lease is not revoked while those files hold its credentials; /readyz and /metrics say the template is
 *   not current; once the exe works again the files are current within 15 s (retried, not left until the next
 *   rotation);
 * - one template stuck in a slow rendering (a dynamic exe secret that takes a minute) delays neither another
 *   template's rendering of its rotated lease nor the shutdown, which still revokes.
 * Runs against the stand-in and a real Vault alike (the revocation-time check is the stand-in's).
 */
import { chmodSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs, writeFiles } from '../support/files.js';
import { allOutput, killAll, LEVEL, startTconfd } from '../support/tconfd.js';
import { sleep, waitFor } from '../support/wait.js';
import { freePort } from '../vault/target.js';
import { createToken, putKv2 } from '../vault/setup.js';
import { database, kv, leasesLeft, liveLeases, marker, policy, startWorld, tokenAlive, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;
const seen: string[] = [];

beforeAll(async () => {
  world = await startWorld();
  // 6 s leases capped at 16 s: a rotation 10-14 s after each lease is issued, with 2-6 s of the old lease left.
  await database(world, [{ name: 'rot', defaultTtl: 6, maxTtl: 16 }]);
  await kv(world, 'a', { v: 'one' });
  await policy(world, 'app', { 'database/creds/rot': ['read'], 'secret/data/a': ['read'] });
  token = (await createToken(world.target, { policies: ['app'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

/**
 * A shell command for an exe secret: prints `ok`; fails (exit 1) while `fail` exists in dir, sleeps 60 s while `slow`
 * does. As root tconfd runs it as --exe-user (nobody): dir is made readable to it.
 */
function exe(dir: string): string {
  chmodSync(dir, 0o755);
  return `exe:str,dynamic:/bin/sh -c "if [ -e ${join(dir, 'slow')} ]; then sleep 60; fi; if [ -e ${join(dir, 'fail')} ]; then echo broken >&2; exit 1; fi; echo ok"`;
}

interface Db {
  username: string;
  password: string;
}

describe('a rendering that fails when its lease rotates', () => {
  it('keeps the replaced lease while the files hold it, says the template is not current, and is current within 15 s of the input working again', async () => {
    const dir = tmp.make({});
    writeFiles(dir, {
      'conf/app.json': { 'app.jsonnet': { dir: '../out', secrets: { 'vault:app:database/creds/rot': 'db', [exe(dir)]: 'probe' } } },
      'conf/app.jsonnet': "local s = std.extVar('secrets'); { 'db.json': { db: s.db, probe: s.probe } }",
    });
    const out = join(dir, 'out', 'db.json');
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const t = startTconfd(
      ['-d', join(dir, 'conf'), '-D', '-u', world.addr, '--revoke-grace', '1s', '--health-listen', `127.0.0.1:${port}`],
      { env: { VAULT_TOKEN: token } },
    );
    await t.ready();
    await t.waitForLog('serving /healthz, /readyz and /metrics');
    const first = readJson<{ db: Db }>(out).db;
    seen.push(first.password);
    const [leaseA] = await liveLeases(world, 'database/creds/rot');
    writeFileSync(join(dir, 'fail'), ''); // the exe fails from now on

    // The lease rotates (max TTL): the new one is accepted, the rendering fails, the files keep the old credentials.
    const rotated = await t.waitForLog('obtained a new vault:app:database/creds/rot');
    await t.waitForLog((l) => l.msg === 'rendering failed: the previous files stay in place' && l.time >= rotated.time);
    expect(readJson<{ db: Db }>(out).db.username).toBe(first.username);
    const ready = await httpGet(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toContain('template "app.jsonnet" not current');
    expect((await httpGet(`${base}/metrics`)).body).toContain('tconfd_template_current{template="app.jsonnet"} 0');

    // Past the revoke grace (1 s): the old lease is not revoked while the file holds its credentials.
    await sleep(2_000);
    if (world.standin) {
      const l = world.standin.leases().find((x) => x.id === leaseA)!;
      // Either still alive, or expired at the end of its TTL (Vault's doing), never revoked early by tconfd.
      expect(!l.revoked || l.revokedAt! >= l.expiresAt - 250, `lease revoked at ${l.revokedAt}, expiring at ${l.expiresAt}`).toBe(true);
    }

    // The exe works again: the files are current within 15 s, with the credentials of the lease obtained at the
    // rotation (not those of a later rotation).
    rmSync(join(dir, 'fail'));
    const fixedAt = Date.now();
    const text = await t.waitForFile(out, (c) => !c.includes(first.username), { timeoutMs: 15_000 });
    expect(Date.now() - fixedAt).toBeLessThan(15_000);
    const second = (JSON.parse(text) as { db: Db }).db;
    seen.push(second.password);
    expect(t.logs('obtained a new vault:app:database/creds/rot')).toHaveLength(1);
    await waitFor('/readyz 200', async () => (await httpGet(`${base}/readyz`)).status === 200);
    expect((await httpGet(`${base}/metrics`)).body).toContain('tconfd_template_current{template="app.jsonnet"} 1');
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(await leasesLeft(world, 'database/creds/rot')).toEqual([]);
      });
});

describe('one slow template', () => {
  it('delays neither the rendering of another template whose lease rotates, nor the shutdown, which revokes', async () => {
    const dir = tmp.make({});
    writeFiles(dir, {
      'conf/app.json': {
        'a.jsonnet': { dir: '../out', secrets: { 'vault:app:secret/data/a': 'kv', [exe(dir)]: 'probe' } },
        'b.jsonnet': { dir: '../out', secrets: { 'vault:app:database/creds/rot': 'db' } },
      },
      'conf/a.jsonnet': "local s = std.extVar('secrets'); { 'a.txt': s.kv.data.v + ' ' + s.probe }",
      'conf/b.jsonnet': "local s = std.extVar('secrets'); { 'b.json': s.db }",
    });
    const before = new Set(await liveLeases(world, 'database/creds/rot'));
    const t = startTconfd(['-d', join(dir, 'conf'), '-D', '-u', world.addr, '--static-refresh', '1s', '--revoke-grace', '1s'], {
      env: { VAULT_TOKEN: token },
    });
    await t.ready();
    const b = join(dir, 'out', 'b.json');
    const firstB = readJson<Db>(b);
    seen.push(firstB.password);

    // Template a becomes slow: its exe takes a minute from the next KV change on.
    writeFileSync(join(dir, 'slow'), '');
    await putKv2(world.target, 'secret', 'a', { v: marker('two') });
    const changed = await t.waitForLog((l) => l.msg === 'secret changed: rendering its templates' && l['secret'] === 'vault:app:secret/data/a');

    // b's lease rotates meanwhile: b is rendered at once with the new credentials.
    const rotated = await t.waitForLog('obtained a new vault:app:database/creds/rot');
    const text = await t.waitForFile(b, (c) => !c.includes(firstB.username), { timeoutMs: 10_000 });
    seen.push((JSON.parse(text) as Db).password);
    const renderedB = await t.waitForLog((l) => l.msg === 'template rendered: files changed' && l['template'] === 'b.jsonnet');
    expect(renderedB.time - rotated.time).toBeLessThan(10_000);
    // a is still stuck in its exe.
    expect(t.logs((l) => l.msg.startsWith('template rendered') && l['template'] === 'a.jsonnet' && l.time >= changed.time)).toHaveLength(0);

    // SIGTERM while a is stuck: tconfd ends within a few seconds, and revokes what it obtained.
    const stopAt = Date.now();
    expect(await t.stop('SIGTERM', { timeoutMs: 20_000 })).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopAt).toBeLessThan(10_000);
    expect(await leasesLeft(world, 'database/creds/rot', before)).toEqual([]);
    expect(t.logs('leases and tokens revoked')).toHaveLength(1);
    expect(t.logs('NOT revoked', LEVEL.warn)).toEqual([]);
    // The token given with VAULT_TOKEN is the user's: never revoked.
    expect(await tokenAlive(world, token)).toBe(true);
  });
});

describe('secrecy', () => {
  it('no Vault token or database password appears in any output', () => {
    const text = allOutput();
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (const s of [token, ...seen]) expect(text).not.toContain(s);
  });
});
