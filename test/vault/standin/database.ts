/**
 * The database secrets engine with the behaviour of two of Vault's plugins:
 *
 * - `postgresql-database-plugin`: dynamic roles created by the role's creation statements, VALID UNTIL moved on
 *   renewal (lease expiry + 5 s, as Vault does), and the role dropped on revocation (the role's revocation
 *   statements, or the plugin's default REVOKE ... / DROP ROLE sequence). Driver: pg.
 * - `mysql-database-plugin` (and the `mysql-aurora`/`mysql-rds`/`mysql-legacy` variants with their 16-character user
 *   names): connection_url is a Go DSN (`{{username}}:{{password}}@tcp(127.0.0.1:3306)/`), user names follow the
 *   plugin's default template (`v-<display_name|10>-<role|10>-<random 20>-<unix time>`, truncated to 32), renewal
 *   runs nothing (the plugin ignores expiration changes), and revocation runs the role's revocation statements or
 *   the plugin's default `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%'`.
 *   Driver: mysql2 (MySQL or MariaDB).
 *
 * Statements run in one transaction per operation, split on `;` as the plugins do. `database/rotate-root/<name>`
 * changes the configured user's password (root_rotation_statements, or the plugin's default ALTER ROLE / ALTER
 * USER) and reconnects with it, as Vault does.
 *
 * A connection_url starting with `memory://` keeps the users in memory instead (no database), for fast tests;
 * they are visible through VaultStandin.databaseUsers().
 */
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { Core } from './core.js';
import type { Backend, LeaseEntry, LogicalRequest, LogicalResponse, RenewAnswer } from './types.js';
import {
  VaultError,
  badRequest,
  calculateTtl,
  globMatch,
  parseBool,
  parseDurationSeconds,
  parseStringList,
  randomAlnum,
  randomDbPassword,
  serverError,
  unsupportedOperation,
  unsupportedPath,
} from './util.js';

export const DEFAULT_RENEW_STATEMENT = `ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}';`;
/** The PostgreSQL plugin's default root credential rotation. */
export const PG_DEFAULT_ROOT_ROTATION = `ALTER ROLE "{{username}}" WITH PASSWORD '{{password}}';`;
/** The MySQL plugin's defaults (plugins/database/mysql/mysql.go). */
export const MYSQL_DEFAULT_REVOCATION = `REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%'`;
export const MYSQL_DEFAULT_ROOT_ROTATION = `ALTER USER '{{username}}'@'%' IDENTIFIED BY '{{password}}';`;

type Engine = 'postgresql' | 'mysql';

/** The plugins of Vault's catalog this stand-in implements, and their default user name template. */
const PLUGINS: Record<string, { engine: Engine; legacyUsername: boolean }> = {
  'postgresql-database-plugin': { engine: 'postgresql', legacyUsername: false },
  'mysql-database-plugin': { engine: 'mysql', legacyUsername: false },
  'mysql-aurora-database-plugin': { engine: 'mysql', legacyUsername: true },
  'mysql-rds-database-plugin': { engine: 'mysql', legacyUsername: true },
  'mysql-legacy-database-plugin': { engine: 'mysql', legacyUsername: true },
};

interface DbConfig {
  name: string;
  pluginName: string;
  engine: Engine;
  legacyUsername: boolean;
  connectionUrl: string;
  username: string;
  password: string;
  allowedRoles: string[];
  rootRotation: string[];
  verifyConnection: boolean;
  memory: boolean;
  pool: pg.Pool | undefined;
  myPool: mysql.Pool | undefined;
}

interface DbRole {
  name: string;
  dbName: string;
  creation: string[];
  revocation: string[];
  renew: string[];
  rollback: string[];
  defaultTtl: number;
  maxTtl: number;
}

export interface DatabaseUserInfo {
  /** The database config (connection) name. */
  config: string;
  role: string;
  username: string;
  password: string;
  /** VALID UNTIL as last set by creation or renewal (lease expiry + 5 s); undefined for MySQL. */
  validUntil: Date | undefined;
  createdAt: number;
  /** True once the revocation ran (the role would be dropped). */
  dropped: boolean;
  droppedAt: number | undefined;
  /** Statements run for this user, rendered, in order (creation, renewals, revocation). */
  statements: string[];
  /** The mount, e.g. `database/`. */
  mount: string;
}

/** Go's `2006-01-02 15:04:05-0700`, in UTC, as Vault's PostgreSQL plugin renders {{expiration}}. */
export function pgExpiration(d: Date): string {
  const iso = d.toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}+0000`;
}

function quoteIdent(s: string): string {
  return `"${s.replace(/"/g, '""')}"`;
}

