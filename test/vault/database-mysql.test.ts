/**
 * The stand-in's mysql-database-plugin: Go DSN parsing, the plugin's user name templates, its statements (split on
 * `;`, default revocation, no renewal statement, root rotation) with memory://, and against a throwaway MariaDB:
 * creds create a user that can log in, revocation drops it, rotate-root changes the admin's password. The MariaDB
 * part is skipped, visibly, when MariaDB cannot be started here.
 */
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MariaDbUnavailableError, startMariaDb, type MariaDb } from '../support/mariadb.js';
import { makeMysqlUsername, parseMysqlDsn } from './standin/database.js';
import { startVaultStandin, type VaultStandin } from './standin/index.js';
import { call, createDbRole } from './setup.js';
import { vaultApi } from './target.js';

describe('mysql-database-plugin: pure parts', () => {
  it('parses Go MySQL driver DSNs as go-sql-driver/mysql does', () => {
    expect(parseMysqlDsn('root:rootpassword@tcp(127.0.0.1:3306)/')).toEqual({
      user: 'root',
      password: 'rootpassword',
      net: 'tcp',
      host: '127.0.0.1',
      port: 3306,
      socketPath: undefined,
      database: '',
      params: {},
    });
    // The last '@' ends the credentials, the first ':' splits them: passwords may hold '@' and ':'.
    expect(parseMysqlDsn('vault:p@ss:w@tcp([::1]:3307)/app?tls=false&timeout=5s')).toMatchObject({
      user: 'vault',
      password: 'p@ss:w',
      host: '::1',
      port: 3307,
      database: 'app',
      params: { tls: 'false', timeout: '5s' },
    });
    expect(parseMysqlDsn('app@unix(/run/mysqld/mysqld.sock)/db')).toMatchObject({
      user: 'app',
      password: '',
      net: 'unix',
      socketPath: '/run/mysqld/mysqld.sock',
      database: 'db',
    });
    expect(parseMysqlDsn('/db')).toMatchObject({ user: '', host: '127.0.0.1', port: 3306, database: 'db' });
    expect(parseMysqlDsn('u:p@tcp(db.example)/')).toMatchObject({ host: 'db.example', port: 3306 });
    expect(() => parseMysqlDsn('root@tcp(127.0.0.1:3306)')).toThrow(/missing the slash/);
  });

  it('names users with the plugin defaults: 32 characters, or 16 for the legacy plugins', () => {
    const u = makeMysqlUsername('kubernetes-pipeline-pipeline', 'pipeline');
    expect(u).toMatch(/^v-kubernetes-pipeline-[A-Za-z0-9]{10}$/);
    expect(u).toHaveLength(32);
    expect(makeMysqlUsername('token', 'ro')).toMatch(/^v-token-ro-[A-Za-z0-9]{20}-$/);
    expect(makeMysqlUsername('token', 'readonly', true)).toMatch(/^v-read-[A-Za-z0-9]{9}$/);
    expect(makeMysqlUsername('token', 'readonly', true)).toHaveLength(16);
  });
});

describe('mysql-database-plugin with memory://', () => {
  let standin: VaultStandin;
  beforeAll(async () => {
    standin = await startVaultStandin();
    await call(standin, 'POST', 'sys/mounts/database', { type: 'database' });
    await call(standin, 'POST', 'database/config/my', {
      plugin_name: 'mysql-database-plugin',
      connection_url: 'memory://my',
      username: 'vault',
      password: 'secret',
      allowed_roles: '*',
    });
    await call(standin, 'POST', 'database/config/legacy', {
      plugin_name: 'mysql-legacy-database-plugin',
      connection_url: 'memory://legacy',
      allowed_roles: '*',
    });
  });
  afterAll(async () => standin?.stop());

  it('creation statements are split on ";", revocation defaults to the plugin\'s REVOKE and DROP USER @\'%\'', async () => {
    await createDbRole(standin, {
      name: 'app',
      dbName: 'my',
      creationStatements: ["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON app.* TO '{{name}}'@'%';"],
      defaultTtl: 60,
      maxTtl: 120,
    });
    const creds = await call(standin, 'GET', 'database/creds/app');
    const { username, password } = creds.body.data as { username: string; password: string };
    expect(username).toMatch(/^v-token-app-[A-Za-z0-9]{20}$/); // truncated to 32: no room for the time
    expect(username).toHaveLength(32);
    const renewed = await call(standin, 'PUT', 'sys/leases/renew', { lease_id: creds.body.lease_id });
    expect(renewed.body.lease_duration).toBe(60);
    await call(standin, 'PUT', 'sys/leases/revoke', { lease_id: creds.body.lease_id });
    const user = standin.databaseUsers().find((u) => u.username === username);
    expect(user?.validUntil).toBeUndefined();
    expect(user?.dropped).toBe(true);
    // No renewal statement: the plugin ignores expiration changes.
    expect(user?.statements).toEqual([
      `CREATE USER '${username}'@'%' IDENTIFIED BY '${password}'`,
      `GRANT SELECT ON app.* TO '${username}'@'%'`,
      `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '${username}'@'%'`,
      `DROP USER '${username}'@'%'`,
    ]);
  });

  it('the legacy plugins name users with 16 characters; rotate-root needs a username', async () => {
    await createDbRole(standin, { name: 'legacyrole', dbName: 'legacy', creationStatements: ["CREATE USER '{{name}}'"], defaultTtl: 60, maxTtl: 60 });
    const creds = await call(standin, 'GET', 'database/creds/legacyrole');
    expect(creds.body.data.username).toMatch(/^v-lega-[A-Za-z0-9]{9}$/);
    expect((await vaultApi(standin)('POST', 'database/rotate-root/my', {})).status).toBe(204);
    const res = await vaultApi(standin)('POST', 'database/rotate-root/legacy', {});
    expect(res.status).toBe(500);
    expect(res.body.errors[0]).toMatch(/no username in configuration/);
  });
});

