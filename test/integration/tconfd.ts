/**
 * Runs the real CLI (dist/cli.js, from `npm run build`) as a child process for integration tests: JSON logs at debug
 * level are collected line by line, and a test can wait for a log message, for a file's content, send signals and
 * await the exit. Every process started is remembered, so that a test file can grep all of their stderr for secrets
 * (allOutput) and kill whatever is left (killAll).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** dist/cli.js; TCONFD_IT_CLI may name another build (e.g. to check that a test fails without a fix). */
export const CLI = process.env['TCONFD_IT_CLI'] ?? join(ROOT, 'dist', 'cli.js');

/** One JSON log line of tconfd (pino): level 10 trace .. 60 fatal. */
export interface LogLine {
  readonly level: number;
  readonly time: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export const LEVEL = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;

export interface ExitResult {
  /** Exit status, or null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface StartOptions {
  /** Added to a minimal environment (PATH and HOME); undefined removes a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Log level (default debug: the most verbose level that users run with, and the one that could leak most). */
  readonly logLevel?: 'trace' | 'debug' | 'info';
  /** For messages: which tconfd this is. */
  readonly name?: string;
}

type Match = string | RegExp | ((line: LogLine) => boolean);

function matches(line: LogLine, m: Match): boolean {
  if (typeof m === 'function') return m(line);
  if (typeof m === 'string') return line.msg === m || line.msg.includes(m);
  return m.test(line.msg);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `probe` every intervalMs until it returns something other than undefined/false, or fail after timeoutMs with
 * a message saying what was awaited (and `detail()`, e.g. the last log lines).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      const detail = opts.detail?.();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

const started: Tconfd[] = [];

export class Tconfd {
  readonly child: ChildProcess;
  readonly args: readonly string[];
  readonly name: string;
  /** Parsed JSON log lines, in order. */
  readonly lines: LogLine[] = [];
  /** stderr lines that are not JSON (e.g. `tconfd: <reason>` before a failed exit). */
  readonly plain: string[] = [];
  stdout = '';
  stderr = '';
  readonly exited: Promise<ExitResult>;
  private result: ExitResult | undefined;
  private partial = '';

  constructor(args: readonly string[], opts: StartOptions = {}) {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before the integration tests`);
    this.args = ['--log-format', 'json', '--log-level', opts.logLevel ?? 'debug', ...args];
    this.name = opts.name ?? 'tconfd';
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ PATH: process.env['PATH'], HOME: process.env['HOME'], ...opts.env })) {
      if (v !== undefined) env[k] = v;
    }
    this.child = spawn(process.execPath, [CLI, ...this.args], {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.stdout += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => this.onStderr(d));
    this.exited = new Promise<ExitResult>((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        if (this.partial !== '') this.onLine(this.partial);
        this.partial = '';
        this.result = { code, signal };
        resolve(this.result);
      });
    });
    started.push(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get running(): boolean {
    return this.result === undefined;
  }

  get exitResult(): ExitResult | undefined {
    return this.result;
  }

  private onStderr(d: string): void {
    this.stderr += d;
    const parts = (this.partial + d).split('\n');
    this.partial = parts.pop()!;
    for (const p of parts) this.onLine(p);
  }

  private onLine(text: string): void {
    if (text.trim() === '') return;
    if (text.startsWith('{')) {
      try {
        this.lines.push(JSON.parse(text) as LogLine);
        return;
      } catch {
        // not JSON after all
      }
    }
    this.plain.push(text);
  }

  /** The last n log lines, one per line (for failure messages). */
  tail(n = 25): string {
    const lines = this.stderr.trimEnd().split('\n');
    return `--- last ${Math.min(n, lines.length)} stderr lines of ${this.name} (${this.running ? 'running' : `exited ${JSON.stringify(this.result)}`}):\n${lines.slice(-n).join('\n')}`;
  }

  /** Log lines matching m (a message substring, a regexp on the message, or a predicate). */
  logs(m: Match, minLevel = 0): LogLine[] {
    return this.lines.filter((l) => l.level >= minLevel && matches(l, m));
  }

  /** Wait for the first log line matching m after index `from` (default: any); fails early if tconfd exits first. */
  async waitForLog(m: Match, opts: { timeoutMs?: number; from?: number } = {}): Promise<LogLine> {
    const from = opts.from ?? 0;
    return waitFor(
      `log line ${String(m)} from ${this.name}`,
      () => {
        const hit = this.lines.slice(from).find((l) => matches(l, m));
        if (hit) return hit;
        if (!this.running) throw new Error(`${this.name} exited before logging ${String(m)}\n${this.tail()}`);
        return undefined;
      },
      { timeoutMs: opts.timeoutMs ?? 10_000, detail: () => this.tail() },
    );
  }

  /** Wait until the file exists and pred(content) holds; returns the content. */
  async waitForFile(path: string, pred: (content: string) => boolean = () => true, timeoutMs = 10_000): Promise<string> {
    return waitFor(
      `${path} to have the expected content`,
      () => {
        let text: string;
        try {
          text = readFileSync(path, 'utf8');
        } catch {
          return undefined;
        }
        return pred(text) ? text : undefined;
      },
      { timeoutMs, detail: () => this.tail() },
    );
  }

  /** Wait for the first complete rendering (the startup "template rendered" lines are logged right after the writes). */
  async ready(timeoutMs = 15_000): Promise<void> {
    await this.waitForLog((l) => l.msg === 'template rendered', { timeoutMs });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** Send sig and wait for the exit (SIGKILL and fail after timeoutMs). */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<ExitResult> {
    this.signal(sig);
    return this.waitForExit(timeoutMs);
  }

  /** Wait for the exit; SIGKILL and fail after timeoutMs. */
  async waitForExit(timeoutMs = 15_000): Promise<ExitResult> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), timeoutMs)));
    const r = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    if (r === 'timeout') {
      this.child.kill('SIGKILL');
      await this.exited;
      throw new Error(`${this.name} did not exit within ${timeoutMs} ms\n${this.tail()}`);
    }
    return r;
  }
}

export function startTconfd(args: readonly string[], opts: StartOptions = {}): Tconfd {
  return new Tconfd(args, opts);
}

/** Every stdout and stderr byte of every tconfd this test file started. */
export function allOutput(): string {
  return started.map((t) => `${t.stdout}\n${t.stderr}`).join('\n');
}

/** Kill whatever is still running (afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all(
    started.filter((t) => t.running).map(async (t) => {
      t.child.kill('SIGKILL');
      await t.exited.catch(() => undefined);
    }),
  );
}

/** Temp dirs for a test file: make(files) creates one with these files (objects written as JSON); cleanup() removes all. */
export function tempDirs(prefix = 'tconfd-it-'): { make: (files?: Record<string, unknown>) => string; cleanup: () => void } {
  const made: string[] = [];
  return {
    make(files = {}) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      for (const [rel, content] of Object.entries(files)) {
        mkdirSync(dirname(join(dir, rel)), { recursive: true });
        writeFileSync(join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
      }
      return dir;
    },
    cleanup() {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Content and mtime of a file (to show it was not rewritten). */
export function snapshot(path: string): { content: string; mtimeMs: number; ino: number } {
  const st = statSync(path, { bigint: false });
  return { content: readFileSync(path, 'utf8'), mtimeMs: st.mtimeMs, ino: st.ino };
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

export { sleep };
