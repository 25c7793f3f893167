/**
 * The lease scheduler: ONE place that keeps every held thing fresh — leased secrets, PKI certificates, unleased Vault
 * reads (polled), Vault tokens — with an injected Clock. It knows nothing about HTTP, Vault, templates or files; it
 * calls the holding's callbacks (acquire / renew / release / onGrant) and applies the timing rules of policy.ts.
 *
 * Per holding, at most one operation (renew or acquire) is in flight, each holding has its own timer, and a slow or
 * failing holding never delays another. A failure never loses the last good grant: it is retried with backoff.
 */
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import type { Fetched } from '../sources/types.js';
import { formatDuration } from '../duration.js';
import {
  backoffDelayMs,
  cannotRenew,
  certificateFloorMs,
  certificateLife,
  certificateShortness,
  errorStatus,
  expiresAtOf,
  graceReleaseAt,
  initialRenewState,
  nextPlan,
  renewalOutcome,
  renewDeadline,
  resolveTiming,
  shorterThanRequested,
  shouldFallBackToAcquire,
  type Action,
  type HeldLifetime,
  type Plan,
  type RenewalAnswer,
  type RenewalOutcome,
  type RenewState,
  type Rng,
  type Timing,
} from './policy.js';

/** What a renewal outcome that ends renewing means, in the log line that reports it. */
const OUTCOME_WHY: Record<Exclude<RenewalOutcome, 'extended'>, string> = {
  capped: 'Vault granted less than asked, its max TTL is near',
  stalled: 'the renewal did not move its expiry later',
  'not-renewable': 'Vault says it is no longer renewable',
};

/** One obtained value. Immutable: a renewal extends the grant's expiry (see HoldingStatus), not the object. */
export interface Grant<V> {
  readonly value: V;
  readonly lifetime: HeldLifetime;
  /**
   * When it was obtained (Clock ms). Expiry is obtainedAt + durationSec; take the clock BEFORE sending the request so
   * that the expiry is on the safe side.
   */
  readonly obtainedAt: number;
}

/**
 * A renewal's answer: the TTL granted (lease_duration) from when the request was sent (sentAt), Vault's warnings, and
 * renewable when known.
 */
export type Renewal = RenewalAnswer;

export interface AcquireContext {
  /** Aborted when the scheduler stops or the holding is dropped. */
  readonly signal: AbortSignal;
  /** Why (for logs): "renewable lease capped by max_ttl", "refresh", "token replaced", ... */
  readonly reason: string;
}

export interface RenewContext {
  /** Aborted when the scheduler stops, the holding is dropped, or replaceNow() supersedes the renewal. */
  readonly signal: AbortSignal;
  /** The TTL to ask for (the `increment`): the duration the grant had when it was obtained. */
  readonly incrementSec: number;
  /**
   * Clock ms after which retrying this renewal is pointless (half the remaining TTL, see policy.renewDeadline): no retry
   * should start after it. A renewal that has not succeeded by then is aborted and a new grant acquired instead.
   */
  readonly deadline?: number;
}

/** What the scheduler keeps fresh. Callbacks may throw any Error; a numeric `status` tells HTTP 4xx from the rest. */
export interface Holding<V> {
  /** For logs and metrics: a secret path ("vault:app:database/creds/app") or "token for role app". Never a value. */
  readonly name: string;
  /** Obtain a new grant: read the secret again / log in again. */
  acquire(ctx: AcquireContext): Promise<Grant<V>>;
  /**
   * Renew the grant (PUT sys/leases/renew, auth/token/renew-self). Throws on error; 400/403/404 mean "cannot be
   * renewed" (403 only after the caller's own re-login retry), anything else is transient. Without it, renewable
   * grants are replaced like non-renewable ones.
   */
  renew?(grant: Grant<V>, ctx: RenewContext): Promise<Renewal>;
  /** Give the grant back (sys/leases/revoke, auth/token/revoke-self). Bounded by timing.releaseTimeoutMs. */
  release?(grant: Grant<V>, signal: AbortSignal): Promise<void>;
  /**
   * Hand a new grant to the consumer (re-render, reload the app; switch the Vault client to a new token and replace
   * what depends on the old one). Resolve once the consumer uses `next`: only then is `previous` released (after the
   * grace). Called for every new grant, never for the initial one given to hold(); for unleased polls the consumer
   * decides whether the value changed. If it throws, `next` is released and the acquisition retried with backoff;
   * `previous` stays in place.
   */
  onGrant(next: Grant<V>, previous: Grant<V>): Promise<void>;
}

