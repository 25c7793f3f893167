/**
 * ChangeCoalescer: consul-template's `wait` for the supervised command. Renderings that change files come in bursts
 * (a lease renewed for several templates, a rotated secret used everywhere); the command should be signalled or
 * restarted once per burst, not once per file. Pure timing logic on the injected Clock.
 *
 *   - act after minMs without a new change, but no later than maxMs after the first change of the burst;
 *   - then wait a further random splay in [0, splayMs) (so that many replicas do not restart at the same moment);
 *   - the strongest action asked for during the burst wins: restart > signal > none;
 *   - onFire(action) is called once per burst.
 */
import type { Clock, TimerHandle } from '../clock.js';

/** What a change asks of the supervised command. */
export type ChangeAction = 'signal' | 'restart' | 'none';

const STRENGTH: Record<ChangeAction, number> = { none: 0, signal: 1, restart: 2 };

/** The stronger of two actions (restart > signal > none). */
export function strongerAction(a: ChangeAction, b: ChangeAction): ChangeAction {
  return STRENGTH[b] > STRENGTH[a] ? b : a;
}

export interface ChangeCoalescerOptions {
  /** Quiet period after the last change before acting (default 2000 ms). 0 acts on the next tick. */
  readonly minMs?: number;
  /** Longest delay after the first change of a burst (default 10000 ms); must be >= minMs. */
  readonly maxMs?: number;
  /** Extra random delay in [0, splayMs) before acting (default 0). */
  readonly splayMs?: number;
  readonly clock: Clock;
  /** Random number in [0, 1) (default Math.random). */
  readonly rng?: () => number;
  /** Called once per burst with the strongest action asked for. */
  readonly onFire: (action: ChangeAction) => void;
}

export class ChangeCoalescer {
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #splayMs: number;
  readonly #clock: Clock;
  readonly #rng: () => number;
  readonly #onFire: (action: ChangeAction) => void;

  #pending: ChangeAction | undefined;
  #burstStart = 0;
  #waitTimer: TimerHandle | undefined;
  #splaying = false;
  #splayTimer: TimerHandle | undefined;
  #closed = false;

  constructor(opts: ChangeCoalescerOptions) {
    this.#minMs = checkMs('minMs', opts.minMs ?? 2_000);
    this.#maxMs = checkMs('maxMs', opts.maxMs ?? 10_000);
    this.#splayMs = checkMs('splayMs', opts.splayMs ?? 0);
    if (this.#maxMs < this.#minMs) {
      throw new RangeError(`ChangeCoalescer: maxMs (${this.#maxMs}) must be >= minMs (${this.#minMs})`);
    }
    this.#clock = opts.clock;
    this.#rng = opts.rng ?? Math.random;
    this.#onFire = opts.onFire;
  }

  /** The action that will fire at the end of the current burst, if a burst is in progress. */
  get pending(): ChangeAction | undefined {
    return this.#pending;
  }

  /** Files changed and ask for `action`. */
  notify(action: ChangeAction): void {
    if (this.#closed) return;
    if (this.#pending === undefined) {
      this.#pending = action;
      this.#burstStart = this.#clock.now();
    } else {
      this.#pending = strongerAction(this.#pending, action);
    }
    // During the splay the burst is over: the files are already written, so this change is covered by the action
    // about to fire and does not push it back.
    if (this.#splaying) return;
    this.#waitTimer?.cancel();
    const untilMax = this.#burstStart + this.#maxMs - this.#clock.now();
    this.#waitTimer = this.#clock.setTimer(Math.max(0, Math.min(this.#minMs, untilMax)), () => this.#waited());
  }

  /** Act now on a pending burst, skipping the remaining wait and splay (e.g. before shutting down). */
  flush(): void {
    if (this.#pending !== undefined) this.#fire();
  }

  /** Forget any pending burst and ignore further notifications. */
  close(): void {
    this.#closed = true;
    this.#cancelTimers();
    this.#pending = undefined;
  }

  #waited(): void {
    this.#waitTimer = undefined;
    const splay = this.#splayMs > 0 ? Math.floor(this.#rng() * this.#splayMs) : 0;
    if (splay <= 0) {
      this.#fire();
      return;
    }
    this.#splaying = true;
    this.#splayTimer = this.#clock.setTimer(splay, () => this.#fire());
  }

  #fire(): void {
    const action = this.#pending;
    this.#cancelTimers();
    this.#pending = undefined;
    if (action !== undefined) this.#onFire(action);
  }

  #cancelTimers(): void {
    this.#waitTimer?.cancel();
    this.#splayTimer?.cancel();
    this.#waitTimer = undefined;
    this.#splayTimer = undefined;
    this.#splaying = false;
  }
}

function checkMs(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new RangeError(`ChangeCoalescer: ${name} must be a number >= 0, got ${v}`);
  return v;
}
