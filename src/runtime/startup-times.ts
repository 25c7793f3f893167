/**
 * Where the start's time goes: the moments of the first rendering (process.hrtime and process.cpuUsage, cheap enough
 * to take always), logged once at debug level after the files are written, as the duration of each phase in
 * milliseconds, wall clock (`ms`) and CPU (`cpuMs`, from the process's start: Node's own start and the load together):
 *   node     process start -> dist/cli.js's first instruction (Node's own start-up)
 *   load     -> main() runs (the bundle read, compiled from V8's code cache, its start-up modules evaluated)
 *   config   -> command line parsed, logger made, config files loaded
 *   secrets  -> every secret fetched (for Vault: the client loaded, the login, the reads)
 *   evaluate -> every template evaluated
 *   write    -> every file written
 * bench/startup.ts reads this line.
 */

/** Set by dist/cli.js at its first instruction (process.hrtime.bigint()). */
declare global {
  var __tconfdLoaderStart: bigint | undefined;
}

export const PHASES = ['load', 'config', 'secrets', 'evaluate', 'write'] as const;
export type StartupPhase = (typeof PHASES)[number];

export class StartupTimes {
  readonly #at = new Map<StartupPhase | 'start', bigint>();
  /** CPU time (user + system, µs) of the process when each phase ended. */
  readonly #cpu = new Map<StartupPhase, number>();

  constructor(start: bigint | undefined = globalThis.__tconfdLoaderStart) {
    if (start !== undefined) this.#at.set('start', start);
  }

  /** The phase `phase` ends now. */
  mark(phase: StartupPhase): void {
    this.#at.set(phase, process.hrtime.bigint());
    const cpu = process.cpuUsage();
    this.#cpu.set(phase, cpu.user + cpu.system);
  }

  /** CPU milliseconds per phase (on a busy machine they say more than the wall clock), from the process's start. */
  cpu(): Record<string, number> {
    const out: Record<string, number> = {};
    let prev = 0;
    for (const p of PHASES) {
      const c = this.#cpu.get(p);
      if (c === undefined) continue;
      out[p === 'load' ? 'node+load' : p] = Math.round((c - prev) / 100) / 10;
      prev = c;
    }
    out.total = Math.round(prev / 100) / 10;
    return out;
  }

  /**
   * Milliseconds per phase (a phase not marked is left out), `node` from the process's start (performance.timeOrigin)
   * when dist/cli.js recorded its first instruction, and `total`: process start to the last mark.
   */
  durations(): Record<string, number> {
    const round = (ms: number): number => Math.round(ms * 10) / 10;
    const out: Record<string, number> = {};
    // performance.now() counts from the process's start: hrtime values are placed on that scale.
    const hrNow = process.hrtime.bigint();
    const sinceStart = (t: bigint): number => performance.now() - Number(hrNow - t) / 1e6;
    let prev = this.#at.get('start');
    if (prev !== undefined) out.node = round(sinceStart(prev));
    let last: bigint | undefined;
    for (const p of PHASES) {
      const t = this.#at.get(p);
      if (t === undefined) continue;
      if (prev !== undefined) out[p] = round(Number(t - prev) / 1e6);
      prev = t;
      last = t;
    }
    if (last !== undefined) out.total = round(sinceStart(last));
    return out;
  }
}