/** Minimal pino-style logger: (fields, message). A pino Logger fits. */
export interface SchedulerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface HoldingStatus {
  readonly name: string;
  readonly kind: HeldLifetime['kind'];
  readonly obtainedAt: number;
  /** Current expiry (Clock ms) after the last renewal; null when it does not expire. */
  readonly expiresAt: number | null;
  /** The grant says it is renewable (lease/token). */
  readonly renewable: boolean;
  /** The operation in flight, else the planned one; 'none' when never refreshed (static, dynamic, TTL 0). */
  readonly nextAction: Action | 'none';
  /** When nextAction starts / started (Clock ms); null with 'none'. */
  readonly nextAt: number | null;
  readonly inFlight: boolean;
  /** False once the grant expired without being replaced (until it is). */
  readonly healthy: boolean;
  readonly consecutiveFailures: number;
  /** Message of the last failure, cleared on success. */
  readonly lastError: string | undefined;
}

export interface HoldHandle<V> {
  readonly name: string;
  /** The grant in use (the last one the consumer accepted). */
  current(): Grant<V>;
  status(): HoldingStatus;
  /**
   * Acquire a new grant at once (e.g. the token this lease was created with is being replaced); the old one is released
   * after the grace. An in-flight renewal is aborted; an in-flight acquisition is completed, then followed by another
   * one (it may have used the old token). Resolves true once a grant obtained after this call was accepted by onGrant,
   * false if the holding is dropped or the scheduler stops first. Never rejects.
   */
  replaceNow(reason: string): Promise<boolean>;
  /** Stop keeping it fresh (config reload removed it); with revoke, release its grants (bounded). */
  drop(opts: { revoke: boolean }): Promise<void>;
}

export interface SchedulerOptions {
  readonly clock?: Clock;
  /** Random numbers in [0, 1) for jitter (default Math.random). */
  readonly rng?: Rng;
  readonly logger?: SchedulerLogger;
  /** Overrides of DEFAULT_TIMING (policy.ts). */
  readonly timing?: Partial<Timing>;
}

export interface LeaseScheduler {
  /** Start keeping `holding` fresh, from the grant the caller obtained at startup. */
  hold<V>(holding: Holding<V>, initial: Grant<V>): HoldHandle<V>;
  /** One entry per holding, for metrics and readiness. */
  snapshot(): HoldingStatus[];
  /**
   * Cancel every timer (none fires afterwards) and abort in-flight operations. With revoke, release every grant this
   * process holds — current ones, ones being handed over, ones waiting for their grace — in parallel, each bounded by
   * releaseTimeoutMs; tokens last, since revoking a token revokes its leases and the credentials to revoke them.
   * Errors are logged, never thrown. Idempotent.
   */
  stop(opts: { revoke: boolean }): Promise<void>;
}

/** A Fetched value (from a SecretSource) as the scheduler's grant. */
export function grantFromFetched(f: Fetched): Grant<unknown> {
  return { value: f.value, lifetime: f.lifetime, obtainedAt: f.fetchedAt };
}

const silentLogger: SchedulerLogger = { debug() {}, info() {}, warn() {}, error() {} };

export function createScheduler(opts: SchedulerOptions = {}): LeaseScheduler {
  const ctx: Ctx = {
    clock: opts.clock ?? systemClock,
    rng: opts.rng ?? Math.random,
    log: opts.logger ?? silentLogger,
    timing: resolveTiming(opts.timing),
  };
  const held = new Set<Entry>();
  let stopping: Promise<void> | undefined;

  return {
    hold<V>(holding: Holding<V>, initial: Grant<V>): HoldHandle<V> {
      if (stopping) throw new Error(`cannot hold "${holding.name}": the lease scheduler is stopped`);
      const h: Held<V> = new Held<V>(ctx, holding, initial, () => held.delete(h));
      held.add(h);
      h.start();
      return h.handle();
    },
    snapshot: () => [...held].map((h) => h.status()),
    stop({ revoke }) {
      if (stopping) return stopping;
      const all = [...held];
      held.clear();
      // Synchronously: no timer of ours fires after stop() returned.
      const closed = all.map((h) => ({ kind: h.kind, releases: h.close(revoke) }));
      const phase = (tokens: boolean) =>
        Promise.all(closed.filter((c) => (c.kind === 'token') === tokens).flatMap((c) => c.releases.map((r) => r())));
      stopping = phase(false)
        .then(() => phase(true))
        .then(() => undefined);
      return stopping;
    },
  };
}

