import { describe, expect, it } from 'vitest';
import { FakeClock } from '../support/fake-clock.js';

describe('FakeClock', () => {
  it('fires due timers in time order (ties in the order set), at their own time, never synchronously', async () => {
    const clock = new FakeClock({ start: 1000 });
    const fired: string[] = [];
    clock.setTimer(300, () => fired.push(`c@${clock.now()}`));
    clock.setTimer(100, () => fired.push(`a@${clock.now()}`));
    clock.setTimer(100, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(0, () => fired.push(`z@${clock.now()}`));
    expect(fired).toEqual([]);
    expect(clock.pending()).toBe(4);
    await clock.advance(200);
    expect(fired).toEqual(['z@1000', 'a@1100', 'b@1100']);
    expect(clock.now()).toBe(1200);
    expect(clock.pending()).toBe(1);
    await clock.advanceTo(5000);
    expect(fired).toEqual(['z@1000', 'a@1100', 'b@1100', 'c@1300']);
    expect(clock.pending()).toBe(0);
    await expect(clock.advanceTo(10)).rejects.toThrow(RangeError);
  });

  it('cancelled timers never fire and are not pending', async () => {
    const clock = new FakeClock();
    let n = 0;
    const h = clock.setTimer(10, () => n++);
    h.cancel();
    h.cancel();
    expect(clock.pending()).toBe(0);
    await clock.advance(100);
    expect(n).toBe(0);
  });

  it('lets async work chained from a timer run before the next timer, including timers it sets', async () => {
    const clock = new FakeClock();
    const log: string[] = [];
    const step = async (i: number): Promise<void> => {
      await Promise.resolve();
      await new Promise<void>((r) => queueMicrotask(r));
      log.push(`step ${i} at ${clock.now()}`);
      if (i < 3) clock.setTimer(10, () => void step(i + 1));
    };
    const t0 = clock.now();
    clock.setTimer(10, () => void step(1));
    clock.setTimer(15, () => log.push(`other at ${clock.now()}`));
    await clock.advance(100);
    expect(log).toEqual([`step 1 at ${t0 + 10}`, `other at ${t0 + 15}`, `step 2 at ${t0 + 20}`, `step 3 at ${t0 + 30}`]);
  });

  it('sleep resolves after the delay and rejects with the reason when aborted', async () => {
    const clock = new FakeClock();
    let slept = false;
    const p = clock.sleep(1000).then(() => (slept = true));
    await clock.advance(999);
    expect(slept).toBe(false);
    await clock.advance(1);
    await p;
    expect(slept).toBe(true);

    const ac = new AbortController();
    const q = clock.sleep(1000, ac.signal);
    expect(clock.pending()).toBe(1);
    ac.abort(new Error('stop'));
    await expect(q).rejects.toThrow('stop');
    expect(clock.pending()).toBe(0);
    await expect(clock.sleep(1, ac.signal)).rejects.toThrow('stop');
  });

  it('next() jumps to the next timer', async () => {
    const clock = new FakeClock({ start: 0 });
    clock.setTimer(5000, () => {});
    expect(clock.nextAt()).toBe(5000);
    expect(await clock.next()).toBe(true);
    expect(clock.now()).toBe(5000);
    expect(await clock.next()).toBe(false);
  });
});
