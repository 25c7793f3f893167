/**
 * When a replaced lease may be revoked (the Vault session's credential gate): not while a rendered file holds its
 * credentials, not before the application was told about the files that replaced them (the coalesced signal sent, the
 * restart completed: --wait and --splay may hold it back for a while), and only --revoke-grace after that. So the old
 * credentials are never revoked while the application may still be using them.
 *
 * Renderings that changed files are numbered; the application is told about all of them up to some number at once
 * (one coalesced signal or restart). A lease dropped from the files by rendering n may go --revoke-grace after the
 * application was told about rendering n. Which rendering dropped a lease is learnt when the session first asks about
 * it (the latest rendering at that moment, never an earlier one: on the safe side). Pure logic on the injected Clock.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface ReleaseGateOptions {
  readonly clock: Clock;
  /** --revoke-grace. */
  readonly graceMs: number;
  /** Whether the files of some template still hold the lease's credentials (the render loop). */
  readonly filesHold: (leaseId: string) => boolean;
  /** Something kept may be released now: ask again (the session's releaseDeferred). */
  readonly onChange: () => void;
}

export class ReleaseGate {
  readonly #opts: ReleaseGateOptions;
  /** Renderings that changed files so far. */
  #rendered = 0;
  /** The application was told about the renderings up to this one... */
  #told = 0;
  /** ...at this time. */
  #toldAt = 0;
  /** Dropped from the files by rendering n, the application not told yet. */
  readonly #untold = new Map<string, number>();
  /** May go at this time (told, then the grace). */
  readonly #until = new Map<string, number>();
  #timer: TimerHandle | undefined;
  #timerAt = Infinity;

  constructor(opts: ReleaseGateOptions) {
    this.#opts = opts;
  }

  /** A rendering changed files: the application is to be told about it. Returns its number. */
  rendered(): number {
    return ++this.#rendered;
  }

  /** The number of the latest rendering that changed files (what a signal sent now tells about). */
  get latest(): number {
    return this.#rendered;
  }

  /** The application was told about the renderings up to `upTo` (a signal sent, a restart completed, no one to tell). */
  told(upTo: number = this.#rendered): void {
    if (upTo <= this.#told) return;
    this.#told = upTo;
    this.#toldAt = this.#opts.clock.now();
    const at = this.#toldAt + this.#opts.graceMs;
    for (const [id, n] of this.#untold) {
      if (n > upTo) continue;
      this.#untold.delete(id);
      this.#until.set(id, at);
    }
    this.#arm();
    this.#opts.onChange();
  }

  /** Why the lease must be kept now, or undefined when it may be released. */
  holds(leaseId: string): string | undefined {
    if (this.#opts.filesHold(leaseId)) return 'a rendered file still holds its credentials';
    const now = this.#opts.clock.now();
    let until = this.#until.get(leaseId);
    if (until === undefined && !this.#untold.has(leaseId)) {
      // First asked: dropped by the latest rendering at the latest.
      if (this.#rendered <= this.#told) {
        until = this.#toldAt + this.#opts.graceMs;
        this.#until.set(leaseId, until);
        this.#arm();
      } else {
        this.#untold.set(leaseId, this.#rendered);
      }
    }
    if (this.#untold.has(leaseId)) return 'the application has not been told about the files that replaced it yet';
    if (until !== undefined && now < until) return 'the application was told about its replacement less than --revoke-grace ago';
    this.#until.delete(leaseId);
    return undefined;
  }

  /** Stop the timer (shutdown). */
  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** One timer, for the earliest time a kept lease may go. */
  #arm(): void {
    let next = Infinity;
    for (const at of this.#until.values()) next = Math.min(next, at);
    if (next >= this.#timerAt && this.#timer !== undefined) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = next;
    if (next === Infinity) return;
    this.#timer = this.#opts.clock.setTimer(Math.max(0, next - this.#opts.clock.now()), () => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      const now = this.#opts.clock.now();
      // Forget what is due (asked again, it may go), then look again for the next one.
      let due = false;
      for (const [id, at] of this.#until) {
        if (at <= now) {
          due = true;
          this.#until.set(id, now);
        }
      }
      if (due) this.#opts.onChange();
      for (const [id, at] of this.#until) if (at <= now) this.#until.delete(id);
      this.#arm();
    });
  }
}
