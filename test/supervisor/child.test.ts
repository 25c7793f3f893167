import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { FakeClock } from '../support/fake-clock.js';
import { DEFAULT_TIMEOUT_MS } from '../support/wait.js';
import {
  ChildStartError,
  ChildSupervisor,
  childEnv,
  exitStatus,
  type ChildRestartInfo,
  type ChildSupervisorOptions,
} from '../../src/supervisor/index.js';

const RECORDER = fileURLToPath(new URL('../fixtures/child/recorder.mjs', import.meta.url));
const logger = pino({ level: 'silent' });

interface Event {
  event: 'start' | 'signal' | 'exit';
  pid: number;
  t: number;
  signal?: string;
  code?: number;
  config?: string;
  env?: string[];
}

let dir: string;
let logFile: string;
const supervisors: ChildSupervisor[] = [];

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-child-'));
  logFile = path.join(dir, 'events.jsonl');
});

afterEach(async () => {
  // Never leave a recorder running, whatever the test did.
  await Promise.all(supervisors.splice(0).map((s) => s.shutdown('SIGKILL')));
  fs.rmSync(dir, { recursive: true, force: true });
});

function events(): Event[] {
  if (!fs.existsSync(logFile)) return [];
  return fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Event);
}

async function waitFor(pred: (ev: Event[]) => boolean, what: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Event[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ev = events();
    if (pred(ev)) return ev;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; events: ${JSON.stringify(ev)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const starts = (ev: Event[]): Event[] => ev.filter((e) => e.event === 'start');
const signals = (ev: Event[]): string[] => ev.filter((e) => e.event === 'signal').map((e) => e.signal!);

function supervisor(env: Record<string, string> = {}, opts: Partial<ChildSupervisorOptions> = {}): ChildSupervisor {
  const s = new ChildSupervisor({
    command: [process.execPath, RECORDER],
    env: { RECORDER_LOG: logFile, ...env },
    clock: systemClock,
    logger,
    killTimeoutMs: 2_000,
    ...opts,
  });
  supervisors.push(s);
  return s;
}

describe('ChildSupervisor', () => {
  it('reload sends SIGHUP to the running child without restarting it', async () => {
    const sup = supervisor();
    await sup.start();
    const [first] = starts(await waitFor((ev) => starts(ev).length === 1, 'start'));
    expect(sup.running).toBe(true);
    expect(sup.pid).toBe(first!.pid);

    expect(await sup.reload()).toBe(true);
    const ev = await waitFor((e) => signals(e).includes('SIGHUP'), 'SIGHUP');
    expect(ev.find((e) => e.event === 'signal')).toMatchObject({ signal: 'SIGHUP', pid: first!.pid });
    expect(starts(ev)).toHaveLength(1);
    expect(sup.pid).toBe(first!.pid);
    expect(sup.restarts).toBe(0);
    expect(await sup.shutdown()).toBe(0);
  });

  it('honours a custom reload signal', async () => {
    const sup = supervisor({}, { reloadSignal: 'SIGUSR2' });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    await sup.reload();
    await waitFor((e) => signals(e).includes('SIGUSR2'), 'SIGUSR2');
    expect(signals(events())).toEqual(['SIGUSR2']);
  });

  it('restart stops the child with SIGTERM and starts a new one that reads the new config', async () => {
    const config = path.join(dir, 'app.conf');
    fs.writeFileSync(config, 'v1');
    const sup = supervisor({ RECORDER_CONFIG: config });
    const restarts: ChildRestartInfo[] = [];
    sup.on('restart', (i) => restarts.push(i));
    await sup.start();
    const [first] = starts(await waitFor((ev) => starts(ev).length === 1, 'start'));
    expect(first!.config).toBe('v1');

    fs.writeFileSync(config, 'v2');
    await sup.restart('app.conf changed');
    const ev = await waitFor((e) => starts(e).length === 2, 'second start');
    const second = starts(ev)[1]!;
    expect(second.pid).not.toBe(first!.pid);
    expect(second.config).toBe('v2');
    // The old process got SIGTERM (and exited) before the new one started.
    const term = ev.findIndex((e) => e.event === 'signal' && e.signal === 'SIGTERM' && e.pid === first!.pid);
    expect(term).toBeGreaterThanOrEqual(0);
    expect(term).toBeLessThan(ev.indexOf(second));
    expect(sup.pid).toBe(second.pid);
    expect(sup.restarts).toBe(1);
    expect(restarts).toEqual([{ cause: 'request', reason: 'app.conf changed', delayMs: 0, restarts: 1 }]);
  });

  it('coalesces reload/restart requests made while a restart is in progress', async () => {
    const sup = supervisor({ RECORDER_IGNORE_TERM: '1' }, { killTimeoutMs: 300 });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    const a = sup.restart('one');
    const b = sup.restart('two');
    expect(await sup.reload()).toBe(false);
    expect(b).toBe(a);
    await Promise.all([a, b]);
    const ev = await waitFor((e) => starts(e).length === 2, 'second start');
    await new Promise((r) => setTimeout(r, 200));
    expect(starts(events())).toHaveLength(2);
    expect(signals(ev)).toEqual(['SIGTERM']);
    expect(sup.restarts).toBe(1);
  });

  it('SIGKILLs a child that ignores SIGTERM after killTimeoutMs', async () => {
    const sup = supervisor({ RECORDER_IGNORE_TERM: '1' }, { killTimeoutMs: 300 });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    const t0 = Date.now();
    const status = await sup.shutdown('SIGTERM');
    const elapsed = Date.now() - t0;
    expect(signals(events())).toEqual(['SIGTERM']);
    expect(status).toBe(128 + os.constants.signals.SIGKILL); // 137
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(9_000); // it would never end without the SIGKILL; slack for a busy machine
    expect(sup.running).toBe(false);
    expect(await sup.exited).toBe(137);
    expect(sup.endCause).toBe('shutdown');
  });

  it("shutdown forwards the signal and resolves with the child's exit code", async () => {
    const sup = supervisor({ RECORDER_EXIT_CODE: '3' });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    expect(await sup.shutdown('SIGINT')).toBe(3);
    expect(signals(events())).toEqual(['SIGINT']);
    expect(await sup.exited).toBe(3);
  });

  it('shutdown resolves with 128+N when the child dies of signal N', async () => {
    // `sleep` does not handle SIGTERM: it dies of it.
    const sup = new ChildSupervisor({ command: ['sleep', '30'], env: { PATH: process.env.PATH ?? '' }, clock: systemClock, logger });
    supervisors.push(sup);
    await sup.start();
    expect(await sup.shutdown('SIGTERM')).toBe(128 + os.constants.signals.SIGTERM); // 143
  });

  it('a second shutdown kills the child at once', async () => {
    const sup = supervisor({ RECORDER_IGNORE_TERM: '1' }, { killTimeoutMs: 10_000 });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    const t0 = Date.now();
    const first = sup.shutdown('SIGTERM');
    await waitFor((e) => signals(e).includes('SIGTERM'), 'SIGTERM');
    const second = sup.shutdown('SIGINT');
    expect(await second).toBe(137);
    expect(await first).toBe(137);
    expect(Date.now() - t0).toBeLessThan(8_000); // not after the 10 s killTimeoutMs; slack for a busy machine
  });

  it('shutdown with signalChild: false only SIGKILLs after killTimeoutMs', async () => {
    const sup = supervisor({}, { killTimeoutMs: 300 });
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    const t0 = Date.now();
    expect(await sup.shutdown('SIGINT', { signalChild: false })).toBe(137);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    expect(signals(events())).toEqual([]);
  });

  it('forwards signals unchanged', async () => {
    const sup = supervisor();
    await sup.start();
    await waitFor((ev) => starts(ev).length === 1, 'start');
    for (const sig of ['SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH'] as const) expect(sup.signal(sig)).toBe(true);
    await waitFor((e) => signals(e).length === 4, 'four signals');
    expect([...signals(events())].sort()).toEqual(['SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']);
    expect(starts(events())).toHaveLength(1);
  });

  it("with restart 'never', exited resolves with the code of a child that exits by itself", async () => {
    const sup = supervisor({ RECORDER_CRASH_AFTER_MS: '50', RECORDER_CRASH_CODE: '7' });
    await sup.start();
    expect(await sup.exited).toBe(7);
    expect(sup.endCause).toBe('exited');
    expect(starts(events())).toHaveLength(1);
    expect(sup.running).toBe(false);
    expect(await sup.shutdown()).toBe(7);
  });

  it("with restart 'on-failure', restarts a crashing child with growing delays and gives up after maxRestarts", async () => {
    const sup = supervisor(
      { RECORDER_CRASH_AFTER_MS: '0', RECORDER_CRASH_CODE: '2' },
      // maxMs 60 s: a child up longer than maxMs resets the backoff, and a loaded machine can take a second to start one.
      { restart: 'on-failure', maxRestarts: 3, restartWindowMs: 60_000, backoff: { initialMs: 50, maxMs: 60_000 } },
    );
    const restarts: ChildRestartInfo[] = [];
    sup.on('restart', (i) => restarts.push(i));
    await sup.start();
    expect(await sup.exited).toBe(2);
    expect(sup.endCause).toBe('gave-up');
    expect(restarts.map((r) => r.delayMs)).toEqual([50, 100, 200]);
    expect(restarts.every((r) => r.cause === 'crash' && r.reason === 'exited with code 2')).toBe(true);
    expect(sup.restarts).toBe(3);
    const ev = events();
    const s = starts(ev);
    expect(s).toHaveLength(4); // first start + 3 restarts
    // Each new start came at least the backoff delay after the previous exit.
    const exits = ev.filter((e) => e.event === 'exit');
    for (let i = 1; i < s.length; i++) {
      expect(s[i]!.t - exits[i - 1]!.t).toBeGreaterThanOrEqual(restarts[i - 1]!.delayMs - 5);
    }
  });

  it("with restart 'on-failure', a clean exit is not restarted; with 'always' it is", async () => {
    const onFailure = supervisor({ RECORDER_CRASH_AFTER_MS: '0', RECORDER_CRASH_CODE: '0' }, { restart: 'on-failure' });
    await onFailure.start();
    expect(await onFailure.exited).toBe(0);
    expect(onFailure.restarts).toBe(0);

    const always = supervisor(
      { RECORDER_CRASH_AFTER_MS: '0', RECORDER_CRASH_CODE: '0' },
      { restart: 'always', maxRestarts: 1, backoff: { initialMs: 10, maxMs: 100 } },
    );
    await always.start();
    expect(await always.exited).toBe(0);
    expect(always.restarts).toBe(1);
    expect(starts(events())).toHaveLength(3); // 1 (on-failure) + 2 (always)
  });

  it('shutdown during the backoff delay does not start the child again', async () => {
    const sup = supervisor(
      { RECORDER_CRASH_AFTER_MS: '0', RECORDER_CRASH_CODE: '5' },
      { restart: 'on-failure', backoff: { initialMs: 5_000, maxMs: 10_000 } },
    );
    const restarted = new Promise((r) => sup.once('restart', r));
    await sup.start();
    await restarted;
    expect(await sup.shutdown()).toBe(5);
    await new Promise((r) => setTimeout(r, 100));
    expect(starts(events())).toHaveLength(1);
  });

  it('gives the child exactly the given environment (no Vault token)', async () => {
    const { env } = childEnv(
      { PATH: '/usr/bin', HOME: '/home/app', VAULT_TOKEN: 's.secret', VAULT_ADDR: 'https://vault:8200' },
      {},
    );
    const sup = supervisor(env);
    await sup.start();
    const [s] = starts(await waitFor((ev) => starts(ev).length === 1, 'start'));
    expect(s!.env).toEqual(['HOME', 'PATH', 'RECORDER_LOG', 'VAULT_ADDR']);
  });

  it('reports a missing or non-executable command as an error naming it', async () => {
    const missing = new ChildSupervisor({ command: ['/nonexistent/myapp', '--flag'], env: {}, clock: systemClock, logger });
    const err = await missing.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChildStartError);
    expect((err as Error).message).toContain('/nonexistent/myapp');
    expect((err as Error).message).toContain('not found');
    expect(await missing.exited).toBe(127);

    const notExec = path.join(dir, 'app.sh');
    fs.writeFileSync(notExec, '#!/bin/sh\n', { mode: 0o644 });
    const sup = new ChildSupervisor({ command: [notExec], env: {}, clock: systemClock, logger });
    await expect(sup.start()).rejects.toThrow(new RegExp(`${notExec.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*permission denied`));
    expect(await sup.exited).toBe(126);
  });

  it('exitStatus follows the shell convention', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(42, null)).toBe(42);
    expect(exitStatus(null, 'SIGKILL')).toBe(137);
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
  });
});