/** A held thing, whatever its value type. */
interface Entry {
  readonly kind: HeldLifetime['kind'];
  status(): HoldingStatus;
  /** Stop everything (synchronously); with revoke, return the (bounded, never rejecting) releases to run. */
  close(revoke: boolean): Array<() => Promise<void>>;
}

interface Ctx {
  readonly clock: Clock;
  readonly rng: Rng;
  readonly log: SchedulerLogger;
  readonly timing: Timing;
}

/** An AbortController created only when a callback reads the signal (most renewals at scale never do in tests). */
class LazyAbort {
  #ac: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  get signal(): AbortSignal {
    if (!this.#ac) {
      this.#ac = new AbortController();
      if (this.#aborted) this.#ac.abort(this.#reason);
    }
    return this.#ac.signal;
  }
  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#ac?.abort(reason);
  }
}

interface Op {
  readonly kind: Action;
  readonly ac: LazyAbort;
  /** Order of this op among ops and replace requests of the holding. */
  readonly seq: number;
  readonly startedAt: number;
  /** Renewals: when it must have succeeded (policy.renewDeadline). */
  readonly deadline?: number;
  /** operationTimeoutMs backstop; cancelled once the callback settled. */
  timeout?: TimerHandle;
}

interface Waiter {
  readonly seq: number;
  readonly resolve: (replaced: boolean) => void;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A fraction range as people read it: "60–73 %". */
function percent([min, max]: readonly [number, number]): string {
  return `${Math.round(min * 100)}–${Math.round(max * 100)} %`;
}

function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

class Held<V> implements Entry {
  private grant: Grant<V>;
  private expiresAt: number | null;
  private renewState: RenewState;
  /** The increment asked for at each renewal: the duration the grant had when obtained. */
  private askedSec = 0;
  private timer: TimerHandle | undefined;
  private plan: Plan | null = null;
  /** Whether the current grant was renewed at least once (its first renewal is spread wider). */
  private renewedSinceObtained = false;
  private op: Op | undefined;
  /** A grant acquired and being handed to onGrant. */
  private delivering: Grant<V> | undefined;
  /** Replaced grants waiting for the end of their grace. */
  private readonly graces = new Set<{ grant: Grant<V>; timer: TimerHandle }>();
  private failures = 0;
  private transientRenewFailures = 0;
  private expiryReported = false;
  private lastError: string | undefined;
  private seq = 0;
  private waiters: Waiter[] = [];
  private closed = false;
  /** Closed with revoke: a grant that arrives afterwards is released too. */
  private revokeOnClose = false;
  /** Certificates: how many in a row were short (policy.certificateShortness); the next re-issue backs off. */
  private shortCertificates = 0;
  /** Certificates: the current one is shorter than the ttl asked for (warned once while it stays so). */
  private shorterThanAsked = false;

  constructor(
    private readonly ctx: Ctx,
    private readonly holding: Holding<V>,
    initial: Grant<V>,
    private readonly unregister: () => void,
  ) {
    this.grant = initial;
    this.expiresAt = null;
    this.renewState = 'not-renewable';
    this.adopt(initial, undefined);
  }

  get kind(): HeldLifetime['kind'] {
    return this.grant.lifetime.kind;
  }

  private get fields(): Record<string, unknown> {
    return { holding: this.holding.name, kind: this.kind };
  }

  start(): void {
    this.schedulePlan();
  }

  handle(): HoldHandle<V> {
    return {
      name: this.holding.name,
      current: () => this.grant,
      status: () => this.status(),
      replaceNow: (reason) => this.replaceNow(reason),
      drop: async ({ revoke }) => {
        if (this.closed) return;
        this.unregister();
        await Promise.all(this.close(revoke).map((r) => r()));
      },
    };
  }

  status(): HoldingStatus {
    const now = this.ctx.clock.now();
    const lt = this.grant.lifetime;
    return {
      name: this.holding.name,
      kind: lt.kind,
      obtainedAt: this.grant.obtainedAt,
      expiresAt: this.expiresAt,
      renewable: (lt.kind === 'lease' || lt.kind === 'token') && lt.renewable,
      nextAction: this.op?.kind ?? this.plan?.action ?? 'none',
      nextAt: this.op?.startedAt ?? this.plan?.at ?? null,
      inFlight: this.op !== undefined,
      healthy: this.expiresAt === null || now < this.expiresAt,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
    };
  }

