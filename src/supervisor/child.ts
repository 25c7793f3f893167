/**
 * ChildSupervisor: runs the application tconfd wraps (`tconfd [options] -- myapp --flags`), forwards signals to it,
 * reloads or restarts it when its files change, restarts it after a crash if asked to, and stops it when tconfd stops.
 *
 * The child is started with execa, without a shell, with stdio inherited and exactly the environment given (the
 * caller strips Vault credentials first, see env.ts). Node reaps its direct children itself, so the child never stays
 * a zombie; if tconfd exits without going through shutdown() (an uncaught exception, process.exit()), execa's
 * `cleanup` sends the kill signal to the child from the process 'exit' hook, so it is not left running as an orphan.
 * Orphaned grandchildren are another matter when tconfd runs as PID 1: see pid1.ts.
 */
import { EventEmitter } from 'node:events';
import { constants as osConstants } from 'node:os';
import { execa, type ResultPromise } from 'execa';
import type { Clock, TimerHandle } from '../clock.js';
import type { Logger } from '../log.js';

/** What the supervisor does when the child exits by itself. */
export type RestartPolicy = 'never' | 'on-failure' | 'always';

/** Signals tconfd forwards to the child unchanged. */
export type ForwardedSignal = 'SIGHUP' | 'SIGINT' | 'SIGTERM' | 'SIGUSR1' | 'SIGUSR2' | 'SIGQUIT' | 'SIGWINCH';

export interface BackoffOptions {
  /** Delay before the first restart after a crash (default 1000 ms); doubles at each further crash. */
  readonly initialMs?: number;
  /** Upper bound of the delay (default 60000 ms). A child that stayed up longer than this resets the delay. */
  readonly maxMs?: number;
}

export interface ChildSupervisorOptions {
  /** argv of the application: command and its arguments, handed to execve as they are (no shell). */
  readonly command: readonly string[];
  /** The child's complete environment (already filtered by the caller: see childEnv()). */
  readonly env: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Signal sent by reload() (default SIGHUP). */
  readonly reloadSignal?: NodeJS.Signals;
  /**
   * reload() holds the signal for a process started less than this long ago, and sends it once this long after the
   * start (default 0: at once). A process that has not installed its handler yet would die of SIGHUP's default action.
   */
  readonly reloadGraceMs?: number;
  /** Signal sent to stop the child for a restart (default SIGTERM). */
  readonly killSignal?: NodeJS.Signals;
  /** How long a stopping child may take before it is SIGKILLed (default 10000 ms). */
  readonly killTimeoutMs?: number;
  /** What to do when the child exits by itself (default 'never': tconfd exits with the child's status). */
  readonly restart?: RestartPolicy;
  /** Give up after this many crash restarts within restartWindowMs (default 5). */
  readonly maxRestarts?: number;
  /** Window in which maxRestarts is counted (default 60000 ms). */
  readonly restartWindowMs?: number;
  readonly backoff?: BackoffOptions;
  readonly clock: Clock;
  readonly logger: Logger;
}

export interface ChildStartInfo {
  readonly pid: number;
  /** Restarts so far (0 for the first start). */
  readonly restarts: number;
}

export interface ChildExitInfo {
  readonly pid: number;
  /** Exit code, or null when the child died of a signal. */
  readonly code: number | null;
  /** Signal that killed the child, or null. */
  readonly signal: NodeJS.Signals | null;
  /** Exit status as a shell reports it: the code, or 128+N for signal N. */
  readonly status: number;
  readonly uptimeMs: number;
  /** True when tconfd stopped the child itself (restart or shutdown), false when it exited by itself. */
  readonly expected: boolean;
}

export interface ChildRestartInfo {
  /** 'request': restart() (files changed); 'crash': the child exited by itself and the policy restarts it. */
  readonly cause: 'request' | 'crash';
  readonly reason: string;
  /** Delay before the new start (backoff; 0 for requested restarts). */
  readonly delayMs: number;
  /** Total restarts including this one. */
  readonly restarts: number;
}

/** Why `exited` settled. */
export type ChildEndCause = 'exited' | 'gave-up' | 'shutdown' | 'start-failed';

