import { describe, expect, it } from 'vitest';
import { createScheduler, grantFromFetched, type Grant, type Holding } from '../../src/leases/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeVault, HOUR, MIN, RecordingLogger, SEC, VaultError, leaseHolding, seededRng } from './helpers.js';

function setup(opts: { seed?: number } = {}) {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const scheduler = createScheduler({ clock, rng: seededRng(opts.seed ?? 42), logger });
  return { clock, logger, scheduler };
}

describe('a renewable lease', () => {
  it('is renewed every 36–44 s when its TTL is 60 s, for 1000 simulated hours, in well under a second', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 10_000 * 3600 });
    const holding = leaseHolding(vault);
    scheduler.hold(holding, vault.issue());

    const started = performance.now();
    await clock.advance(1000 * HOUR);
    const elapsedMs = performance.now() - started;

    const renewals = vault.events.filter((e) => e.type === 'renew').map((e) => e.t);
    expect(renewals.length).toBeGreaterThan(88_000);
    expect(renewals.length).toBeLessThan(92_000);
    const gaps = renewals.map((t, i) => t - (i === 0 ? vault.events[0]!.t : renewals[i - 1]!));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(36 * SEC);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(44 * SEC);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(mean).toBeGreaterThan(39 * SEC); // uniform in 36..43.8 s: mean 39.9 s
    expect(mean).toBeLessThan(41 * SEC);
    // The same lease all along: never expired, never replaced, the consumer never disturbed.
    expect(vault.count('issue')).toBe(1);
    expect(vault.alive()).toHaveLength(1);
    expect(holding.grants).toHaveLength(0);
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: true, nextAction: 'renew', consecutiveFailures: 0 });
    expect(elapsedMs).toBeLessThan(2000); // typically ~0.3 s; generous for slow CI machines
    await scheduler.stop({ revoke: false });
  });

  it('renewal times of 1000 leases obtained at the same instant are spread out, and stay spread', async () => {
    const { clock, scheduler } = setup({ seed: 7 });
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 1000 * 3600 });
    for (let i = 0; i < 1000; i++) scheduler.hold(leaseHolding(vault, { name: `lease ${i}` }), vault.issue());
    const t0 = clock.now();

    await clock.advance(45 * SEC);
    const first = vault.events.filter((e) => e.type === 'renew').map((e) => e.t - t0);
    expect(first).toHaveLength(1000);
    const histogram = new Map<number, number>(); // 1-second buckets
    for (const d of first) histogram.set(Math.floor(d / SEC), (histogram.get(Math.floor(d / SEC)) ?? 0) + 1);
    expect([...histogram.keys()].every((s) => s >= 36 && s < 44)).toBe(true);
    expect(histogram.size).toBeGreaterThanOrEqual(8); // every second of 36..43 is used
    expect(Math.max(...histogram.values())).toBeLessThan(200); // no second holds more than 20% (uniform: ~13%)

    // An hour later they are still not synchronised.
    await clock.advance(HOUR);
    const since = clock.now() - 60 * SEC;
    const lastMinute = vault.events.filter((e) => e.type === 'renew' && e.t >= since);
    const perSecond = new Map<number, number>();
    for (const e of lastMinute) perSecond.set(Math.floor(e.t / SEC), (perSecond.get(Math.floor(e.t / SEC)) ?? 0) + 1);
    expect(perSecond.size).toBeGreaterThan(40);
    expect(Math.max(...perSecond.values())).toBeLessThan(100);
    expect(vault.alive()).toHaveLength(1000);
    await scheduler.stop({ revoke: false });
  });

  it('capped at max_ttl: a new one is acquired before the old expires, handed over, and the old released exactly after the grace', async () => {
    const { clock, scheduler, logger } = setup();
    // TTL 1h, max_ttl 4h: renewals extend it until it is capped near the 4h mark.
    const vault = new FakeVault(clock, { ttlSec: 3600, maxTtlSec: 4 * 3600 });
    const events: string[] = [];
    let handedOverAt = 0;
    const holding = leaseHolding(vault, {
      onGrant: async (next, previous) => {
        events.push(`onGrant start ${next.value.username} replaces ${previous.value.username}`);
        await clock.sleep(10 * SEC); // the app takes 10 s to reload
        handedOverAt = clock.now();
        events.push('onGrant done');
      },
    });
    const releases: { t: number; leaseId: string }[] = [];
    const release = holding.release!;
    holding.release = async (g, signal) => {
      releases.push({ t: clock.now(), leaseId: g.value.leaseId });
      events.push(`release ${g.value.username}`);
      await release(g, signal);
    };
    const initial = vault.issue();
    const oldLease = vault.leases.get(initial.value.leaseId)!;
    scheduler.hold(holding, initial);

    await clock.advance(4 * HOUR + 10 * MIN);

    expect(holding.grants.length).toBeGreaterThanOrEqual(1);
    const first = holding.grants[0]!;
    expect(first.previous).toBe(initial);
    expect(first.next.value.username).toBe('v-app-2');
    expect(first.t).toBeLessThan(oldLease.maxExpiresAt);
    // Vault's capped-TTL warning was understood; the new lease was asked for at 60–73% of the time left after it.
    const capped = logger.at('info').find((l) => l.obj.outcome === 'capped')!;
    expect(capped).toBeDefined();
    const cappedAt = vault.events.filter((e) => e.type === 'renew' && e.t < first.t).at(-1)!.t;
    const fraction = (first.t - cappedAt) / (oldLease.maxExpiresAt - cappedAt);
    expect(fraction).toBeGreaterThanOrEqual(0.6);
    expect(fraction).toBeLessThanOrEqual(0.73);
    // Released after onGrant resolved + 30 s grace, never before the hand-over.
    expect(events.slice(0, 3)).toEqual(['onGrant start v-app-2 replaces v-app-1', 'onGrant done', 'release v-app-1']);
    expect(releases[0]).toEqual({ t: handedOverAt + 30 * SEC, leaseId: initial.value.leaseId });
    expect(oldLease.revokedAt).toBe(handedOverAt + 30 * SEC);
    expect(oldLease.revokedAt!).toBeLessThan(oldLease.maxExpiresAt);
    // The new lease is being renewed; the app never ran without a valid lease.
    expect(vault.alive().map((l) => l.id)).toEqual([first.next.value.leaseId]);
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: true, nextAction: 'renew' });
    await scheduler.stop({ revoke: false });
  });

  it('keeps its consumer on a continuously valid lease across many max_ttl cycles', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 300 });
    const holding = leaseHolding(vault);
    let current: Grant<{ leaseId: string }> = vault.issue();
    holding.onGrant = async (next) => {
      current = next;
    };
    scheduler.hold(holding, current);
    for (let i = 0; i < 24 * 60; i++) {
      await clock.advance(MIN);
      expect(vault.alive().some((l) => l.id === current.value.leaseId)).toBe(true);
    }
    // One new lease per ~max_ttl, at most: never a hot loop.
    expect(vault.count('issue')).toBeGreaterThan(24 * 12 * 0.9);
    expect(vault.count('issue')).toBeLessThan(24 * 12 * 2);
    // Old leases whose remaining time exceeds the grace are revoked, the others left to expire.
    expect(vault.alive().length).toBeLessThanOrEqual(2);
    await scheduler.stop({ revoke: false });
  });

  it('a renewal refused with 400 triggers an acquisition at once', async () => {
    const { clock, scheduler, logger } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 3600 });
    const holding = leaseHolding(vault);
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    // Vault lost the lease (e.g. revoked by an operator).
    vault.leases.get(initial.value.leaseId)!.revokedAt = clock.now();

    await clock.advance(45 * SEC);
    expect(holding.grants).toHaveLength(1);
    const refusedAt = vault.events.find((e) => e.type === 'issue' && e.t > initial.obtainedAt)!.t;
    expect(refusedAt - initial.obtainedAt).toBeGreaterThanOrEqual(36 * SEC);
    expect(refusedAt - initial.obtainedAt).toBeLessThanOrEqual(44 * SEC);
    expect(holding.grants[0]!.t).toBe(refusedAt); // no backoff
    expect(logger.at('warn').some((l) => /cannot be renewed/.test(l.msg) && l.obj.status === 400)).toBe(true);
    expect(logger.at('error')).toHaveLength(0);
    await scheduler.stop({ revoke: false });
  });

  it('a renewal answering "past the max TTL" (400) triggers an acquisition before expiry', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 3600 });
    const holding = leaseHolding(vault);
    // A renew callback that does not report capping (older Vault or odd backend): only the 400 at max TTL tells.
    holding.renew = async (g) => {
      const l = vault.leases.get(g.value.leaseId)!;
      if (clock.now() + 60 * SEC > l.maxExpiresAt) throw new VaultError('past the max TTL, cannot renew', 400);
      return vault.renew(g.value.leaseId, 60);
    };
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    await clock.advance(HOUR + MIN);
    expect(holding.grants.length).toBe(1);
    expect(holding.grants[0]!.t).toBeLessThan(initial.obtainedAt + HOUR);
    await scheduler.stop({ revoke: false });
  });
});

