/**
 * A Clock for tests: time stands still until advance()/advanceTo(), which fire due timers in time order (ties in the
 * order they were set) and let promise chains settle between timers, so that hours of simulated time run in
 * milliseconds and async work started by a timer completes before the next timer fires.
 */
import type { Clock, TimerHandle } from '../../src/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  done: boolean;
}

export interface FakeClockOptions {
  /** Start time, ms since the epoch (default 2025-01-01T00:00:00Z). */
  readonly start?: number;
  /**
   * Event-loop turns (setImmediate) awaited after each timer and around each advance (default 1). One turn runs every
   * promise chain to completion, however deep, as long as it waits only on promises or on this clock; raise it when
   * callbacks themselves wait on real macrotasks (setImmediate, I/O).
   */
  readonly settleTurns?: number;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  #live = 0;
  /** Binary min-heap on (at, seq); cancelled timers stay until popped. */
  readonly #heap: Timer[] = [];
  readonly #turns: number;
  /** Timers fired so far. */
  fired = 0;

  constructor(opts: FakeClockOptions = {}) {
    this.#now = opts.start ?? Date.UTC(2025, 0, 1);
    this.#turns = Math.max(1, opts.settleTurns ?? 1);
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const t: Timer = { at: this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0), seq: ++this.#seq, fn, done: false };
    this.#push(t);
    this.#live++;
    return {
      cancel: () => {
        if (!t.done) {
          t.done = true;
          this.#live--;
        }
      },
    };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const onAbort = (): void => {
        handle.cancel();
        reject(signal?.reason);
      };
      const handle = this.setTimer(ms, () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Timers set and neither fired nor cancelled. */
  pending(): number {
    return this.#live;
  }

  /** When the next pending timer is due, if any. */
  nextAt(): number | undefined {
    this.#dropDone();
    return this.#heap[0]?.at;
  }

  /** Move time forward by ms, firing due timers in order. */
  advance(ms: number): Promise<void> {
    return this.advanceTo(this.#now + ms);
  }

  /** Move time forward to t, firing due timers in order and settling promises after each. */
  async advanceTo(t: number): Promise<void> {
    if (t < this.#now) throw new RangeError(`FakeClock cannot go back in time (${t} < ${this.#now})`);
    await this.settle();
    for (;;) {
      this.#dropDone();
      const top = this.#heap[0];
      if (!top || top.at > t) break;
      this.#pop();
      top.done = true;
      this.#live--;
      this.#now = top.at;
      this.fired++;
      top.fn();
      await this.settle();
    }
    this.#now = t;
    await this.settle();
  }

  /** Advance to the next pending timer and fire it (and any due at the same time); false when none is pending. */
  async next(): Promise<boolean> {
    const at = this.nextAt();
    if (at === undefined) return false;
    await this.advanceTo(at);
    return true;
  }

  /** Let promise chains run (a few event-loop turns) without moving time. */
  async settle(): Promise<void> {
    for (let i = 0; i < this.#turns; i++) await new Promise<void>((r) => setImmediate(r));
  }

  #dropDone(): void {
    while (this.#heap.length > 0 && this.#heap[0]!.done) this.#pop();
  }

  static #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  #push(t: Timer): void {
    const h = this.#heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!FakeClock.#less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  #pop(): Timer | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && FakeClock.#less(h[l]!, h[m]!)) m = l;
        if (r < h.length && FakeClock.#less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
