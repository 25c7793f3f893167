/**
 * A renewal retried through 5xx answers never runs past the lease's remaining TTL: it is given half of what is left
 * (RenewContext.deadline); when it has not succeeded by then, a new lease is obtained while the old one still lives.
 */
import { describe, expect, it } from 'vitest';
import { createScheduler, type Grant, type RenewContext } from '../../src/leases/scheduler.js';
import { renewDeadline } from '../../src/leases/policy.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeVault, RecordingLogger, SEC, VaultError, leaseHolding, seededRng, type Credentials } from './helpers.js';

describe('renewal deadline', () => {
  it('policy: half of the remaining TTL; none for what does not expire', () => {
    expect(renewDeadline(1000, 11_000)).toBe(6000);
    expect(renewDeadline(12_000, 11_000)).toBe(12_000);
    expect(renewDeadline(1000, null)).toBeNull();
  });

  it('Vault answering 503 to every renewal: a new lease is obtained before the old one expires, and no renewal outlives it', async () => {
    const clock = new FakeClock();
    const logger = new RecordingLogger();
    const scheduler = createScheduler({ clock, rng: seededRng(7), logger });
    const vault = new FakeVault(clock, { ttlSec: 10, maxTtlSec: 3600 });
    const renewAttempts: number[] = [];
    let sealed = false;
    const holding = {
      ...leaseHolding(vault),
      // The Vault client: 503 is retried with backoff (--vault-retry-min 2s, --vault-retry-max 8s, 6 attempts),
      // and no retry starts after the deadline it is given.
      renew: async (g: Grant<Credentials>, ctx: RenewContext) => {
        for (let attempt = 1; ; attempt++) {
          renewAttempts.push(clock.now());
          if (!sealed) return vault.renew(g.value.leaseId, ctx.incrementSec);
          const delay = Math.min(8 * SEC, 2 * SEC * 2 ** (attempt - 1));
          if (attempt >= 6 || (ctx.deadline !== undefined && clock.now() + delay >= ctx.deadline)) {
            throw new VaultError('Vault answered 503 to PUT sys/leases/renew: Vault is sealed', 503);
          }
          await clock.sleep(delay, ctx.signal);
        }
      },
    };
    const first = vault.issue();
    scheduler.hold(holding, first);
    sealed = true; // only sys/leases/renew fails; reading new credentials works
    const oldLease = vault.leases.get(first.value.leaseId)!;
    await clock.advance(10 * SEC);

    expect(holding.grants.length).toBeGreaterThanOrEqual(1);
    const replaced = holding.grants[0]!;
    expect(replaced.previous).toBe(first);
    // Obtained while the old lease was still valid...
    expect(replaced.t).toBeLessThan(oldLease.expiresAt);
    // ...and no renewal attempt of the old lease after it expired.
    const ofOld = renewAttempts.filter((t) => t <= replaced.t);
    expect(Math.max(...ofOld)).toBeLessThan(oldLease.expiresAt);
    expect(logger.lines.some((l) => /did not succeed within half of its remaining TTL/.test(l.msg))).toBe(true);
    await scheduler.stop({ revoke: false });
  });
});
