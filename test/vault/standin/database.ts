/**
 * The database secrets engine with the PostgreSQL plugin's behaviour: dynamic roles created by the role's
 * creation statements, VALID UNTIL moved on renewal (lease expiry + 5 s, as Vault does), and the role dropped on
 * revocation (the role's revocation statements, or the plugin's default REVOKE ... / DROP ROLE sequence).
 *
 * A connection_url starting with `memory://` keeps the users in memory instead (no database), for fast tests;
 * they are visible through VaultStandin.databaseUsers().
 */
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

interface DbConfig {
  name: string;
  pluginName: string;
  connectionUrl: string;
  username: string;
  password: string;
  allowedRoles: string[];
  verifyConnection: boolean;
  memory: boolean;
  pool: pg.Pool | undefined;
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
  /** VALID UNTIL as last set by creation or renewal (lease expiry + 5 s). */
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
      const cfg = this.configs.get(m[1] as string);
      if (cfg?.pool) {
        await cfg.pool.end().catch(() => undefined);
        cfg.pool = undefined;
      }
      return undefined;
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
            root_credentials_rotate_statements: [],
          },
        };
      case 'delete':
        if (existing) {
          await existing.pool?.end().catch(() => undefined);
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
    if (pluginName !== 'postgresql-database-plugin') {
      throw badRequest(`error creating database object: invalid database version: plugin not found in the catalog: ${pluginName}`);
    }
    const cfg: DbConfig = {
      name,
      pluginName,
      connectionUrl: String(d['connection_url'] ?? existing?.connectionUrl ?? ''),
      username: String(d['username'] ?? existing?.username ?? ''),
      password: String(d['password'] ?? existing?.password ?? ''),
      allowedRoles:
        d['allowed_roles'] !== undefined ? parseStringList(d['allowed_roles']) : (existing?.allowedRoles ?? []),
      verifyConnection: parseBool(d['verify_connection'], true),
      memory: false,
      pool: undefined,
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
      const url = cfg.connectionUrl
        .split('{{username}}')
        .join(encodeURIComponent(cfg.username))
        .split('{{password}}')
        .join(encodeURIComponent(cfg.password));
      const pool = new pg.Pool({ connectionString: url, max: 4, idleTimeoutMillis: 1000, allowExitOnIdle: true });
      pool.on('error', () => undefined);
      cfg.pool = pool;
      if (cfg.verifyConnection) {
        try {
          await pool.query('SELECT 1');
        } catch (err) {
          await pool.end().catch(() => undefined);
          throw badRequest(`error creating database object: error verifying connection: ${(err as Error).message}`);
        }
      }
    }
    await existing?.pool?.end().catch(() => undefined);
    this.configs.set(name, cfg);
    return warnings.length ? { data: null, warnings } : undefined;
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
    const username = makeUsername(req.token?.displayName ?? 'token', name);
    const password = randomDbPassword();
    const user: DatabaseUserInfo = {
      config: cfg.name,
      role: name,
      username,
      password,
      validUntil: expiration,
      createdAt: Date.now(),
      dropped: false,
      droppedAt: undefined,
      statements: [],
      mount: req.mount.path,
    };
    const vars = { name: username, username, password, expiration: pgExpiration(expiration) };
    const queries = splitStatements(role.creation).map((s) => render(s, vars));
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
    if (ttl > 0) {
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
      queries = splitStatements(role.revocation).map((s) => render(s, { name: username, username }));
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
    await Promise.all([...this.configs.values()].map((c) => c.pool?.end().catch(() => undefined)));
    for (const c of this.configs.values()) c.pool = undefined;
  }
}

