/**
 * Helpers for the examples' tests: run a program (the real CLI, dist/cli.js, or an example's script), collect its
 * output, wait for a line or a condition, and stop whatever a test started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` before test/examples`);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll probe until it returns something other than undefined/false; fail after timeoutMs saying what was awaited. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  opts: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${opts.timeoutMs ?? 10_000} ms waiting for ${what}${opts.detail ? `\n${opts.detail()}` : ''}`);
    }
    await sleep(opts.intervalMs ?? 50);
  }
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const running = new Set<Proc>();

/** A child process whose stdout and stderr are collected (and merged, in arrival order, in `output`). */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  output = '';
  readonly exited: Promise<Exit>;
  result: Exit | undefined;

  constructor(
    readonly argv: readonly string[],
    opts: { env?: Record<string, string | undefined>; cwd?: string } = {},
  ) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      this.stdout += d;
      this.output += d;
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      this.stderr += d;
      this.output += d;
    });
    this.exited = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        this.result = { code, signal };
        running.delete(this);
        resolve(this.result);
      });
    });
    running.add(this);
  }

  get running(): boolean {
    return this.result === undefined;
  }

  tail(n = 30): string {
    const lines = this.output.trimEnd().split('\n');
    return `--- last ${Math.min(n, lines.length)} lines of ${this.argv.slice(0, 3).join(' ')} (${this.running ? 'running' : `exited ${JSON.stringify(this.result)}`}):\n${lines.slice(-n).join('\n')}`;
  }

  /** Wait until the merged output matches re (fails early if the process exits first); returns the match. */
  async waitForOutput(re: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
    return waitFor(
      `output matching ${re}`,
      () => {
        const m = this.output.match(re);
        if (m) return m;
        if (!this.running) throw new Error(`the process exited before printing ${re}\n${this.tail()}`);
        return undefined;
      },
      { timeoutMs, detail: () => this.tail() },
    );
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stop(graceMs = 5000): Promise<Exit> {
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

/** The real CLI with the given arguments. */
export const tconfd = (args: readonly string[], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Proc =>
  new Proc([process.execPath, CLI, ...args], opts);

/** A TypeScript entry point through scripts/run-ts.mjs. */
export const runTs = (file: string, args: readonly string[] = [], opts: { env?: Record<string, string | undefined>; cwd?: string } = {}): Proc =>
  new Proc([process.execPath, join(ROOT, 'scripts', 'run-ts.mjs'), file, ...args], opts);

/** Kill whatever is still running (afterEach/afterAll). */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop(2000)));
}

/** process.env without Vault settings, plus extra. */
export function cleanEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of ['VAULT_ADDR', 'VAULT_TOKEN', 'VAULT_URL', 'VAULT_CACERT', 'VAULT_NAMESPACE', 'TCONFD_DIR', 'TCONFD_LOG_FORMAT', 'TCONFD_LOG_LEVEL']) {
    delete env[k];
  }
  return { ...env, ...extra };
}