let db: MariaDb | undefined;
let unavailable = '';
let standin: VaultStandin | undefined;
const ADMIN_PASSWORD = 'vault-admin-pw';

beforeAll(async () => {
  try {
    db = await startMariaDb();
  } catch (err) {
    if (!(err instanceof MariaDbUnavailableError)) throw err;
    unavailable = err.message;
    console.warn(`MariaDB tests of the mysql-database-plugin skipped: ${unavailable}`);
    return;
  }
  await db.query(
    `CREATE DATABASE app; CREATE TABLE app.t (id INT); INSERT INTO app.t VALUES (1);
     CREATE USER 'vault'@'%' IDENTIFIED BY '${ADMIN_PASSWORD}'; GRANT ALL ON *.* TO 'vault'@'%' WITH GRANT OPTION;`,
  );
  standin = await startVaultStandin();
  await call(standin, 'POST', 'sys/mounts/database', { type: 'database' });
});

afterAll(async () => {
  await standin?.stop();
  await db?.stop();
});

async function canLogin(user: string, password: string): Promise<string> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: (db as MariaDb).port, user, password });
  try {
    const [rows] = await c.query('SELECT CURRENT_USER() AS u, (SELECT count(*) FROM app.t) AS n');
    const r = (rows as Array<{ u: string; n: number }>)[0]!;
    return `${r.u} ${r.n}`;
  } finally {
    await c.end();
  }
}

describe('mysql-database-plugin against MariaDB', () => {
  it('creds create a user that logs in; revocation (default) drops it; rotate-root changes the admin password', async (ctx) => {
    if (!db || !standin) return ctx.skip(`MariaDB unavailable: ${unavailable}`);
    const res = await vaultApi(standin)('POST', 'database/config/mariadb', {
      plugin_name: 'mysql-database-plugin',
      connection_url: `{{username}}:{{password}}@tcp(127.0.0.1:${db.port})/`,
      username: 'vault',
      password: ADMIN_PASSWORD,
      allowed_roles: 'app',
    });
    expect(res.status).toBe(204);
    await createDbRole(standin, {
      name: 'app',
      dbName: 'mariadb',
      creationStatements: ["CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';", "GRANT SELECT ON app.* TO '{{name}}'@'%';"],
      defaultTtl: 60,
      maxTtl: 120,
    });
    const creds = await call(standin, 'GET', 'database/creds/app');
    const { username, password } = creds.body.data as { username: string; password: string };
    expect(await canLogin(username, password)).toBe(`${username}@% 1`);

    await call(standin, 'PUT', 'sys/leases/revoke', { lease_id: creds.body.lease_id });
    expect(await db.query(`SELECT User FROM mysql.user WHERE User = ?`, [username])).toEqual([]);

    // rotate-root: the configured password stops working, Vault goes on with the new one.
    await call(standin, 'POST', 'database/rotate-root/mariadb', {});
    await expect(canLogin('vault', ADMIN_PASSWORD)).rejects.toThrow(/Access denied/);
    const again = await call(standin, 'GET', 'database/creds/app');
    expect(await canLogin(again.body.data.username, again.body.data.password)).toBe(`${again.body.data.username}@% 1`);
    await call(standin, 'PUT', 'sys/leases/revoke', { lease_id: again.body.lease_id });
  });

  it('a failing creation statement is a 500 with the server\'s error; a wrong password fails verification', async (ctx) => {
    if (!db || !standin) return ctx.skip(`MariaDB unavailable: ${unavailable}`);
    await createDbRole(standin, { name: 'app', dbName: 'mariadb', creationStatements: ['GRANT NONSENSE'], defaultTtl: 60, maxTtl: 60 });
    const bad = await vaultApi(standin)('GET', 'database/creds/app');
    expect(bad.status).toBe(500);
    expect(bad.body.errors[0]).toMatch(/SQL syntax/);
    const res = await vaultApi(standin)('POST', 'database/config/wrong', {
      plugin_name: 'mysql-database-plugin',
      connection_url: `{{username}}:{{password}}@tcp(127.0.0.1:${db.port})/`,
      username: 'root',
      password: 'wrong',
      allowed_roles: '*',
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatch(/^error creating database object: error verifying connection: Access denied/);
  });
});
