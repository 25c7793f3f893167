/**
 * Helpers for the supervisor tests that run the real CLI (dist/cli.js, from `npm run build`): spawn tconfd with a
 * minimal environment and JSON logs, read its log lines and the recorder's events, wait for conditions by polling,
 * send signals, await the exit. Every process spawned here is killed at the end of the test file (killAll()).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI under test: dist/cli.js, or TCONFD_TEST_CLI (another build of it, e.g. an installed copy). */
export const CLI = process.env.TCONFD_TEST_CLI ?? join(ROOT, 'dist', 'cli.js');
export const RECORDER = join(ROOT, 'test', 'fixtures', 'child', 'recorder.mjs');
/** The supervised command: the recorder fixture, run by this same node. */
export const RECORDER_CMD: readonly string[] = [process.execPath, RECORDER];

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the supervisor CLI tests`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns something other than undefined/false/null; throws naming `what` after timeoutMs. */
export async function waitFor<T>(
  fn: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  opts: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${what}${opts.detail ? `\n${opts.detail()}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 20);
  }
}

// ---------------------------------------------------------------- temp dirs and projects

const made: string[] = [];

/** A temp dir holding these files (relative path -> content; objects are written as JSON). */
export function tempDir(files: Record<string, unknown> = {}, prefix = 'tconfd-sup-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return dir;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Project {
  readonly root: string;
  /** The config directory (--dir). */
  readonly conf: string;
  /** The rendered file the recorder reads (RECORDER_CONFIG). */
  readonly output: string;
  /** The recorder's event log (RECORDER_LOG). */
  readonly recorderLog: string;
  readonly recorder: Recorder;
  /** RECORDER_LOG and RECORDER_CONFIG for the command's environment. */
  readonly recorderEnv: Record<string, string>;
}

/**
 * A project with one template, conf/app.jsonnet, rendering out/app.conf from the given secrets (path -> name) with
 * the given Jsonnet expression for the file's content (secrets are in `s`).
 */
export function project(opts: {
  secrets: Record<string, string>;
  content: string;
  onChange?: 'signal' | 'restart' | 'none';
  /**
   * Let killAll() kill the recorder processes this project's log names (default true). False for a command run in
   * another PID namespace: the pids it records are not ours.
   */
  trackRecorder?: boolean;
}): Project {
  const root = tempDir();
  const out = join(root, 'out');
  const conf = join(root, 'conf');
  mkdirSync(conf);
  writeFileSync(
    join(conf, 'app.json'),
    JSON.stringify({
      'app.jsonnet': { dir: out, secrets: opts.secrets, ...(opts.onChange !== undefined ? { on_change: opts.onChange } : {}) },
    }),
  );
  writeFileSync(join(conf, 'app.jsonnet'), `local s = std.extVar('secrets');\n{ 'app.conf': ${opts.content} }\n`);
  const recorderLog = join(root, 'recorder.jsonl');
  const output = join(out, 'app.conf');
  return {
    root,
    conf,
    output,
    recorderLog,
    recorder: opts.trackRecorder === false ? new Recorder(recorderLog) : track(new Recorder(recorderLog)),
    recorderEnv: { RECORDER_LOG: recorderLog, RECORDER_CONFIG: output },
  };
}

// ---------------------------------------------------------------- the recorder fixture

export interface RecorderEvent {
  readonly event: 'start' | 'signal' | 'exit';
  readonly pid: number;
  /** Date.now() in the recorder. */
  readonly t: number;
  readonly signal?: string;
  readonly code?: number;
  readonly config?: string;
  readonly env?: readonly string[];
}

/** Reads the events test/fixtures/child/recorder.mjs appended to its log. */
export class Recorder {
  constructor(readonly path: string) {}

