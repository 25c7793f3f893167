/**
 * Projects for the security tests: a config directory conf/ with one config file and its templates, files written
 * under out/, and tconfd run through the built CLI (test/cli/run.ts) with JSON logs.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run, type RunOptions, type RunResult } from '../cli/run.js';

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
