/**
 * The database engine against a throwaway PostgreSQL 15 cluster: the creation statements really create a login
 * role, a renewal moves its VALID UNTIL, and revocation (explicit or at expiry) drops it. Skipped, visibly, when
 * PostgreSQL cannot be started here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { waitFor } from '../support/wait.js';
import { FIXTURE_DIR } from './standin/fixtures.js';
import { startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import { call, createDbRole, enableDatabase, PG_CREATION_STATEMENTS } from './setup.js';


let cluster: PgCluster | undefined;
let unavailable = '';
let target: VaultTarget;
let api: VaultApi;

beforeAll(async () => {
  try {
    cluster = await startPgCluster();
  } catch (err) {
    unavailable = (err as Error).message;
    console.warn(`PostgreSQL tests skipped: cannot start a throwaway cluster: ${unavailable}`);
    return;
  }
  await cluster.query(`CREATE TABLE widgets (id int); INSERT INTO widgets VALUES (1)`);
  target = await startVaultTarget();
  api = vaultApi(target);
  await enableDatabase(target, { pgConnectionUrl: cluster.superuserUrl });
  const grant = [...PG_CREATION_STATEMENTS, 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'];
  await createDbRole(target, { name: 'app', creationStatements: grant, defaultTtl: 60, maxTtl: 300 });
  await createDbRole(target, { name: 'blink', defaultTtl: 1, maxTtl: 10 });
  await createDbRole(target, {
    name: 'custom',
    defaultTtl: 60,
    maxTtl: 120,
    revocationStatements: ['DROP ROLE IF EXISTS "{{name}}";'],
  });
});

afterAll(async () => {
  await target?.stop();
  await cluster?.stop();
});

async function role(name: string): Promise<{ rolname: string; until: string } | undefined> {
  const rows = await (cluster as PgCluster).query<{ rolname: string; until: string }>(
    `SELECT rolname, to_char(rolvaliduntil AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00' AS until FROM pg_roles WHERE rolname = $1`,
    [name],
  );
  return rows[0];
}

const untilMs = (s: string): number => Date.parse(s.replace(' ', 'T').replace('+00', 'Z'));

describe('database engine on PostgreSQL', () => {
  it('creds create a login role with the password, valid until the lease expiry + 5 s', async (ctx) => {
    if (!cluster) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
    const t0 = Date.now();
    const creds = await call(target, 'GET', 'database/creds/app');
    const t1 = Date.now();
    const { username, password } = creds.body.data as { username: string; password: string };
    const r = await role(username);
    expect(r).toBeDefined();
    // Same form as the recorded `rolname|rolvaliduntil` (db-role-before-renew.txt).
    const recorded = readFileSync(join(FIXTURE_DIR, 'db-role-before-renew.txt'), 'utf8').trim();
    const form = (s: string): string => s.replace(/[A-Za-z0-9]/g, 'x');
    expect(form(`${r?.rolname}|${r?.until}`)).toBe(form(recorded));
    // The lease's expiry (60 s from when Vault issued it, between t0 and t1) + 5 s, at second precision.
    expect(untilMs(r?.until ?? '')).toBeGreaterThanOrEqual(t0 + 65_000 - 2500);
    expect(untilMs(r?.until ?? '')).toBeLessThanOrEqual(t1 + 65_000 + 2500);

    const client = new pg.Client({ connectionString: (cluster as PgCluster).connectionUrl(username, password) });
    await client.connect();
    try {
      const who = await client.query<{ current_user: string; n: number }>('SELECT current_user, count(*)::int AS n FROM widgets');
      expect(who.rows[0]).toEqual({ current_user: username, n: 1 });
    } finally {
      await client.end();
    }
  });

  it('renew moves VALID UNTIL; revoke drops the role (default revocation, with grants)', async (ctx) => {
    if (!cluster) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
    const creds = await call(target, 'GET', 'database/creds/app');
    const username: string = creds.body.data.username;
    const before = untilMs((await role(username))?.until ?? '');
    const t0 = Date.now();
    const renewed = await call(target, 'PUT', 'sys/leases/renew', { lease_id: creds.body.lease_id, increment: 240 });
    const t1 = Date.now();
    expect(renewed.body.lease_duration).toBe(240);
    const after = untilMs((await role(username))?.until ?? '');
    expect(after - before).toBeGreaterThan(170_000);
    expect(after).toBeGreaterThanOrEqual(t0 + 245_000 - 2500);
    expect(after).toBeLessThanOrEqual(t1 + 245_000 + 2500);

    expect((await api('PUT', 'sys/leases/revoke', { lease_id: creds.body.lease_id })).status).toBe(204);
    expect(await role(username)).toBeUndefined();
  });

  it('custom revocation statements run; an expired lease drops its role by itself', async (ctx) => {
    if (!cluster) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
    const custom = await call(target, 'GET', 'database/creds/custom');
    expect(await role(custom.body.data.username)).toBeDefined();
    await call(target, 'PUT', 'sys/leases/revoke', { lease_id: custom.body.lease_id });
    expect(await role(custom.body.data.username)).toBeUndefined();

    const blink = await call(target, 'GET', 'database/creds/blink');
    expect(await role(blink.body.data.username)).toBeDefined();
    // Vault revokes the 1 s lease at its expiry, which drops the role (a revocation job: give it time on a busy machine).
    await waitFor('the expired lease to drop its role', async () => (await role(blink.body.data.username)) === undefined);
    // Vault deletes the lease entry just after the engine has dropped the role: until then a renewal answers
    // `lease expired`, then `lease not found` (recorded).
    const renew = await waitFor('the lease to be gone', async () => {
      const r = await api('PUT', 'sys/leases/renew', { lease_id: blink.body.lease_id });
      return JSON.stringify(r.body) === JSON.stringify({ errors: ['lease expired'] }) ? undefined : r;
    });
    expect(renew).toEqual({ status: 400, body: { errors: ['lease not found'] } });
  });

  it('a config whose connection fails verification is refused', async (ctx) => {
    if (!cluster) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
    const res = await api('POST', 'database/config/broken', {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@127.0.0.1:${cluster.port}/postgres?sslmode=disable`,
      username: cluster.superuser,
      password: 'wrong',
      allowed_roles: ['*'],
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatch(/^error creating database object: error verifying connection: /);
  });
});
