/**
 * A throwaway PostgreSQL cluster for tests: initdb in a temp dir, a postmaster on a free loopback port (unix
 * socket inside the temp dir), a password-protected superuser for TCP connections, removed on stop(). As root
 * (initdb and postgres refuse to run as root) the server runs as the `postgres` user through runuser.
 *
 * If PostgreSQL cannot be started, startPgCluster() rejects with PgUnavailableError: tests turn that into a
 * visible skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export class PgUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PgUnavailableError';
  }
}

export interface PgCluster {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly superuser: string;
  readonly superuserPassword: string;
  /** postgres://<superuser>:<password>@127.0.0.1:<port>/postgres?sslmode=disable */
  readonly superuserUrl: string;
  /** The temp dir holding data/, the socket and the log. */
  readonly dir: string;
  connectionUrl(user: string, password: string, db?: string): string;
  /** Run SQL as the superuser (params as $1, $2 ...); returns the rows. */
  query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  stop(): Promise<void>;
}

export interface PgClusterOptions {
  /** How long to wait for the server to accept connections (default 30 s). */
  startTimeoutMs?: number;
}

function findBinDir(): string {
  const candidates: string[] = [];
  const r = spawnSync('pg_config', ['--bindir'], { encoding: 'utf8' });
  if (r.status === 0 && r.stdout.trim()) candidates.push(r.stdout.trim());
  try {
    for (const v of readdirSync('/usr/lib/postgresql').sort().reverse()) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  } catch {
    // no Debian layout
  }
  for (const dir of candidates) {
    try {
      accessSync(join(dir, 'initdb'), constants.X_OK);
      accessSync(join(dir, 'postgres'), constants.X_OK);
      return dir;
    } catch {
      // next
    }
  }
  throw new PgUnavailableError('PostgreSQL server binaries (initdb, postgres) not found via pg_config --bindir or /usr/lib/postgresql/*/bin');
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

interface RunAs {
  uid: number;
  gid: number;
  wrap(cmd: string, args: string[]): [string, string[]];
}

function runAs(): RunAs | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string): number => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0) throw new PgUnavailableError('running as root and there is no `postgres` user to run PostgreSQL as');
    return Number(r.stdout.trim());
  };
  const uid = id('-u');
  const gid = id('-g');
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => existsSync(p));
  if (!runuser) throw new PgUnavailableError('running as root and runuser(1) is not available');
  return { uid, gid, wrap: (cmd, args) => [runuser, ['-u', 'postgres', '--', cmd, ...args]] };
}

export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = findBinDir();
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'tconfd-pg-'));
  const dataDir = join(dir, 'data');
  const sockDir = join(dir, 'sock');
  const superuser = 'tconfd_admin';
  const superuserPassword = randomBytes(12).toString('hex');
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    writeFileSync(join(dir, 'pwfile'), superuserPassword + '\n', { mode: 0o600 });
    mkdirSync(sockDir);
    if (as) {
      for (const p of [dir, sockDir, join(dir, 'pwfile')]) chownSync(p, as.uid, as.gid);
      chmodSync(dir, 0o700);
    }
    const wrap = (cmd: string, args: string[]): [string, string[]] => (as ? as.wrap(cmd, args) : [cmd, args]);
    const [initCmd, initArgs] = wrap(join(bin, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      superuser,
      `--pwfile=${join(dir, 'pwfile')}`,
      '--auth-host=scram-sha-256',
      '--auth-local=trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    const init = spawnSync(initCmd, initArgs, { encoding: 'utf8' });
    if (init.status !== 0) {
      throw new PgUnavailableError(`initdb failed (${init.status ?? init.signal}): ${(init.stderr || init.stdout || String(init.error ?? '')).slice(-2000)}`);
    }
  } catch (err) {
    cleanup();
    throw err instanceof PgUnavailableError ? err : new PgUnavailableError(`cannot prepare a PostgreSQL cluster: ${(err as Error).message}`);
  }

  const port = await freePort();
  const [cmd, args] = (as ? as.wrap : (c: string, a: string[]): [string, string[]] => [c, a])(join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    sockDir,
    '-h',
    '127.0.0.1',
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    '-c',
    'logging_collector=off',
    '-c',
    'TimeZone=UTC',
  ]);
  const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const keep = (b: Buffer): void => {
    log = (log + b.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const postmasterPid = (): number | undefined => {
    try {
      return Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) || undefined;
    } catch {
      return undefined;
    }
  };
  const killNow = (): void => {
    const pid = postmasterPid();
    try {
      if (pid) process.kill(pid, 'SIGQUIT');
    } catch {
      // gone
    }
    child.kill('SIGKILL');
  };
  process.once('exit', killNow);

  const enc = encodeURIComponent;
  const connectionUrl = (user: string, password: string, db = 'postgres'): string =>
    `postgres://${enc(user)}:${enc(password)}@127.0.0.1:${port}/${enc(db)}?sslmode=disable`;
  const superuserUrl = connectionUrl(superuser, superuserPassword);

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      process.off('exit', killNow);
      cleanup();
      throw new PgUnavailableError(`postgres exited (${child.exitCode ?? child.signalCode}) while starting:\n${log}`);
    }
    const c = new pg.Client({ connectionString: superuserUrl });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch {
      await c.end().catch(() => undefined);
    }
    if (Date.now() > deadline) {
      killNow();
      await exited;
      process.off('exit', killNow);
      cleanup();
      throw new PgUnavailableError(`postgres did not accept connections in time:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const pool = new pg.Pool({ connectionString: superuserUrl, max: 2, idleTimeoutMillis: 1000, allowExitOnIdle: true });
  pool.on('error', () => undefined);
  let stopped = false;

  return {
    host: '127.0.0.1',
    port,
    superuser,
    superuserPassword,
    superuserUrl,
    dir,
    connectionUrl,
    async query<R extends Record<string, unknown> = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]> {
      const res = await pool.query<R>(sql, params);
      return res.rows;
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await pool.end().catch(() => undefined);
      // Fast shutdown of the postmaster itself (signalling runuser would not reach it reliably).
      const pid = postmasterPid();
      try {
        if (pid) process.kill(pid, 'SIGINT');
        else child.kill('SIGINT');
      } catch {
        // already gone
      }
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!done) {
        killNow();
        await exited;
      }
      process.off('exit', killNow);
      cleanup();
    },
  };
}
