/**
 * The render loop (src/render/loop.ts): level-triggered rendering on the fake clock, with a scripted render function
 * (no Jsonnet, no files): failed renderings stay dirty and are retried, templates render independently, shutdown is
 * bounded, and holds() says which inputs the files still hold.
 */
import { describe, expect, it } from 'vitest';
import { RenderLoop, type RenderResult } from '../../src/render/loop.js';
import { FakeClock } from '../support/fake-clock.js';

interface Script {
  /** What the inputs are now: the key a successful rendering reports using. */
  input: string;
  /** Fails while set. */
  failing: boolean;
  /** Renders never settle until released (a minute-long evaluation). */
  slow: boolean;
  calls: number;
  inFlight: number;
  maxInFlight: number;
  /** Inputs each successful rendering used. */
  rendered: string[];
  abortedSignals: number;
  release: Array<() => void>;
}

function script(input = 'lease-1'): Script {
  return { input, failing: false, slow: false, calls: 0, inFlight: 0, maxInFlight: 0, rendered: [], abortedSignals: 0, release: [] };
}

function loopOf(scripts: Record<string, Script>, opts: { concurrency?: number } = {}) {
  const clock = new FakeClock();
  const failures: Array<{ t: string; retryInMs: number }> = [];
  const loop = new RenderLoop<string>({
    templates: Object.keys(scripts),
    clock,
    rng: () => 0.5,
    ...opts,
    render: async (t, signal): Promise<RenderResult> => {
      const s = scripts[t]!;
      s.calls++;
      const input = s.input; // read when the rendering starts: the latest input wins
      s.inFlight++;
      s.maxInFlight = Math.max(s.maxInFlight, [...Object.values(scripts)].reduce((n, x) => n + x.inFlight, 0));
      try {
        signal.addEventListener('abort', () => s.abortedSignals++, { once: true });
        if (s.slow) await new Promise<void>((r) => s.release.push(r));
        else await Promise.resolve();
        if (s.failing) throw new Error(`${t}: the dynamic secret's command exited with status 1`);
        s.rendered.push(input);
        return { uses: [input] };
      } finally {
        s.inFlight--;
      }
    },
    onFailed: (t, _err, _n, retryInMs) => failures.push({ t, retryInMs }),
  });
  return { clock, loop, failures };
}

