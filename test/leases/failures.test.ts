import { describe, expect, it } from 'vitest';
import { createScheduler } from '../../src/leases/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeVault, HOUR, MIN, RecordingLogger, SEC, VaultError, firstRenewalDelayMs, leaseHolding, seededRng } from './helpers.js';

function setup(seed = 42) {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const scheduler = createScheduler({ clock, rng: seededRng(seed), logger });
  return { clock, logger, scheduler };
}

describe('a Vault outage', () => {
  it('longer than the lease: keeps the last grant, backs off, logs one ERROR, reports unhealthy, then recovers', async () => {
    const { clock, logger, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 300, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault);
    const initial = vault.issue();
    const t0 = clock.now();
    const handle = scheduler.hold(holding, initial);

    await clock.advance(MIN);
    vault.down = true; // from t0+1min to t0+11min
    await clock.advance(10 * MIN);
    const failures = vault.events.filter((e) => e.type === 'fail').map((e) => e.t);

    // The consumer was never handed "nothing": it still has the initial grant.
    expect(holding.grants).toHaveLength(0);
    expect(handle.current()).toBe(initial);
    // ...which expired at t0+5min: unhealthy until replaced.
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: false, expiresAt: t0 + 5 * MIN });
    expect(scheduler.snapshot()[0]!.consecutiveFailures).toBe(failures.length);

    // Attempts are bounded (backoff capped at 30 s, full jitter: ~15 s apart on average) and spaced more and more.
    expect(failures.length).toBeGreaterThan(10);
    expect(failures.length).toBeLessThan(60);
    const gaps = failures.slice(1).map((t, i) => t - failures[i]!);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(gaps.slice(0, 4))).toBeLessThan(2 * SEC);
    expect(mean(gaps.slice(-10))).toBeGreaterThan(8 * SEC);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(30 * SEC);

    // One WARN per failure, one ERROR for the grant that will expire before it could be replaced.
    expect(logger.at('warn')).toHaveLength(failures.length);
    const errors = logger.at('error');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.obj.holding).toBe('vault:app:database/creds/app');
    expect(errors[0]!.msg).toMatch(/will expire before it can be replaced/);
    // Nothing in the logs carries the secret.
    expect(JSON.stringify(logger.lines)).not.toContain('v-app-1');

    vault.down = false;
    await clock.advance(31 * SEC); // the next retry is at most 30 s away
    expect(holding.grants).toHaveLength(1);
    expect(holding.grants[0]!.previous).toBe(initial);
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: true, consecutiveFailures: 0, nextAction: 'renew' });
    // The expired lease is not revoked (nothing to revoke).
    expect(vault.count('revoke')).toBe(0);

    // Back to normal: renewed, no more warnings or errors.
    const warns = logger.at('warn').length;
    await clock.advance(HOUR);
    expect(vault.count('issue')).toBe(2);
    expect(vault.events.filter((e) => e.type === 'renew' && e.t > clock.now() - HOUR).length).toBeGreaterThan(15);
    expect(logger.at('warn')).toHaveLength(warns);
    expect(logger.at('error')).toHaveLength(1);
    await scheduler.stop({ revoke: false });
  });

  it('shorter than the remaining TTL: renewal resumes, same lease, no ERROR, the consumer undisturbed', async () => {
    const { clock, logger, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 3600, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault);
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    // The first renewal is due at 7–73 % of the 1 h TTL (the scheduler's first random draw): Vault is down over it.
    const renewAt = initial.obtainedAt + firstRenewalDelayMs(HOUR, seededRng(42)());
    await clock.advanceTo(renewAt - MIN);
    expect(vault.events).toHaveLength(1); // only the issue
    vault.down = true;
    await clock.advance(10 * MIN);
    vault.down = false;
    const failures = vault.events.filter((e) => e.type === 'fail');
    expect(failures[0]!.t).toBeCloseTo(renewAt, 2); // the first renewal was attempted, and failed
    expect(initial.obtainedAt + HOUR - clock.now()).toBeGreaterThan(10 * MIN); // well before the lease expires
    await clock.advance(3 * HOUR);
    expect(vault.count('fail')).toBe(failures.length);
    expect(vault.events.find((e) => e.type === 'renew')!.t).toBeLessThanOrEqual(renewAt + 9 * MIN + 30 * SEC); // resumes within a backoff
    expect(vault.count('issue')).toBe(1);
    expect(holding.grants).toHaveLength(0);
    expect(logger.at('error')).toHaveLength(0);
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: true, consecutiveFailures: 0 });
    await scheduler.stop({ revoke: false });
  });
});

