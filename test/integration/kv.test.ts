/**
 * Scenario 1: a KV v2 value is read again every --static-refresh. A changed value is rendered within the interval and
 * not before; an unchanged value (even a new KV version with the same data) does not rewrite the file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, snapshot, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
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

  it('renders a changed value at the next read of the refresh interval, and not before', async () => {
    expect(readJson(out)).toEqual({ password: values[0] });
    // Write right after a periodic read: the next read is one interval (2 s) later.
    const readBefore = await t.waitForLog('secret read again: unchanged', { from: t.lines.length });
    const next = marker('kv-v2');
    values.push(next);
    await kv(world, 'app', { password: next });
    const written = Date.now();
    await t.waitForFile(out, (c) => c.includes(next));
    // From tconfd's log (its own clock: what this test saw late on a busy machine does not matter). A read is logged
    // when Vault's answer arrives, so two logged reads can be a little less than the 2 s apart on a slow machine:
    const changed = t.logs('secret changed: rendering its templates');
    expect(changed).toHaveLength(1);
    // not before the refresh interval: the read that saw the change came a whole interval after the one before it...
    expect(changed[0]!.time - readBefore.time).toBeGreaterThanOrEqual(1_500);
    // ...and reads come one interval apart: not faster, and not much slower (3 s of slack for a busy machine).
    const reads = t.logs(/^secret (read again: unchanged|changed: rendering its templates)$/).map((l) => l.time);
    expect(reads.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < reads.length; i++) {
      expect(reads[i]! - reads[i - 1]!).toBeGreaterThanOrEqual(1_500);
      expect(reads[i]! - reads[i - 1]!).toBeLessThan(5_000);
    }
    // The change was seen by the first read after the write, or the one after it if this test was slow to write.
    expect(reads.filter((r) => r > written && r < changed[0]!.time).length).toBeLessThanOrEqual(1);
  });

  it('does not rewrite the file when the value read again is unchanged, even as a new KV version', async () => {
    const before = snapshot(out);
    const from = t.lines.length;
    // A new version with the same data: the value tconfd reads changes (metadata), the rendered bytes do not.
    await kv(world, 'app', { password: values.at(-1) });
    await t.waitForLog('template rendered: no file changed', { from });
    // And plain periodic reads of the same value.
    const from2 = t.lines.length;
    await t.waitForLog('secret read again: unchanged', { from: from2 });
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