  close(revoke: boolean): Array<() => Promise<void>> {
    if (this.closed) return [];
    this.closed = true;
    this.revokeOnClose = revoke;
    this.timer?.cancel();
    this.timer = undefined;
    this.plan = null;
    this.op?.timeout?.cancel();
    this.op?.ac.abort(new Error(`lease scheduler stopped (${this.holding.name})`));
    this.op = undefined;
    const grants: Grant<V>[] = [];
    for (const g of this.graces) {
      g.timer.cancel();
      grants.push(g.grant);
    }
    this.graces.clear();
    if (this.delivering) grants.push(this.delivering);
    const now = this.ctx.clock.now();
    if (this.expiresAt === null || this.expiresAt > now) grants.push(this.grant);
    for (const w of this.waiters.splice(0)) w.resolve(false);
    return revoke && this.holding.release ? grants.map((g) => () => this.releaseBounded(g, 'stop')) : [];
  }

  /** Release one grant, bounded by releaseTimeoutMs; errors are logged. Never rejects. */
  private async releaseBounded(grant: Grant<V>, why: string): Promise<void> {
    const release = this.holding.release;
    if (!release) return;
    const { clock, log, timing } = this.ctx;
    const fields = { ...this.fields, why, obtainedAt: iso(grant.obtainedAt) };
    const callAc = new AbortController();
    const sleepAc = new AbortController();
    const timeout = clock.sleep(timing.releaseTimeoutMs, sleepAc.signal).then(
      () => 'timeout' as const,
      () => 'cancelled' as const,
    );
    try {
      const result = await Promise.race([
        (async () => {
          await release.call(this.holding, grant, callAc.signal);
          return 'done' as const;
        })(),
        timeout,
      ]);
      if (result === 'timeout') {
        callAc.abort(new Error(`release timed out after ${timing.releaseTimeoutMs} ms`));
        log.warn({ ...fields, timeoutMs: timing.releaseTimeoutMs }, `release of ${this.holding.name} timed out`);
      } else {
        log.debug(fields, `released ${this.holding.name}`);
      }
    } catch (err) {
      const status = errorStatus(err);
      if (status === 400 || status === 404) {
        log.debug({ ...fields, status, err: message(err) }, `${this.holding.name} was already gone when released`);
      } else {
        log.warn({ ...fields, status, err: message(err) }, `release of ${this.holding.name} failed`);
      }
    } finally {
      sleepAc.abort();
    }
  }

  // ---- state ------------------------------------------------------------------------------------------------------

  /** Make `g` the current grant (initial, or accepted by onGrant in place of `previous`). */
  private adopt(g: Grant<V>, previous: Grant<V> | undefined): void {
    this.checkCertificate(g, previous);
    this.grant = g;
    this.renewedSinceObtained = false;
    this.expiresAt = expiresAtOf(g.lifetime, g.obtainedAt);
    this.renewState = initialRenewState(g.lifetime, this.holding.renew !== undefined);
    this.askedSec = g.lifetime.kind === 'lease' || g.lifetime.kind === 'token' ? g.lifetime.durationSec : 0;
    this.failures = 0;
    this.transientRenewFailures = 0;
    this.expiryReported = false;
    this.lastError = undefined;
  }