export interface ChildSupervisorEvents {
  start: [info: ChildStartInfo];
  exit: [info: ChildExitInfo];
  restart: [info: ChildRestartInfo];
}

/**
 * The command could not be started (not found, not executable...). The message is one line, as a shell would say it,
 * naming the command and the status tconfd exits with: `command not found: myapp (exit 127)`.
 */
export class ChildStartError extends Error {
  override readonly name = 'ChildStartError';
  constructor(
    readonly command: string,
    /** errno code from spawn (ENOENT, EACCES...), if known. */
    readonly code: string | undefined,
    /** The status a shell would report: 127 when not found, 126 otherwise. */
    readonly status: number,
  ) {
    super(describeSpawnError(command, code, status));
  }
}

function describeSpawnError(command: string, code: string | undefined, status: number): string {
  switch (code) {
    case 'ENOENT':
      return `command not found: ${command} (exit ${status})`;
    case 'EACCES':
      return `command not executable: ${command} (permission denied, or not an executable file; exit ${status})`;
    case 'ENOEXEC':
      return `command not executable: ${command} (not an executable format; exit ${status})`;
    case 'ENOTDIR':
      return `command not found: ${command} (a component of its path is not a directory; exit ${status})`;
    default:
      return `cannot start command: ${command} (${code ?? 'spawn failed'}; exit ${status})`;
  }
}

/** Exit status as a shell reports it: the exit code, or 128+N for a death by signal N. */
export function exitStatus(code: number | null | undefined, signal: string | null | undefined): number {
  if (typeof code === 'number') return code;
  if (signal) {
    const n = (osConstants.signals as Record<string, number | undefined>)[signal];
    if (n !== undefined) return 128 + n;
  }
  return 1;
}

/** A reload signal held until the process it is for is reloadGraceMs old. */
interface HeldReload {
  readonly run: Run;
  readonly timer: TimerHandle;
  readonly since: number;
  /** Reloads asked for while it is held (they all get this one signal). */
  requests: number;
  readonly sent: Promise<boolean>;
  readonly settle: (sent: boolean) => void;
}

/** One spawned process. */
interface Run {
  readonly sub: ResultPromise;
  readonly pid: number;
  readonly startedAt: number;
  /** Set when tconfd itself asked the process to stop (restart or shutdown). */
  stopping: boolean;
  exit?: ChildExitInfo;
  readonly done: Promise<ChildExitInfo>;
}

type State =
  /** start() not called yet. */
  | 'idle'
  /** A child is running (or being stopped by a restart). */
  | 'running'
  /** The child crashed; waiting for the backoff delay before starting it again. */
  | 'backoff'
  /** shutdown() in progress. */
  | 'stopping'
  /** `exited` has settled; nothing runs any more. */
  | 'ended';

export class ChildSupervisor extends EventEmitter<ChildSupervisorEvents> {
  /** Settles once the supervisor is done: the child exited and will not be restarted, or shutdown() finished. */
  readonly exited: Promise<number>;

  readonly #command: readonly string[];
  readonly #env: Readonly<Record<string, string>>;
  readonly #cwd: string | undefined;
  readonly #reloadSignal: NodeJS.Signals;
  readonly #reloadGraceMs: number;
  readonly #killSignal: NodeJS.Signals;
  readonly #killTimeoutMs: number;
  readonly #policy: RestartPolicy;
  readonly #maxRestarts: number;
  readonly #windowMs: number;
  readonly #backoffInitialMs: number;
  readonly #backoffMaxMs: number;
  readonly #clock: Clock;
  readonly #log: Logger;

  #state: State = 'idle';
  #run: Run | undefined;
  #restarts = 0;
  /** Clock times of the crash restarts, for the maxRestarts-within-window budget. */
  #crashRestartTimes: number[] = [];
  #nextBackoffMs: number;
  #backoffTimer: TimerHandle | undefined;
  /** The reload signal held for the running process, if any (see reloadGraceMs). */
  #held: HeldReload | undefined;
  /** The requested restart in progress, if any (further requests join it). */
  #restarting: Promise<void> | undefined;
  #shutdown: Promise<number> | undefined;
  #lastStatus = 0;
  #endCause: ChildEndCause | undefined;
  #resolveExited!: (status: number) => void;

