/**
 * Waiting in tests, the one way: on a condition (a log line, a file, a request seen by the stand-in) with a generous
 * deadline, never on a fixed delay. The suite runs on 2-core CI machines shared with other work, where a process can
 * be descheduled for seconds: a deadline is a bound on a hang, not a claim about speed. Assertions about timing
 * policy belong in tests with the fake clock (test/support/fake-clock.ts).
 */
import { readFileSync } from 'node:fs';

/**
 * Default deadline of every wait (60 s): generous on a loaded machine (on a 2-core machine at load 12, rendering a
 * one-line template took 4 s and starting a Node.js child 4.7 s), and still a bound on a hang.
 */
export const DEFAULT_TIMEOUT_MS = 60_000;

/** Poll interval of waitFor (ms). */
export const POLL_INTERVAL_MS = 25;

/**
 * A plain delay. Only for "nothing else happens for a while" (a negative check has to wait some time) and for
 * pacing a loop; never to wait for something to happen.
 */
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  /** Default DEFAULT_TIMEOUT_MS. */
  readonly timeoutMs?: number;
  /** Default POLL_INTERVAL_MS. */
  readonly intervalMs?: number;
  /** Appended to the timeout message: what the process said, what the stand-in saw... */
  readonly detail?: () => string;
}

/**
 * Poll `probe` until it returns something other than undefined, null or false, and return that; throw after the
 * deadline saying what was awaited (and `detail()`). A probe may throw to fail at once (e.g. the process exited).
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: WaitOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > deadline) {
      const detail = opts.detail?.();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail ? `\n${detail}` : ''}`);
    }
    await sleep(opts.intervalMs ?? POLL_INTERVAL_MS);
  }
}

/** A file's content, or undefined while it does not exist (or cannot be read). */
export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Wait until the file exists and pred(content) holds; returns the content. */
export function waitForFile(path: string, pred: (content: string) => boolean = () => true, opts: WaitOptions = {}): Promise<string> {
  return waitFor(
    `${path} to exist${pred.length > 0 ? ' with the expected content' : ''}`,
    () => {
      const text = readIfExists(path);
      return text !== undefined && pred(text) ? text : undefined;
    },
    opts,
  );
}

/** Resolve with the promise's value, or throw naming `what` after timeoutMs. */
export async function withDeadline<T>(promise: Promise<T>, what: string, timeoutMs = DEFAULT_TIMEOUT_MS, detail?: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const d = detail?.();
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${d ? `\n${d}` : ''}`));
        }, timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
