/**
 * The lifecycle: the one owner of process signals and of the order in which tconfd lets go of what it holds.
 *
 * Lifecycle.install(process) is the first thing the CLI does (src/cli.ts), before any other module is evaluated, so
 * that no signal ever reaches Node's defaults: SIGUSR1 would open the inspector on 127.0.0.1:9229 (no authentication:
 * anything in the pod's network namespace could read the Vault token), SIGHUP, SIGTERM and SIGINT would end tconfd at
 * once, leaving its login token and leases alive. Before that, while dist/cli.js reads and compiles the bundle, its
 * first statements hold every such signal with placeholder handlers that record what arrives
 * (globalThis.__tconfdEarlySignals, scripts/build.mjs): install() takes over from them and replays it, in order.
 *
 * - SIGTERM / SIGINT: the first one aborts `signal` (startup stops waiting, the running phase ends); every later one
 *   calls the urgent handlers (the command is killed at once) but never interrupts the clean-up.
 * - SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT, SIGWINCH: handed to the forward target (the supervised command) once there is
 *   one; before that they are logged and ignored.
 * - Clean-up steps are registered by phase and run in phase order (command, renders, leases, sweep, close), the steps
 *   of one phase in parallel, each bounded by its own time limit on the injected Clock: a step that hangs is
 *   abandoned (logged), the next phase still runs.
 */
import { setMaxListeners } from 'node:events';
import { raceSignal } from '../abort.js';
import type { Clock } from '../clock.js';

export type StopSignal = 'SIGTERM' | 'SIGINT';
export const STOP_SIGNALS: readonly StopSignal[] = ['SIGTERM', 'SIGINT'];
export const FORWARDED_SIGNALS = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH'] as const;
export type ForwardedSignal = (typeof FORWARDED_SIGNALS)[number];

/** The order of the clean-up. */
export const PHASES = ['command', 'renders', 'leases', 'sweep', 'close'] as const;
export type Phase = (typeof PHASES)[number];