  constructor(opts: ChildSupervisorOptions) {
    super();
    if (opts.command.length === 0 || !opts.command[0]) throw new TypeError('ChildSupervisor: command is empty');
    this.#command = [...opts.command];
    this.#env = { ...opts.env };
    this.#cwd = opts.cwd;
    this.#reloadSignal = opts.reloadSignal ?? 'SIGHUP';
    this.#reloadGraceMs = nonNegative('reloadGraceMs', opts.reloadGraceMs ?? 0);
    this.#killSignal = opts.killSignal ?? 'SIGTERM';
    this.#killTimeoutMs = nonNegative('killTimeoutMs', opts.killTimeoutMs ?? 10_000);
    this.#policy = opts.restart ?? 'never';
    this.#maxRestarts = nonNegative('maxRestarts', opts.maxRestarts ?? 5);
    this.#windowMs = nonNegative('restartWindowMs', opts.restartWindowMs ?? 60_000);
    this.#backoffInitialMs = nonNegative('backoff.initialMs', opts.backoff?.initialMs ?? 1_000);
    this.#backoffMaxMs = Math.max(this.#backoffInitialMs, nonNegative('backoff.maxMs', opts.backoff?.maxMs ?? 60_000));
    this.#nextBackoffMs = this.#backoffInitialMs;
    this.#clock = opts.clock;
    this.#log = opts.logger.child({ component: 'supervisor', command: this.#command[0] });
    this.exited = new Promise<number>((resolve) => {
      this.#resolveExited = resolve;
    });
  }

  /** True while a child process is alive. */
  get running(): boolean {
    return this.#run !== undefined && this.#run.exit === undefined;
  }

  /** pid of the running child, if any. */
  get pid(): number | undefined {
    return this.running ? this.#run?.pid : undefined;
  }

  /** Restarts so far, requested and after crashes. */
  get restarts(): number {
    return this.#restarts;
  }

  /** Why `exited` settled (undefined while it has not). */
  get endCause(): ChildEndCause | undefined {
    return this.#endCause;
  }