function render(stmt: string, vars: Record<string, string>): string {
  let out = stmt;
  for (const [k, v] of Object.entries(vars)) out = out.split(`{{${k}}}`).join(v);
  return out;
}

/** Split statements the way the PostgreSQL plugin does: on ';', unless the statement uses $$ quoting. */
export function splitStatements(commands: string[]): string[] {
  const out: string[] = [];
  for (const cmd of commands) {
    if (cmd.includes('$$')) {
      if (cmd.trim()) out.push(cmd);
      continue;
    }
    for (const q of cmd.split(';')) {
      const t = q.trim();
      if (t) out.push(t);
    }
  }
  return out;
}

/** Vault's default username template for PostgreSQL. */
export function makeUsername(displayName: string, roleName: string): string {
  const u = `v-${displayName.slice(0, 8)}-${roleName.slice(0, 8)}-${randomAlnum(20)}-${Math.floor(Date.now() / 1000)}`;
  return u.slice(0, 63);
}

/**
 * The MySQL plugin's default username templates: `v-<display_name|10>-<role|10>-<random 20>-<unix_time>` truncated
 * to 32 characters (mysql-database-plugin), or `v-<role|4>-<random 20>` truncated to 16 (legacy, aurora, rds).
 */
export function makeMysqlUsername(displayName: string, roleName: string, legacy = false): string {
  if (legacy) return `v-${roleName.slice(0, 4)}-${randomAlnum(20)}`.slice(0, 16);
  const u = `v-${displayName.slice(0, 10)}-${roleName.slice(0, 10)}-${randomAlnum(20)}-${Math.floor(Date.now() / 1000)}`;
  return u.slice(0, 32);
}

/** Split statements the way the MySQL plugin does (strutil.ParseArbitraryStringSlice on ';'): no quoting rules. */
export function splitMysqlStatements(commands: string[]): string[] {
  const out: string[] = [];
  for (const cmd of commands) {
    for (const q of cmd.split(';')) {
      const t = q.trim();
      if (t) out.push(t);
    }
  }
  return out;
}

export interface MysqlDsn {
  user: string;
  password: string;
  /** `tcp` or `unix`. */
  net: string;
  host: string;
  port: number;
  socketPath: string | undefined;
  database: string;
  params: Record<string, string>;
}

/**
 * Parse a Go MySQL driver DSN as go-sql-driver/mysql's ParseDSN does:
 * `[user[:password]@][net[(addr)]]/dbname[?param1=value1&...]`. The last `/` ends the address, the last `@` before
 * it ends the credentials, and the first `:` in those splits user from password.
 */
export function parseMysqlDsn(dsn: string): MysqlDsn {
  const slash = dsn.lastIndexOf('/');
  if (slash < 0) throw new Error('invalid DSN: missing the slash separating the database name');
  let user = '';
  let password = '';
  let net = '';
  let addr = '';
  const left = dsn.slice(0, slash);
  if (left !== '') {
    const at = left.lastIndexOf('@');
    if (at >= 0) {
      const cred = left.slice(0, at);
      const colon = cred.indexOf(':');
      user = colon >= 0 ? cred.slice(0, colon) : cred;
      password = colon >= 0 ? cred.slice(colon + 1) : '';
    }
    const rest = left.slice(at + 1);
    const paren = rest.indexOf('(');
    if (paren >= 0) {
      if (!rest.endsWith(')')) throw new Error('invalid DSN: did you forget to escape a param value?');
      net = rest.slice(0, paren);
      addr = rest.slice(paren + 1, -1);
    } else {
      net = rest;
    }
  }
  const tail = dsn.slice(slash + 1);
  const q = tail.indexOf('?');
  const database = decodeURIComponent(q >= 0 ? tail.slice(0, q) : tail);
  const params: Record<string, string> = {};
  if (q >= 0) for (const [k, v] of new URLSearchParams(tail.slice(q + 1))) params[k] = v;
  if (net === '') net = 'tcp';
  if (net === 'unix') {
    return { user, password, net, host: '', port: 0, socketPath: addr || '/tmp/mysql.sock', database, params };
  }
  if (net !== 'tcp' && net !== 'tcp4' && net !== 'tcp6') throw new Error(`invalid DSN: unknown network ${net}`);
  let host = '127.0.0.1';
  let port = 3306;
  if (addr !== '') {
    const m = /^\[(.*)\](?::(\d+))?$/.exec(addr) ?? /^([^:]*)(?::(\d+))?$/.exec(addr);
    if (!m) throw new Error(`invalid DSN: bad address ${addr}`);
    host = m[1] || '127.0.0.1';
    if (m[2]) port = Number(m[2]);
  }
  return { user, password, net, host, port, socketPath: undefined, database, params };
}

