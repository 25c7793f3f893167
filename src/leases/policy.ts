/**
 * When to renew, re-acquire, retry and release: pure functions of times (Clock milliseconds), lifetimes and an
 * injected random number generator. No I/O, no timers; the scheduler (scheduler.ts) applies them.
 */
import type { Lifetime } from '../sources/types.js';

/** A random number in [0, 1), like Math.random. Injected so that tests are deterministic. */
export type Rng = () => number;

/**
 * A Vault token's lifetime (auth.renewable, auth.lease_duration of a login or renew-self). Kept here, not in
 * sources/types.ts: a token is not a secret given to templates, only something the scheduler keeps fresh. It behaves
 * exactly like a lease: renewed while renewal extends it, replaced (a fresh login) when it does not.
 */
export interface TokenLifetime {
  readonly kind: 'token';
  readonly renewable: boolean;
  /** Seconds the token lives from when it was obtained (0: it does not expire, e.g. a root token). */
  readonly durationSec: number;
}

/** Anything the scheduler may hold. */
export type HeldLifetime = Lifetime | TokenLifetime;

/** A fraction range [min, max] of some duration; a point in it is drawn uniformly at random (jitter). */
export type FractionRange = readonly [min: number, max: number];

export interface Timing {
  /** Renew a renewable lease or token at this fraction of its REMAINING TTL (Vault's LifetimeWatcher: ~80–90%). */
  readonly renewAt: FractionRange;
  /**
   * The FIRST renewal of a grant just obtained, as a fraction of its TTL: wide enough (about one renewal cycle) that
   * leases obtained together (1,000 at startup, a fleet of pods started at once) renew evenly from the start instead
   * of in waves that renewAt's narrow jitter would take hours to spread.
   */
  readonly firstRenewAt: FractionRange;
  /** Acquire a non-renewable lease or token again at this fraction of its duration. */
  readonly nonRenewableAt: FractionRange;
  /**
   * Acquire a certificate again at this fraction of its life: from when it was obtained (or its NotBefore, if later)
   * to its NotAfter. Not from NotBefore alone: Vault back-dates NotBefore by 30 s (against clock skew), which would
   * bring the re-issue of a 60 s certificate forward to 40 % of its life (see certificateLife).
   */
  readonly certificateAt: FractionRange;
  /** Read an unleased Vault value (KV, transit, ...) again this often. */
  readonly staticRefreshMs: number;
  /** First retry delay after a failure; doubles at each further failure (full jitter: uniform in [0, delay)). */
  readonly backoffInitialMs: number;
  /** Largest retry delay. */
  readonly backoffMaxMs: number;
  /** Keep the previous grant this long after the consumer took the new one, then release it (if it still lives). */
  readonly graceMs: number;
  /** Give up waiting for one release (revoke) after this long. */
  readonly releaseTimeoutMs: number;
  /**
   * Abort an acquire or renew callback that has not settled after this long, and count it as a transient failure: a
   * backstop for a hung connection (the Vault client should time out first). onGrant is not bounded.
   */
  readonly operationTimeoutMs: number;
  /** When a lease can no longer be renewed and has at most this long left, acquire a new one at once. */
  readonly urgentMs: number;
  /** After this many consecutive transient renew failures... */
  readonly renewFallbackFailures: number;
  /** ...and once the remaining TTL is below this fraction of the lease's duration, acquire instead of renewing. */
  readonly renewFallbackFraction: number;
  /**
   * A planned re-acquisition is never sooner than this after the grant was obtained (no hot loop on tiny TTLs). For
   * certificates that come back too short to help (see certificateShortness), it doubles with each one in a row, up
   * to backoffMaxMs.
   */
  readonly minAcquireIntervalMs: number;
}

export const DEFAULT_TIMING: Timing = Object.freeze({
  renewAt: Object.freeze([0.6, 0.73] as const),
  firstRenewAt: Object.freeze([0.07, 0.73] as const),
  nonRenewableAt: Object.freeze([0.85, 0.95] as const),
  certificateAt: Object.freeze([0.6, 0.73] as const),
  staticRefreshMs: 5 * 60_000,
  backoffInitialMs: 250,
  backoffMaxMs: 30_000,
  graceMs: 30_000,
  releaseTimeoutMs: 5_000,
  operationTimeoutMs: 30_000,
  urgentMs: 5_000,
  renewFallbackFailures: 2,
  renewFallbackFraction: 0.2,
  minAcquireIntervalMs: 1_000,
});

