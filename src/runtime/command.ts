/**
 * The supervised command (`tconfd -- cmd args`) as the lifecycle sees it: started after the first rendering unless a
 * stop signal came first, stopped first at shutdown (the signal forwarded, --kill-timeout, SIGKILL), killed at once by
 * a second stop signal, and given the forwarded signals; its end ends tconfd. The exit status is the command's.
 */
import type { Settings } from '../cli/settings.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { ChildStartError, ChildSupervisor, warnIfPid1, type Metrics } from '../supervisor/index.js';
import type { Lifecycle } from './lifecycle.js';

export class Command {
  readonly child: ChildSupervisor;
  /** tconfd's exit status: the command's, once it ran. */
  code = 0;
  #started = false;
  readonly #lifecycle: Lifecycle;
  readonly #logger: Logger;

  constructor(opts: { settings: Settings; env: Readonly<Record<string, string>>; lifecycle: Lifecycle; metrics: Metrics; clock: Clock; logger: Logger }) {
    const { settings, lifecycle, logger } = opts;
    const sv = settings.supervisor;
    this.#lifecycle = lifecycle;
    this.#logger = logger;
    warnIfPid1(logger);
    const c = new ChildSupervisor({
      command: settings.command,
      env: opts.env,
      reloadSignal: sv.reloadSignal,
      reloadGraceMs: sv.reloadGraceMs,
      killSignal: sv.killSignal,
      killTimeoutMs: sv.killTimeoutMs,
      restart: sv.restart,
      maxRestarts: sv.maxRestarts,
      restartWindowMs: sv.restartWindowMs,
      clock: opts.clock,
      logger,
    });
    this.child = c;
    c.on('restart', () => opts.metrics.incChildRestarts());
    lifecycle.addCleanup('command', 'stop the command', sv.killTimeoutMs + 5_000, async () => {
      if (!this.#started) return void (await c.shutdown());
      if (lifecycle.stopSignal !== undefined) logger.info({ signal: lifecycle.stopSignal }, 'stopping: signalling the command');
      this.code = await c.shutdown(lifecycle.stopSignal ?? 'SIGTERM');
    });
    lifecycle.onUrgent(() => {
      if (!c.running) return;
      logger.info('second signal: killing the command now');
      void c.shutdown('SIGKILL');
    });
    lifecycle.forwardTo((sig) => c.signal(sig));
    void c.exited.then((status) => {
      if (!this.#started) return;
      if (!lifecycle.stopping && c.endCause !== 'start-failed') logger.info({ status }, 'the command ended: stopping');
      this.code = status;
      lifecycle.stop();
    });
  }

  /** Start it, unless a stop signal came while tconfd was starting (then tconfd exits 128+N without it). */
  async start(): Promise<void> {
    if (this.#lifecycle.stopping) {
      if (this.#lifecycle.stopSignal !== undefined) this.code = this.#lifecycle.signalStatus;
      return;
    }
    this.#started = true;
    try {
      await this.child.start();
    } catch (err) {
      this.#logger.error(err instanceof ChildStartError ? { command: err.command, status: err.status } : {}, (err as Error).message);
      this.code = err instanceof ChildStartError ? err.status : 1;
      this.#lifecycle.stop();
    }
  }
}