describe('other lifetimes', () => {
  it('a non-renewable lease is acquired again at 85–95% of its duration, and never renewed', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 1000, maxTtlSec: 1000, renewable: false });
    const holding = leaseHolding(vault);
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    await clock.advance(100 * 1000 * SEC);
    const issues = vault.events.filter((e) => e.type === 'issue').map((e) => e.t);
    expect(issues.length).toBeGreaterThan(100);
    for (let i = 1; i < issues.length; i++) {
      const gap = issues[i]! - issues[i - 1]!;
      expect(gap).toBeGreaterThanOrEqual(850 * SEC);
      expect(gap).toBeLessThanOrEqual(950 * SEC);
    }
    expect(vault.count('renew')).toBe(0);
    expect(holding.grants).toHaveLength(issues.length - 1);
    await scheduler.stop({ revoke: false });
  });

  it('a certificate is issued again at about two thirds of its validity', async () => {
    const { clock, scheduler } = setup();
    const issued: number[] = [];
    const issue = (): Grant<string> => {
      const now = clock.now();
      issued.push(now);
      // Vault back-dates NotBefore by 30 s; ttl 24h.
      return { value: `cert ${issued.length}`, lifetime: { kind: 'certificate', notBefore: now - 30 * SEC, notAfter: now + 24 * HOUR }, obtainedAt: now };
    };
    const seen: string[] = [];
    scheduler.hold<string>(
      { name: 'vault:app:pki/issue/web', acquire: async () => issue(), onGrant: async (n) => void seen.push(n.value) },
      issue(),
    );
    await clock.advance(30 * 24 * HOUR);
    expect(issued.length).toBeGreaterThan(40);
    const validity = 24 * HOUR + 30 * SEC;
    for (let i = 1; i < issued.length; i++) {
      const sinceNotBefore = issued[i]! - (issued[i - 1]! - 30 * SEC);
      expect(sinceNotBefore / validity).toBeGreaterThanOrEqual(0.6);
      expect(sinceNotBefore / validity).toBeLessThanOrEqual(0.73);
    }
    expect(seen).toHaveLength(issued.length - 1);
    await scheduler.stop({ revoke: false });
  });

  it('an unleased value is read again every staticRefreshMs, and handed over every time', async () => {
    const clock = new FakeClock();
    const scheduler = createScheduler({ clock, rng: seededRng(1), timing: { staticRefreshMs: 2 * MIN } });
    const reads: number[] = [];
    const handed: unknown[] = [];
    const holding: Holding<unknown> = {
      name: 'vault:app:secret/data/app',
      acquire: async () => {
        reads.push(clock.now());
        return grantFromFetched({ value: { password: 'same' }, lifetime: { kind: 'unleased' }, fetchedAt: clock.now() });
      },
      onGrant: async (next) => void handed.push(next.value),
    };
    const t0 = clock.now();
    scheduler.hold(holding, grantFromFetched({ value: { password: 'same' }, lifetime: { kind: 'unleased' }, fetchedAt: t0 }));
    await clock.advance(HOUR);
    expect(reads).toEqual(Array.from({ length: 30 }, (_, i) => t0 + (i + 1) * 2 * MIN));
    expect(handed).toHaveLength(30);
    expect(scheduler.snapshot()[0]).toMatchObject({ kind: 'unleased', expiresAt: null, healthy: true, nextAction: 'acquire', nextAt: t0 + 62 * MIN });
    await scheduler.stop({ revoke: false });
  });

  it('static and dynamic values are never scheduled', async () => {
    const { clock, scheduler } = setup();
    let calls = 0;
    for (const kind of ['static', 'dynamic'] as const) {
      scheduler.hold(
        { name: `exe:${kind}`, acquire: async () => (calls++, { value: 1, lifetime: { kind }, obtainedAt: clock.now() }), onGrant: async () => void calls++ },
        { value: 1, lifetime: { kind }, obtainedAt: clock.now() },
      );
    }
    expect(clock.pending()).toBe(0);
    await clock.advance(1000 * HOUR);
    expect(calls).toBe(0);
    expect(scheduler.snapshot().map((s) => [s.kind, s.nextAction, s.healthy])).toEqual([
      ['static', 'none', true],
      ['dynamic', 'none', true],
    ]);
  });
});