  /**
   * Start the child (call once, after the first complete rendering). Resolves when it has been spawned; rejects with
   * a ChildStartError naming the command when it cannot be (and `exited` then settles with 127 or 126, endCause
   * 'start-failed'). The caller reports it: it is not logged here.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') throw new Error('ChildSupervisor.start() called twice, or after shutdown()');
    this.#state = 'running';
    try {
      await this.#spawn();
    } catch (err) {
      const status = err instanceof ChildStartError ? err.status : 1;
      this.#end(status, 'start-failed');
      throw err;
    }
  }

  /**
   * Send the reload signal (default SIGHUP) to the running child; it is not restarted. Resolves true once it was sent.
   *
   * To a process started less than reloadGraceMs ago, the signal is held and sent when it is reloadGraceMs old: it may
   * not have installed its handler yet, and would die of the signal's default action. Reloads asked for meanwhile
   * join the held one (one signal). Not sent, resolving false, when no child runs, or when the process ends, is
   * restarted (resolved once the restart completed) or shut down before then: a new process reads the new files anyway.
   */
  reload(): Promise<boolean> {
    if (this.#state !== 'running' || this.#restarting || !this.running) return Promise.resolve(false);
    const run = this.#run!;
    const held = this.#held;
    if (held !== undefined && held.run === run) {
      held.requests++;
      this.#log.debug({ pid: run.pid, signal: this.#reloadSignal, requests: held.requests }, 'reload joins the held reload signal');
      return held.sent;
    }
    const uptimeMs = this.#clock.now() - run.startedAt;
    if (uptimeMs >= this.#reloadGraceMs) {
      this.#log.info({ pid: run.pid, signal: this.#reloadSignal, uptimeMs }, 'reloading the command');
      return Promise.resolve(this.#kill(run, this.#reloadSignal));
    }
    const holdMs = this.#reloadGraceMs - uptimeMs;
    this.#log.info(
      { pid: run.pid, signal: this.#reloadSignal, uptimeMs, reloadGraceMs: this.#reloadGraceMs, holdMs },
      'reload signal held until the command has run for --reload-grace',
    );
    let settle!: (sent: boolean) => void;
    const sent = new Promise<boolean>((resolve) => {
      settle = resolve;
    });
    const h: HeldReload = {
      run,
      since: this.#clock.now(),
      requests: 1,
      sent,
      settle,
      timer: this.#clock.setTimer(holdMs, () => {
        if (this.#held !== h) return;
        this.#held = undefined;
        // #held is dropped whenever its process ends, restarts or is shut down: it is still the one running.
        const now = this.#clock.now();
        this.#log.info(
          { pid: run.pid, signal: this.#reloadSignal, uptimeMs: now - run.startedAt, heldMs: now - h.since, requests: h.requests },
          'reloading the command',
        );
        settle(this.#kill(run, this.#reloadSignal));
      }),
    };
    this.#held = h;
    return sent;
  }

  /** Forget the held reload signal (its process ended, restarts, shutdown): resolve its reloads false once `after` settled. */
  #dropHeld(why: string, after?: Promise<unknown>): void {
    const h = this.#held;
    if (h === undefined) return;
    this.#held = undefined;
    h.timer.cancel();
    this.#log.info({ pid: h.run.pid, signal: this.#reloadSignal, requests: h.requests }, `held reload signal not sent: ${why}`);
    if (after === undefined) h.settle(false);
    else void after.finally(() => h.settle(false));
  }

  /**
   * Stop the child (kill signal, SIGKILL after killTimeoutMs) and start it again. Requests made while a restart is in
   * progress join it. Does nothing when no child is supervised (not started, waiting for a crash restart, stopping).
   */
  restart(reason: string): Promise<void> {
    if (this.#restarting) return this.#restarting;
    if (this.#state !== 'running' || !this.#run || !this.running) return Promise.resolve();
    const run = this.#run;
    this.#restarts++;
    this.#log.info({ pid: run.pid, reason, restarts: this.#restarts }, 'restarting the command');
    this.#emitSafe('restart', { cause: 'request', reason, delayMs: 0, restarts: this.#restarts });
    const p: Promise<void> = (async () => {
      await this.#stop(run, this.#killSignal);
      if (this.#state !== 'running') return; // shutdown() came in meanwhile
      try {
        await this.#spawn();
      } catch (err) {
        this.#log.error(`cannot start the command again: ${(err as Error).message}`);
        this.#onExit({
          pid: 0,
          code: err instanceof ChildStartError ? err.status : 1,
          signal: null,
          status: err instanceof ChildStartError ? err.status : 1,
          uptimeMs: 0,
          expected: false,
        });
      }
    })().finally(() => {
      this.#restarting = undefined;
    });
    this.#restarting = p;
    // The new process reads the new files: the held signal is not sent, and the reloads it stood for are done with
    // the restart.
    this.#dropHeld('the command is being restarted', p);
    return p;
  }

  /**
   * Forward a signal unchanged to the running child, at once (--reload-grace does not apply: whoever sent it to tconfd
   * meant it). Returns false when no child runs. The reload signal forwarded stands for a held one, which is not sent.
   */
  signal(sig: NodeJS.Signals): boolean {
    if (!this.running) return false;
    const run = this.#run!;
    this.#log.debug({ pid: run.pid, signal: sig }, 'forwarding signal');
    const sent = this.#kill(run, sig);
    const held = this.#held;
    if (sent && sig === this.#reloadSignal && held?.run === run) {
      this.#held = undefined;
      held.timer.cancel();
      this.#log.info({ pid: run.pid, signal: sig, requests: held.requests }, 'held reload signal not sent: the same signal was forwarded to the command');
      held.settle(true);
    }
    return sent;
  }

  /**
   * Stop supervising: forward sig to the child, SIGKILL it after killTimeoutMs, and resolve with the status tconfd
   * should exit with (the child's code, or 128+N for signal N; the last status when no child runs). A call while a
   * shutdown is in progress (a second SIGTERM/SIGINT) SIGKILLs the child at once.
   *
   * `signalChild: false` skips sending sig (only the SIGKILL after killTimeoutMs remains): for a SIGINT typed at a
   * terminal, which the child, in the same foreground process group, has received from the terminal already.
   */
  shutdown(sig: NodeJS.Signals = 'SIGTERM', opts: { readonly signalChild?: boolean } = {}): Promise<number> {
    if (this.#shutdown) {
      if (this.running) {
        this.#log.warn({ pid: this.pid }, 'second stop request: killing the command now');
        this.#kill(this.#run!, 'SIGKILL');
      }
      return this.#shutdown;
    }
    if (this.#state === 'ended') {
      this.#shutdown = this.exited;
      return this.#shutdown;
    }
    const wasIdle = this.#state === 'idle';
    this.#state = 'stopping';
    this.#backoffTimer?.cancel();
    this.#backoffTimer = undefined;
    this.#dropHeld('tconfd is shutting down');
    this.#shutdown = (async () => {
      const run = this.#run;
      if (run && run.exit === undefined) {
        this.#log.info({ pid: run.pid, signal: sig, signalChild: opts.signalChild !== false }, 'stopping the command');
        const exit = await this.#stop(run, opts.signalChild === false ? null : sig);
        this.#end(exit.status, 'shutdown');
      } else {
        this.#end(wasIdle ? 0 : this.#lastStatus, 'shutdown');
      }
      return this.exited;
    })();
    return this.#shutdown;
  }