describe('renewal failures', () => {
  it('transient renew failures fall back to acquiring once the TTL gets short, before expiry', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 600, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault);
    let renewCalls = 0;
    holding.renew = async () => {
      renewCalls++;
      throw new VaultError('internal error', 500); // the renew endpoint is broken, issuing works
    };
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    await clock.advance(10 * MIN);
    expect(renewCalls).toBeGreaterThanOrEqual(2);
    expect(holding.grants).toHaveLength(1);
    const replacedAt = holding.grants[0]!.t;
    expect(replacedAt).toBeLessThan(initial.obtainedAt + 10 * MIN);
    // Renewing was given up only once less than 20% of the TTL was left.
    expect(replacedAt).toBeGreaterThanOrEqual(initial.obtainedAt + 8 * MIN);
    await scheduler.stop({ revoke: false });
  });

  it('403 (after the caller re-logged in) and 404 mean "cannot renew": acquire at once', async () => {
    for (const status of [403, 404]) {
      const { clock, scheduler } = setup();
      const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 3600 });
      const holding = leaseHolding(vault);
      holding.renew = async () => {
        throw new VaultError('permission denied', status);
      };
      scheduler.hold(holding, vault.issue());
      await clock.advance(44 * SEC);
      expect(vault.count('issue')).toBe(2);
      expect(holding.grants).toHaveLength(1);
      await scheduler.stop({ revoke: false });
    }
  });

  it('a failing acquisition keeps the previous grant and retries with backoff', async () => {
    const { clock, scheduler, logger } = setup();
    const vault = new FakeVault(clock, { ttlSec: 600, maxTtlSec: 24 * 3600, renewable: false });
    const holding = leaseHolding(vault);
    let attempts = 0;
    holding.acquire = async () => {
      if (++attempts <= 3) throw new VaultError('sealed', 503);
      return vault.issue();
    };
    const initial = vault.issue();
    const handle = scheduler.hold(holding, initial);
    await clock.advance(8 * MIN + 30 * SEC); // 85% of 600 s
    expect(attempts).toBe(0);
    await clock.advance(60 * SEC);
    expect(attempts).toBe(4);
    expect(handle.current()).not.toBe(initial);
    expect(holding.grants).toHaveLength(1);
    expect(logger.at('warn').filter((l) => l.obj.status === 503)).toHaveLength(3);
    expect(logger.at('error')).toHaveLength(0);
    await scheduler.stop({ revoke: false });
  });

  it('a consumer that rejects a new grant: the new one is released, the previous kept, and the hand-over retried', async () => {
    const { clock, scheduler, logger } = setup();
    const vault = new FakeVault(clock, { ttlSec: 600, maxTtlSec: 24 * 3600, renewable: false });
    let calls = 0;
    const holding = leaseHolding(vault, {
      onGrant: async () => {
        if (++calls === 1) throw new Error('template rendering failed');
      },
    });
    const initial = vault.issue();
    const handle = scheduler.hold(holding, initial);
    await clock.advance(9 * MIN + 40 * SEC);
    expect(calls).toBe(2);
    const [rejected, accepted] = holding.grants;
    expect(vault.leases.get(rejected!.next.value.leaseId)!.revokedAt).toBeDefined();
    expect(handle.current()).toBe(accepted!.next);
    expect(accepted!.previous).toBe(initial); // handed over from the grant still in use
    expect(logger.at('error').some((l) => /rejected/.test(l.msg))).toBe(true);
    await scheduler.stop({ revoke: false });
  });
});

describe('hung callbacks', () => {
  it('an acquisition that resolves after its timeout is released, not used', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 600, maxTtlSec: 24 * 3600, renewable: false });
    const holding = leaseHolding(vault);
    let n = 0;
    let lateId = '';
    holding.acquire = async () => {
      if (++n > 1) return vault.issue();
      await clock.sleep(45 * SEC); // ignores its signal, answers after the 30 s timeout
      const g = vault.issue();
      lateId = g.value.leaseId;
      return g;
    };
    scheduler.hold(holding, vault.issue());
    await clock.advance(11 * MIN);
    expect(n).toBe(2);
    expect(holding.grants).toHaveLength(1);
    expect(lateId).not.toBe('');
    expect(holding.grants[0]!.next.value.leaseId).not.toBe(lateId);
    expect(vault.leases.get(lateId)!.revokedAt).toBeDefined();
    await scheduler.stop({ revoke: false });
  });
});
