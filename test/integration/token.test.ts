/**
 * Scenario 4: the Vault token of a JWT login (token_ttl 4 s, token_max_ttl 10 s) is renewed, then replaced by a fresh
 * login as it nears its max TTL; the leases the old token created are obtained again with the new token (and
 * rendered) before the old token is revoked, so the secrets keep working. The replaced lease is released with the
 * old token after --revoke-grace (300 ms), then the old token ends. Renewals come at 60-73 % of the TTL left, so the
 * renewal that Vault caps leaves the old token at least 4 s x 27 % ≈ 1.1 s: time for the new login, the new lease,
 * the rendering and the grace. With TTLs of seconds (real ones are minutes or hours) a very slow machine or database
 * could still let an old token reach its max TTL first: Vault then answers the release with 403 (the token is gone)
 * and the lease has ended with its token. The last test accepts that 403 and checks what a user sees: working
 * secrets, no error, no lease left behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import { requireStandin } from '../vault/target.js';
import {
  database,
  jwtAuth,
  jwtRole,
  kv,
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
const rendered: string[] = [];

interface Rendered {
  secrets: { db: { username: string; password: string }; kv: { data: { password: string } }; self: { id: string; accessor: string } };
}

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'app', defaultTtl: 60, maxTtl: 3600 }]);
  await kv(world, 'app', { password: kvValue });
  await policy(world, 'app', { 'database/creds/app': ['read'], 'secret/data/app': ['read'] });
  const issuer = await jwtAuth(world);
  await jwtRole(world, 'app', ['app'], 4, 10);
  jwt = await issuer.sign();
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('a JWT login token renewed, then replaced at its max TTL', () => {
  let t: Tconfd;
  let out: string;
  let first: Rendered;

  beforeAll(async () => {
    const root = tmp.make(
      projectFiles({
        'vault:app:database/creds/app': 'db',
        'vault:app:secret/data/app': 'kv',
        // lookup-self answers the token itself (data.id): lets the test follow which token tconfd uses.
        'vault:app:auth/token/lookup-self': 'self',
      }),
    );
    out = paths(root).file();
    t = startTconfd(
      ['-d', paths(root).conf, '-D', '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--revoke-grace', '300ms', '--static-refresh', '1s'],
      { env: { CI_JOB_JWT: jwt } },
    );
    await t.ready();
    rendered.push(await t.waitForFile(out));
    first = JSON.parse(rendered[0]!) as Rendered;
  });

  it('renews the token (auth/token/renew-self) before logging in again', async () => {
    await t.waitForLog((l) => l.msg === 'renewed' && l['holding'] === 'Vault token for role "app"');
    if (world.standin) expect(world.standin.count({ method: 'POST', path: 'auth/token/renew-self' })).toBeGreaterThanOrEqual(1);
  });

  it('logs in again at the max TTL; the lease is obtained again with the new token before the old token is revoked', async (ctx) => {
    const oldToken = first.secrets.self.id;
    const text = await t.waitForFile(out, (c) => !c.includes(first.secrets.db.username));
    rendered.push(text);
    const second = JSON.parse(text) as Rendered;
    // The new credentials were rendered while the old token (and so the old lease) still lived.
    expect(second.secrets.db.username).not.toBe(first.secrets.db.username);
    await waitFor('a second login', () => t.logs('logged in to Vault').length >= 2);
    expect(t.logs('new Vault token: obtaining its leases again').length).toBeGreaterThanOrEqual(1);

    // The lookup-self secret follows the token: a different token, the old one revoked (after the grace).
    const third = JSON.parse(await t.waitForFile(out, (c) => !c.includes(oldToken))) as Rendered;
    rendered.push(JSON.stringify(third));
    const newToken = third.secrets.self.id;
    await waitFor('the old token to be revoked', async () => !(await tokenAlive(world, oldToken)));
    expect(await tokenAlive(world, newToken)).toBe(true);
    // Only the lease of the new token is left.
    await waitFor('one live database lease', async () => (await liveLeases(world, 'database/creds/app')).length === 1);

    const standin = requireStandin(world.target, ctx, 'request counts and revocation times');
    expect(standin.count({ method: 'POST', path: 'auth/jwt/login' })).toBeGreaterThanOrEqual(2);
    const logins = standin.tokens().filter((tk) => tk.path === 'auth/jwt/login');
    const oldTk = logins.find((tk) => tk.accessor === first.secrets.self.accessor)!;
    const newTk = logins.find((tk) => tk.accessor === third.secrets.self.accessor)!;
    expect(oldTk.revoked).toBe(true);
    expect(newTk.revoked).toBe(false);
    const dbLeases = standin.leases().filter((l) => l.path === 'database/creds/app');
    const replacement = dbLeases.find((l) => l.creatingTokenAccessor === newTk.accessor);
    expect(replacement, 'a lease created with the new token').toBeDefined();
    // Obtained again with the new token, and rendered (tconfd's log: the first rendering after that lease was issued),
    // before the old token was revoked...
    expect(replacement!.issuedAt).toBeLessThan(oldTk.revokedAt!);
    const renderedAt = (await t.waitForLog((l) => l.msg === 'template rendered: files changed' && l.time >= replacement!.issuedAt)).time;
    expect(renderedAt).toBeLessThan(oldTk.revokedAt!);
    // ...which tconfd did itself (auth/token/revoke-self), before the token's max TTL. (A machine too slow to do so
    // within the >= 1.1 s the token had left: it expired first, and tconfd noticed when Vault refused it.)
    const revokeSelf = standin.requests.filter((q) => q.tokenAccessor === oldTk.accessor && q.path === 'auth/token/revoke-self');
    if (revokeSelf.length > 0) {
      expect(revokeSelf.map((q) => q.status)).toEqual([204]);
      expect(revokeSelf[0]!.at).toBeLessThan(oldTk.expiresAt!);
    } else {
      expect(oldTk.revokedAt!, t.tail()).toBeGreaterThanOrEqual(oldTk.expiresAt! - 50);
      await t.waitForLog('Vault no longer accepts an earlier token of tconfd');
    }
    const user = standin.databaseUsers().find((u) => u.username === second.secrets.db.username);
    expect(user?.dropped).toBe(false);
  });

  it('the secrets keep working with the new token: renewals, reads and no error', async () => {
    const from = t.lines.length;
    await t.waitForLog((l) => l.msg === 'secret read again: unchanged' && l['secret'] === 'vault:app:secret/data/app', { from });
    expect(readJson<Rendered>(out).secrets.kv.data.password).toBe(kvValue);
    // A third login (the second token also reaches its max TTL) goes the same way.
    await waitFor('a third login', () => t.logs('logged in to Vault').length >= 3, { detail: () => t.tail() });
    await waitFor('one live database lease', async () => (await liveLeases(world, 'database/creds/app')).length === 1);
    rendered.push(await t.waitForFile(out));
    expect(t.running).toBe(true);
    expect(t.logs((l) => l.level >= 50)).toEqual([]);
    // Replaced leases are released with the token that obtained them (its policy grants sys/leases/revoke). The only
    // refusal accepted is a 403 for a token that reached its max TTL first: its leases ended with it (checked above:
    // one live lease), and a refusal of another kind, or a lease left alive, fails the test.
    for (const l of t.logs(/^release of .* failed/)) expect(l['status'], JSON.stringify(l)).toBe(403);
    if (world.standin) {
      // The stand-in tells the two 403s apart: a policy denial names the token, a dead token names none.
      const denied = world.standin.requests.filter((q) => q.path === 'sys/leases/revoke' && q.status === 403);
      expect(denied.filter((q) => q.tokenAccessor !== undefined)).toEqual([]);
    }
    expect(await t.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('secrecy', () => {
  it('no JWT, Vault token, database password or KV value appears in any output', () => {
    const text = allOutput();
    const secrets = new Set<string>([jwt, kvValue]);
    for (const f of rendered) {
      const r = JSON.parse(f) as Rendered;
      secrets.add(r.secrets.db.password);
      secrets.add(r.secrets.self.id);
    }
    for (const u of world.standin?.databaseUsers() ?? []) secrets.add(u.password);
    expect(secrets.size).toBeGreaterThanOrEqual(6);
    for (const s of secrets) expect(text).not.toContain(s);
  });
});
