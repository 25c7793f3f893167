/**
 * The lifecycle (src/runtime/lifecycle.ts): signals through an EventEmitter standing for the process, clean-up steps
 * on the fake clock. No process is spawned and no real signal is sent.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { FORWARDED_SIGNALS, Lifecycle, StopRequested } from '../../src/runtime/lifecycle.js';
import { FakeClock } from '../support/fake-clock.js';

function setup() {
  const proc = new EventEmitter();
  const clock = new FakeClock();
  const lines: Array<{ level: string; msg: string }> = [];
  const logger = {
    debug: (_o: object, msg: string) => lines.push({ level: 'debug', msg }),
    info: (_o: object, msg: string) => lines.push({ level: 'info', msg }),
    warn: (_o: object, msg: string) => lines.push({ level: 'warn', msg }),
  };
  const lifecycle = new Lifecycle(proc);
  lifecycle.attach({ clock, logger });
  return { proc, clock, lines, lifecycle };
}

describe('Lifecycle', () => {
  it('takes every signal tconfd handles: none is left to Node (SIGUSR1 would open the inspector)', () => {
    const before = Object.fromEntries(['SIGTERM', 'SIGINT', ...FORWARDED_SIGNALS].map((s) => [s, process.listenerCount(s)]));
    const l = Lifecycle.install(process);
    try {
      for (const [s, n] of Object.entries(before)) expect(process.listenerCount(s), s).toBe(n + 1);
    } finally {
      l.dispose();
    }
    for (const [s, n] of Object.entries(before)) expect(process.listenerCount(s), s).toBe(n);
  });

  it("takes over from the entry point's placeholders: removed once its own handlers are in place, what they recorded replayed in order", () => {
    const proc = new EventEmitter();
    const events: string[] = [];
    const early = { signals: [] as string[], handlers: {} as Record<string, () => void> };
    for (const sig of ['SIGTERM', 'SIGINT', ...FORWARDED_SIGNALS]) {
      early.handlers[sig] = () => early.signals.push(sig);
      proc.on(sig, early.handlers[sig]!);
    }
    // What arrived while the bundle was being read and compiled.
    proc.emit('SIGUSR1', 'SIGUSR1');
    proc.emit('SIGTERM', 'SIGTERM');
    proc.on('removeListener', (sig: string) => events.push(`off ${sig} (${proc.listenerCount(sig)} left)`));
    const l = Lifecycle.install(proc, early);
    expect(events.filter((e) => e.startsWith('off SIGUSR1'))).toEqual(['off SIGUSR1 (1 left)']); // ours stayed
    for (const sig of ['SIGTERM', 'SIGINT', ...FORWARDED_SIGNALS]) expect(proc.listenerCount(sig), sig).toBe(1);
    expect({ stopping: l.stopping, stopSignal: l.stopSignal, recorded: early.signals }).toEqual({ stopping: true, stopSignal: 'SIGTERM', recorded: [] });
    const lines: string[] = [];
    l.attach({ logger: { debug: () => undefined, info: (o: object, msg: string) => lines.push(`${msg} ${(o as { signal?: string }).signal}`), warn: () => undefined } });
    expect(lines).toEqual(['signal received while starting SIGUSR1', 'signal received while starting SIGTERM']);
    l.dispose();
  });

  it('the first SIGTERM aborts startup (guard rejects with StopRequested); the status is 143, 130 for SIGINT', async () => {
    const { proc, lifecycle } = setup();
    const never = new Promise<void>(() => undefined);
    const guarded = lifecycle.guard(never);
    proc.emit('SIGTERM', 'SIGTERM');
    const err = await guarded.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StopRequested);
    expect((err as StopRequested).stopSignal).toBe('SIGTERM');
    expect(lifecycle.signalStatus).toBe(143);
    await expect(lifecycle.guard(Promise.resolve(1))).rejects.toBeInstanceOf(StopRequested);
    const int = setup();
    int.proc.emit('SIGINT', 'SIGINT');
    expect(int.lifecycle.signalStatus).toBe(130);
  });

  it('a second SIGTERM calls the urgent handlers (kill the command now) and does not interrupt the clean-up', async () => {
    const { proc, clock, lifecycle } = setup();
    const done: string[] = [];
    let urgent = 0;
    lifecycle.onUrgent(() => urgent++);
    lifecycle.addCleanup('leases', 'revoke', 5_000, async () => {
      await clock.sleep(1_000);
      done.push('revoked');
    });
    proc.emit('SIGTERM', 'SIGTERM');
    const cleaning = lifecycle.cleanUp();
    await clock.advance(200);
    proc.emit('SIGTERM', 'SIGTERM');
    proc.emit('SIGINT', 'SIGINT');
    expect(urgent).toBe(2);
    await clock.advance(1_000);
    await cleaning;
    expect(done).toEqual(['revoked']);
  });

  it('SIGHUP, SIGUSR1... before there is a command are logged and ignored; then forwarded', () => {
    const { proc, lines, lifecycle } = setup();
    proc.emit('SIGUSR1', 'SIGUSR1');
    expect(lines.at(-1)).toEqual({ level: 'info', msg: 'signal ignored: no command is running' });
    const got: string[] = [];
    lifecycle.forwardTo((s) => got.push(s));
    for (const s of FORWARDED_SIGNALS) proc.emit(s, s);
    expect(got).toEqual([...FORWARDED_SIGNALS]);
    expect(lifecycle.stopping).toBe(false);
  });

  it('signals received before the logger exists are logged once it is attached', () => {
    const proc = new EventEmitter();
    const lifecycle = new Lifecycle(proc);
    proc.emit('SIGHUP', 'SIGHUP');
    const msgs: string[] = [];
    lifecycle.attach({ logger: { debug: () => undefined, info: (_o, m) => msgs.push(m), warn: () => undefined } });
    expect(msgs).toEqual(['signal received while starting']);
  });

  it('clean-up runs phase by phase; a step that hangs is abandoned at its limit and the next phases still run', async () => {
    const { clock, lines, lifecycle } = setup();
    const order: string[] = [];
    lifecycle.addCleanup('close', 'close the client', 1_000, async () => void order.push('close'));
    lifecycle.addCleanup('sweep', 'sweep', 1_000, async () => void order.push('sweep'));
    lifecycle.addCleanup('leases', 'scheduler', 3_000, (signal) => new Promise((_r, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))));
    lifecycle.addCleanup('command', 'stop the command', 1_000, async () => {
      throw new Error('kill failed');
    });
    lifecycle.addCleanup('renders', 'renders', 1_000, async () => void order.push('renders'));
    const cleaning = lifecycle.cleanUp();
    expect(lifecycle.cleanUp()).toBe(cleaning);
    await clock.advance(2_999);
    expect(order).toEqual(['renders']);
    await clock.advance(1);
    await cleaning;
    expect(order).toEqual(['renders', 'sweep', 'close']);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      'clean-up: stop the command failed',
      'clean-up: scheduler did not finish in time; going on',
    ]);
    expect(() => lifecycle.addCleanup('close', 'late', 1, async () => undefined)).toThrow(/after the clean-up started/);
  });
});