  // --- internals ---

  #spawn(): Promise<void> {
    const [file, ...args] = this.#command as [string, ...string[]];
    const sub = execa(file, args, {
      stdio: 'inherit',
      reject: false,
      shell: false,
      env: { ...this.#env },
      extendEnv: false,
      ...(this.#cwd !== undefined ? { cwd: this.#cwd } : {}),
      // Sent from the 'exit' hook if tconfd exits without shutdown(), so the child is never left behind.
      cleanup: true,
      killSignal: this.#killSignal,
      // Kill timeouts are ours (on the injected clock), not execa's.
      forceKillAfterDelay: false,
    });
    const pid = sub.pid;
    if (pid === undefined) {
      // Spawn failed; execa settles the promise with the error (reject: false), on the next tick.
      return sub.then((r) => {
        const code = (r as { code?: string }).code;
        // Not execa's error as a cause: it repeats the same ENOENT three times, with stacks through the bundle.
        throw new ChildStartError(file, code, code === 'ENOENT' ? 127 : 126);
      });
    }
    const startedAt = this.#clock.now();
    // Everything about the exit happens in this one callback, so that no other code sees a child that has exited but
    // whose exit has not been handled yet.
    const onExited = (code: number | null, signal: NodeJS.Signals | null): ChildExitInfo => {
      const info: ChildExitInfo = {
        pid,
        code,
        signal,
        status: exitStatus(code, signal),
        uptimeMs: this.#clock.now() - startedAt,
        expected: run.stopping,
      };
      run.exit = info;
      this.#lastStatus = info.status;
      this.#log.info(
        { pid, code: info.code, signal: info.signal, uptimeMs: info.uptimeMs, expected: info.expected },
        'command exited',
      );
      if (this.#held?.run === run) this.#dropHeld('its process ended');
      this.#emitSafe('exit', info);
      if (!info.expected) this.#onExit(info);
      return info;
    };
    const run: Run = {
      sub,
      pid,
      startedAt,
      stopping: false,
      done: sub.then(
        (r) => onExited(typeof r.exitCode === 'number' ? r.exitCode : null, (r.signal as NodeJS.Signals) ?? null),
        (err: unknown) => {
          // Not expected with reject: false; treat as a failed exit rather than leave the promise hanging.
          this.#log.error({ err, pid }, 'lost track of the command');
          return onExited(1, null);
        },
      ),
    };
    this.#run = run;
    this.#log.info({ pid, restarts: this.#restarts }, 'command started');
    this.#emitSafe('start', { pid, restarts: this.#restarts });
    return Promise.resolve();
  }

  /** The child exited by itself (or could not be started again): apply the restart policy. */
  #onExit(info: ChildExitInfo): void {
    this.#lastStatus = info.status;
    if (this.#state !== 'running') return; // shutdown() handles it
    const failed = info.status !== 0;
    const restart = this.#policy === 'always' || (this.#policy === 'on-failure' && failed);
    if (!restart) {
      this.#end(info.status, 'exited');
      return;
    }
    const now = this.#clock.now();
    this.#crashRestartTimes = this.#crashRestartTimes.filter((t) => now - t < this.#windowMs);
    if (this.#crashRestartTimes.length >= this.#maxRestarts) {
      this.#log.error(
        { status: info.status, maxRestarts: this.#maxRestarts, windowMs: this.#windowMs },
        'the command keeps exiting: giving up',
      );
      this.#end(info.status, 'gave-up');
      return;
    }
    // A child that stayed up longer than the longest delay was healthy for a while: start the backoff afresh.
    if (info.uptimeMs > this.#backoffMaxMs) this.#nextBackoffMs = this.#backoffInitialMs;
    const delayMs = this.#nextBackoffMs;
    this.#nextBackoffMs = Math.min(this.#backoffMaxMs, Math.max(1, delayMs * 2));
    this.#crashRestartTimes.push(now);
    this.#restarts++;
    const reason =
      info.signal !== null ? `exited on signal ${info.signal}` : `exited with code ${String(info.code)}`;
    this.#log.warn({ status: info.status, delayMs, restarts: this.#restarts }, `command ${reason}: restarting`);
    this.#emitSafe('restart', { cause: 'crash', reason, delayMs, restarts: this.#restarts });
    this.#state = 'backoff';
    this.#backoffTimer = this.#clock.setTimer(delayMs, () => {
      this.#backoffTimer = undefined;
      if (this.#state !== 'backoff') return;
      this.#state = 'running';
      this.#spawn().catch((err: unknown) => {
        this.#log.error(`cannot start the command again: ${(err as Error).message}`);
        const status = err instanceof ChildStartError ? err.status : 1;
        this.#onExit({ pid: 0, code: status, signal: null, status, uptimeMs: 0, expected: false });
      });
    });
  }

  /** Send sig (unless null), SIGKILL after killTimeoutMs, resolve when the process has exited. */
  async #stop(run: Run, sig: NodeJS.Signals | null): Promise<ChildExitInfo> {
    if (run.exit) return run.exit;
    run.stopping = true;
    if (sig !== null) this.#kill(run, sig);
    const timer = this.#clock.setTimer(this.#killTimeoutMs, () => {
      if (run.exit) return;
      this.#log.warn({ pid: run.pid, killTimeoutMs: this.#killTimeoutMs }, 'the command did not stop in time: SIGKILL');
      this.#kill(run, 'SIGKILL');
    });
    try {
      return await run.done;
    } finally {
      timer.cancel();
    }
  }

  #kill(run: Run, sig: NodeJS.Signals): boolean {
    if (run.exit) return false;
    try {
      return run.sub.kill(sig);
    } catch (err) {
      this.#log.warn({ err, pid: run.pid, signal: sig }, 'cannot signal the command');
      return false;
    }
  }

  /** Listeners are for logs and metrics: one that throws must not break supervision. */
  #emitSafe<K extends keyof ChildSupervisorEvents>(event: K, ...args: ChildSupervisorEvents[K]): void {
    try {
      (this.emit as (e: K, ...a: ChildSupervisorEvents[K]) => boolean)(event, ...args);
    } catch (err) {
      this.#log.warn({ err, event }, 'a supervisor event listener threw');
    }
  }

  #end(status: number, cause: ChildEndCause): void {
    if (this.#state === 'ended' && this.#endCause) return;
    this.#dropHeld('supervision ended');
    this.#state = 'ended';
    this.#endCause = cause;
    this.#lastStatus = status;
    this.#resolveExited(status);
  }
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`ChildSupervisor: ${name} must be a number >= 0, got ${v}`);
  return v;
}
