/**
 * Projects for the security tests: a config directory conf/ with a config file and its templates, files written
 * under out/, and tconfd run to the end through test/support (JSON logs on stderr).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tempDirs } from '../support/files.js';
import { runTconfd, type RunResult, type TconfdOptions } from '../support/tconfd.js';

export const isRoot = process.getuid?.() === 0;

export interface Project {
  readonly root: string;
  readonly conf: string;
  readonly out: string;
  /** Write more files (Buffers as they are, strings as text, objects as JSON), relative to root. */
  write(files: Record<string, string | Buffer | object>): void;
  /** tconfd -d conf --log-format json [args], run to the end in root. */
  tconfd(args?: readonly string[], opts?: Omit<TconfdOptions, 'rawArgs'> & { timeoutMs?: number }): Promise<RunResult>;
}

/** Temp projects of a test file; cleanup() removes them all. */
export function projects(prefix = 'tconfd-sec-'): { make: (files: Record<string, string | Buffer | object>) => Project; cleanup: () => void } {
  const dirs = tempDirs(prefix);
  return {
    make(files) {
      const root = dirs.make();
      const write = (more: Record<string, string | Buffer | object>): void => {
        for (const [rel, content] of Object.entries(more)) {
          mkdirSync(dirname(join(root, rel)), { recursive: true });
          writeFileSync(join(root, rel), typeof content === 'string' || Buffer.isBuffer(content) ? content : JSON.stringify(content, null, 2));
        }
      };
      write(files);
      const conf = join(root, 'conf');
      mkdirSync(conf, { recursive: true });
      return {
        root,
        conf,
        out: join(root, 'out'),
        write,
        tconfd: (args = [], opts = {}) => runTconfd(['-d', conf, '--log-format', 'json', ...args], { cwd: root, ...opts }),
      };
    },
    cleanup: dirs.cleanup,
  };
}

/** conf/app.json naming conf/app.jsonnet with these settings (dir defaults to ../out). */
export function oneTemplate(settings: Record<string, unknown>, template: string): Record<string, string | object> {
  return { 'conf/app.json': { 'app.jsonnet': { dir: '../out', ...settings } }, 'conf/app.jsonnet': template };
}

/** The one-line reason tconfd gives before a failed exit (`tconfd: ...`). */
export function reason(r: { plain: readonly string[]; stderr: string }): string {
  return r.plain.find((l) => l.startsWith('tconfd: ')) ?? `(no "tconfd:" line in stderr: ${r.stderr})`;
}

/** Whether this process may make a private mount namespace (unshare -m): root, with the capability. */
export function canUnshareMounts(): boolean {
  if (!isRoot) return false;
  return spawnSync('unshare', ['-m', 'true'], { stdio: 'ignore' }).status === 0;
}

/** A prefix running tconfd as another user (root only): util-linux setpriv. */
export function asUser(uid: number, gid: number): readonly string[] {
  return ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups'];
}
