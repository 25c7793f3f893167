import { describe, expect, it } from 'vitest';
import {
  DEFAULT_TIMING,
  backoffDelayMs,
  cannotRenew,
  certificateFloorMs,
  certificateLife,
  certificateShortness,
  errorStatus,
  expiresAtOf,
  graceReleaseAt,
  initialRenewState,
  jitter,
  nextPlan,
  renewDelayMs,
  renewalOutcome,
  replaceDelayMs,
  resolveTiming,
  shorterThanRequested,
  shouldFallBackToAcquire,
  type HeldLifetime,
  type PlanInput,
} from '../../src/leases/policy.js';
import { HOUR, MIN, SEC, VaultError, seededRng } from './helpers.js';

const T0 = Date.UTC(2025, 0, 1);
const t = DEFAULT_TIMING;
const fixed = (x: number) => () => x;
const lease = (durationSec: number, renewable = true): HeldLifetime => ({ kind: 'lease', leaseId: 'x/1', renewable, durationSec });

function plan(input: Partial<PlanInput> & { lifetime: HeldLifetime }, rng = fixed(0.5)) {
  const obtainedAt = input.obtainedAt ?? T0;
  const full: PlanInput = {
    obtainedAt,
    expiresAt: input.expiresAt !== undefined ? input.expiresAt : expiresAtOf(input.lifetime, obtainedAt),
    renewState: input.renewState ?? initialRenewState(input.lifetime, true),
    now: input.now ?? obtainedAt,
    ...input,
  };
  return nextPlan(full, t, rng);
}

describe('timing settings', () => {
  it('has the documented defaults', () => {
    expect(resolveTiming()).toEqual(DEFAULT_TIMING);
    expect(DEFAULT_TIMING).toMatchObject({
      renewAt: [0.6, 0.73],
      nonRenewableAt: [0.85, 0.95],
      certificateAt: [0.6, 0.73],
      staticRefreshMs: 300_000,
      backoffInitialMs: 250,
      backoffMaxMs: 30_000,
      graceMs: 30_000,
      releaseTimeoutMs: 5_000,
    });
  });
  it('accepts overrides and refuses nonsense', () => {
    expect(resolveTiming({ staticRefreshMs: 1000 }).staticRefreshMs).toBe(1000);
    expect(() => resolveTiming({ renewAt: [0.8, 0.7] })).toThrow(/renewAt/);
    expect(() => resolveTiming({ nonRenewableAt: [0.9, 1.2] })).toThrow(/nonRenewableAt/);
    expect(() => resolveTiming({ staticRefreshMs: 0 })).toThrow(/staticRefreshMs/);
    expect(() => resolveTiming({ graceMs: -1 })).toThrow(/graceMs/);
    expect(() => resolveTiming({ backoffInitialMs: 60_000 })).toThrow(/backoffInitialMs/);
  });
});

describe('renewal time of a renewable lease or token', () => {
  it('is between 60% and 73% of the remaining TTL, whatever the random draw', () => {
    expect(renewDelayMs(60 * SEC, t, fixed(0))).toBe(36 * SEC);
    expect(renewDelayMs(60 * SEC, t, fixed(0.999999))).toBeCloseTo(43.8 * SEC, -1);
    const rng = seededRng(1);
    for (let i = 0; i < 10_000; i++) {
      const d = renewDelayMs(3600 * SEC, t, rng);
      expect(d).toBeGreaterThanOrEqual(0.6 * 3600 * SEC);
      expect(d).toBeLessThan(0.73 * 3600 * SEC);
    }
  });
  it('is measured on the remaining TTL, not the original one', () => {
    const p = plan({ lifetime: lease(3600), now: T0 + 30 * MIN }, fixed(0));
    expect(p).toEqual({ action: 'renew', at: T0 + 30 * MIN + 0.6 * 30 * MIN });
  });
  it('is at once for something already expired', () => {
    expect(renewDelayMs(0, t, fixed(0.5))).toBe(0);
    expect(renewDelayMs(-5, t, fixed(0.5))).toBe(0);
  });
  it('applies to tokens exactly as to leases', () => {
    expect(plan({ lifetime: { kind: 'token', renewable: true, durationSec: 3600 } }, fixed(0))).toEqual({
      action: 'renew',
      at: T0 + 0.6 * HOUR,
    });
  });
  it('jitter draws uniformly inside the range', () => {
    expect(jitter([0.6, 0.73], fixed(0))).toBe(0.6);
    expect(jitter([0.6, 0.73], fixed(0.5))).toBeCloseTo(0.665);
  });
});

