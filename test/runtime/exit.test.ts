/**
 * The final exit (src/runtime/exit.ts): process.exit() joins libuv's thread pool, so while a file operation is still
 * blocked in the kernel (a hung mount) tconfd ends by a signal instead, and never waits for ever. No process spawned:
 * the process is a fake.
 */
import { describe, expect, it } from 'vitest';
import { finalExit, signalForStatus, type ExitDeps } from '../../src/runtime/exit.js';
import { inThreadPool, pendingInThreadPool } from '../../src/thread-pool.js';

function fake(pending: number): ExitDeps & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    pending: () => pending,
    exit: (code) => calls.push(`exit ${code}`),
    raise: (sig) => calls.push(`raise ${sig}`),
    write: (line) => calls.push(`write ${line.trim()}`),
  };
}

describe('the final exit', () => {
  it('nothing blocked: process.exit with the status', () => {
    const p = fake(0);
    finalExit(143, p);
    expect(p.calls).toEqual(['exit 143']);
  });

  it('a file operation blocked in the kernel: ended by the stop signal (the same 128+N status), said on stderr', () => {
    const term = fake(1);
    finalExit(143, term);
    expect(term.calls).toEqual([
      'write tconfd: 1 file operation(s) still blocked in the kernel (a hung mount?): process.exit() would wait for them for ever; ending with SIGTERM',
      'raise SIGTERM',
    ]);
    const int = fake(2);
    finalExit(130, int);
    expect(int.calls.at(-1)).toBe('raise SIGINT');
  });

  it('a status that no signal gives: SIGKILL, saying which status it replaces', () => {
    const p = fake(1);
    finalExit(1, p);
    expect(p.calls).toEqual([
      'write tconfd: 1 file operation(s) still blocked in the kernel (a hung mount?): process.exit() would wait for them for ever; ending with SIGKILL instead of exit status 1',
      'raise SIGKILL',
    ]);
  });

  it('maps 128+N to the signal N when its default action ends the process', () => {
    expect([129, 130, 137, 143, 2, 0, 147].map(signalForStatus)).toEqual(['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGTERM', undefined, undefined, undefined]);
  });

  it('counts operations in flight on the thread pool until they settle, failed ones too', async () => {
    let release!: () => void;
    const op = inThreadPool(() => new Promise<void>((r) => (release = r)));
    const failing = inThreadPool(() => Promise.reject(new Error('EIO'))).catch(() => undefined);
    expect(pendingInThreadPool()).toBe(2);
    await failing;
    expect(pendingInThreadPool()).toBe(1);
    release();
    await op;
    expect(pendingInThreadPool()).toBe(0);
  });
});