/** DEFAULT_TIMING overridden by `partial`; throws a RangeError naming the first invalid setting. */
export function resolveTiming(partial: Partial<Timing> = {}): Timing {
  const t: Timing = { ...DEFAULT_TIMING, ...partial };
  for (const key of ['renewAt', 'firstRenewAt', 'nonRenewableAt', 'certificateAt'] as const) {
    const [min, max] = t[key];
    if (!(min > 0 && min <= max && max < 1)) {
      throw new RangeError(`timing.${key} must be a range [min, max] with 0 < min <= max < 1, got [${min}, ${max}]`);
    }
  }
  for (const key of [
    'staticRefreshMs',
    'backoffInitialMs',
    'backoffMaxMs',
    'graceMs',
    'releaseTimeoutMs',
    'operationTimeoutMs',
    'urgentMs',
    'renewFallbackFailures',
    'minAcquireIntervalMs',
  ] as const) {
    if (!(Number.isFinite(t[key]) && t[key] >= 0)) throw new RangeError(`timing.${key} must be >= 0, got ${t[key]}`);
  }
  if (!(t.staticRefreshMs > 0)) throw new RangeError(`timing.staticRefreshMs must be > 0`);
  if (!(t.operationTimeoutMs > 0)) throw new RangeError(`timing.operationTimeoutMs must be > 0`);
  if (!(t.backoffInitialMs > 0 && t.backoffMaxMs >= t.backoffInitialMs)) {
    throw new RangeError(`timing.backoffInitialMs must be > 0 and <= backoffMaxMs`);
  }
  if (!(t.renewFallbackFraction >= 0 && t.renewFallbackFraction < 1)) {
    throw new RangeError(`timing.renewFallbackFraction must be in [0, 1)`);
  }
  return t;
}

/** A point drawn uniformly in [min, max] (max only when rng() would return 1). */
export function jitter(range: FractionRange, rng: Rng): number {
  return range[0] + (range[1] - range[0]) * rng();
}

/** When a grant stops being valid (Clock ms), or null when it does not expire by itself. */
export function expiresAtOf(lifetime: HeldLifetime, obtainedAt: number): number | null {
  switch (lifetime.kind) {
    case 'lease':
    case 'token':
      return lifetime.durationSec > 0 ? obtainedAt + lifetime.durationSec * 1000 : null;
    case 'certificate':
      return lifetime.notAfter;
    default:
      return null;
  }
}

/**
 * The part of a certificate's validity that is of use to the one who obtained it: from when it was obtained (Clock
 * ms, taken before the request was sent) or its NotBefore, whichever is later, to its NotAfter. Vault back-dates
 * NotBefore by 30 s (recorded on Vault 1.8: a 1 h certificate is valid 3630 s), so NotBefore→NotAfter overstates a
 * 60 s certificate's life by half. Consul-template (Vault Agent's templates) likewise counts from now to NotAfter.
 */
export function certificateLife(lifetime: { readonly notBefore: number; readonly notAfter: number }, obtainedAt: number): { start: number; ms: number } {
  const start = Math.max(lifetime.notBefore, obtainedAt);
  return { start, ms: lifetime.notAfter - start };
}

/** Why a new certificate does not help much, if it does not. */
export type CertificateShortness =
  /** It expires no later than the certificate it replaces: re-issuing does not extend it (a CA or not_after cap). */
  | 'no-later'
  /** Its life is too short to be re-issued on schedule: certificateAt of it is within minAcquireIntervalMs. */
  | 'too-short';

/**
 * Whether a certificate just obtained is short in a way that re-issuing it on schedule would turn into a loop of
 * re-issues (each one re-rendering the files and signalling the application): see nextPlan's backoff. `previousNotAfter`
 * is the NotAfter of the certificate it replaces (undefined for the first one).
 */
export function certificateShortness(
  lifetime: { readonly notBefore: number; readonly notAfter: number },
  obtainedAt: number,
  previousNotAfter: number | undefined,
  timing: Timing,
): CertificateShortness | undefined {
  if (previousNotAfter !== undefined && lifetime.notAfter <= previousNotAfter) return 'no-later';
  if (certificateLife(lifetime, obtainedAt).ms * timing.certificateAt[1] < timing.minAcquireIntervalMs) return 'too-short';
  return undefined;
}

/**
 * The least time between obtaining a certificate and issuing it again, after `shortInARow` certificates in a row that
 * were short (certificateShortness, this one included): minAcquireIntervalMs, doubling with each one, up to
 * backoffMaxMs. Vault answering with certificates that do not help is not a reason to ask it again every second.
 */
export function certificateFloorMs(shortInARow: number, timing: Timing): number {
  if (shortInARow <= 1) return timing.minAcquireIntervalMs;
  const doubled = timing.minAcquireIntervalMs * 2 ** Math.min(shortInARow - 1, 52);
  return Math.max(timing.minAcquireIntervalMs, Math.min(timing.backoffMaxMs, doubled));
}