describe('the first renewal of a grant just obtained (firstRenewal)', () => {
  it('defaults to 7–73 % of the TTL, and is validated like the other ranges', () => {
    expect(DEFAULT_TIMING.firstRenewAt).toEqual([0.07, 0.73]);
    expect(() => resolveTiming({ firstRenewAt: [0, 0.73] })).toThrow(/firstRenewAt/);
    expect(() => resolveTiming({ firstRenewAt: [0.5, 0.4] })).toThrow(/firstRenewAt/);
    expect(resolveTiming({ firstRenewAt: [0.1, 0.2] }).firstRenewAt).toEqual([0.1, 0.2]);
  });
  it('is at 7–73 % of the remaining TTL with firstRenewal, at 60–73 % without (later renewals)', () => {
    const lt = lease(60);
    for (const [draw, first, later] of [
      [0, 4.2, 36],
      [0.5, 24, 39.9],
      [0.999999, 43.8, 43.8],
    ] as const) {
      const p1 = plan({ lifetime: lt, firstRenewal: true }, fixed(draw));
      expect(p1!.action).toBe('renew');
      expect(p1!.at - T0).toBeCloseTo(first * SEC, -1);
      const p2 = plan({ lifetime: lt, firstRenewal: false }, fixed(draw));
      expect(p2!.action).toBe('renew');
      expect(p2!.at - T0).toBeCloseTo(later * SEC, -1);
      expect(plan({ lifetime: lt }, fixed(draw))).toEqual(p2); // absent: a later renewal
    }
    expect(plan({ lifetime: lease(60), firstRenewal: true }, fixed(0))).toEqual({ action: 'renew', at: T0 + 0.07 * 60 * SEC });
  });
  it('spreads 10,000 first renewals of a 60 s lease evenly over 4.2–43.8 s, later ones over 36–43.8 s', () => {
    const rng = seededRng(3);
    const perSecond = new Array<number>(60).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const first = plan({ lifetime: lease(60), firstRenewal: true }, rng)!.at - T0;
      expect(first).toBeGreaterThanOrEqual(4.2 * SEC);
      expect(first).toBeLessThan(43.8 * SEC);
      perSecond[Math.floor(first / SEC)]!++;
      const later = plan({ lifetime: lease(60), firstRenewal: false }, rng)!.at - T0;
      expect(later).toBeGreaterThanOrEqual(36 * SEC);
      expect(later).toBeLessThan(43.8 * SEC);
    }
    // Seconds 5..42 are fully inside the range: 10,000 / 39.6 ≈ 253 each.
    const inside = perSecond.slice(5, 43);
    expect(Math.min(...inside)).toBeGreaterThan(190);
    expect(Math.max(...inside)).toBeLessThan(320);
  });
  it('is measured on the remaining TTL (a grant obtained before it was held), for tokens as for leases', () => {
    const now = T0 + 30 * MIN;
    expect(plan({ lifetime: lease(3600), now, firstRenewal: true }, fixed(0))).toEqual({ action: 'renew', at: now + 0.07 * 30 * MIN });
    expect(plan({ lifetime: { kind: 'token', renewable: true, durationSec: 3600 }, firstRenewal: true }, fixed(0))).toEqual({
      action: 'renew',
      at: T0 + 0.07 * HOUR,
    });
  });
  it('is at once for something already expired', () => {
    const now = T0 + 2 * MIN;
    expect(plan({ lifetime: lease(60), now, firstRenewal: true })).toEqual({ action: 'renew', at: now });
  });
  it('does not change re-acquisitions: exhausted, non-renewable, certificates', () => {
    const now = T0 + 2 * HOUR;
    for (const firstRenewal of [true, false]) {
      expect(plan({ lifetime: lease(3600), renewState: 'exhausted', now, expiresAt: now + 30 * MIN, firstRenewal }, fixed(0))).toEqual({
        action: 'acquire',
        at: now + 18 * MIN,
      });
      expect(plan({ lifetime: lease(1000, false), firstRenewal }, fixed(0))).toEqual({ action: 'acquire', at: T0 + 850 * SEC });
      expect(plan({ lifetime: lease(1000), renewState: 'not-renewable', firstRenewal }, fixed(0))).toEqual({
        action: 'acquire',
        at: T0 + 850 * SEC,
      });
    }
  });
});

