import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ReadinessNotifier } from '../../src/supervisor/index.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-ready-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A FIFO standing in for s6's notification pipe: returns its read end (non-blocking) and write end. */
function pipe(): { readFd: number; writeFd: number } {
  const fifo = path.join(dir, 'notify');
  execFileSync('mkfifo', [fifo]);
  const readFd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeFd = fs.openSync(fifo, fs.constants.O_WRONLY);
  return { readFd, writeFd };
}

/** Everything the reader gets until EOF; throws EAGAIN if the write end is still open and nothing more came. */
function readToEof(fd: number): string {
  const buf = Buffer.alloc(64);
  let out = '';
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) return out;
    out += buf.subarray(0, n).toString();
  }
}

describe('ReadinessNotifier', () => {
  it('writes exactly one newline, then closes the fd (the reader sees "\\n" and EOF)', () => {
    const { readFd, writeFd } = pipe();
    const n = new ReadinessNotifier(writeFd);
    expect(n.notified).toBe(false);
    expect(n.notify()).toBe(true);
    expect(n.notified).toBe(true);
    expect(readToEof(readFd)).toBe('\n');
    expect(() => fs.fstatSync(writeFd)).toThrow(/EBADF/);
    fs.closeSync(readFd);
  });

  it('later calls do nothing, even when the fd number has been reused by another file', () => {
    const { readFd, writeFd } = pipe();
    const n = new ReadinessNotifier(writeFd);
    n.notify();
    // The next open gets the lowest free number: most likely the one just closed.
    const other = path.join(dir, 'other');
    const reused = fs.openSync(other, 'w');
    expect(n.notify()).toBe(false);
    expect(n.notify()).toBe(false);
    fs.closeSync(reused);
    expect(fs.readFileSync(other, 'utf8')).toBe('');
    expect(readToEof(readFd)).toBe('\n');
    fs.closeSync(readFd);
  });

  it('refuses stdio fds, non-integers and fds that are not open', () => {
    for (const fd of [0, 1, 2, -1]) expect(() => new ReadinessNotifier(fd)).toThrow(/integer >= 3/);
    expect(() => new ReadinessNotifier(3.5)).toThrow(/integer >= 3/);
    expect(() => new ReadinessNotifier(Number.NaN)).toThrow(/integer >= 3/);
    expect(() => new ReadinessNotifier(987_654)).toThrow(/fd 987654 is not open/);
  });
});
