/**
 * Scenario 2: a database lease (default_ttl 8 s, max_ttl 20 s) is renewed several times, then replaced as it nears
 * max_ttl: the new username is rendered BEFORE the old lease expires, and the old lease is revoked after
 * --revoke-grace. Templates see std.extVar('leases') facts, never a lease id.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import { createToken } from '../vault/setup.js';
import { requireStandin } from '../vault/target.js';
import { database, leaseLookup, liveLeases, paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;
const seenIds = new Set<string>();
const seenFiles: string[] = [];
/** When the first lease was issued (Vault's issue_time). */
let firstIssuedAt = 0;

interface Rendered {
  secrets: { db: { username: string; password: string } };
  leases: { db: { renewable: boolean; lease_duration: number; expires_at: string } };
}

beforeAll(async () => {
  world = await startWorld();
  // 8 s / 20 s: renewals come at 60-73 % of the TTL left, so the renewal that Vault caps at max_ttl leaves at least
  // 8 s x 27 % ≈ 2.2 s: the replacement is rendered with more than the 1 s grace to spare even on a slow machine, and
  // the old lease is then revoked by tconfd (a lease that would expire within the grace is left to expire, which is
  // right but leaves nothing to assert).
  await database(world, [{ name: 'short', defaultTtl: 8, maxTtl: 20 }]);
  await policy(world, 'db', { 'database/creds/short': ['read'] });
  token = (await createToken(world.target, { policies: ['db'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

/** What happened when, relative to the first lease: for failure messages. */
function timeline(): string {
  const rel = (ms: number): string => `+${((ms - firstIssuedAt) / 1000).toFixed(2)}s`;
  const lines = (t?.lines ?? [])
    .filter((l) => /renew|obtained|replacing|changed|released|can no longer/.test(l.msg))
    .map((l) => `${rel(l.time)} tconfd: ${l.msg}`);
  const reqs = (world.standin?.requests ?? [])
    .filter((q) => /leases|database\/creds/.test(q.path))
    .map((q) => `${rel(q.at)} vault: ${q.method} ${q.path} ${q.status}`);
  return [...lines, ...reqs].sort((a, b) => parseFloat(a.slice(1)) - parseFloat(b.slice(1))).join('\n');
}

let t: Tconfd;

describe('a renewable database lease', () => {
  let out: string;
  let spawnedAt: number;

  beforeAll(async () => {
    const root = tmp.make(projectFiles({ 'vault:app:database/creds/short': 'db' }));
    out = paths(root).file();
    spawnedAt = Date.now();
    t = startTconfd(['-d', paths(root).conf, '-D', '-u', world.addr, '--revoke-grace', '1s'], { env: { VAULT_TOKEN: token } });
    await t.ready();
  });

  it('renders the credentials with lease facts {renewable, lease_duration, expires_at}', async () => {
    const text = await t.waitForFile(out);
    seenFiles.push(text);
    const r = JSON.parse(text) as Rendered;
    expect(r.secrets.db.username).toMatch(/\S/);
    expect(r.secrets.db.password).toMatch(/\S/);
    expect(Object.keys(r.leases.db).sort()).toEqual(['expires_at', 'lease_duration', 'renewable']);
    expect(r.leases.db.renewable).toBe(true);
    expect(r.leases.db.lease_duration).toBe(8);
    const expires = Date.parse(r.leases.db.expires_at);
    expect(expires).toBeGreaterThan(spawnedAt + 2000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 8000);
    for (const id of await liveLeases(world, 'database/creds/short')) seenIds.add(id);
    expect(seenIds.size).toBe(1);
    const info = await leaseLookup(world, [...seenIds][0]!);
    expect(info).toBeDefined();
    firstIssuedAt = info!.issuedAt;
    // tconfd dates the expiry from its request; Vault dates issue_time after the engine created the user (on a real
    // Vault, a CREATE ROLE on PostgreSQL, which a busy machine can stretch): allow a second between the two.
    expect(Date.parse(r.leases.db.expires_at)).toBeGreaterThanOrEqual(firstIssuedAt + 8000 - 1000);
  });

  it('renews the lease several times, then renders a new username before the old lease expires', async (ctx) => {
    const first = (JSON.parse(seenFiles[0]!) as Rendered).secrets.db.username;
    const changed = await t.waitForFile(out, (c) => !c.includes(first), { timeoutMs: 90_000 });
    seenFiles.push(changed);
    // When tconfd wrote it (its log, not when this test happened to look): before the old lease reached its max_ttl
    // (20 s after it was issued).
    const changedAt = (await t.waitForLog('template rendered: files changed')).time;
    expect(changedAt, timeline()).toBeLessThan(firstIssuedAt + 20_000);
    for (const id of await liveLeases(world, 'database/creds/short')) seenIds.add(id);
    const renewed = t.logs((l) => l.msg === 'renewed' && l['holding'] === 'vault:app:database/creds/short');
    expect(renewed.length).toBeGreaterThanOrEqual(2);
    const r = JSON.parse(changed) as Rendered;
    expect(r.leases.db).toMatchObject({ renewable: true, lease_duration: 8 });

    const standin = requireStandin(world.target, ctx, 'lease and database user inspection');
    const renews = standin.requests.filter((q) => q.method === 'PUT' && q.path === 'sys/leases/renew');
    expect(renews.length).toBeGreaterThanOrEqual(2);
    expect(renews.every((q) => q.status === 200)).toBe(true);
    const [old, fresh] = standin.leases().filter((l) => l.path === 'database/creds/short');
    expect(fresh).toBeDefined();
    // Rendered while the old lease was still valid: not revoked, and its user not dropped, at that moment.
    expect(old!.expiresAt, timeline()).toBeGreaterThan(changedAt);
    expect(old!.revokedAt ?? Infinity).toBeGreaterThan(changedAt);
    expect(standin.databaseUsers().find((u) => u.username === first)?.droppedAt ?? Infinity).toBeGreaterThan(changedAt);
    expect(standin.databaseUsers().find((u) => u.username === r.secrets.db.username)).toBeDefined();
  });

  it('ends the old lease: revoked --revoke-grace (1 s) after the new one was taken and rendered, or left to expire within it', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'lease revocation times');
    const [old, fresh] = standin.leases().filter((l) => l.path === 'database/creds/short');
    await waitFor('the old lease to end', () => standin.leases().find((l) => l.id === old!.id)?.revoked, { detail: timeline });
    const o = standin.leases().find((l) => l.id === old!.id)!;
    const renderedAt = (await t.waitForLog('template rendered: files changed')).time;
    // The grace runs from when tconfd took the new lease ("obtained a new ..."), and the old one is never released while
    // a file still holds its credentials.
    const obtainedAt = (await t.waitForLog('obtained a new vault:app:database/creds/short')).time;
    const revokes = standin.requests.filter((q) => q.method === 'PUT' && q.path === 'sys/leases/revoke');
    if (t.logs('expires within the grace; not released').length === 0) {
      // The usual case (the capped renewal leaves >= 2.2 s): released by tconfd after the grace, before its expiry.
      expect(o.revokedAt! - obtainedAt, timeline()).toBeGreaterThanOrEqual(950);
      expect(o.revokedAt!, timeline()).toBeGreaterThan(renderedAt);
      expect(o.revokedAt!, timeline()).toBeLessThan(o.expiresAt);
      expect(revokes.length, timeline()).toBeGreaterThanOrEqual(1);
    } else {
      // A machine slow enough to take that long to render: the old lease expired within the grace, and tconfd rightly
      // left it to expire rather than revoke it (a revoke could only answer "lease not found"). tconfd knows the
      // expiry to the second (lease_duration is whole seconds, rounded down): up to a second more than the grace.
      expect(o.expiresAt, timeline()).toBeLessThanOrEqual(obtainedAt + 1000 + 1000 + 50);
      expect(o.revokedAt!, timeline()).toBeGreaterThanOrEqual(o.expiresAt - 50);
      expect(revokes, timeline()).toEqual([]);
    }
    const firstUser = (JSON.parse(seenFiles[0]!) as Rendered).secrets.db.username;
    expect(standin.databaseUsers().find((u) => u.username === firstUser)?.dropped).toBe(true);
    expect(standin.leases().find((l) => l.id === fresh!.id)?.revoked).toBe(false);
  });

  it('never puts a lease id in a rendered file, and keeps running without errors', async () => {
    for (const id of await liveLeases(world, 'database/creds/short')) seenIds.add(id);
    if (world.standin) for (const l of world.standin.leases()) seenIds.add(l.id);
    expect(seenIds.size).toBeGreaterThanOrEqual(2);
    seenFiles.push(await t.waitForFile(out));
    for (const f of seenFiles) {
      for (const id of seenIds) {
        expect(f).not.toContain(id);
        expect(f).not.toContain(id.split('/').at(-1));
      }
    }
    expect(t.running).toBe(true);
    expect(t.logs((l) => l.level >= 50)).toEqual([]);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('secrecy', () => {
  it('no database password and no Vault token appears in any output', () => {
    const text = allOutput();
    expect(text).not.toContain(token);
    const passwords = new Set(seenFiles.map((f) => (JSON.parse(f) as Rendered).secrets.db.password));
    for (const u of world.standin?.databaseUsers() ?? []) passwords.add(u.password);
    expect(passwords.size).toBeGreaterThanOrEqual(2);
    for (const p of passwords) expect(text).not.toContain(p);
  });
});