  /**
   * A certificate Vault issued shorter than it should be: count the ones in a row that re-issuing on schedule would
   * turn into a loop (the next re-issue backs off, see policy.certificateFloorMs), and say it, naming the secret.
   */
  private checkCertificate(g: Grant<V>, previous: Grant<V> | undefined): void {
    const lt = g.lifetime;
    if (lt.kind !== 'certificate') return;
    const { log, timing } = this.ctx;
    const life = certificateLife(lt, g.obtainedAt);
    const fields = { ...this.fields, notAfter: iso(lt.notAfter), validSec: Math.round(life.ms / 1000), requestedTtlSec: lt.requestedTtlSec };
    const validFor = formatDuration(Math.max(0, Math.round(life.ms / 1000)) * 1000);
    const previousNotAfter = previous?.lifetime.kind === 'certificate' ? previous.lifetime.notAfter : undefined;
    const shortness = certificateShortness(lt, g.obtainedAt, previousNotAfter, timing);
    if (shortness === undefined) {
      this.shortCertificates = 0;
    } else {
      this.shortCertificates++;
      const next = `the next one is asked for at ${percent(timing.certificateAt)} of what it has left, no sooner than ${formatDuration(certificateFloorMs(this.shortCertificates, timing))} from now`;
      log.warn(
        { ...fields, shortness, previousNotAfter: iso(previousNotAfter ?? null), shortInARow: this.shortCertificates },
        shortness === 'no-later'
          ? `Vault issued a new ${this.holding.name} that expires no later than the one it replaces (its role's max_ttl or not_after, or its CA's expiry, caps it): ${next}`
          : `Vault issued ${this.holding.name} with only ${validFor} of validity left (its role's max_ttl or not_after, or its CA's expiry, caps it): ${next}`,
      );
    }
    const shorter = shorterThanRequested(life.ms, lt.requestedTtlSec);
    if (shorter && !this.shorterThanAsked) {
      log.warn(
        fields,
        `Vault issued ${this.holding.name} valid for ${validFor}, less than the ttl of ${formatDuration((lt.requestedTtlSec ?? 0) * 1000)} asked for (its role's max_ttl, or the mount's, or its CA's expiry, caps it): it is issued again at ${percent(timing.certificateAt)} of what it gets; said once while Vault keeps doing so`,
      );
    } else if (shorter) {
      log.debug(fields, `${this.holding.name} is again shorter than the ttl asked for`);
    }
    this.shorterThanAsked = shorter;
  }

  private schedule(plan: Plan | null): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.plan = plan;
    if (!plan || this.closed) return;
    const delay = Math.max(0, plan.at - this.ctx.clock.now());
    this.timer = this.ctx.clock.setTimer(delay, () => {
      this.timer = undefined;
      this.plan = null;
      this.run(plan.action, plan.action === 'acquire' ? this.acquireReason() : 'renew');
    });
  }

  private schedulePlan(): void {
    this.schedule(
      nextPlan(
        {
          lifetime: this.grant.lifetime,
          obtainedAt: this.grant.obtainedAt,
          expiresAt: this.expiresAt,
          renewState: this.renewState,
          now: this.ctx.clock.now(),
          firstRenewal: !this.renewedSinceObtained,
          shortInARow: this.shortCertificates,
        },
        this.ctx.timing,
        this.ctx.rng,
      ),
    );
  }

  private acquireReason(): string {
    if (this.failures > 0) return 'retry';
    switch (this.renewState) {
      case 'exhausted':
        return 'renewal no longer extends it';
      case 'renewing':
        return 'expired';
      default:
        return 'refresh';
    }
  }

  private run(action: Action, reason: string): void {
    if (this.closed) return;
    const now = this.ctx.clock.now();
    if (action === 'renew' && this.expiresAt !== null && now >= this.expiresAt) {
      // Renewing an expired lease can only fail: replace it.
      this.renewState = 'exhausted';
      action = 'acquire';
      reason = 'expired before it could be renewed';
    }
    const deadline = action === 'renew' ? renewDeadline(now, this.expiresAt) : null;
    const op: Op = { kind: action, ac: new LazyAbort(), seq: ++this.seq, startedAt: now, ...(deadline !== null ? { deadline } : {}) };
    this.op = op;
    // A renewal (with the client's retries) may not outlive its deadline: then a new grant is acquired instead.
    const limit = deadline === null ? this.ctx.timing.operationTimeoutMs : Math.min(this.ctx.timing.operationTimeoutMs, Math.max(0, deadline - now));
    op.timeout = this.ctx.clock.setTimer(limit, () => {
      op.timeout = undefined;
      if (this.op !== op || this.delivering) return;
      const err = new Error(`${action} of ${this.holding.name} did not finish within ${limit} ms`);
      op.ac.abort(err);
      this.op = undefined;
      if (action === 'renew') this.renewFailed(err, op);
      else this.acquireFailed(err, 'acquisition');
    });
    (action === 'renew' ? this.renew(op) : this.acquire(op, reason)).catch((err: unknown) => {
      // Only a throwing logger could get here; never leave an unhandled rejection.
      if (this.op === op) this.op = undefined;
      console.error(`tconfd lease scheduler: unexpected error for ${this.holding.name}:`, err);
    });
  }