describe('what is refreshed when', () => {
  it('static and dynamic values are never scheduled', () => {
    expect(plan({ lifetime: { kind: 'static' } })).toBeNull();
    expect(plan({ lifetime: { kind: 'dynamic' } })).toBeNull();
  });
  it('an unleased value is read again every staticRefreshMs', () => {
    expect(plan({ lifetime: { kind: 'unleased' } })).toEqual({ action: 'acquire', at: T0 + 5 * MIN });
  });
  it('honours a --static-refresh below minAcquireIntervalMs (a chosen interval, not a tiny TTL)', () => {
    const fast = resolveTiming({ staticRefreshMs: 300 });
    const p = nextPlan({ lifetime: { kind: 'unleased' }, obtainedAt: T0, expiresAt: null, renewState: 'not-renewable', now: T0 }, fast, fixed(0.5));
    expect(p).toEqual({ action: 'acquire', at: T0 + 300 });
  });
  it('a non-renewable lease is acquired again at 85–95% of its duration', () => {
    expect(plan({ lifetime: lease(1000, false) }, fixed(0))).toEqual({ action: 'acquire', at: T0 + 850 * SEC });
    expect(plan({ lifetime: lease(1000, false) }, fixed(0.5))).toEqual({ action: 'acquire', at: T0 + 900 * SEC });
    const p = plan({ lifetime: lease(1000, false) }, fixed(0.99999));
    expect(p!.at).toBeGreaterThan(T0 + 949 * SEC);
    expect(p!.at).toBeLessThanOrEqual(T0 + 950 * SEC);
  });
  it('a renewable lease whose holding cannot renew is treated as non-renewable', () => {
    const lt = lease(1000);
    expect(initialRenewState(lt, false)).toBe('not-renewable');
    expect(plan({ lifetime: lt, renewState: 'not-renewable' }, fixed(0))).toEqual({ action: 'acquire', at: T0 + 850 * SEC });
  });
  it('a certificate is acquired again at 60–73 % of its life from when it was obtained, not from its back-dated NotBefore', () => {
    // Vault back-dates NotBefore by 30 s: a 60 s certificate is valid 90 s, NotBefore→NotAfter.
    const cert: HeldLifetime = { kind: 'certificate', notBefore: T0 - 30 * SEC, notAfter: T0 + 60 * SEC };
    expect(plan({ lifetime: cert }, fixed(0))!.at).toBe(T0 + 36 * SEC);
    expect(plan({ lifetime: cert }, fixed(1))!.at).toBe(T0 + 43.8 * SEC);
    // From NotBefore it would have been 24–35.7 s: 40–60 % of the life it was obtained with.
    expect(certificateLife(cert, T0)).toEqual({ start: T0, ms: 60 * SEC });
    // A NotBefore later than when it was obtained (Vault's clock ahead of ours) is where its life starts.
    expect(certificateLife({ notBefore: T0 + 5 * SEC, notAfter: T0 + 65 * SEC }, T0)).toEqual({ start: T0 + 5 * SEC, ms: 60 * SEC });
    const day: HeldLifetime = { kind: 'certificate', notBefore: T0 - 30 * SEC, notAfter: T0 + 24 * HOUR };
    expect(plan({ lifetime: day }, fixed(0.5))!.at).toBeCloseTo(T0 + 0.665 * 24 * HOUR, -1);
    expect(expiresAtOf(day, T0)).toBe(T0 + 24 * HOUR);
  });
  it('a certificate that comes back short is noticed: no later than the previous one, or too short for its schedule', () => {
    const cert = (notAfter: number): { notBefore: number; notAfter: number } => ({ notBefore: T0 - 30 * SEC, notAfter });
    expect(certificateShortness(cert(T0 + 60 * SEC), T0, undefined, t)).toBeUndefined();
    expect(certificateShortness(cert(T0 + 60 * SEC), T0, T0 + 20 * SEC, t)).toBeUndefined();
    // The same NotAfter as before (a not_after or the CA's expiry caps it), or an earlier one.
    expect(certificateShortness(cert(T0 + HOUR), T0, T0 + HOUR, t)).toBe('no-later');
    // 73 % of its life is within the 1 s floor; an expired one too.
    expect(certificateShortness(cert(T0 + 1300), T0, undefined, t)).toBe('too-short');
    expect(certificateShortness(cert(T0 - SEC), T0, undefined, t)).toBe('too-short');
    expect(certificateShortness(cert(T0 + 1400), T0, undefined, t)).toBeUndefined();
  });
  it('certificates short in a row are issued again no sooner than 1 s, 2 s, 4 s ... up to 30 s after the last one', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 100].map((n) => certificateFloorMs(n, t))).toEqual([1, 1, 2, 4, 8, 16, 30, 30, 30].map((s) => s * SEC));
    const expired: HeldLifetime = { kind: 'certificate', notBefore: T0 - HOUR, notAfter: T0 - SEC };
    expect(plan({ lifetime: expired, shortInARow: 1 })!.at).toBe(T0 + SEC);
    expect(plan({ lifetime: expired, shortInARow: 4 })!.at).toBe(T0 + 8 * SEC);
    expect(plan({ lifetime: expired, shortInARow: 9 })!.at).toBe(T0 + 30 * SEC);
    // The backoff is a floor: a certificate with a life of its own is still issued again on its schedule.
    const hour: HeldLifetime = { kind: 'certificate', notBefore: T0 - 30 * SEC, notAfter: T0 + HOUR };
    expect(plan({ lifetime: hour, shortInARow: 9 }, fixed(0))!.at).toBe(T0 + 0.6 * HOUR);
  });
  it('a certificate notably shorter than the ttl asked for is told apart from one a second short', () => {
    expect(shorterThanRequested(60 * SEC, 24 * 3600)).toBe(true);
    expect(shorterThanRequested(59 * SEC, 60)).toBe(false); // whole seconds, clocks a little apart
    expect(shorterThanRequested(50 * SEC, 60)).toBe(true);
    expect(shorterThanRequested(0.96 * HOUR, 3600)).toBe(false); // 5 % of an hour
    expect(shorterThanRequested(60 * SEC, undefined)).toBe(false);
  });
  it('a lease or token with a zero TTL never expires and is never scheduled', () => {
    expect(expiresAtOf(lease(0), T0)).toBeNull();
    expect(plan({ lifetime: { kind: 'token', renewable: false, durationSec: 0 } })).toBeNull();
  });
  it('an exhausted lease (renewal no longer extends it) is replaced at ~2/3 of what is left, at once when little is left', () => {
    const lt = lease(3600);
    const now = T0 + 2 * HOUR;
    expect(plan({ lifetime: lt, renewState: 'exhausted', now, expiresAt: now + 30 * MIN }, fixed(0))).toEqual({
      action: 'acquire',
      at: now + 18 * MIN,
    });
    expect(plan({ lifetime: lt, renewState: 'exhausted', now, expiresAt: now + 4 * SEC })).toEqual({ action: 'acquire', at: now });
    expect(replaceDelayMs(t.urgentMs, t, fixed(0.5))).toBe(0);
    expect(replaceDelayMs(t.urgentMs + 1, t, fixed(0))).toBeCloseTo(0.6 * (t.urgentMs + 1));
  });
  it('never plans a re-acquisition within minAcquireIntervalMs of the last one (no hot loop on tiny TTLs)', () => {
    expect(plan({ lifetime: lease(1, false) }, fixed(0))).toEqual({ action: 'acquire', at: T0 + 1000 });
    const cert: HeldLifetime = { kind: 'certificate', notBefore: T0 - HOUR, notAfter: T0 + 1000 };
    expect(plan({ lifetime: cert })!.at).toBe(T0 + 1000);
    const expired: HeldLifetime = { kind: 'certificate', notBefore: T0 - HOUR, notAfter: T0 - HOUR / 2 };
    expect(plan({ lifetime: expired })!.at).toBe(T0 + 1000);
  });
  it('never plans in the past', () => {
    const now = T0 + 2 * HOUR;
    expect(plan({ lifetime: { kind: 'unleased' }, now })).toEqual({ action: 'acquire', at: now });
    expect(plan({ lifetime: lease(60, false), now })).toEqual({ action: 'acquire', at: now });
  });
});