describe('RenderLoop', () => {
  it('a failed rendering stays dirty, is retried with backoff, and its files are current within 15 s of the input working again', async () => {
    const a = script();
    const { clock, loop, failures } = loopOf({ a });
    loop.seed('a', ['lease-1']);
    a.failing = true;
    a.input = 'lease-2'; // the lease rotated while the dynamic exe secret fails
    loop.invalidate(['a']);
    await clock.advance(60_000);
    expect(a.calls).toBeGreaterThan(4); // retried, not given up
    expect(Math.max(...failures.map((f) => f.retryInMs))).toBeLessThanOrEqual(8_000);
    // Not current, and the files still hold the old lease: it must not be released.
    expect(loop.status()).toMatchObject([{ template: 'a', current: false }]);
    expect(loop.holds('lease-1')).toBe(true);
    expect(loop.holds('lease-2')).toBe(false);

    a.failing = false;
    const fixedAt = clock.now();
    await clock.advance(15_000);
    expect(a.rendered).toEqual(['lease-2']);
    expect(loop.status()).toMatchObject([{ template: 'a', current: true, failures: 0 }]);
    expect(loop.holds('lease-1')).toBe(false);
    expect(loop.holds('lease-2')).toBe(true);
    // Not rendered again once current.
    const calls = a.calls;
    await clock.advance(60_000);
    expect(a.calls).toBe(calls);
    expect(clock.now() - fixedAt).toBeGreaterThan(0);
  });

  it('a rendering that failed after putting some files in place (its error says what they hold) holds those inputs too', async () => {
    const clock = new FakeClock();
    let fail = true;
    const loop = new RenderLoop<string>({
      templates: ['a'],
      clock,
      rng: () => 0.5,
      render: async () => {
        if (fail) throw Object.assign(new Error('renaming b.conf: input/output error (EIO)'), { holds: ['lease-2'] });
        return { uses: ['lease-3'] };
      },
    });
    loop.seed('a', ['lease-1']);
    loop.invalidate(['a']);
    await clock.advance(100);
    // a.conf holds lease-2 now, b.conf still lease-1: neither may be released.
    expect([loop.holds('lease-1'), loop.holds('lease-2')]).toEqual([true, true]);
    fail = false;
    await clock.advance(20_000);
    expect([loop.holds('lease-1'), loop.holds('lease-2'), loop.holds('lease-3')]).toEqual([false, false, true]);
  });

  it('a new input retries a failing template at once, without waiting for the backoff', async () => {
    const a = script();
    const { clock, loop } = loopOf({ a });
    a.failing = true;
    loop.invalidate(['a']);
    await clock.advance(100);
    await clock.advance(20_000); // backoff grows
    const calls = a.calls;
    a.failing = false;
    a.input = 'lease-3';
    loop.invalidate(['a']);
    await clock.settle();
    expect(a.calls).toBe(calls + 1);
    expect(a.rendered).toEqual(['lease-3']);
  });

  it('one slow template delays no other: B renders while A is stuck; A gets one pending rendering, the latest input', async () => {
    const a = script('kv-1');
    const b = script('db-1');
    const { clock, loop } = loopOf({ a, b });
    a.slow = true;
    loop.invalidate(['a']);
    await clock.settle();
    for (const v of ['kv-2', 'kv-3', 'kv-4']) {
      a.input = v;
      loop.invalidate(['a']);
    }
    b.input = 'db-2';
    loop.invalidate(['b']);
    await clock.settle();
    expect(b.rendered).toEqual(['db-2']);
    expect(a.calls).toBe(1);
    a.release.shift()!();
    await clock.settle();
    expect(a.calls).toBe(2); // one pending, not three
    a.slow = false;
    a.release.shift()!();
    await clock.settle();
    expect(a.rendered).toEqual(['kv-1', 'kv-4']);
    expect(a.calls).toBe(2);
  });

  it('at most `concurrency` templates render at once; the others wait their turn', async () => {
    const scripts = { a: script(), b: script(), c: script() };
    for (const s of Object.values(scripts)) s.slow = true;
    const { clock, loop } = loopOf(scripts, { concurrency: 2 });
    loop.invalidate(['a', 'b', 'c']);
    await clock.settle();
    expect(scripts.a.calls + scripts.b.calls + scripts.c.calls).toBe(2);
    scripts.a.release.shift()!();
    await clock.settle();
    expect(scripts.c.calls).toBe(1);
    expect(Math.max(scripts.a.maxInFlight, scripts.b.maxInFlight, scripts.c.maxInFlight)).toBe(2);
  });

  it('close() aborts what is in flight and returns by its deadline even if a rendering never ends', async () => {
    const a = script();
    a.slow = true;
    const { clock, loop } = loopOf({ a });
    loop.invalidate(['a']);
    await clock.settle();
    let closed = false;
    void loop.close(2_000).then(() => (closed = true));
    await clock.settle();
    expect(a.abortedSignals).toBe(1);
    expect(closed).toBe(false);
    await clock.advance(2_000);
    expect(closed).toBe(true);
    loop.invalidate(['a']); // ignored once closed
    await clock.settle();
    expect(a.calls).toBe(1);
  });

  it('a dirty template with a valid input is current for a while (no flapping); overdue or holding a dead lease, it is not', async () => {
    const a = script();
    a.slow = true;
    const { clock, loop } = loopOf({ a });
    loop.seed('a', ['lease-1']);
    loop.invalidate(['a']);
    await clock.settle();
    expect(loop.status()[0]!.current).toBe(true);
    expect(loop.status((k) => k !== 'lease-1')[0]!.current).toBe(false);
    await clock.advance(10_000);
    expect(loop.status()[0]!.current).toBe(false);
  });
});
