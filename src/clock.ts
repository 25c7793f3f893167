/**
 * Time, injected. Everything that schedules work takes a Clock so that tests can drive simulated hours in
 * milliseconds with a fake one (test/support/fake-clock.ts).
 */
export interface TimerHandle {
  cancel(): void;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run fn once after ms milliseconds (never synchronously). */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Resolve after ms milliseconds (rejects with the signal's reason if aborted first). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms, fn) {
    // Node caps timers at 2^31-1 ms (~24.8 days); longer delays are re-armed in steps.
    const MAX = 2_147_000_000;
    let handle: NodeJS.Timeout;
    const due = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const left = due - Date.now();
      handle = setTimeout(left > MAX ? arm : fn, Math.max(0, Math.min(left, MAX)));
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
  sleep(ms, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = (): void => {
        clearTimeout(t);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  },
};

/**
 * Milliseconds on a monotonic clock, for measuring durations (what performance.now() gives, without loading
 * perf_hooks at the start: ~1 ms).
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