/**
 * Whether a certificate is notably shorter than the `ttl` the request asked for: Vault caps it silently at the role's
 * max_ttl (or the mount's, or the CA's NotAfter). Allows for whole-second NotAfter and clock differences: 2 s or 5 %.
 */
export function shorterThanRequested(lifeMs: number, requestedSec: number | undefined): boolean {
  if (requestedSec === undefined || !(requestedSec > 0)) return false;
  const requestedMs = requestedSec * 1000;
  return lifeMs < requestedMs - Math.max(2_000, requestedMs * 0.05);
}

/**
 * Whether a grant is kept fresh by renewing it:
 * - renewing: renewable and the holding can renew; renew at renewAt of the remaining TTL;
 * - exhausted: renewal no longer extends it (capped at max_ttl, refused, failing while time runs out): acquire anew;
 * - not-renewable: never renewed (non-renewable lease/token, certificate, unleased, static, dynamic).
 */
export type RenewState = 'renewing' | 'exhausted' | 'not-renewable';

export function initialRenewState(lifetime: HeldLifetime, canRenew: boolean): RenewState {
  return (lifetime.kind === 'lease' || lifetime.kind === 'token') &&
    lifetime.renewable &&
    lifetime.durationSec > 0 &&
    canRenew
    ? 'renewing'
    : 'not-renewable';
}

export type Action = 'renew' | 'acquire';

export interface Plan {
  readonly action: Action;
  /** Clock ms; never before `now`. */
  readonly at: number;
}

export interface PlanInput {
  readonly lifetime: HeldLifetime;
  readonly obtainedAt: number;
  /** Current expiry (after the last renewal), from expiresAtOf or the last renewal. */
  readonly expiresAt: number | null;
  readonly renewState: RenewState;
  readonly now: number;
  /** No renewal yet since the grant was obtained: the first renewal is spread wider (firstRenewAt). */
  readonly firstRenewal?: boolean;
  /**
   * Certificates: how many certificates in a row, this one included, were short (certificateShortness). From the
   * second one on, the next re-issue waits longer (certificateFloorMs).
   */
  readonly shortInARow?: number;
}

/** Delay before renewing something with `remainingMs` left: renewAt (jittered) of it; 0 once expired. */
export function renewDelayMs(remainingMs: number, timing: Timing, rng: Rng): number {
  return remainingMs > 0 ? remainingMs * jitter(timing.renewAt, rng) : 0;
}

/**
 * Delay before acquiring a replacement for a lease that can no longer be renewed and has `remainingMs` left: the same
 * fraction as a renewal (so the replacement comes well before expiry), or at once when at most urgentMs is left.
 */
export function replaceDelayMs(remainingMs: number, timing: Timing, rng: Rng): number {
  return remainingMs > timing.urgentMs ? renewDelayMs(remainingMs, timing, rng) : 0;
}

/** The next thing to do for a grant just obtained or renewed, or null when it is never refreshed. */
export function nextPlan(input: PlanInput, timing: Timing, rng: Rng): Plan | null {
  const { lifetime, obtainedAt, expiresAt, renewState, now, firstRenewal } = input;
  const floor = obtainedAt + timing.minAcquireIntervalMs;
  const acquireAt = (at: number): Plan => ({ action: 'acquire', at: Math.max(now, floor, at) });
  switch (lifetime.kind) {
    case 'static':
    case 'dynamic':
      return null;
    case 'unleased':
      // The interval the user chose (--static-refresh, > 0), not a TTL: the anti-hot-loop floor does not apply.
      return { action: 'acquire', at: Math.max(now, obtainedAt + timing.staticRefreshMs) };
    case 'certificate': {
      const life = certificateLife(lifetime, obtainedAt);
      const at = life.start + Math.max(0, life.ms) * jitter(timing.certificateAt, rng);
      return { action: 'acquire', at: Math.max(now, obtainedAt + certificateFloorMs(input.shortInARow ?? 0, timing), at) };
    }
    case 'lease':
    case 'token': {
      if (expiresAt === null) return null;
      const remaining = expiresAt - now;
      switch (renewState) {
        case 'renewing':
          if (firstRenewal === true && remaining > 0) {
            return { action: 'renew', at: now + remaining * jitter(timing.firstRenewAt, rng) };
          }
          return { action: 'renew', at: now + renewDelayMs(remaining, timing, rng) };
        case 'exhausted':
          // Early enough to have time to retry; the anti-hot-loop floor never pushes it past the expiry.
          return { action: 'acquire', at: Math.max(now + replaceDelayMs(remaining, timing, rng), Math.min(floor, expiresAt)) };
        case 'not-renewable':
          return acquireAt(obtainedAt + lifetime.durationSec * 1000 * jitter(timing.nonRenewableAt, rng));
      }
    }
  }
}

