/**
 * File operations on libuv's thread pool on paths tconfd does not control (file secrets, credential files, output
 * directories): one can block in the kernel for ever (a hung NFS mount). Such a thread cannot be interrupted, and
 * process.exit() joins every thread of the pool, so the exit would wait for it for ever too. Those operations are
 * counted here, so that the final exit (cli.ts) knows when it must not go through process.exit().
 */
let pending = 0;

/** Run a file operation that may block in the kernel, counted while it is in flight. */
export async function inThreadPool<T>(op: () => Promise<T>): Promise<T> {
  pending++;
  try {
    return await op();
  } finally {
    pending--;
  }
}

/** How many such operations have not finished: > 0 at exit means a thread of the pool may be stuck. */
export function pendingInThreadPool(): number {
  return pending;
}