describe('renewal outcome', () => {
  const now = T0 + HOUR;
  it('extended when Vault granted what was asked', () => {
    expect(renewalOutcome(now + 10 * MIN, now, 3600, { durationSec: 3600 })).toEqual({
      outcome: 'extended',
      expiresAt: now + HOUR,
    });
  });
  it('capped when Vault granted less than asked', () => {
    expect(renewalOutcome(now + 10 * MIN, now, 3600, { durationSec: 1800 }).outcome).toBe('capped');
  });
  it("capped on Vault's max_ttl warning", () => {
    const warnings = ['TTL of "1h" exceeded the effective max_ttl of "5m"; TTL value is capped accordingly'];
    expect(renewalOutcome(now, now, 60, { durationSec: 3600, warnings }).outcome).toBe('capped');
  });
  it('stalled when the new expiry is not later than the previous one', () => {
    expect(renewalOutcome(now + 10 * MIN, now, 600, { durationSec: 600 }).outcome).toBe('stalled');
    expect(renewalOutcome(now + 10 * MIN, now, 600, { durationSec: 300 })).toEqual({ outcome: 'stalled', expiresAt: now + 5 * MIN });
    expect(renewalOutcome(now + 10 * MIN, now, 600, { durationSec: 0 }).outcome).toBe('stalled');
  });
  it('not-renewable when Vault says so', () => {
    expect(renewalOutcome(now, now, 60, { durationSec: 60, renewable: false }).outcome).toBe('not-renewable');
  });
});

