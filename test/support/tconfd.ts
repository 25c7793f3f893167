/**
 * The one way tests drive tconfd: the built CLI (dist/cli.js, from `npm run build`) as a child process.
 *
 * - CLI: dist/cli.js, or the build named by TCONFD_TEST_CLI (the only override: e.g. an older build, to see a test
 *   fail without a fix, or an installed copy).
 * - startTconfd(args, opts): a running tconfd with JSON logs (`--log-format json --log-level debug` unless
 *   opts.logLevel / opts.rawArgs say otherwise), a minimal environment (PATH and HOME plus opts.env), optional extra
 *   pipes (opts.fds: fd 3, 4...), an optional command after `--` and a prefix (e.g. unshare/tini).
 * - runTconfd(args, opts): run to the end and return status, stdout, stderr and log lines (args passed as given).
 * - startProcess(argv, opts): any other program (an example's script), with the same output collection and waits.
 *
 * A process's stderr is read incrementally: each complete line that is JSON is a log line (pino: level 10 trace ..
 * 60 fatal, time, msg), every other line is kept in `plain` (e.g. `tconfd: <reason>` before a failed exit). Waits
 * (waitForLog, waitForOutput, waitForFile, waitForExit, stop) have generous deadlines (60 s by default, see
 * wait.ts), fail early when the process has exited, and throw with the tail of its output. The exit is taken at
 * 'close' (the process has exited AND its stdout/stderr are closed), so that every byte it wrote is there when a test
 * looks; if a process it started keeps those pipes open after it exited, the wait fails saying so.
 *
 * Every process started is remembered for the test file (each file runs in its own module context): allOutput()
 * returns all of their output (secrecy checks) and killAll() SIGKILLs whatever still runs (afterAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TIMEOUT_MS, readIfExists, waitFor, withDeadline, type WaitOptions } from './wait.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The CLI under test: dist/cli.js, or TCONFD_TEST_CLI. */
export const CLI = process.env['TCONFD_TEST_CLI'] ?? join(ROOT, 'dist', 'cli.js');