export class DatabaseBackend implements Backend {
  readonly type = 'database';
  private readonly configs = new Map<string, DbConfig>();
  private readonly roles = new Map<string, DbRole>();
  private readonly users = new Map<string, DatabaseUserInfo>();

  constructor(private readonly core: Core) {}

  userInfo(): DatabaseUserInfo[] {
    return [...this.users.values()].map((u) => ({ ...u, statements: [...u.statements] }));
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    let m = /^config\/(.+)$/.exec(p);
    if (m) return this.configPath(req, m[1] as string);
    if (p === 'config/' && req.operation === 'list') return this.list(this.configs.keys());
    if (p === 'roles/' && req.operation === 'list') return this.list(this.roles.keys());
    m = /^roles\/(.+)$/.exec(p);
    if (m) return this.rolePath(req, m[1] as string);
    m = /^creds\/(.+)$/.exec(p);
    if (m) {
      if (req.operation !== 'read') throw unsupportedOperation();
      return this.creds(req, m[1] as string);
    }
    m = /^reset\/(.+)$/.exec(p);
    if (m && req.operation === 'update') {
      // Vault closes the connection and opens a new one.
      const cfg = this.configs.get(m[1] as string);
      if (cfg) {
        await this.disconnect(cfg);
        this.connect(cfg);
      }
      return undefined;
    }
    m = /^rotate-root\/(.+)$/.exec(p);
    if (m) {
      if (req.operation !== 'update') throw unsupportedOperation();
      return this.rotateRoot(m[1] as string);
    }
    throw unsupportedPath();
  }

  private list(keys: Iterable<string>): LogicalResponse {
    const k = [...keys].sort();
    if (k.length === 0) throw new VaultError(404, []);
    return { data: { keys: k } };
  }

  // -------------------------------------------------------------- config

  private async configPath(req: LogicalRequest, name: string): Promise<LogicalResponse | undefined> {
    const existing = this.configs.get(name);
    switch (req.operation) {
      case 'read':
        if (!existing) throw new VaultError(404, []);
        return {
          data: {
            allowed_roles: existing.allowedRoles,
            connection_details: { connection_url: existing.connectionUrl, username: existing.username },
            password_policy: '',
            plugin_name: existing.pluginName,
            root_credentials_rotate_statements: existing.rootRotation,
          },
        };
      case 'delete':
        if (existing) {
          await this.disconnect(existing);
          this.configs.delete(name);
        }
        return undefined;
      case 'update':
        break;
      default:
        throw unsupportedOperation();
    }
    const d = req.data;
    const pluginName = String(d['plugin_name'] ?? existing?.pluginName ?? '');
    if (!pluginName) throw badRequest('empty plugin name');
    const plugin = PLUGINS[pluginName];
    if (!plugin) {
      throw badRequest(`error creating database object: invalid database version: plugin not found in the catalog: ${pluginName}`);
    }
    const cfg: DbConfig = {
      name,
      pluginName,
      engine: plugin.engine,
      legacyUsername: plugin.legacyUsername,
      connectionUrl: String(d['connection_url'] ?? existing?.connectionUrl ?? ''),
      username: String(d['username'] ?? existing?.username ?? ''),
      password: String(d['password'] ?? existing?.password ?? ''),
      allowedRoles:
        d['allowed_roles'] !== undefined ? parseStringList(d['allowed_roles']) : (existing?.allowedRoles ?? []),
      rootRotation:
        d['root_rotation_statements'] !== undefined
          ? parseStringList(d['root_rotation_statements'], false)
          : (existing?.rootRotation ?? []),
      verifyConnection: parseBool(d['verify_connection'], true),
      memory: false,
      pool: undefined,
      myPool: undefined,
    };
    if (!cfg.connectionUrl) throw badRequest('error creating database object: connection_url cannot be empty');
    cfg.memory = cfg.connectionUrl.startsWith('memory://');
    const warnings: string[] = [];
    if (!cfg.memory) {
      if (/\/\/[^/@{}]+:[^/@{}]+@/.test(cfg.connectionUrl)) {
        warnings.push(
          'Password found in connection_url, use a templated url to enable root rotation and prevent read access to password information.',
        );
      }
      try {
        this.connect(cfg);
      } catch (err) {
        throw badRequest(`error creating database object: ${(err as Error).message}`);
      }
      if (cfg.verifyConnection) {
        try {
          await this.ping(cfg);
        } catch (err) {
          await this.disconnect(cfg);
          throw badRequest(`error creating database object: error verifying connection: ${(err as Error).message}`);
        }
      }
    }
    if (existing) await this.disconnect(existing);
    this.configs.set(name, cfg);
    return warnings.length ? { data: null, warnings } : undefined;
  }