/** What a renewal answered, as the scheduler needs it. */
export interface RenewalAnswer {
  /** The TTL granted from now, in seconds (lease_duration / auth.lease_duration). */
  readonly durationSec: number;
  /** Vault's warnings, e.g. `TTL of "1h" exceeded the effective max_ttl of "5m"; TTL value is capped accordingly`. */
  readonly warnings?: readonly string[];
  /** Whether it can still be renewed (absent: unchanged). */
  readonly renewable?: boolean;
  /**
   * Clock time just before the request that Vault answered was sent: the new TTL started no earlier, so the expiry is
   * dated from it (dating it from the answer's arrival would put it later than Vault's). Absent: when the renewal
   * started.
   */
  readonly sentAt?: number;
}

export type RenewalOutcome =
  /** Extended by what was asked: keep renewing. */
  | 'extended'
  /** Granted less than asked, or Vault warned about max_ttl: the next renewals cannot keep it alive, replace it. */
  | 'capped'
  /** The new expiry is not later than the previous one: renewing no longer helps, replace it. */
  | 'stalled'
  /** Vault says it is no longer renewable. */
  | 'not-renewable';

const CAPPED_WARNING = /max[_ ]?ttl|capped/i;

/**
 * What a renewal achieved, and the new expiry: `durationSec` from `sentAt`, when the request was sent (Vault's TTL
 * runs from when it handled the request, which is no earlier).
 */
export function renewalOutcome(
  previousExpiresAt: number | null,
  sentAt: number,
  askedSec: number,
  answer: RenewalAnswer,
): { outcome: RenewalOutcome; expiresAt: number } {
  const expiresAt = sentAt + Math.max(0, answer.durationSec) * 1000;
  let outcome: RenewalOutcome = 'extended';
  if (answer.renewable === false) outcome = 'not-renewable';
  else if (previousExpiresAt !== null && expiresAt <= previousExpiresAt) outcome = 'stalled';
  else if (answer.durationSec < askedSec || (answer.warnings ?? []).some((w) => CAPPED_WARNING.test(w))) {
    outcome = 'capped';
  }
  return { outcome, expiresAt };
}

/** Retry delay after the `failures`-th consecutive failure (1-based): exponential backoff with full jitter. */
export function backoffDelayMs(failures: number, timing: Timing, rng: Rng): number {
  const exp = Math.min(timing.backoffMaxMs, timing.backoffInitialMs * 2 ** Math.max(0, Math.min(failures - 1, 52)));
  return exp * rng();
}

/** The HTTP status an error carries (`status` or `statusCode`), if any. */
export function errorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { status?: unknown; statusCode?: unknown };
  const s = typeof e.status === 'number' ? e.status : e.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/**
 * Whether a renew error means "this cannot be renewed" (400 past max TTL / lease not found, 403 after the caller's own
 * re-login retry, 404) rather than a transient failure (network, 5xx, 429, ...).
 */
export function cannotRenew(err: unknown): boolean {
  const s = errorStatus(err);
  return s === 400 || s === 403 || s === 404;
}

/** After a transient renew failure: give up renewing and acquire a new grant instead? */
export function shouldFallBackToAcquire(
  consecutiveTransientFailures: number,
  remainingMs: number,
  durationMs: number,
  timing: Timing,
): boolean {
  if (remainingMs <= 0) return true;
  return (
    consecutiveTransientFailures >= timing.renewFallbackFailures && remainingMs <= durationMs * timing.renewFallbackFraction
  );
}

/**
 * The time by which a renewal started at `now` must have succeeded (retries included): half of the remaining TTL, so
 * that when it fails there is still the other half to obtain a new grant before the old one expires. A renewal retried
 * through 5xx answers never runs past the lease's life. null when the grant does not expire.
 */
export function renewDeadline(now: number, expiresAt: number | null): number | null {
  return expiresAt === null ? null : now + Math.max(0, expiresAt - now) / 2;
}

/**
 * When to release a grant that was replaced at `now` (the consumer already took the new one): after the grace, unless
 * it expires by then, in which case it is left to expire (null): releasing it would gain nothing, and could only
 * answer "lease not found".
 */
export function graceReleaseAt(now: number, graceMs: number, expiresAt: number | null): number | null {
  const at = now + graceMs;
  return expiresAt !== null && at >= expiresAt ? null : at;
}