/** What the lifecycle logs with (a pino Logger fits); set once the log settings are known. */
export interface LifecycleLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** The part of process (or of a test's EventEmitter) the lifecycle listens on. */
export interface SignalEmitter {
  on(event: string, fn: (sig: NodeJS.Signals) => void): unknown;
  off(event: string, fn: (sig: NodeJS.Signals) => void): unknown;
}

/** What the entry point's placeholder handlers recorded before the lifecycle existed (scripts/build.mjs). */
export interface EarlySignals {
  readonly signals: string[];
  readonly handlers: Readonly<Record<string, (sig: NodeJS.Signals) => void>>;
}

/** Thrown (as the abort reason) by what startup awaits when a stop signal arrives. */
export class StopRequested extends Error {
  override readonly name = 'StopRequested';
  constructor(readonly stopSignal: NodeJS.Signals | undefined) {
    super(stopSignal === undefined ? 'stop requested' : `stopped by ${stopSignal}`);
  }
}

interface Step {
  readonly name: string;
  readonly run: (signal: AbortSignal) => Promise<void>;
  readonly timeoutMs: number;
}

export class Lifecycle {
  readonly #emitter: SignalEmitter;
  readonly #controller = new AbortController();
  readonly #steps = new Map<Phase, Step[]>();
  readonly #urgent = new Set<() => void>();
  readonly #listeners: Array<[string, (sig: NodeJS.Signals) => void]> = [];
  #clock: Clock | undefined;
  #logger: LifecycleLogger | undefined;
  #forward: ((sig: ForwardedSignal) => void) | undefined;
  #stopSignal: NodeJS.Signals | undefined;
  #stops = 0;
  /** Signals seen before a logger was attached, logged when it is. */
  #early: NodeJS.Signals[] = [];
  #cleaning: Promise<void> | undefined;

  constructor(emitter: SignalEmitter) {
    this.#emitter = emitter;
    // Every secret fetched at startup waits on this signal at once (1,000 leases: 1,000 listeners, none leaked).
    setMaxListeners(0, this.#controller.signal);
    for (const sig of STOP_SIGNALS) this.#listen(sig, () => this.#onStop(sig));
    for (const sig of FORWARDED_SIGNALS) this.#listen(sig, () => this.#onForward(sig));
  }

  /**
   * Take over every signal tconfd handles, on the real process: from the entry point's placeholders, if any (their
   * handlers removed only once ours are in place, so that no signal finds none), replaying what they recorded.
   */
  static install(
    proc: SignalEmitter = process,
    early: EarlySignals | undefined = (globalThis as { __tconfdEarlySignals?: EarlySignals }).__tconfdEarlySignals,
  ): Lifecycle {
    const l = new Lifecycle(proc);
    if (early !== undefined) {
      for (const [sig, fn] of Object.entries(early.handlers)) proc.off(sig, fn);
      for (const sig of early.signals.splice(0)) l.#replay(sig);
      delete (globalThis as { __tconfdEarlySignals?: EarlySignals }).__tconfdEarlySignals;
    }
    return l;
  }

  #replay(sig: string): void {
    if ((STOP_SIGNALS as readonly string[]).includes(sig)) this.#onStop(sig as StopSignal);
    else if ((FORWARDED_SIGNALS as readonly string[]).includes(sig)) this.#onForward(sig as ForwardedSignal);
  }

  /** Aborted at the first SIGTERM/SIGINT (or stop()); its reason is a StopRequested. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get stopping(): boolean {
    return this.#controller.signal.aborted;
  }

  /** The stop signal received first, if any. */
  get stopSignal(): NodeJS.Signals | undefined {
    return this.#stopSignal;
  }

  /** The exit status of a process stopped by this lifecycle's stop signal: 128+N (143 for SIGTERM, 130 for SIGINT). */
  get signalStatus(): number {
    return this.#stopSignal === 'SIGINT' ? 130 : 143;
  }

  attach(opts: { logger?: LifecycleLogger; clock?: Clock }): void {
    if (opts.clock !== undefined) this.#clock = opts.clock;
    if (opts.logger !== undefined) {
      this.#logger = opts.logger;
      for (const sig of this.#early.splice(0)) opts.logger.info({ signal: sig }, 'signal received while starting');
    }
  }

  /** Where SIGHUP, SIGUSR1, SIGUSR2, SIGQUIT and SIGWINCH go from now on (undefined: logged and ignored). */
  forwardTo(fn: ((sig: ForwardedSignal) => void) | undefined): void {
    this.#forward = fn;
  }

  /** Called at every stop signal after the first (e.g. kill the command at once). Returns an unsubscribe. */
  onUrgent(fn: () => void): () => void {
    this.#urgent.add(fn);
    if (this.#stops > 1) fn();
    return () => this.#urgent.delete(fn);
  }

  /** End the running phase without a signal (the command ended by itself, nothing to keep fresh...). */
  stop(): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(new StopRequested(undefined));
  }

  /** Resolves once stop() is called or a stop signal arrives. */
  stopped(): Promise<void> {
    const s = this.#controller.signal;
    if (s.aborted) return Promise.resolve();
    return new Promise((resolve) => s.addEventListener('abort', () => resolve(), { once: true }));
  }

  /**
   * Wait for p, or reject with a StopRequested as soon as a stop signal arrives (p keeps running: what it obtains is
   * recorded by its owner and given back by the clean-up).
   */
  guard<T>(p: Promise<T>): Promise<T> {
    return raceSignal(p, this.#controller.signal);
  }

  /** Register a clean-up step; steps of a phase run together, phases in PHASES order. */
  addCleanup(phase: Phase, name: string, timeoutMs: number, run: (signal: AbortSignal) => Promise<void>): void {
    if (this.#cleaning !== undefined) throw new Error(`clean-up "${name}" registered after the clean-up started`);
    const list = this.#steps.get(phase) ?? [];
    list.push({ name, run, timeoutMs });
    this.#steps.set(phase, list);
  }

  /** Run every clean-up step once, in order; never rejects. Later calls return the same promise. */
  cleanUp(): Promise<void> {
    this.#cleaning ??= (async () => {
      for (const phase of PHASES) {
        const steps = this.#steps.get(phase) ?? [];
        await Promise.all(steps.map((s) => this.#runStep(phase, s)));
      }
    })();
    return this.#cleaning;
  }

  /** Stop listening (tests; the real process keeps its handlers until it exits). */
  dispose(): void {
    for (const [event, fn] of this.#listeners.splice(0)) this.#emitter.off(event, fn);
  }

  async #runStep(phase: Phase, step: Step): Promise<void> {
    const ac = new AbortController();
    let timer: { cancel(): void } | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      const fire = (): void => resolve('timeout');
      if (this.#clock !== undefined) timer = this.#clock.setTimer(step.timeoutMs, fire);
      else {
        const t = setTimeout(fire, step.timeoutMs);
        timer = { cancel: () => clearTimeout(t) };
      }
    });
    const started = this.#clock?.now() ?? Date.now();
    try {
      const r = await Promise.race([step.run(ac.signal).then(() => 'done' as const), timeout]);
      this.#logger?.debug({ phase, step: step.name, ms: (this.#clock?.now() ?? Date.now()) - started }, `clean-up: ${r === 'done' ? 'done' : 'gave up'}`);
      if (r === 'timeout') {
        ac.abort(new Error(`${step.name}: gave up after ${step.timeoutMs} ms`));
        this.#logger?.warn({ phase, step: step.name, timeoutMs: step.timeoutMs }, `clean-up: ${step.name} did not finish in time; going on`);
      }
    } catch (err) {
      this.#logger?.warn({ phase, step: step.name, err: (err as Error)?.message ?? String(err) }, `clean-up: ${step.name} failed`);
    } finally {
      timer?.cancel();
    }
  }

  #listen(event: string, fn: (sig: NodeJS.Signals) => void): void {
    this.#emitter.on(event, fn);
    this.#listeners.push([event, fn]);
  }

  #onStop(sig: NodeJS.Signals): void {
    this.#stops++;
    if (this.#stops === 1) {
      this.#stopSignal = sig;
      this.#logger?.info({ signal: sig }, 'stopping');
      if (this.#logger === undefined) this.#early.push(sig);
      this.#controller.abort(new StopRequested(sig));
      return;
    }
    if (this.#urgent.size === 0) this.#logger?.info({ signal: sig }, 'second signal: the clean-up goes on (bounded)');
    for (const fn of [...this.#urgent]) {
      try {
        fn();
      } catch {
        // an urgent handler must not stop the others
      }
    }
  }

  #onForward(sig: ForwardedSignal): void {
    if (this.#forward !== undefined) {
      this.#forward(sig);
      return;
    }
    if (this.#logger === undefined) this.#early.push(sig);
    else this.#logger.info({ signal: sig }, 'signal ignored: no command is running');
  }
}