export function assertBuilt(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the tests that run the CLI`);
}

/** One JSON log line of tconfd (pino). */
export interface LogLine {
  readonly level: number;
  /** Date.now() in tconfd. */
  readonly time: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

/**
 * Which log lines: a string matches a message equal to it or containing it, a RegExp is tested on the message, a
 * function is a predicate on the whole line.
 */
export type LogMatch = string | RegExp | ((line: LogLine) => boolean);

export function matchesLog(line: LogLine, m: LogMatch): boolean {
  if (typeof m === 'function') return m(line);
  if (typeof m === 'string') return line.msg === m || line.msg.includes(m);
  return m.test(line.msg);
}

export interface Exit {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** How long after its exit a process's stdout/stderr may stay open before a wait says a child holds them. */
const PIPES_GRACE_MS = 5_000;

export interface ProcOptions {
  /**
   * Added to the base environment; undefined removes a variable. The base is PATH and HOME only, or with
   * inheritEnv, this process's environment without Vault and tconfd settings (VAULT_*, TCONFD_*).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly inheritEnv?: boolean;
  /** Default: the repository's root. */
  readonly cwd?: string;
  /** Extra pipes after stdin/stdout/stderr: 1 opens fd 3, 2 opens fds 3 and 4... (see fd()). */
  readonly fds?: number;
  /** For messages (default: the program's name). */
  readonly name?: string;
}

const started: Proc[] = [];
const cleanups: Array<() => void | Promise<void>> = [];

/** Run fn in killAll(), after the processes are killed (e.g. kill what a supervised command left). */
export function onKillAll(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

function environment(opts: ProcOptions): Record<string, string> {
  const base: Record<string, string | undefined> = opts.inheritEnv
    ? Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(VAULT_|TCONFD_)/.test(k)))
    : { PATH: process.env['PATH'], HOME: process.env['HOME'] };
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...base, ...opts.env })) if (v !== undefined) env[k] = v;
  return env;
}

/** A child process whose output is collected, with waits on its log lines, output, files and exit. */
export class Proc {
  readonly child: ChildProcess;
  readonly argv: readonly string[];
  readonly name: string;
  /** Date.now() just before spawn(). */
  readonly spawnedAt: number;
  /** JSON log lines of stderr, in order. */
  readonly lines: LogLine[] = [];
  /** stderr lines that are not JSON. */
  readonly plain: string[] = [];
  stdout = '';
  stderr = '';
  /** stdout and stderr merged in arrival order. */
  output = '';
  /** Resolves at 'close' (see the module's comment); rejects if the program could not be started. */
  readonly exited: Promise<Exit>;
  /** Date.now() at the 'exit' event. */
  exitedAt: number | undefined;
  #exit: Exit | undefined;
  #partial = '';
  #pipesHeld = false;

  constructor(argv: readonly string[], opts: ProcOptions = {}) {
    this.argv = argv;
    this.name = opts.name ?? argv.slice(0, 2).join(' ');
    this.spawnedAt = Date.now();
    this.child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? ROOT,
      env: environment(opts),
      stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: opts.fds ?? 0 }, () => 'pipe' as const)],
    });
    started.push(this);
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.output += d;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.#onStderr(d));
    this.exited = new Promise<Exit>((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('exit', () => {
        this.exitedAt = Date.now();
        // A process it started may hold stdout/stderr open: stop waiting for them after a while, and say so.
        setTimeout(() => {
          if (this.#exit !== undefined) return;
          this.#pipesHeld = true;
          for (const s of this.child.stdio) s?.destroy();
        }, PIPES_GRACE_MS).unref();
      });
      this.child.once('close', (code, signal) => {
        if (this.#partial !== '') this.#onLine(this.#partial);
        this.#partial = '';
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
    this.exited.catch(() => undefined);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The exit, once closed. */
  get exit(): Exit | undefined {
    return this.#exit;
  }

  /** Extra pipe n (3, 4...), opened with opts.fds. */
  fd(n: number): Readable & Writable {
    const s = this.child.stdio[n];
    if (!s) throw new Error(`${this.name} was not started with fd ${n} (opts.fds)`);
    return s as Readable & Writable;
  }

  #onStderr(d: string): void {
    this.stderr += d;
    this.output += d;
    const parts = (this.#partial + d).split('\n');
    this.#partial = parts.pop()!;
    for (const p of parts) this.#onLine(p);
  }

  #onLine(text: string): void {
    if (text.trim() === '') return;
    if (text.startsWith('{')) {
      try {
        const line = JSON.parse(text) as LogLine;
        if (typeof line === 'object' && line !== null && typeof line.msg === 'string') {
          this.lines.push(line);
          return;
        }
      } catch {
        // not JSON after all
      }
    }
    this.plain.push(text);
  }

  /** The last n lines of stderr and of stdout, with the state of the process (for failure messages). */
  tail(n = 30): string {
    const state = this.running
      ? this.exitedAt !== undefined
        ? 'exited, output still open'
        : 'running'
      : `exited ${JSON.stringify(this.#exit)}${this.#pipesHeld ? ' (a process it started held its stdout/stderr open)' : ''}`;
    const last = (s: string): string => s.trimEnd().split('\n').slice(-n).join('\n');
    return `--- ${this.name} (pid ${this.child.pid ?? '?'}, ${state}); last ${n} lines of stderr:\n${last(this.stderr)}\n--- stdout:\n${last(this.stdout)}`;
  }

  /** Log lines matching m (all of them without m), at minLevel or above. */
  logs(m?: LogMatch, minLevel = 0): LogLine[] {
    return this.lines.filter((l) => l.level >= minLevel && (m === undefined || matchesLog(l, m)));
  }

  #failIfExited(what: string): void {
    if (!this.running) throw new Error(`${this.name} exited before ${what}\n${this.tail()}`);
  }

  /**
   * Wait for a log line matching m: the `count`-th one (default 1) among the lines from index `from` (default 0:
   * any line so far; pass `t.lines.length` to wait for a new one). Fails early if the process exits first.
   */
  waitForLog(m: LogMatch, opts: WaitOptions & { from?: number; count?: number } = {}): Promise<LogLine> {
    const count = opts.count ?? 1;
    const what = `log line ${String(m)}${count > 1 ? ` (x${count})` : ''} from ${this.name}`;
    return waitFor(
      what,
      () => {
        const hits = this.lines.slice(opts.from ?? 0).filter((l) => matchesLog(l, m));
        if (hits.length >= count) return hits[count - 1];
        this.#failIfExited(`logging ${String(m)}`);
        return undefined;
      },
      { ...opts, detail: () => this.tail() },
    );
  }

  /** Wait until stdout (or stderr, or both: `output`) matches re; returns the match. Fails early if it exits. */
  waitForOutput(re: RegExp, opts: WaitOptions & { stream?: 'stdout' | 'stderr' | 'output' } = {}): Promise<RegExpMatchArray> {
    const stream = opts.stream ?? 'output';
    return waitFor(
      `${stream} of ${this.name} to match ${re}`,
      () => {
        const m = this[stream].match(re);
        if (m) return m;
        this.#failIfExited(`printing ${re}`);
        return undefined;
      },
      { ...opts, detail: () => this.tail() },
    );
  }

  /**
   * Wait until the file exists and pred(content) holds; returns the content. Fails early if the process exited
   * (after a last look at the file: a --once run writes it, then exits).
   */
  waitForFile(path: string, pred: (content: string) => boolean = () => true, opts: WaitOptions = {}): Promise<string> {
    return waitFor(
      `${path} to exist${pred.length > 0 ? ' with the expected content' : ''} (${this.name})`,
      () => {
        const exited = !this.running;
        const text = readIfExists(path);
        if (text !== undefined && pred(text)) return text;
        if (exited) this.#failIfExited(`${path} had the expected content`);
        return undefined;
      },
      { ...opts, detail: () => this.tail() },
    );
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exitedAt === undefined) this.child.kill(sig);
  }

  /**
   * Wait for the exit (at 'close'); after the deadline SIGKILL it and throw with the tail. Throws too when it exited
   * but a process it started kept its stdout/stderr open.
   */
  async waitForExit(opts: { timeoutMs?: number } = {}): Promise<Exit> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    try {
      await withDeadline(this.exited, `${this.name} to exit`, timeoutMs);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('timed out')) throw err;
      this.child.kill('SIGKILL');
      await this.exited.catch(() => undefined);
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms: killed\n${this.tail()}`);
    }
    if (this.#pipesHeld) throw new Error(`${this.name} exited, but a process it started kept its stdout/stderr open\n${this.tail()}`);
    return this.#exit!;
  }

  /** Send sig (default SIGTERM) unless it has exited, and wait for the exit (see waitForExit). */
  stop(sig: NodeJS.Signals = 'SIGTERM', opts: { timeoutMs?: number } = {}): Promise<Exit> {
    this.signal(sig);
    return this.waitForExit(opts);
  }

  /** SIGKILL, without waiting. */
  kill(): void {
    this.signal('SIGKILL');
  }
}

export interface TconfdOptions extends ProcOptions {
  /** The command tconfd supervises: appended after `--`. */
  readonly command?: readonly string[];
  /** Programs to run tconfd behind (e.g. ['unshare', '--pid', '--fork', '--mount-proc']). */
  readonly prefix?: readonly string[];
  /** --log-level (default debug: the most verbose level users run with, and the one that could leak most). */
  readonly logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** Pass args as given: no --log-format/--log-level added. */
  readonly rawArgs?: boolean;
  /** The entry point to run (default: this checkout's dist/cli.js, or TCONFD_TEST_CLI). */
  readonly cli?: string;
}

/** A running tconfd. */
export class Tconfd extends Proc {
  /** The arguments given to tconfd (after the node and CLI paths). */
  readonly args: readonly string[];

  constructor(args: readonly string[], opts: TconfdOptions = {}) {
    assertBuilt();
    const full = [
      ...(opts.rawArgs ? [] : ['--log-format', 'json', '--log-level', opts.logLevel ?? 'debug']),
      ...args,
      ...(opts.command !== undefined && opts.command.length > 0 ? ['--', ...opts.command] : []),
    ];
    super([...(opts.prefix ?? []), process.execPath, opts.cli ?? CLI, ...full], { name: 'tconfd', ...opts });
    this.args = full;
  }

  /** Wait for the first complete rendering (logged right after the files are written). */
  async ready(opts: WaitOptions = {}): Promise<void> {
    await this.waitForLog((l) => l.msg === 'template rendered', opts);
  }

  /** pid of the command, from the n-th "command started" log line (1-based). */
  async childPid(n = 1, opts: WaitOptions = {}): Promise<number> {
    const l = await this.waitForLog((x) => x.msg === 'command started', { ...opts, count: n });
    return l['pid'] as number;
  }
}

export function startTconfd(args: readonly string[], opts: TconfdOptions = {}): Tconfd {
  return new Tconfd(args, opts);
}

export interface RunResult extends Exit {
  readonly stdout: string;
  readonly stderr: string;
  /** JSON log lines of stderr. */
  readonly lines: readonly LogLine[];
  /** Non-JSON stderr lines. */
  readonly plain: readonly string[];
}

/**
 * Run tconfd to the end with the arguments as given (no log flags added: the CLI logs JSON when stderr is not a
 * terminal); kills it and throws after the deadline.
 */
export async function runTconfd(args: readonly string[], opts: Omit<TconfdOptions, 'rawArgs'> & { timeoutMs?: number } = {}): Promise<RunResult> {
  const t = new Tconfd(args, { ...opts, rawArgs: true });
  const exit = await t.waitForExit(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
  return { ...exit, stdout: t.stdout, stderr: t.stderr, lines: t.lines, plain: t.plain };
}

/** Any program (argv[0] is looked up on PATH), e.g. an example's script. */
export function startProcess(argv: readonly string[], opts: ProcOptions = {}): Proc {
  return new Proc(argv, opts);
}

/** A TypeScript entry point run through scripts/run-ts.mjs, as `npm run demo` does. */
export function startTs(file: string, args: readonly string[] = [], opts: ProcOptions = {}): Proc {
  return new Proc([process.execPath, join(ROOT, 'scripts', 'run-ts.mjs'), file, ...args], { name: file, ...opts });
}

/** Every stdout and stderr byte of every process this test file started. */
export function allOutput(): string {
  return started.map((p) => `${p.stdout}\n${p.stderr}`).join('\n');
}

/** SIGKILL whatever this test file started and is still running, then run the onKillAll() clean-ups (afterAll). */
export async function killAll(): Promise<void> {
  const live = started.filter((p) => p.running);
  for (const p of live) p.kill();
  await Promise.all(live.map((p) => p.exited.catch(() => undefined)));
  for (const fn of cleanups.splice(0)) await fn();
}