  // -------------------------------------------------------------- connections

  /** Open the config's connection pool with its current username and password (no I/O yet). */
  private connect(cfg: DbConfig): void {
    if (cfg.memory) return;
    if (cfg.engine === 'postgresql') {
      const url = cfg.connectionUrl
        .split('{{username}}')
        .join(encodeURIComponent(cfg.username))
        .split('{{password}}')
        .join(encodeURIComponent(cfg.password));
      const pool = new pg.Pool({ connectionString: url, max: 4, idleTimeoutMillis: 1000, allowExitOnIdle: true });
      pool.on('error', () => undefined);
      cfg.pool = pool;
      return;
    }
    // The MySQL plugin substitutes the raw values into the DSN, then parses it.
    const dsn = parseMysqlDsn(render(cfg.connectionUrl, { username: cfg.username, password: cfg.password }));
    cfg.myPool = mysql.createPool({
      ...(dsn.socketPath !== undefined ? { socketPath: dsn.socketPath } : { host: dsn.host, port: dsn.port }),
      user: dsn.user,
      password: dsn.password,
      ...(dsn.database ? { database: dsn.database } : {}),
      connectionLimit: 4,
      maxIdle: 1,
      idleTimeout: 5000,
      connectTimeout: 10_000,
    });
  }

  private async ping(cfg: DbConfig): Promise<void> {
    if (cfg.pool) await cfg.pool.query('SELECT 1');
    else if (cfg.myPool) await cfg.myPool.query('SELECT 1');
  }

  private async disconnect(cfg: DbConfig): Promise<void> {
    const { pool, myPool } = cfg;
    cfg.pool = undefined;
    cfg.myPool = undefined;
    await pool?.end().catch(() => undefined);
    await myPool?.end().catch(() => undefined);
  }

  /** database/rotate-root/<name>: a new password for the configured user, known only to Vault from now on. */
  private async rotateRoot(name: string): Promise<undefined> {
    const cfg = this.configs.get(name);
    if (!cfg) throw badRequest('no configuration found');
    if (!cfg.username) throw serverError('unable to rotate root credentials: no username in configuration');
    const password = randomDbPassword();
    const stmts = cfg.rootRotation.length
      ? cfg.rootRotation
      : [cfg.engine === 'mysql' ? MYSQL_DEFAULT_ROOT_ROTATION : PG_DEFAULT_ROOT_ROTATION];
    const queries = this.split(cfg, stmts).map((s) => render(s, { name: cfg.username, username: cfg.username, password }));
    try {
      await this.runTx(cfg, queries);
    } catch (err) {
      throw serverError(`failed to update user: ${(err as Error).message}`);
    }
    cfg.password = password;
    if (!cfg.memory) {
      await this.disconnect(cfg);
      this.connect(cfg);
    }
    return undefined;
  }

  private split(cfg: DbConfig, commands: string[]): string[] {
    return cfg.engine === 'mysql' ? splitMysqlStatements(commands) : splitStatements(commands);
  }

  // -------------------------------------------------------------- roles

