/**
 * examples/postgres-dynamic-roles end to end (seed 001): a throwaway PostgreSQL 15 cluster set up with the example's
 * own sql/setup.sql and sql/trigger.sql; the Vault stand-in configured with the example's vault/requests.json (its
 * real creation and revocation statements, run against that cluster, with short TTLs so that the credentials rotate
 * within seconds); the real CLI (dist/cli.js) with the example's tconfd.d, logging in with a service-account JWT
 * and supervising the example's app.mjs.
 *
 * Skipped, visibly, when PostgreSQL cannot be started here (PgUnavailableError). The file checks also run without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgUnavailableError, startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { enableKubernetesAuth, generateRsaKeyPair, makeServiceAccountJwt } from '../vault/setup.js';
import { findOnPath, startVaultTarget, type VaultTarget } from '../vault/target.js';
import { killAll, ROOT, startTconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import {
  appLines,
  applyRequests,
  parseSetupSh,
  requestBody,
  runPsqlScript,
  statements,
  substituteVars,
  waitForApp,
} from './helpers.js';

const EXAMPLE = join(ROOT, 'examples/postgres-dynamic-roles');
const REQUESTS = join(EXAMPLE, 'vault/requests.json');
const APP_EXIT_STATUS = 7;

describe('examples/postgres-dynamic-roles: its files agree', () => {
  it('vault/setup.sh (vault CLI) and vault/requests.json (HTTP API) configure Vault the same way', () => {
    const vars = { DB_HOST: 'db.example', DB_PORT: '5433', DEFAULT_TTL: '1h', MAX_TTL: '24h' };
    const sh = parseSetupSh(readFileSync(join(EXAMPLE, 'vault/setup.sh'), 'utf8'), vars);
    expect(sh.enabled).toEqual(['auth:kubernetes', 'secrets:database']);
    const json = (path: string): Record<string, unknown> => substituteVars(requestBody(REQUESTS, path), vars);

    const config = json('database/config/db1');
    expect(Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)]))).toEqual(sh.writes.get('database/config/db1'));
    expect(config['connection_url']).toBe('postgresql://{{username}}:{{password}}@db.example:5433/db1');
    expect(sh.writes.has('database/rotate-root/db1')).toBe(true);

    const role = json('database/roles/db1');
    const shRole = sh.writes.get('database/roles/db1')!;
    expect(statements(role['creation_statements'])).toEqual(statements(shRole['creation_statements']));
    expect(statements(role['revocation_statements'])).toEqual(statements(shRole['revocation_statements']));
    expect(statements(role['creation_statements'])).toHaveLength(5);
    expect(statements(role['revocation_statements'])).toEqual([
      'REASSIGN OWNED BY "{{name}}" TO "db1_grp"',
      'DROP OWNED BY "{{name}}"',
      'DROP ROLE "{{name}}"',
    ]);
    expect([role['db_name'], role['default_ttl'], role['max_ttl']]).toEqual([shRole['db_name'], shRole['default_ttl'], shRole['max_ttl']]);

    expect(json('auth/kubernetes/role/public-application')).toEqual(sh.writes.get('auth/kubernetes/role/public-application'));
    expect(json('sys/policies/acl/public-application')['policy']).toBe(sh.policies.get('public-application'));
  });

  it('the Kubernetes manifests and tconfd.d match the Vault role (service account, namespace, role name)', () => {
    const yaml = readFileSync(join(EXAMPLE, 'k8s/application.yaml'), 'utf8');
    const k8sRole = requestBody(REQUESTS, 'auth/kubernetes/role/public-application');
    expect(yaml).toMatch(/kind: ServiceAccount\nmetadata:\n {2}name: application\n {2}namespace: public\n/);
    expect(yaml).toContain(`serviceAccountName: ${k8sRole['bound_service_account_names']}`);
    expect(yaml.match(/namespace: (\S+)/g)?.every((m) => m === `namespace: ${k8sRole['bound_service_account_namespaces']}`)).toBe(true);
    expect(yaml).toContain('args: ["-u", "$(VAULT_URL)", "--", "/usr/bin/application"]');
    expect(yaml).toMatch(/- name: NAMESPACE\n\s+valueFrom:\n\s+fieldRef:\n\s+fieldPath: metadata.namespace/);
    const conf = JSON.parse(readFileSync(join(EXAMPLE, 'tconfd.d/db1.json'), 'utf8')) as Record<string, { secrets: Record<string, string>; mode: string }>;
    const tpl = conf['db1.jsonnet']!;
    // ${NAMESPACE}-application with NAMESPACE=public is the Vault role the service account is bound to.
    expect(Object.keys(tpl.secrets)).toContain('vault:${NAMESPACE}-application:database/creds/db1');
    expect(tpl.mode).toBe('0640');
    const policy = String(requestBody(REQUESTS, 'sys/policies/acl/public-application')['policy']);
    expect(policy).toContain('path "database/creds/db1" {\n  capabilities = ["read"]\n}');
  });
});

let cluster: PgCluster | undefined;
let unavailable = '';
let target: VaultTarget | undefined;
let work = '';


const adminUrl = (db: string): string => (cluster as PgCluster).connectionUrl((cluster as PgCluster).superuser, (cluster as PgCluster).superuserPassword, db);

async function db1<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: adminUrl('db1') });
  await c.connect();
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

async function generatedRoles(): Promise<string[]> {
  return (await db1<{ rolname: string }>(`SELECT rolname FROM pg_roles WHERE rolname LIKE 'v-%' ORDER BY rolname`)).map((r) => r.rolname);
}

interface Rendered {
  host: string;
  port: number;
  dbname: string;
  user: string;
  password: string;
  dsn: string;
}

beforeAll(async () => {
  try {
    cluster = await startPgCluster();
  } catch (err) {
    if (!(err instanceof PgUnavailableError)) throw err;
    unavailable = err.message;
    console.warn(`[e2e] examples/postgres-dynamic-roles skipped: PostgreSQL cannot be started here: ${unavailable}`);
    return;
  }
  // The example's SQL, as an operator would run it with psql.
  await runPsqlScript(adminUrl, join(EXAMPLE, 'sql/setup.sql'));
  await runPsqlScript(adminUrl, join(EXAMPLE, 'sql/trigger.sql'));

  // The example's Vault configuration, against this cluster, with leases that rotate within seconds.
  target = await startVaultTarget({ kind: 'standin' });
  await applyRequests(target, REQUESTS, {
    DB_HOST: '127.0.0.1',
    DB_PORT: String(cluster.port),
    // 8 s / 20 s: the renewal Vault caps leaves the old credentials >= 2.2 s (27 % of 8 s), the time the app has to
    // get its SIGHUP (--wait 100ms:500ms) and reconnect before they end, even on a busy machine.
    DEFAULT_TTL: '8s',
    MAX_TTL: '20s',
  });
  // What the cluster provides: the stand-in checks service-account JWTs against pem_keys instead of a TokenReview.
  const { privateKey, publicKeyPem } = generateRsaKeyPair();
  await enableKubernetesAuth(target, { publicKeyPem });
  work = mkdtempSync(join(tmpdir(), 'tconfd-e2e-pg-'));
  writeFileSync(
    join(work, 'token'),
    await makeServiceAccountJwt(privateKey, { namespace: 'public', serviceAccount: 'application' }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await killAll();
  await target?.stop();
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/postgres-dynamic-roles end to end', () => {
  it('admin_db1 password was rotated by Vault: the dummy one no longer logs in', async (ctx) => {
    if (!cluster) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
    const c = new pg.Client({ connectionString: cluster.connectionUrl('admin_db1', 'password', 'db1') });
    await expect(c.connect()).rejects.toThrow(/password authentication failed for user "admin_db1"/);
    await c.end().catch(() => undefined);
  });

  it(
    'the app works through rotations: the trigger gives its table to db1_grp, the new role reads and writes it, the old role is dropped, SIGTERM leaves no role',
    async (ctx) => {
      if (!cluster || !target) return ctx.skip(`PostgreSQL unavailable: ${unavailable}`);
      const standin = target.standin!;
      const out = join(work, 'run');
      const file = join(out, 'database.json');
      const t = startTconfd(
        [
          '-d', join(EXAMPLE, 'tconfd.d'),
          '-u', `${target.addr}/v1`, // as rconfd's VAULT_URL in the Deployment
          '-t', join(work, 'token'),
          '--wait', '100ms:500ms',
          '--revoke-grace', '3s',
          '--', process.execPath, join(EXAMPLE, 'app.mjs'),
        ],
        {
          env: {
            NAMESPACE: 'public',
            APP_CONFIG_DIR: out,
            DB_HOST: '127.0.0.1',
            DB_PORT: String(cluster.port),
            APP_CONFIG: file,
            APP_INTERVAL: '300',
            APP_EXIT_STATUS: String(APP_EXIT_STATUS),
          },
        },
      );
      const read = (): Rendered => JSON.parse(readFileSync(file, 'utf8')) as Rendered;

      // 1. First rendering: the credentials Vault created, mode 0640, and the app connected with them.
      const first = (await waitForApp(t, /^connected as (\S+)$/))[1]!;
      const r1 = read();
      expect(r1.user).toBe(first);
      expect(first).toMatch(/^v-kubernet-db1-[A-Za-z0-9]{20}-\d+$/); // Vault's PostgreSQL username template
      expect(statSync(file).mode & 0o777).toBe(0o640);
      expect(statSync(join(out, 'pg_service.conf')).mode & 0o777).toBe(0o640);
      expect(r1).toMatchObject({ host: '127.0.0.1', port: cluster.port, dbname: 'db1' });
      expect(r1.dsn).toBe(`host='127.0.0.1' port='${cluster.port}' dbname='db1' user='${first}' password='${r1.password}'`);
      expect(readFileSync(join(out, 'pg_service.conf'), 'utf8')).toBe(
        `[db1]\nhost=127.0.0.1\nport=${cluster.port}\ndbname=db1\nuser=${first}\npassword=${r1.password}\n`,
      );
      await waitForApp(t, new RegExp(`^row \\d+ written by ${first}$`));
      // The service file works for libpq clients as it is.
      const psql = findOnPath('psql');
      if (psql) {
        const r = spawnSync(psql, ['-X', '-At', '-c', 'SELECT current_user, count(*) FROM visits', 'service=db1'], {
          env: { ...process.env, PGSERVICEFILE: join(out, 'pg_service.conf') },
          encoding: 'utf8',
        });
        expect(r.stderr).toBe('');
        expect(r.stdout).toMatch(new RegExp(`^${first}\\|\\d+\\n$`));
      }

      // 2. The table the first role created belongs to db1_grp (the event trigger), not to that role.
      const owner = await db1<{ tableowner: string }>(`SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'visits'`);
      expect(owner).toEqual([{ tableowner: 'db1_grp' }]);
      const seqOwner = await db1<{ owner: string }>(
        `SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE relname = 'visits_id_seq'`,
      );
      expect(seqOwner).toEqual([{ owner: 'db1_grp' }]);

      // 3. Rotation before max_ttl (20 s): a new role is rendered and the app, signalled, reconnects with it.
      const second = await waitFor(
        'a rotated username in database.json',
        () => {
          const u = read().user;
          return u !== first ? u : undefined;
        },
        { detail: () => t.tail() },
      );
      await waitForApp(t, /^SIGHUP: reading the configuration again$/);
      await waitForApp(t, new RegExp(`^connected as ${second}$`));
      await waitForApp(t, new RegExp(`^row \\d+ written by ${second}$`));

      // 4. The new role, which never created anything, can write and read the table the first role created.
      // (the current one: `second`, or a later one if the credentials rotated again meanwhile)
      const r2 = read();
      expect(r2.user).not.toBe(first);
      const c = new pg.Client({ host: r2.host, port: r2.port, database: r2.dbname, user: r2.user, password: r2.password });
      await c.connect();
      try {
        const ins = await c.query<{ username: string }>(`INSERT INTO visits DEFAULT VALUES RETURNING username`);
        expect(ins.rows).toEqual([{ username: r2.user }]);
        const sel = await c.query<{ writers: string[] }>(`SELECT array_agg(DISTINCT username) AS writers FROM visits`);
        expect(sel.rows[0]!.writers).toEqual(expect.arrayContaining([first, r2.user]));
      } finally {
        await c.end();
      }

      // 5. The first role is dropped once its lease ends: revoked 3 s (--revoke-grace) after the replacement, or at
      // its expiry if that comes first.
      // (the stand-in marks the user dropped once its last statement has returned: wait for that too)
      await waitFor(
        'the first role to be dropped',
        async () => !(await generatedRoles()).includes(first) && standin.databaseUsers().find((u) => u.username === first)?.dropped,
        { detail: () => t.tail() },
      );
      const firstLease = standin.databaseUsers().find((u) => u.username === first);
      expect(firstLease?.dropped).toBe(true);
      // Its revocation ran the example's statements, in order.
      expect(firstLease?.statements.slice(-3)).toEqual([
        `REASSIGN OWNED BY "${first}" TO "db1_grp"`,
        `DROP OWNED BY "${first}"`,
        `DROP ROLE "${first}"`,
      ]);
      // Ownership never moved: everything in public still belongs to db1_grp.
      expect(await db1(`SELECT tableowner FROM pg_tables WHERE tablename = 'visits'`)).toEqual([{ tableowner: 'db1_grp' }]);

      // 6. SIGTERM: the app stops, tconfd revokes every lease and exits with the app's status.
      const exit = await t.stop();
      expect(exit).toEqual({ code: APP_EXIT_STATUS, signal: null });
      expect(appLines(t)).toContain(`stopped, exit status ${APP_EXIT_STATUS}`);
      expect(await generatedRoles()).toEqual([]);
      expect(standin.leases().filter((l) => l.path.startsWith('database/creds/db1') && !l.revoked)).toEqual([]);
      expect(standin.databaseUsers().every((u) => u.dropped)).toBe(true);
      // tconfd revoked them itself: the example's policy allows sys/leases/revoke.
      const revokes = standin.requests.filter((r) => r.path === 'sys/leases/revoke');
      expect(revokes.some((r) => r.status === 204)).toBe(true);
      expect(revokes.filter((r) => r.status === 403)).toEqual([]);

      // No write ever failed across the rotations, and the table holds the rows of every role that wrote.
      expect(appLines(t).filter((l) => /failed|error/i.test(l))).toEqual([]);
      const writers = await db1<{ username: string }>(`SELECT DISTINCT username FROM visits`);
      expect(writers.map((w) => w.username)).toEqual(expect.arrayContaining([first, second]));
      // Secrets never reach tconfd's logs.
      for (const u of standin.databaseUsers()) expect(t.stderr).not.toContain(u.password);
    },
    120_000,
  );
});
