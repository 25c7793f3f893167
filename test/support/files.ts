/** Temp dirs and small file helpers shared by the tests that drive tconfd. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

export interface TempDirs {
  /** A new temp dir holding these files (relative path -> content; parents are created, objects written as JSON). */
  make(files?: Record<string, unknown>): string;
  /** Remove every dir made (afterAll). */
  cleanup(): void;
}

/** Temp dirs for a test file: `const tmp = tempDirs(); afterAll(tmp.cleanup);`. */
export function tempDirs(prefix = 'tconfd-test-'): TempDirs {
  const made: string[] = [];
  return {
    make(files = {}) {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      writeFiles(dir, files);
      return dir;
    },
    cleanup() {
      for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** Write files under dir (relative path -> content; objects as JSON), creating parents. */
export function writeFiles(dir: string, files: Record<string, unknown>): void {
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, rel)), { recursive: true });
    writeFileSync(join(dir, rel), typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
}

/** Content, mtime and inode of a file (to show it was not rewritten, nor replaced by a rename). */
export function snapshot(path: string): { content: string; mtimeMs: number; ino: number } {
  const st = statSync(path);
  return { content: readFileSync(path, 'utf8'), mtimeMs: st.mtimeMs, ino: st.ino };
}

export function readJson<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
