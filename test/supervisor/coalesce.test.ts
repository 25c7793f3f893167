import { describe, expect, it } from 'vitest';
import type { Clock, TimerHandle } from '../../src/clock.js';
import { ChangeCoalescer, type ChangeAction } from '../../src/supervisor/index.js';

/** Minimal fake clock: timers run only when advance() passes their due time. */
class FakeClock implements Clock {
  #now = 1_700_000_000_000;
  #timers: Array<{ due: number; fn: () => void; live: boolean }> = [];
  now(): number {
    return this.#now;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = { due: this.#now + Math.max(0, ms), fn, live: true };
    this.#timers.push(t);
    return { cancel: () => void (t.live = false) };
  }
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.setTimer(ms, r));
  }
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      const next = this.#timers.filter((t) => t.live && t.due <= end).sort((a, b) => a.due - b.due)[0];
      if (!next) break;
      this.#now = next.due;
      next.live = false;
      next.fn();
    }
    this.#now = end;
    this.#timers = this.#timers.filter((t) => t.live);
  }
}

function setup(opts: { minMs?: number; maxMs?: number; splayMs?: number; rng?: () => number } = {}) {
  const clock = new FakeClock();
  const fired: Array<{ action: ChangeAction; at: number }> = [];
  const start = clock.now();
  const c = new ChangeCoalescer({
    minMs: 2_000,
    maxMs: 10_000,
    ...opts,
    clock,
    onFire: (action) => fired.push({ action, at: clock.now() - start }),
  });
  return { clock, c, fired };
}

describe('ChangeCoalescer', () => {
  it('fires once, minMs after the last of three changes inside the wait window', () => {
    const { clock, c, fired } = setup();
    c.notify('signal');
    clock.advance(500);
    c.notify('signal');
    clock.advance(1_500);
    c.notify('signal'); // t = 2000
    clock.advance(1_999);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([{ action: 'signal', at: 4_000 }]);
    clock.advance(60_000);
    expect(fired).toHaveLength(1);
  });

  it('maxMs bounds a continuous stream of changes', () => {
    const { clock, c, fired } = setup();
    for (let t = 0; t < 25_000; t += 1_000) {
      c.notify('signal');
      clock.advance(1_000);
    }
    clock.advance(5_000);
    // A change every second never leaves 2 s of quiet: bursts are cut 10 s after their first change (at 10 s and
    // 20 s); the last burst (from 20 s) ends 2 s after the last change at 24 s.
    expect(fired.map((f) => f.at)).toEqual([10_000, 20_000, 26_000]);
  });

  it('restart wins over signal, and signal over none', () => {
    const { clock, c, fired } = setup();
    c.notify('signal');
    c.notify('restart');
    c.notify('signal');
    c.notify('none');
    expect(c.pending).toBe('restart');
    clock.advance(2_000);
    c.notify('none');
    c.notify('signal');
    clock.advance(2_000);
    c.notify('none');
    clock.advance(2_000);
    expect(fired.map((f) => f.action)).toEqual(['restart', 'signal', 'none']);
  });

  it('waits an extra splay within [0, splayMs)', () => {
    for (const r of [0, 0.25, 0.999]) {
      const { clock, c, fired } = setup({ splayMs: 4_000, rng: () => r });
      c.notify('restart');
      clock.advance(2_000 + Math.floor(r * 4_000) - 1);
      expect(fired).toEqual([]);
      clock.advance(1);
      expect(fired).toEqual([{ action: 'restart', at: 2_000 + Math.floor(r * 4_000) }]);
      expect(fired[0]!.at).toBeLessThan(2_000 + 4_000);
    }
  });

  it('a change during the splay joins the pending action without delaying it', () => {
    const { clock, c, fired } = setup({ splayMs: 1_000, rng: () => 0.5 });
    c.notify('signal');
    clock.advance(2_200); // quiet reached at 2000, splay 500 → fires at 2500
    c.notify('restart');
    clock.advance(300);
    expect(fired).toEqual([{ action: 'restart', at: 2_500 }]);
    clock.advance(20_000);
    expect(fired).toHaveLength(1);
  });

  it('flush fires a pending burst now; close drops it', () => {
    const { clock, c, fired } = setup();
    c.notify('signal');
    c.flush();
    expect(fired).toEqual([{ action: 'signal', at: 0 }]);
    c.notify('restart');
    c.close();
    c.notify('restart');
    clock.advance(60_000);
    expect(fired).toHaveLength(1);
  });

  it('rejects maxMs < minMs', () => {
    expect(() => setup({ minMs: 5_000, maxMs: 1_000 })).toThrow(/maxMs/);
  });
});
