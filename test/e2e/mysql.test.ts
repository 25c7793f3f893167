/**
 * examples/mysql-dynamic-credentials end to end (seeds 000/004): a throwaway MariaDB set up with the example's
 * sql/setup.sql; the Vault stand-in's mysql-database-plugin configured with the example's vault/requests.json (the
 * seed's creation statement, its revocation statements, run against that server, with short TTLs so that the
 * credentials rotate within seconds); the real CLI (dist/cli.js) with the example's tconfd.d, logging in with a
 * service-account JWT and supervising the example's app.mjs.
 *
 * Skipped, visibly, when MariaDB cannot be started here (MariaDbUnavailableError). The file checks also run without it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MariaDbUnavailableError, startMariaDb, type MariaDb } from '../support/mariadb.js';
import { enableKubernetesAuth, generateRsaKeyPair, makeServiceAccountJwt } from '../vault/setup.js';
import { findOnPath, startVaultTarget, type VaultTarget } from '../vault/target.js';
import { killAll, ROOT, startTconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';
import {
  appLines,
  applyRequests,
  parseSetupSh,
  requestBody,
  statements,
  substituteVars,
  waitForApp,
} from './helpers.js';

const EXAMPLE = join(ROOT, 'examples/mysql-dynamic-credentials');
const REQUESTS = join(EXAMPLE, 'vault/requests.json');
const APP_EXIT_STATUS = 9;

describe('examples/mysql-dynamic-credentials: its files agree', () => {
  it('vault/setup.sh (vault CLI) and vault/requests.json (HTTP API) configure Vault the same way', () => {
    const vars = { DB_HOST: 'db.example', DB_PORT: '3307', DB_ROOT_PASSWORD: 'pw', DB_USER_HOST: '%', DEFAULT_TTL: '10m', MAX_TTL: '24h' };
    const sh = parseSetupSh(readFileSync(join(EXAMPLE, 'vault/setup.sh'), 'utf8'), vars);
    expect(sh.enabled).toEqual(['secrets:database', 'auth:kubernetes']);
    const json = (path: string): Record<string, unknown> => substituteVars(requestBody(REQUESTS, path), vars);

    const config = json('database/config/my-mysql-database');
    expect(config).toEqual(sh.writes.get('database/config/my-mysql-database'));
    expect(config['connection_url']).toBe('{{username}}:{{password}}@tcp(db.example:3307)/');

    const role = json('database/roles/pipeline');
    const shRole = sh.writes.get('database/roles/pipeline')!;
    expect(statements(role['creation_statements'])).toEqual(statements(shRole['creation_statements']));
    expect(statements(role['revocation_statements'])).toEqual(statements(shRole['revocation_statements']));
    expect([role['db_name'], role['default_ttl'], role['max_ttl']]).toEqual([shRole['db_name'], shRole['default_ttl'], shRole['max_ttl']]);
    // With the defaults, the seed's creation statement, word for word, and a revocation naming the same account.
    const seedRole = substituteVars(requestBody(REQUESTS, 'database/roles/pipeline'), {});
    expect(seedRole['creation_statements']).toEqual([
      "GRANT ALL ON pipeline.* TO '{{name}}'@'localhost' IDENTIFIED BY '{{password}}';",
    ]);
    expect(statements(seedRole['revocation_statements'])).toEqual([
      "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'localhost'",
      "DROP USER '{{name}}'@'localhost'",
    ]);
    expect([seedRole['default_ttl'], seedRole['max_ttl']]).toEqual(['10m', '24h']);

    expect(json('auth/kubernetes/role/pipeline')).toEqual(sh.writes.get('auth/kubernetes/role/pipeline'));
    expect(json('sys/policies/acl/pipeline')['policy']).toBe(sh.policies.get('pipeline'));
  });

  it('the Kubernetes manifests and tconfd.d match the Vault role (service account, namespace, role name)', () => {
    const yaml = readFileSync(join(EXAMPLE, 'k8s/pipeline.yaml'), 'utf8');
    const k8sRole = requestBody(REQUESTS, 'auth/kubernetes/role/pipeline');
    expect(yaml).toMatch(/kind: ServiceAccount\nmetadata:\n {2}name: pipeline\n {2}namespace: pipeline\n/);
    expect(yaml).toContain(`serviceAccountName: ${k8sRole['bound_service_account_names']}`);
    expect(yaml.match(/namespace: (\S+)/g)?.every((m) => m === `namespace: ${k8sRole['bound_service_account_namespaces']}`)).toBe(true);
    expect(yaml).toContain('args: ["-u", "$(VAULT_URL)", "--", "/usr/bin/pipeline"]');
    const conf = JSON.parse(readFileSync(join(EXAMPLE, 'tconfd.d/pipeline.json'), 'utf8')) as Record<string, { secrets: Record<string, string>; mode: string }>;
    const tpl = conf['pipeline.jsonnet']!;
    expect(Object.keys(tpl.secrets)).toContain('vault:pipeline:database/creds/pipeline');
    expect(tpl.mode).toBe('0640');
  });
});

let db: MariaDb | undefined;
let unavailable = '';
let target: VaultTarget | undefined;
let work = '';


async function vaultUsers(): Promise<Array<{ user: string; host: string }>> {
  return (db as MariaDb).query<{ user: string; host: string }>(
    `SELECT User AS user, Host AS host FROM mysql.user WHERE User LIKE 'v-%' ORDER BY User`,
  );
}

interface Rendered {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  dsn: string;
}

beforeAll(async () => {
  try {
    db = await startMariaDb();
  } catch (err) {
    if (!(err instanceof MariaDbUnavailableError)) throw err;
    unavailable = err.message;
    console.warn(`[e2e] examples/mysql-dynamic-credentials skipped: MariaDB cannot be started here: ${unavailable}`);
    return;
  }
  const v = (await db.query<{ v: string }>('SELECT VERSION() AS v'))[0]?.v ?? '';
  if (!/mariadb/i.test(v) && Number(v.split('.')[0]) >= 8) {
    unavailable = `the server is MySQL ${v}: the example's GRANT ... IDENTIFIED BY needs MariaDB or MySQL < 8.0`;
    console.warn(`[e2e] examples/mysql-dynamic-credentials skipped: ${unavailable}`);
    await db.stop();
    db = undefined;
    return;
  }
  await db.query(readFileSync(join(EXAMPLE, 'sql/setup.sql'), 'utf8'));

  target = await startVaultTarget({ kind: 'standin' });
  await applyRequests(target, REQUESTS, {
    DB_HOST: '127.0.0.1',
    DB_PORT: String(db.port),
    DB_ROOT_PASSWORD: db.rootPassword,
    // 8 s / 20 s: the renewal Vault caps leaves the old credentials >= 2.2 s (27 % of 8 s), the time the app has to
    // get its SIGHUP (--wait 100ms:500ms) and reconnect before they end, even on a busy machine.
    DEFAULT_TTL: '8s',
    MAX_TTL: '20s',
  });
  const { privateKey, publicKeyPem } = generateRsaKeyPair();
  await enableKubernetesAuth(target, { publicKeyPem });
  work = mkdtempSync(join(tmpdir(), 'tconfd-e2e-mysql-'));
  writeFileSync(
    join(work, 'token'),
    await makeServiceAccountJwt(privateKey, { namespace: 'pipeline', serviceAccount: 'pipeline' }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await killAll();
  await target?.stop();
  await db?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('examples/mysql-dynamic-credentials end to end', () => {
  it(
    'the app works through rotations: each lease is a MySQL user with ALL on pipeline.*, the new one uses the table, the old one is dropped, SIGTERM leaves none',
    async (ctx) => {
      if (!db || !target) return ctx.skip(`MariaDB unavailable: ${unavailable}`);
      const standin = target.standin!;
      const out = join(work, 'run');
      const file = join(out, 'database.json');
      const t = startTconfd(
        [
          '-d', join(EXAMPLE, 'tconfd.d'),
          '-u', `${target.addr}/v1`,
          '-t', join(work, 'token'),
          '--wait', '100ms:500ms',
          '--revoke-grace', '3s',
          '--', process.execPath, join(EXAMPLE, 'app.mjs'),
        ],
        {
          env: {
            NAMESPACE: 'pipeline',
            APP_CONFIG_DIR: out,
            DB_HOST: '127.0.0.1',
            DB_PORT: String(db.port),
            APP_CONFIG: file,
            APP_INTERVAL: '300',
            APP_EXIT_STATUS: String(APP_EXIT_STATUS),
          },
        },
      );
      const read = (): Rendered => JSON.parse(readFileSync(file, 'utf8')) as Rendered;

      // 1. First rendering: a user named by the mysql plugin's template (32 characters at most), mode 0640.
      const first = (await waitForApp(t, /^connected as (\S+)$/))[1]!;
      const r1 = read();
      expect(r1.user).toBe(first);
      expect(first).toMatch(/^v-kubernetes-pipeline-[A-Za-z0-9]{10}$/);
      expect(first).toHaveLength(32);
      expect(statSync(file).mode & 0o777).toBe(0o640);
      expect(statSync(join(out, 'my.cnf')).mode & 0o777).toBe(0o640);
      expect(r1).toMatchObject({ host: '127.0.0.1', port: db.port, database: 'pipeline' });
      expect(r1.dsn).toBe(`${first}:${r1.password}@tcp(127.0.0.1:${db.port})/pipeline?parseTime=true`);
      expect(readFileSync(join(out, 'my.cnf'), 'utf8')).toBe(
        `[client]\nhost=127.0.0.1\nport=${db.port}\nuser=${first}\npassword="${r1.password}"\ndatabase=pipeline\n`,
      );
      await waitForApp(t, new RegExp(`^row \\d+ written by ${first}$`));

      // 2. The account is the seed's: 'name'@'localhost' with ALL on pipeline.* and nothing else.
      expect(await vaultUsers()).toEqual([{ user: first, host: 'localhost' }]);
      const grants = (await db.query<Record<string, string>>(`SHOW GRANTS FOR '${first}'@'localhost'`)).map((g) => Object.values(g)[0]);
      expect(grants).toContainEqual(`GRANT ALL PRIVILEGES ON \`pipeline\`.* TO \`${first}\`@\`localhost\``);
      expect(grants).toHaveLength(2); // USAGE (with the password) + pipeline.*
      // The client option file works for the mariadb/mysql client as it is.
      const client = findOnPath('mariadb') ?? findOnPath('mysql');
      if (client) {
        const r = spawnSync(client, [`--defaults-file=${join(out, 'my.cnf')}`, '-N', '-e', 'SELECT CURRENT_USER(), DATABASE()'], { encoding: 'utf8' });
        expect(r.stderr).toBe('');
        expect(r.stdout).toBe(`${first}@localhost\tpipeline\n`);
      }

      // 3. Rotation before max_ttl (20 s): a new user is rendered and the app, signalled, reconnects with it.
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

      // 4. The current user writes and reads the table the first user created.
      const r2 = read();
      expect(r2.user).not.toBe(first);
      const c = await mysql.createConnection({ host: r2.host, port: r2.port, user: r2.user, password: r2.password, database: r2.database });
      try {
        await c.query(`INSERT INTO events (username) VALUES (?)`, [r2.user]);
        const [rows] = await c.query(`SELECT DISTINCT username FROM events`);
        expect((rows as Array<{ username: string }>).map((x) => x.username)).toEqual(expect.arrayContaining([first, r2.user]));
      } finally {
        await c.end();
      }

      // 5. The first user is dropped once its lease ends (revoked 3 s (--revoke-grace) after the replacement, or at its
      // expiry if that comes first), by the example's revocation statements.
      // (the stand-in marks the user dropped once its last statement has returned: wait for that too)
      await waitFor(
        'the first user to be dropped',
        async () => !(await vaultUsers()).some((u) => u.user === first) && standin.databaseUsers().find((u) => u.username === first)?.dropped,
        { detail: () => t.tail() },
      );
      const firstUser = standin.databaseUsers().find((u) => u.username === first);
      expect(firstUser?.dropped).toBe(true);
      expect(firstUser?.statements).toEqual([
        `GRANT ALL ON pipeline.* TO '${first}'@'localhost' IDENTIFIED BY '${firstUser?.password}'`,
        `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${first}'@'localhost'`,
        `DROP USER '${first}'@'localhost'`,
      ]);

      // 6. SIGTERM: the app stops, tconfd revokes every lease and exits with the app's status.
      const exit = await t.stop();
      expect(exit).toEqual({ code: APP_EXIT_STATUS, signal: null });
      expect(appLines(t)).toContain(`stopped, exit status ${APP_EXIT_STATUS}`);
      expect(await vaultUsers()).toEqual([]);
      expect(standin.leases().filter((l) => l.path.startsWith('database/creds/pipeline') && !l.revoked)).toEqual([]);
      expect(standin.databaseUsers().every((u) => u.dropped)).toBe(true);
      // tconfd revoked them itself: the example's policy allows sys/leases/revoke.
      const revokes = standin.requests.filter((r) => r.path === 'sys/leases/revoke');
      expect(revokes.some((r) => r.status === 204)).toBe(true);
      expect(revokes.filter((r) => r.status === 403)).toEqual([]);

      expect(appLines(t).filter((l) => /failed|error/i.test(l))).toEqual([]);
      const writers = await db.query<{ username: string }>(`SELECT DISTINCT username FROM pipeline.events`);
      expect(writers.map((w) => w.username)).toEqual(expect.arrayContaining([first, second]));
      for (const u of standin.databaseUsers()) expect(t.stderr).not.toContain(u.password);
    },
    120_000,
  );
});
