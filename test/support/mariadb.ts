/**
 * A throwaway MariaDB (or MySQL) server for tests: mariadb-install-db in a temp dir, mariadbd on a free loopback port
 * (and a unix socket inside the temp dir), root with a random password, removed on stop(). As root, the server runs
 * as the `mysql` user (--user=mysql), as the distribution's service does.
 *
 * If it cannot be started, startMariaDb() rejects with MariaDbUnavailableError: tests turn that into a visible skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, chownSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';

export class MariaDbUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MariaDbUnavailableError';
  }
}

export interface MariaDb {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly rootPassword: string;
  readonly socketPath: string;
  /** The temp dir holding data/, the socket and the error log. */
  readonly dir: string;
  /** Run SQL as root over TCP (params as ?); returns the rows. multipleStatements is on. */
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

function findBinary(names: string[]): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(':').filter(Boolean), '/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'];
  for (const name of names) {
    for (const dir of dirs) {
      try {
        accessSync(join(dir, name), constants.X_OK);
        return join(dir, name);
      } catch {
        // next
      }
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startMariaDb(opts: { startTimeoutMs?: number } = {}): Promise<MariaDb> {
  const server = findBinary(['mariadbd', 'mysqld']);
  const install = findBinary(['mariadb-install-db', 'mysql_install_db']);
  if (!server || !install) {
    throw new MariaDbUnavailableError(
      `MariaDB server binaries not found (${!server ? 'mariadbd/mysqld' : 'mariadb-install-db/mysql_install_db'} is not on PATH or in /usr/sbin)`,
    );
  }
  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const id = (flag: string): number => {
      const r = spawnSync('id', [flag, 'mysql'], { encoding: 'utf8' });
      if (r.status !== 0) throw new MariaDbUnavailableError('running as root and there is no `mysql` user to run MariaDB as');
      return Number(r.stdout.trim());
    };
    owner = { uid: id('-u'), gid: id('-g') };
  }
  const dir = mkdtempSync(join(tmpdir(), 'tconfd-mariadb-'));
  const dataDir = join(dir, 'data');
  const socketPath = join(dir, 'mysqld.sock');
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  if (owner) {
    chownSync(dir, owner.uid, owner.gid);
    chmodSync(dir, 0o700);
  }
  const userArgs = owner ? ['--user=mysql'] : [];
  const init = spawnSync(
    install,
    ['--no-defaults', ...userArgs, `--datadir=${dataDir}`, '--auth-root-authentication-method=normal', '--skip-test-db'],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (init.status !== 0) {
    cleanup();
    throw new MariaDbUnavailableError(
      `${install} failed (${init.status ?? init.signal}): ${(init.stderr || init.stdout || String(init.error ?? '')).slice(-2000)}`,
    );
  }

  const port = await freePort();
  const child: ChildProcess = spawn(
    server,
    [
      '--no-defaults',
      ...userArgs,
      `--datadir=${dataDir}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socketPath}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--log-error=${join(dir, 'error.log')}`,
      '--skip-log-bin',
      '--innodb-buffer-pool-size=16M',
      '--innodb-log-file-size=8M',
      '--innodb-flush-log-at-trx-commit=0',
      '--skip-innodb-doublewrite',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const keep = (b: Buffer): void => {
    out = (out + b.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const killNow = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killNow);
  const log = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8').slice(-3000);
    } catch {
      return out;
    }
  };

  // root@localhost has no password yet (auth method "normal"): set one on every root account, over the socket.
  const rootPassword = randomBytes(12).toString('hex');
  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.off('exit', killNow);
      const text = log();
      cleanup();
      throw new MariaDbUnavailableError(`mariadbd exited (${child.exitCode ?? child.signalCode}) while starting:\n${text}`);
    }
    try {
      const c = await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 2000 });
      try {
        const [rows] = await c.query(`SELECT User AS u, Host AS h FROM mysql.user WHERE User IN ('root', '')`);
        for (const r of rows as Array<{ u: string; h: string }>) {
          if (r.u === '') await c.query(`DROP USER ''@?`, [r.h]); // anonymous users would shadow 'x'@'%'
          else await c.query(`ALTER USER 'root'@? IDENTIFIED BY ?`, [r.h, rootPassword]);
        }
        await c.query('FLUSH PRIVILEGES');
      } finally {
        await c.end();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        killNow();
        await exited;
        process.off('exit', killNow);
        const text = log();
        cleanup();
        throw new MariaDbUnavailableError(`mariadbd did not accept connections in time (${(err as Error).message}):\n${text}`);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const pool = mysql.createPool({
    host: '127.0.0.1',
    port,
    user: 'root',
    password: rootPassword,
    connectionLimit: 2,
    maxIdle: 1,
    idleTimeout: 1000,
    multipleStatements: true,
  });
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    rootPassword,
    socketPath,
    dir,
    async query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
      const [rows] = await pool.query(sql, params);
      return rows as R[];
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pool.end().catch(() => undefined);
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 15_000))]);
      if (!done) {
        killNow();
        await exited;
      }
      process.off('exit', killNow);
      cleanup();
    },
  };
}