  private replaceNow(reason: string): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    const promise = new Promise<boolean>((resolve) => this.waiters.push({ seq: ++this.seq, resolve }));
    this.ctx.log.info({ ...this.fields, reason }, `replacing ${this.holding.name} now`);
    if (this.op?.kind === 'acquire') return promise; // another acquisition follows it (see accept)
    this.op?.timeout?.cancel();
    this.op?.ac.abort(new Error(`renewal superseded: ${reason}`));
    this.op = undefined;
    this.timer?.cancel();
    this.timer = undefined;
    this.run('acquire', reason);
    return promise;
  }

  // ---- renew ------------------------------------------------------------------------------------------------------

  private async renew(op: Op): Promise<void> {
    const { clock, log } = this.ctx;
    const grant = this.grant;
    let answer: Renewal;
    try {
      const ac = op.ac;
      answer = await this.holding.renew!(grant, {
        get signal() {
          return ac.signal;
        },
        incrementSec: this.askedSec,
        ...(op.deadline !== undefined ? { deadline: op.deadline } : {}),
      });
    } catch (err) {
      op.timeout?.cancel();
      if (this.op !== op) return;
      this.op = undefined;
      this.renewFailed(err, op);
      return;
    }
    op.timeout?.cancel();
    if (this.op !== op) return;
    this.op = undefined;
    const previous = this.expiresAt;
    // Dated from when the request Vault answered was sent (by default when the renewal started), not from when the
    // answer arrived: an expiry dated from the arrival is later than Vault's.
    const sentAt = Math.min(clock.now(), answer.sentAt ?? op.startedAt);
    const { outcome, expiresAt } = renewalOutcome(previous, sentAt, this.askedSec, answer);
    this.expiresAt = expiresAt;
    this.renewedSinceObtained = true;
    this.failures = 0;
    this.transientRenewFailures = 0;
    this.expiryReported = false;
    this.lastError = undefined;
    if (outcome === 'extended') {
      // The common path, thousands of times: keep it cheap.
      if (answer.warnings?.length) {
        log.warn({ ...this.fields, durationSec: answer.durationSec, warnings: answer.warnings }, `renewed ${this.holding.name} with warnings`);
      } else {
        log.debug({ holding: this.holding.name, durationSec: answer.durationSec }, 'renewed');
      }
    } else {
      this.renewState = 'exhausted';
      log.info(
        {
          ...this.fields,
          outcome,
          durationSec: answer.durationSec,
          askedSec: this.askedSec,
          expiresAt: iso(expiresAt),
          previousExpiresAt: iso(previous),
          warnings: answer.warnings,
        },
        `${this.holding.name} can no longer be extended by renewing (${outcome}: ${OUTCOME_WHY[outcome]}); acquiring a new one before it expires`,
      );
    }
    this.schedulePlan();
  }

  private renewFailed(err: unknown, op: Op): void {
    const { clock, log, timing, rng } = this.ctx;
    const now = clock.now();
    const status = errorStatus(err);
    this.lastError = message(err);
    const fields = { ...this.fields, status, err: this.lastError, expiresAt: iso(this.expiresAt) };
    if (cannotRenew(err)) {
      this.renewState = 'exhausted';
      this.failures++;
      // Vault's answer at the end of a lease's or token's life (past its max TTL) is expected: info. Anything else
      // (lease not found early, permission denied...) deserves a warning.
      const endOfLife = /past the max TTL|cannot renew/i.test(this.lastError ?? '');
      log[endOfLife ? 'info' : 'warn'](fields, `${this.holding.name} cannot be renewed; acquiring a new one now`);
      this.schedule({ action: 'acquire', at: now });
      return;
    }
    this.failures++;
    this.transientRenewFailures++;
    const remaining = this.expiresAt === null ? Infinity : this.expiresAt - now;
    const at = now + backoffDelayMs(this.failures, timing, rng);
    if (op.deadline !== undefined && at >= op.deadline) {
      // Retrying would run past the half of the remaining TTL given to renewing: the rest is for obtaining a new grant
      // before this one expires.
      this.renewState = 'exhausted';
      log.warn(
        { ...fields, attempt: this.failures, deadline: iso(op.deadline) },
        `renewal of ${this.holding.name} did not succeed within half of its remaining TTL; acquiring a new one now`,
      );
      this.schedule({ action: 'acquire', at: now });
      return;
    }
    let action: Action = 'renew';
    if (shouldFallBackToAcquire(this.transientRenewFailures, remaining, this.askedSec * 1000, timing)) {
      this.renewState = 'exhausted';
      action = 'acquire';
    }
    this.retry(action, at, fields, `renewal of ${this.holding.name} failed`);
  }

  // ---- acquire ----------------------------------------------------------------------------------------------------

  private async acquire(op: Op, reason: string): Promise<void> {
    const { log } = this.ctx;
    const previous = this.grant;
    let next: Grant<V>;
    try {
      const ac = op.ac;
      next = await this.holding.acquire({
        get signal() {
          return ac.signal;
        },
        reason,
      });
    } catch (err) {
      op.timeout?.cancel();
      if (this.op !== op) return;
      this.op = undefined;
      this.acquireFailed(err, 'acquisition');
      return;
    }
    op.timeout?.cancel();
    if (this.op !== op) {
      // Stopped, dropped or timed out meanwhile: nobody will use it.
      if (!this.closed || this.revokeOnClose) void this.releaseBounded(next, 'acquired too late');
      return;
    }
    this.delivering = next;
    try {
      await this.holding.onGrant(next, previous);
    } catch (err) {
      if (this.op !== op) return; // stopped meanwhile: stop() took care of `delivering`
      this.delivering = undefined;
      this.op = undefined;
      log.error({ ...this.fields, err: message(err) }, `the consumer rejected a new ${this.holding.name}; keeping the previous one`);
      void this.releaseBounded(next, 'rejected by consumer');
      this.acquireFailed(err, 'hand-over');
      return;
    }
    this.delivering = undefined;
    if (this.op !== op) return;
    this.op = undefined;
    this.accept(next, previous, op);
  }

  private acquireFailed(err: unknown, what: string): void {
    const { clock, timing, rng } = this.ctx;
    const now = clock.now();
    this.failures++;
    this.lastError = message(err);
    const fields = { ...this.fields, status: errorStatus(err), err: this.lastError, expiresAt: iso(this.expiresAt) };
    this.retry('acquire', now + backoffDelayMs(this.failures, timing, rng), fields, `${what} of ${this.holding.name} failed`);
  }

  private retry(action: Action, at: number, fields: Record<string, unknown>, msg: string): void {
    const { clock, log } = this.ctx;
    log.warn({ ...fields, attempt: this.failures, retryAction: action, retryInMs: Math.round(at - clock.now()) }, msg);
    if (this.expiresAt !== null && at >= this.expiresAt && !this.expiryReported) {
      this.expiryReported = true;
      log.error(
        { ...fields, attempt: this.failures, nextAttemptAt: iso(at) },
        `${this.holding.name} will expire before it can be replaced`,
      );
    }
    this.schedule({ action, at });
  }

  private accept(next: Grant<V>, previous: Grant<V>, op: Op): void {
    const { clock, log, timing } = this.ctx;
    const previousExpiresAt = this.expiresAt;
    this.adopt(next, previous);
    // A periodic re-read of an unleased value (KV...) is routine: debug; a new lease, certificate or token: info.
    const level = next.lifetime.kind === 'unleased' ? 'debug' : 'info';
    log[level]({ ...this.fields, expiresAt: iso(this.expiresAt) }, `obtained a new ${this.holding.name}`);

    if (this.holding.release && previous !== next) {
      const now = clock.now();
      const at = graceReleaseAt(now, timing.graceMs, previousExpiresAt);
      if (at === null) {
        // Info, not debug: otherwise the old lease's expiry (seen in Vault) looks like a revocation tconfd forgot.
        log.info(
          { ...this.fields, expiresAt: iso(previousExpiresAt), graceMs: timing.graceMs },
          `previous ${this.holding.name} expires within the revoke grace: not revoked, it runs out by itself`,
        );
      } else {
        const entry = {
          grant: previous,
          timer: clock.setTimer(at - now, () => {
            this.graces.delete(entry);
            void this.releaseBounded(previous, 'replaced');
          }),
        };
        this.graces.add(entry);
      }
    }

    const later: Waiter[] = [];
    for (const w of this.waiters.splice(0)) {
      if (w.seq < op.seq) w.resolve(true);
      else later.push(w);
    }
    this.waiters = later;
    if (later.length > 0) this.run('acquire', 'replace requested during an acquisition');
    else this.schedulePlan();
  }
}
