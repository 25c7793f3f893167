/**
 * Projects for the security tests: a config directory conf/ with one config file and its templates, files written
 * under out/, and tconfd run through the built CLI (test/cli/run.ts) with JSON logs.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { CLI, ROOT, run, type RunOptions, type RunResult } from '../cli/run.js';

export const isRoot = process.getuid?.() === 0;

export interface Project {
  readonly root: string;
  readonly conf: string;
  readonly out: string;
  /** tconfd -d conf --log-format json [args]. */
  tconfd(args?: readonly string[], opts?: RunOptions): Promise<RunResult>;
}

/** Temp projects of a test file; cleanup() removes them all. */
export function projects(prefix = 'tconfd-sec-'): {
  make: (files: Record<string, string | Buffer | object>) => Project;
  cleanup: () => void;
} {
  const made: string[] = [];
  return {
    make(files) {
      const root = mkdtempSync(join(tmpdir(), prefix));
      made.push(root);
      for (const [rel, content] of Object.entries(files)) {
        mkdirSync(dirname(join(root, rel)), { recursive: true });
        writeFileSync(
          join(root, rel),
          typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content, null, 2),
        );
      }
      const conf = join(root, 'conf');
      mkdirSync(conf, { recursive: true });
      return {
        root,
        conf,
        out: join(root, 'out'),
        tconfd: (args = [], opts = {}) => run(['-d', conf, '--log-format', 'json', ...args], { cwd: root, ...opts }),
      };
    },
    cleanup() {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** conf/app.json naming conf/app.jsonnet with these settings (dir defaults to ../out). */
export function oneTemplate(settings: Record<string, unknown>, template: string): Record<string, string | object> {
  return { 'conf/app.json': { 'app.jsonnet': { dir: '../out', ...settings } }, 'conf/app.jsonnet': template };
}

/** The JSON log lines of a run (stderr). */
export function logs(r: RunResult): Array<{ level: number; msg: string; [k: string]: unknown }> {
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
}

/** The one-line reason tconfd gives before a failed exit (`tconfd: ...`). */
export function reason(r: RunResult): string {
  return r.stderr.split('\n').find((l) => l.startsWith('tconfd: ')) ?? `(no "tconfd:" line in stderr: ${r.stderr})`;
}

/**
 * The built CLI run with more control than run(): as another user (uid/gid, root only), or inside a wrapper command
 * (e.g. `unshare -m sh -c '...'`). Killed after timeoutMs (default 20 s): code null then.
 */
export function runCli(
  args: readonly string[],
  opts: RunOptions & { uid?: number; gid?: number; wrapper?: readonly string[] } = {},
): Promise<RunResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ PATH: process.env['PATH'], HOME: process.env['HOME'], ...opts.env })) {
    if (v !== undefined) env[k] = v;
  }
  const argv = [...(opts.wrapper ?? []), process.execPath, CLI, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Whether this process may make a private mount namespace (unshare -m): root, with the capability. */
export function canUnshareMounts(): boolean {
  if (!isRoot) return false;
  return spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
}