describe('independence', () => {
  it('a hung holding does not delay another, and its hung calls are abandoned after operationTimeoutMs', async () => {
    const { clock, scheduler, logger } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 100 * 3600 });
    const hung = leaseHolding(vault, { name: 'hung' });
    let hungCalls = 0;
    const hang = (signal: AbortSignal) => (hungCalls++, clock.sleep(10 * HOUR, signal));
    hung.renew = (_g, { signal }) => hang(signal).then(() => ({ durationSec: 60 }));
    hung.acquire = ({ signal }) => hang(signal).then(() => vault.issue());
    const fast = leaseHolding(vault, { name: 'fast' });
    scheduler.hold(hung, vault.issue());
    const fastGrant = vault.issue();
    scheduler.hold(fast, fastGrant);

    await clock.advance(10 * MIN);
    expect(vault.events.filter((e) => e.type === 'renew' && e.leaseId === fastGrant.value.leaseId).length).toBeGreaterThanOrEqual(13);
    const [h, f] = scheduler.snapshot();
    expect(f).toMatchObject({ name: 'fast', healthy: true, consecutiveFailures: 0 });
    expect(h).toMatchObject({ name: 'hung', healthy: false });
    expect(h!.consecutiveFailures).toBeGreaterThan(5);
    // Each hung call was given up after 30 s, then retried: ~ (10 min - 40 s) / (30 s + backoff).
    expect(hungCalls).toBeGreaterThan(10);
    expect(hungCalls).toBeLessThanOrEqual(20);
    expect(h!.lastError).toMatch(/did not finish within 30000 ms/);
    expect(logger.at('error').filter((l) => l.obj.holding === 'hung')).toHaveLength(1);
    expect(logger.at('error').filter((l) => l.obj.holding === 'fast')).toHaveLength(0);
    await scheduler.stop({ revoke: false });
    expect(clock.pending()).toBe(0); // the hanging call was aborted through its signal
});
});
