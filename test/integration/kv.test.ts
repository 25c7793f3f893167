/**
 * Scenario 1: a KV v2 value is read again every --static-refresh. A changed value is rendered within the interval and
 * not before; an unchanged value (even a new KV version with the same data) does not rewrite the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, snapshot, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';
import { createToken } from '../vault/setup.js';
import { kv, marker, paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;
const values: string[] = [];

beforeAll(async () => {
  world = await startWorld();
  values.push(marker('kv-v1'));
  await kv(world, 'app', { password: values[0] });
  await policy(world, 'kv-read', { 'secret/data/app': ['read'] });
  token = (await createToken(world.target, { policies: ['kv-read'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('KV v2 value refreshed every --static-refresh', () => {
  let t: Tconfd;
  let out: string;

  beforeAll(async () => {
    const root = tmp.make(
      projectFiles(
        { 'vault:app:secret/data/app': 'kv' },
        `{ 'out.json': { password: std.extVar('secrets').kv.data.password } }`,
      ),
    );
    out = paths(root).file();
    t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--static-refresh', '2s'], {
      env: { VAULT_TOKEN: token },
    });
    await t.ready();
  });

  it('renders a changed value within the refresh interval, and not before', async () => {
    expect(readJson(out)).toEqual({ password: values[0] });
    // Write right after a periodic read: the next read is one interval (2 s) later.
    await t.waitForLog('secret read again: unchanged', { from: t.lines.length, timeoutMs: 5000 });
    const next = marker('kv-v2');
    values.push(next);
    await kv(world, 'app', { password: next });
    const written = Date.now();

    await sleep(1000);
    expect(readJson(out), 'not re-rendered before the refresh interval').toEqual({ password: values[0] });
    await t.waitForFile(out, (c) => c.includes(next), { timeoutMs: Math.max(0, written + 3000 - Date.now()) });
    const changedAfter = Date.now() - written;
    expect(changedAfter).toBeGreaterThanOrEqual(1000);
    expect(changedAfter).toBeLessThanOrEqual(3000);
    expect(t.logs('secret changed: rendering its templates')).toHaveLength(1);
  });

  it('does not rewrite the file when the value read again is unchanged, even as a new KV version', async () => {
    const before = snapshot(out);
    const from = t.lines.length;
    // A new version with the same data: the value tconfd reads changes (metadata), the rendered bytes do not.
    await kv(world, 'app', { password: values.at(-1) });
    await t.waitForLog('template rendered: no file changed', { from, timeoutMs: 5000 });
    // And plain periodic reads of the same value.
    const from2 = t.lines.length;
    await t.waitForLog('secret read again: unchanged', { from: from2, timeoutMs: 5000 });
    const after = snapshot(out);
    expect(after).toEqual(before);
    expect(t.running).toBe(true);
  });

  it('stops on SIGTERM with status 0', async () => {
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.logs((l) => l.level >= 50)).toEqual([]);
  });
});

describe('secrecy', () => {
  it('no KV value and no Vault token appears in any output', () => {
    const text = allOutput();
    for (const s of [...values, token]) expect(text).not.toContain(s);
  });
});