  private rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined {
    const existing = this.roles.get(name);
    switch (req.operation) {
      case 'read':
        if (!existing) throw new VaultError(404, []);
        return {
          data: {
            creation_statements: existing.creation,
            db_name: existing.dbName,
            default_ttl: existing.defaultTtl,
            max_ttl: existing.maxTtl,
            renew_statements: existing.renew,
            revocation_statements: existing.revocation,
            rollback_statements: existing.rollback,
          },
        };
      case 'delete':
        this.roles.delete(name);
        return undefined;
      case 'update':
        break;
      default:
        throw unsupportedOperation();
    }
    const d = req.data;
    const stmts = (key: string, prev: string[] | undefined): string[] =>
      d[key] !== undefined ? parseStringList(d[key], false) : (prev ?? []);
    const role: DbRole = {
      name,
      dbName: String(d['db_name'] ?? existing?.dbName ?? ''),
      creation: stmts('creation_statements', existing?.creation),
      revocation: stmts('revocation_statements', existing?.revocation),
      renew: stmts('renew_statements', existing?.renew),
      rollback: stmts('rollback_statements', existing?.rollback),
      defaultTtl:
        d['default_ttl'] !== undefined ? parseDurationSeconds(d['default_ttl'], 'default_ttl') : (existing?.defaultTtl ?? 0),
      maxTtl: d['max_ttl'] !== undefined ? parseDurationSeconds(d['max_ttl'], 'max_ttl') : (existing?.maxTtl ?? 0),
    };
    if (!role.dbName) throw badRequest('empty database name attribute');
    if (role.creation.length === 0) throw badRequest('empty creation statements');
    if (role.maxTtl > 0 && role.defaultTtl > role.maxTtl) throw badRequest('ttl cannot be greater than max_ttl');
    this.roles.set(name, role);
    return undefined;
  }

  // -------------------------------------------------------------- creds

  private async creds(req: LogicalRequest, name: string): Promise<LogicalResponse> {
    const role = this.roles.get(name);
    if (!role) throw badRequest(`unknown role: ${name}`);
    const cfg = this.configs.get(role.dbName);
    if (!cfg) throw serverError(`failed to find entry for connection with name: "${role.dbName}"`);
    if (!cfg.allowedRoles.some((r) => globMatch(r, name))) throw serverError(`"${name}" is not an allowed role`);
    const { sysDefault, sysMax } = this.core.mountTtls(req.mount);
    const { ttl } = calculateTtl({
      sysDefault,
      sysMax,
      increment: 0,
      backendTtl: role.defaultTtl,
      period: 0,
      backendMaxTtl: role.maxTtl,
      explicitMaxTtl: 0,
      nowMs: Date.now(),
    });
    const expiration = new Date(Date.now() + ttl * 1000 + 5000);
    const displayName = req.token?.displayName ?? 'token';
    const username =
      cfg.engine === 'mysql' ? makeMysqlUsername(displayName, name, cfg.legacyUsername) : makeUsername(displayName, name);
    const password = randomDbPassword();
    const user: DatabaseUserInfo = {
      config: cfg.name,
      role: name,
      username,
      password,
      validUntil: cfg.engine === 'mysql' ? undefined : expiration,
      createdAt: Date.now(),
      dropped: false,
      droppedAt: undefined,
      statements: [],
      mount: req.mount.path,
    };
    const vars = { name: username, username, password, expiration: pgExpiration(expiration) };
    const queries = this.split(cfg, role.creation).map((s) => render(s, vars));
    try {
      await this.runTx(cfg, queries);
    } catch (err) {
      throw serverError((err as Error).message);
    }
    user.statements.push(...queries);
    this.users.set(`${cfg.name}\u0000${username}`, user);
    return {
      data: { password, username },
      secret: {
        ttl: role.defaultTtl,
        maxTtl: role.maxTtl,
        renewable: true,
        internal: { username, role: name, db_name: cfg.name },
      },
    };
  }

