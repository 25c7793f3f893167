/**
 * Scenario 5: Vault is unreachable for ~5 s (connection refused). The rendered files are left alone (same bytes, same
 * mtime), tconfd keeps running, and once Vault is back the current secrets are rendered. The outage needs the
 * stand-in (goDown/comeBack) and is skipped visibly against a real Vault; the rest holds on both.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, snapshot, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';
import { createToken } from '../vault/setup.js';
import { requireStandin } from '../vault/target.js';
import { database, kv, leasesLeft, liveLeases, marker, paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;
const values = [marker('kv-before')];
const rendered: string[] = [];

interface Rendered {
  secrets: { db: { username: string; password: string }; kv: { data: { password: string } } };
}

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 20, maxTtl: 3600 }]);
  await kv(world, 'app', { password: values[0] });
  await policy(world, 'app', { 'database/creds/app': ['read'], 'secret/data/app': ['read'] });
  token = (await createToken(world.target, { policies: ['app'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  if (world?.standin?.isDown) await world.standin.comeBack();
  await world?.stop();
  tmp.cleanup();
});

describe('Vault unreachable for a while', () => {
  let t: Tconfd;
  let out: string;

  beforeAll(async () => {
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/app': 'db', 'vault:app:secret/data/app': 'kv' }));
    out = paths(root).file();
    t = startTconfd(
      [
        '-d', paths(root).conf, '-D', '-u', world.addr,
        '--static-refresh', '1s', '--vault-retry-min', '100ms', '--vault-retry-max', '500ms', '--vault-retry-attempts', '2', '--vault-timeout', '2s',
      ],
      { env: { VAULT_TOKEN: token } },
    );
    await t.ready();
    rendered.push(await t.waitForFile(out));
  });

  it('leaves the files alone during the outage, keeps running, and renders the current secrets after it', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'Vault going down and coming back');
    const before = snapshot(out);
    const from = t.lines.length;
    await standin.goDown();
    const downAt = Date.now();
    // The periodic KV reads fail: tconfd notices...
    await t.waitForLog((l) => l.level >= 40, { from });
    // ...and for ~5 s the file stays byte-identical, with the same mtime and inode, and tconfd stays up.
    while (Date.now() < downAt + 5000) {
      expect(snapshot(out)).toEqual(before);
      expect(t.running).toBe(true);
      await sleep(200);
    }
    expect(t.logs((l) => l.level >= 40, 0).length).toBeGreaterThanOrEqual(2);
    await standin.comeBack();

    // Retries during the outage were bounded by --vault-retry-max (500 ms): they did not back off further and further,
    // so a value written after the outage is rendered at the next read. (The delays tconfd chose, from its log: a
    // check of its policy that does not depend on how fast this machine is.)
    const delays = [
      ...t.logs((l) => typeof l['retryInMs'] === 'number').map((l) => l['retryInMs'] as number),
      ...t.logs(/retrying in \d+ ms$/).map((l) => Number(/retrying in (\d+) ms$/.exec(l.msg)![1])),
    ];
    expect(delays.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...delays)).toBeLessThanOrEqual(500);
    values.push(marker('kv-after'));
    await kv(world, 'app', { password: values[1] });
    const text = await t.waitForFile(out, (c) => c.includes(values[1]!));
    rendered.push(text);
    const r = JSON.parse(text) as Rendered;
    const first = JSON.parse(rendered[0]!) as Rendered;
    expect(r.secrets.kv.data.password).toBe(values[1]);
    // The database lease outlived the outage: same credentials, still renewable.
    expect(r.secrets.db).toEqual(first.secrets.db);
    expect(t.running).toBe(true);
    expect(t.logs((l) => l.level >= 60)).toEqual([]);
  });

  it('keeps the KV value and the lease fresh (after the outage, with the stand-in), and revokes the lease on SIGTERM', async () => {
    const from = t.lines.length;
    const r = readJson<Rendered>(out);
    await t.waitForLog((l) => l.msg === 'secret read again: unchanged' && l['secret'] === 'vault:app:secret/data/app', { from });
    // Against a real Vault too: the one database lease is alive while tconfd runs, and revoked when it stops.
    expect(await liveLeases(world, 'database/creds/app')).toHaveLength(1);
    if (world.standin) expect(world.standin.databaseUsers().find((u) => u.username === r.secrets.db.username)?.dropped).toBe(false);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(await leasesLeft(world, 'database/creds/app')).toEqual([]);
    if (world.standin) expect(world.standin.databaseUsers().find((u) => u.username === r.secrets.db.username)?.dropped).toBe(true);
  });
});

describe('secrecy', () => {
  it('no KV value, database password or Vault token appears in any output', () => {
    const text = allOutput();
    const secrets = [token, ...values, ...rendered.map((f) => (JSON.parse(f) as Rendered).secrets.db.password)];
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