describe('ChildSupervisor: --reload-grace (a real child process, time on a FakeClock)', () => {
  const GRACE = 5_000;

  /** A recorder supervised with the grace on a FakeClock, started and with its handlers installed. */
  async function started(): Promise<{ clock: FakeClock; sup: ChildSupervisor; first: Event }> {
    const clock = new FakeClock();
    const sup = supervisor({}, { clock, reloadGraceMs: GRACE });
    await sup.start();
    const [first] = starts(await waitFor((ev) => starts(ev).length === 1, 'start'));
    return { clock, sup, first: first! };
  }

  /** Whether a promise has settled, without waiting for it. */
  function tracked<T>(p: Promise<T>): { readonly settled: boolean; readonly value: T | undefined } {
    const state: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
    void p.then((v) => {
      state.settled = true;
      state.value = v;
    });
    return state;
  }

  it('holds a reload asked for within the grace of the start, and sends ONE signal when the command is that old', async () => {
    const { clock, sup, first } = await started();

    await clock.advance(1_000);
    const a = sup.reload();
    await clock.advance(2_000);
    const b = sup.reload(); // a second rotation during the grace: coalesced
    expect(b).toBe(a);
    const held = tracked(a);
    await clock.advance(1_999);
    expect(held.settled).toBe(false);
    expect(signals(events())).toEqual([]);

    await clock.advance(1); // the command is GRACE old
    expect(held).toEqual({ settled: true, value: true });
    await waitFor((e) => signals(e).length === 1, 'the held SIGHUP');

    // Past the grace, a reload is sent at once.
    expect(await sup.reload()).toBe(true);
    const ev = await waitFor((e) => signals(e).length === 2, 'a second SIGHUP');
    expect(ev.filter((e) => e.event === 'signal').map((e) => [e.signal, e.pid])).toEqual([
      ['SIGHUP', first.pid],
      ['SIGHUP', first.pid],
    ]);
    expect(sup.restarts).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('does not send a held reload to a command restarted meanwhile (the new process reads the files); the new process has its own grace', async () => {
    const { clock, sup, first } = await started();
    const held = tracked(sup.reload());

    const restarted = sup.restart('files changed');
    await restarted;
    await clock.settle();
    expect(held).toEqual({ settled: true, value: false }); // settled once the restart completed
    const [, second] = starts(await waitFor((ev) => starts(ev).length === 2, 'second start'));

    // A reload asked for just after the restart is held for the NEW process's own grace, then sent to it.
    const again = tracked(sup.reload());
    await clock.advance(GRACE - 1);
    expect(again.settled).toBe(false);
    await clock.advance(1);
    expect(again).toEqual({ settled: true, value: true });
    await waitFor((e) => signals(e).length === 2, 'SIGHUP to the new process');
    await clock.advance(2 * GRACE);
    // The restart's SIGTERM to the first process, then one SIGHUP to the second: the first one's held SIGHUP never.
    expect(events().filter((e) => e.event === 'signal').map((e) => [e.signal, e.pid])).toEqual([
      ['SIGTERM', first.pid],
      ['SIGHUP', second!.pid],
    ]);
    expect(sup.restarts).toBe(1);
  });

  it('drops a held reload when the command crashes: the restart policy restarts it once, as for any crash, and exited gives the crash status', async () => {
    const clock = new FakeClock();
    const sup = supervisor(
      { RECORDER_CRASH_AFTER_MS: '300', RECORDER_CRASH_CODE: '3' },
      { clock, reloadGraceMs: GRACE, restart: 'on-failure', maxRestarts: 1, restartWindowMs: 60_000, backoff: { initialMs: 1_000, maxMs: 10_000 } },
    );
    const restarts: ChildRestartInfo[] = [];
    sup.on('restart', (i) => restarts.push(i));
    await sup.start();
    const held = tracked(sup.reload());
    await new Promise((r) => sup.once('restart', r)); // the crash (real time: the recorder exits by itself)
    await clock.settle();
    expect(held).toEqual({ settled: true, value: false });
    await clock.advance(1_000); // the backoff delay
    await waitFor((ev) => starts(ev).length === 2, 'the restart after the crash');
    const status = await sup.exited; // the second crash: maxRestarts reached
    expect(status).toBe(3);
    expect(sup.endCause).toBe('gave-up');
    expect(restarts.map((r) => [r.cause, r.reason])).toEqual([['crash', 'exited with code 3']]);
    await clock.advance(2 * GRACE);
    expect(signals(events())).toEqual([]);
    expect(clock.pending()).toBe(0);
  });

  it('shutdown cancels a held reload: the command gets only the stop signal', async () => {
    const { clock, sup } = await started();
    const held = tracked(sup.reload());
    expect(await sup.shutdown('SIGTERM')).toBe(0);
    await clock.settle();
    expect(held).toEqual({ settled: true, value: false });
    expect(clock.pending()).toBe(0);
    await clock.advance(2 * GRACE);
    expect(signals(events())).toEqual(['SIGTERM']);
  });

  it('a reload signal forwarded to the command (sent to tconfd) goes at once, and stands for the held one', async () => {
    const { clock, sup } = await started();
    const held = tracked(sup.reload());
    expect(sup.signal('SIGHUP')).toBe(true);
    await clock.settle();
    expect(held).toEqual({ settled: true, value: true });
    await waitFor((e) => signals(e).length === 1, 'the forwarded SIGHUP');
    await clock.advance(2 * GRACE);
    expect(signals(events())).toEqual(['SIGHUP']);
    expect(clock.pending()).toBe(0);
  });

  it('refuses a negative grace', () => {
    expect(() => supervisor({}, { reloadGraceMs: -1 })).toThrow(/reloadGraceMs/);
  });
});