  private async runTx(cfg: DbConfig, queries: string[]): Promise<void> {
    if (cfg.memory) return;
    if (cfg.engine === 'mysql') return this.runMysqlTx(cfg, queries);
    const pool = cfg.pool;
    if (!pool) throw new Error('database connection is closed');
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      for (const q of queries) await client.query(q);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /** As the MySQL plugin: one transaction, statements sent as text (not prepared: GRANT and others cannot be). */
  private async runMysqlTx(cfg: DbConfig, queries: string[]): Promise<void> {
    const pool = cfg.myPool;
    if (!pool) throw new Error('database connection is closed');
    const conn = await pool.getConnection();
    try {
      await conn.query('START TRANSACTION');
      for (const q of queries) await conn.query(q);
      await conn.query('COMMIT');
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      conn.release();
    }
  }

  async renewSecret(lease: LeaseEntry, increment: number): Promise<RenewAnswer> {
    const roleName = String(lease.internal['role'] ?? '');
    const role = this.roles.get(roleName);
    if (!role) throw new Error(`error during renew: could not find role with name "${roleName}"`);
    const cfgName = String(lease.internal['db_name'] ?? role.dbName);
    const cfg = this.configs.get(cfgName);
    if (!cfg) throw new Error(`failed to find entry for connection with name: "${cfgName}"`);
    const { sysDefault, sysMax } = this.core.mountTtls(this.core.mountByPath(lease.mountPath));
    // Throws PastMaxTtlError ("past the max TTL, cannot renew") at the limit, as the plugin's renew does.
    const ttl = calculateTtl({
      sysDefault,
      sysMax,
      increment,
      backendTtl: role.defaultTtl,
      period: 0,
      backendMaxTtl: role.maxTtl,
      explicitMaxTtl: 0,
      startMs: lease.issueTime,
      nowMs: Date.now(),
    }).ttl;
    // The MySQL plugin ignores expiration changes: a renewal only extends the lease.
    if (ttl > 0 && cfg.engine === 'postgresql') {
      const username = String(lease.internal['username'] ?? '');
      const expiration = new Date(Date.now() + ttl * 1000 + 5000);
      const vars = { name: username, username, expiration: pgExpiration(expiration) };
      const stmts = role.renew.length ? role.renew : [DEFAULT_RENEW_STATEMENT];
      const queries = splitStatements(stmts).map((s) => render(s, vars));
      await this.runTx(cfg, queries);
      const user = this.users.get(`${cfg.name}\u0000${username}`);
      if (user) {
        user.validUntil = expiration;
        user.statements.push(...queries);
      }
    }
    return { ttl: role.defaultTtl, maxTtl: role.maxTtl };
  }

  async revokeSecret(lease: LeaseEntry): Promise<void> {
    const username = String(lease.internal['username'] ?? '');
    const cfgName = String(lease.internal['db_name'] ?? '');
    const cfg = this.configs.get(cfgName);
    if (!cfg) throw new Error(`failed to find entry for connection with name: "${cfgName}"`);
    const role = this.roles.get(String(lease.internal['role'] ?? ''));
    const user = this.users.get(`${cfg.name}\u0000${username}`);
    let queries: string[];
    if (role && role.revocation.length) {
      queries = this.split(cfg, role.revocation).map((s) => render(s, { name: username, username }));
      await this.runTx(cfg, queries);
    } else if (cfg.engine === 'mysql') {
      queries = splitMysqlStatements([MYSQL_DEFAULT_REVOCATION]).map((s) => render(s, { name: username, username }));
      await this.runTx(cfg, queries);
    } else {
      queries = await this.defaultRevoke(cfg, username);
    }
    if (user) {
      user.dropped = true;
      user.droppedAt = Date.now();
      user.statements.push(...queries);
    }
  }

  /** The PostgreSQL plugin's defaultDeleteUser. */
  private async defaultRevoke(cfg: DbConfig, username: string): Promise<string[]> {
    const u = quoteIdent(username);
    if (cfg.memory || !cfg.pool) {
      return [
        `REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ${u};`,
        `REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ${u};`,
        `REVOKE USAGE ON SCHEMA public FROM ${u};`,
        `DROP ROLE IF EXISTS ${u};`,
      ];
    }
    const pool = cfg.pool;
    const exists = await pool.query<{ exists: boolean }>(
      'SELECT exists (SELECT rolname FROM pg_roles WHERE rolname=$1);',
      [username],
    );
    if (!exists.rows[0]?.exists) return [];
    const schemas = await pool.query<{ table_schema: string }>(
      'SELECT DISTINCT table_schema FROM information_schema.role_column_grants WHERE grantee=$1;',
      [username],
    );
    const stmts: string[] = [];
    for (const row of schemas.rows) {
      stmts.push(`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA ${quoteIdent(row.table_schema)} FROM ${u};`);
      stmts.push(`REVOKE USAGE ON SCHEMA ${quoteIdent(row.table_schema)} FROM ${u};`);
    }
    stmts.push(`REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM ${u};`);
    stmts.push(`REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM ${u};`);
    stmts.push(`REVOKE USAGE ON SCHEMA public FROM ${u};`);
    const db = await pool.query<{ current_database: string }>('SELECT current_database();');
    const dbname = db.rows[0]?.current_database;
    if (dbname) stmts.push(`REVOKE CONNECT ON DATABASE ${quoteIdent(dbname)} FROM ${u};`);
    let lastErr: Error | undefined;
    for (const q of stmts) {
      try {
        await pool.query(q);
      } catch (err) {
        lastErr = err as Error;
      }
    }
    if (lastErr) throw new Error(`could not perform all revocation statements: ${lastErr.message}`);
    const drop = `DROP ROLE IF EXISTS ${u};`;
    await pool.query(drop);
    stmts.push(drop);
    return stmts;
  }

  async close(): Promise<void> {
    await Promise.all([...this.configs.values()].map((c) => this.disconnect(c)));
  }
}