  events(): RecorderEvent[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as RecorderEvent);
  }

  starts(): RecorderEvent[] {
    return this.events().filter((e) => e.event === 'start');
  }

  signals(sig?: string): RecorderEvent[] {
    return this.events().filter((e) => e.event === 'signal' && (sig === undefined || e.signal === sig));
  }

  /** Wait until `pred` holds of the events; returns them. */
  waitFor(pred: (ev: RecorderEvent[]) => boolean, what: string, timeoutMs = 10_000): Promise<RecorderEvent[]> {
    return waitFor(
      () => {
        const ev = this.events();
        return pred(ev) ? ev : undefined;
      },
      `recorder: ${what}`,
      { timeoutMs, detail: () => `recorder events: ${JSON.stringify(this.events().map(({ env: _env, ...e }) => e))}` },
    );
  }

  /** Wait for the n-th start (1-based); returns it. */
  async waitForStart(n = 1, timeoutMs = 10_000): Promise<RecorderEvent> {
    const ev = await this.waitFor((e) => e.filter((x) => x.event === 'start').length >= n, `start #${n}`, timeoutMs);
    return ev.filter((x) => x.event === 'start')[n - 1]!;
  }

  /** Kill every recorder process this log knows of that may still run (for cleanup). */
  killAll(): void {
    const ended = new Set(this.events().filter((e) => e.event === 'exit').map((e) => e.pid));
    for (const s of this.starts()) {
      if (ended.has(s.pid)) continue;
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

// ---------------------------------------------------------------- tconfd

export interface LogLine {
  readonly level: number;
  /** Date.now() in tconfd. */
  readonly time: number;
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface Exit {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Date.now() when the exit was seen. */
  readonly at: number;
}

export interface SpawnOptions {
  /** Added to a minimal environment (PATH and HOME); undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The command tconfd supervises (after --); none when empty. Default: the recorder. */
  readonly command?: readonly string[];
  /** Run tconfd behind these (e.g. ['unshare', '--pid', '--fork', '--mount-proc']): argv becomes prefix + node cli. */
  readonly prefix?: readonly string[];
  /** Open an extra pipe as the child's fd 3 (readiness). */
  readonly fd3?: boolean;
  /** Default --log-format json is always given; --log-level debug unless set here. */
  readonly logLevel?: string;
}

export class Tconfd {
  readonly proc: ChildProcess;
  /** Date.now() just before spawn(). */
  readonly spawnedAt: number;
  readonly exited: Promise<Exit>;
  #stderr = '';
  #stdout = '';
  #exit: Exit | undefined;

  constructor(args: readonly string[], opts: SpawnOptions = {}) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ PATH: process.env.PATH, HOME: process.env.HOME, ...opts.env })) {
      if (v !== undefined) env[k] = v;
    }
    const command = opts.command ?? RECORDER_CMD;
    const argv = [
      ...(opts.prefix ?? []),
      process.execPath,
      CLI,
      '--log-format',
      'json',
      '--log-level',
      opts.logLevel ?? 'debug',
      ...args,
      ...(command.length > 0 ? ['--', ...command] : []),
    ];
    this.spawnedAt = Date.now();
    this.proc = spawn(argv[0]!, argv.slice(1), {
      cwd: ROOT,
      env,
      stdio: opts.fd3 ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    });
    live.add(this);
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#stdout += d));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#stderr += d));
    this.exited = new Promise<Exit>((resolve, reject) => {
      this.proc.once('error', reject);
      // 'exit', not 'close': a leaked pipe in a grandchild must not hide the exit.
      this.proc.once('exit', (code, signal) => {
        this.#exit = { code, signal, at: Date.now() };
        live.delete(this);
        resolve(this.#exit);
      });
    });
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The readiness pipe (fd 3), when opened. */
  get fd3(): Readable {
    const s = this.proc.stdio[3] as Readable | null | undefined;
    if (!s) throw new Error('tconfd was not spawned with fd3: true');
    return s;
  }

  get exit(): Exit | undefined {
    return this.#exit;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get stdout(): string {
    return this.#stdout;
  }

  /** The JSON log lines so far. */
  logs(): LogLine[] {
    return this.#stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  }

  /** Log lines whose msg equals (string) or matches (RegExp) `msg`. */
  logsMatching(msg: string | RegExp): LogLine[] {
    return this.logs().filter((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg)));
  }

  /** Wait for the first log line matching msg (and pred); returns it. Fails early when tconfd exits. */
  waitForLog(msg: string | RegExp, opts: { timeoutMs?: number; pred?: (l: LogLine) => boolean; count?: number } = {}): Promise<LogLine> {
    const count = opts.count ?? 1;
    return waitFor(
      () => {
        const found = this.logsMatching(msg).filter((l) => opts.pred?.(l) ?? true);
        if (found.length >= count) return found[count - 1];
        if (this.#exit) throw new Error(`tconfd exited (${JSON.stringify(this.#exit)}) before logging "${String(msg)}"\n${this.#stderr}`);
        return undefined;
      },
      `tconfd log "${String(msg)}"${count > 1 ? ` x${count}` : ''}`,
      { timeoutMs: opts.timeoutMs ?? 10_000, detail: () => `tconfd stderr:\n${this.#stderr}` },
    );
  }

  /** pid of the command from the n-th "command started" log line (1-based). */
  async childPid(n = 1): Promise<number> {
    const l = await this.waitForLog('command started', { count: n });
    return l.pid as number;
  }

  signal(sig: NodeJS.Signals): void {
    this.proc.kill(sig);
  }

  /** Resolve with the exit, or throw naming the wait after timeoutMs. */
  async waitExit(timeoutMs = 10_000): Promise<Exit> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`tconfd did not exit within ${timeoutMs} ms\n${this.#stderr}`)),
            timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** SIGTERM, then wait for the exit. */
  async stop(timeoutMs = 10_000): Promise<Exit> {
    if (this.#exit) return this.#exit;
    this.signal('SIGTERM');
    return this.waitExit(timeoutMs);
  }
}

const live = new Set<Tconfd>();
const recorders = new Set<Recorder>();

/** Start tconfd (node dist/cli.js --log-format json ... [-- command]). */
export function startTconfd(args: readonly string[], opts: SpawnOptions = {}): Tconfd {
  return new Tconfd(args, opts);
}

/** Remember a recorder so that killAll() kills what it started. */
export function track(r: Recorder): Recorder {
  recorders.add(r);
  return r;
}

/** SIGKILL every tconfd still running and every recorder still alive; then remove the temp dirs. */
export async function killAll(): Promise<void> {
  const running = [...live];
  for (const t of running) t.proc.kill('SIGKILL');
  await Promise.all(running.map((t) => t.exited.catch(() => undefined)));
  for (const r of recorders) r.killAll();
  recorders.clear();
  removeTempDirs();
}

/** Fetch http://ADDR/path; returns status and body text. */
export async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3_000) });
  return { status: res.status, body: await res.text() };
}