describe('retries', () => {
  it('back off exponentially from 250 ms, capped at 30 s, with full jitter', () => {
    const top = (n: number) => backoffDelayMs(n, t, fixed(0.999999));
    expect(top(1)).toBeCloseTo(250, 0);
    expect(top(2)).toBeCloseTo(500, 0);
    expect(top(3)).toBeCloseTo(1000, 0);
    expect(top(8)).toBeCloseTo(30_000, -1);
    expect(top(1000)).toBeCloseTo(30_000, -1);
    expect(backoffDelayMs(5, t, fixed(0))).toBe(0);
    const rng = seededRng(7);
    for (let n = 1; n < 40; n++) {
      const d = backoffDelayMs(n, t, rng);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(Math.min(30_000, 250 * 2 ** (n - 1)));
    }
  });
  it('tell "cannot renew this" (400, 403, 404) from transient failures', () => {
    expect(cannotRenew(new VaultError('past the max TTL, cannot renew', 400))).toBe(true);
    expect(cannotRenew(new VaultError('lease not found', 400))).toBe(true);
    expect(cannotRenew(new VaultError('permission denied', 403))).toBe(true);
    expect(cannotRenew(new VaultError('not found', 404))).toBe(true);
    expect(cannotRenew(new VaultError('internal error', 500))).toBe(false);
    expect(cannotRenew(new VaultError('sealed', 503))).toBe(false);
    expect(cannotRenew(new VaultError('rate limited', 429))).toBe(false);
    expect(cannotRenew(new Error('ECONNRESET'))).toBe(false);
    expect(cannotRenew('weird')).toBe(false);
    expect(errorStatus(Object.assign(new Error('x'), { statusCode: 404 }))).toBe(404);
  });
  it('fall back from renewing to acquiring after a couple of transient failures once the TTL gets short', () => {
    const d = 60 * SEC;
    expect(shouldFallBackToAcquire(1, 5 * SEC, d, t)).toBe(false);
    expect(shouldFallBackToAcquire(2, 20 * SEC, d, t)).toBe(false);
    expect(shouldFallBackToAcquire(2, 11 * SEC, d, t)).toBe(true);
    expect(shouldFallBackToAcquire(1, 0, d, t)).toBe(true);
  });
});

describe('release of a replaced grant', () => {
  it('is after the grace, unless it expires by then (left to expire)', () => {
    expect(graceReleaseAt(T0, 30 * SEC, T0 + HOUR)).toBe(T0 + 30 * SEC);
    expect(graceReleaseAt(T0, 30 * SEC, null)).toBe(T0 + 30 * SEC);
    expect(graceReleaseAt(T0, 30 * SEC, T0 + 10 * SEC)).toBeNull();
    expect(graceReleaseAt(T0, 30 * SEC, T0 - 1)).toBeNull();
  });
});
