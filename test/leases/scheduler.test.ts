import { describe, expect, it } from 'vitest';
import { createScheduler, grantFromFetched, type Grant, type Holding } from '../../src/leases/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeVault, HOUR, MIN, RecordingLogger, SEC, VaultError, firstRenewalDelayMs, leaseHolding, seededRng } from './helpers.js';

function setup(opts: { seed?: number } = {}) {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const scheduler = createScheduler({ clock, rng: seededRng(opts.seed ?? 42), logger });
  return { clock, logger, scheduler };
}

describe('a renewable lease', () => {
  it('is renewed first at its drawn point of 4.2–43.8 s, then every 36–44 s, when its TTL is 60 s, for 1000 simulated hours', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 10_000 * 3600 });
    const holding = leaseHolding(vault);
    const initial = vault.issue();
    scheduler.hold(holding, initial);
    // The first renewal: 7–73 % of the 60 s TTL, at the scheduler's first random draw.
    const firstAt = initial.obtainedAt + firstRenewalDelayMs(60 * SEC, seededRng(42)());
    expect(scheduler.snapshot()[0]!.nextAt).toBeCloseTo(firstAt, 2);

    await clock.advance(1000 * HOUR);

    const renewals = vault.events.filter((e) => e.type === 'renew').map((e) => e.t);
    expect(renewals.length).toBeGreaterThan(88_000);
    expect(renewals.length).toBeLessThan(92_000);
    expect(renewals[0]!).toBeCloseTo(firstAt, 2);
    expect(renewals[0]! - initial.obtainedAt).toBeGreaterThanOrEqual(4.2 * SEC);
    expect(renewals[0]! - initial.obtainedAt).toBeLessThanOrEqual(43.8 * SEC);
    // Every later one: 60–73 % of the 60 s granted by the previous renewal.
    const gaps = renewals.slice(1).map((t, i) => t - renewals[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(36 * SEC);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(43.8 * SEC);
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(mean).toBeGreaterThan(39.5 * SEC); // uniform in 36..43.8 s: mean 39.9 s
    expect(mean).toBeLessThan(40.3 * SEC);
    // The same lease all along: never expired, never replaced, the consumer never disturbed.
    expect(vault.count('issue')).toBe(1);
    expect(vault.alive()).toHaveLength(1);
    expect(holding.grants).toHaveLength(0);
    expect(scheduler.snapshot()[0]).toMatchObject({ healthy: true, nextAction: 'renew', consecutiveFailures: 0 });
    await scheduler.stop({ revoke: false });
  });

  it('1000 leases obtained at the same instant renew evenly from the first cycle, about once per lease per 40 s, and stay even', async () => {
    const { clock, scheduler } = setup({ seed: 7 });
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 1000 * 3600 });
    for (let i = 0; i < 1000; i++) scheduler.hold(leaseHolding(vault, { name: `lease ${i}` }), vault.issue());
    const t0 = clock.now();
    const renewalsPer5s = (from: number, to: number): number[] => {
      const buckets = new Array<number>(Math.round((to - from) / (5 * SEC))).fill(0);
      for (const e of vault.events) {
        if (e.type === 'renew' && e.t >= from && e.t < to) buckets[Math.floor((e.t - from) / (5 * SEC))]!++;
      }
      return buckets;
    };
    const expectEven = (buckets: number[]): void => {
      const mean = buckets.reduce((a, b) => a + b, 0) / buckets.length;
      expect(mean).toBeGreaterThan(115); // one renewal per lease per ~39.9 s: ~125 per 5 s
      expect(mean).toBeLessThan(135);
      expect(Math.min(...buckets)).toBeGreaterThanOrEqual(mean / 2); // none empty (typically >= 0.75 × the mean)
      expect(Math.max(...buckets)).toBeLessThanOrEqual(2 * mean); // no wave (typically <= 1.3 × the mean)
    };

    await clock.advance(300 * SEC);
    // Each lease's first renewal: 7–73 % of its 60 s TTL.
    const first = new Map<string, number>();
    for (const e of vault.events) if (e.type === 'renew' && !first.has(e.leaseId!)) first.set(e.leaseId!, e.t - t0);
    expect(first.size).toBe(1000);
    expect(Math.min(...first.values())).toBeGreaterThanOrEqual(4.2 * SEC);
    expect(Math.max(...first.values())).toBeLessThanOrEqual(43.8 * SEC);
    // Renewals per 5 s from t=10 s: no wave (the 1,000-lease benchmark had 0 / 19 / 641 per 5 s, min / median / max).
    expectEven(renewalsPer5s(t0 + 10 * SEC, t0 + 300 * SEC));

    // An hour later they are still even.
    await clock.advance(HOUR);
    expectEven(renewalsPer5s(clock.now() - 290 * SEC, clock.now()));
    expect(vault.alive()).toHaveLength(1000);
    await scheduler.stop({ revoke: false });
  });

  it('1000 leases replaced at the same instant (a new token) renew evenly again from their first cycle', async () => {
    const { clock, scheduler } = setup({ seed: 11 });
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 1000 * 3600 });
    const handles = Array.from({ length: 1000 }, (_, i) => scheduler.hold(leaseHolding(vault, { name: `lease ${i}` }), vault.issue()));
    await clock.advance(10 * MIN);
    const replaced = handles.map((h) => h.replaceNow('token replaced'));
    await clock.settle();
    expect(await Promise.all(replaced)).toEqual(handles.map(() => true));
    const t1 = clock.now();
    const newIds = new Set(handles.map((h) => h.current().value.leaseId));
    expect(newIds.size).toBe(1000);

    await clock.advance(300 * SEC);
    const renewals = vault.events.filter((e) => e.type === 'renew' && e.t >= t1);
    expect(renewals.every((e) => newIds.has(e.leaseId!))).toBe(true);
    // Each new lease's first renewal: 7–73 % of its 60 s TTL.
    const first = new Map<string, number>();
    for (const e of renewals) if (!first.has(e.leaseId!)) first.set(e.leaseId!, e.t - t1);
    expect(first.size).toBe(1000);
    expect(Math.min(...first.values())).toBeGreaterThanOrEqual(4.2 * SEC);
    expect(Math.max(...first.values())).toBeLessThanOrEqual(43.8 * SEC);
    const buckets = new Array<number>(58).fill(0); // 5 s buckets from t1+10 s to t1+300 s
    for (const e of renewals) if (e.t >= t1 + 10 * SEC) buckets[Math.floor((e.t - t1 - 10 * SEC) / (5 * SEC))]!++;
    const mean = buckets.reduce((a, b) => a + b, 0) / buckets.length;
    expect(mean).toBeGreaterThan(115);
    expect(mean).toBeLessThan(135);
    expect(Math.min(...buckets)).toBeGreaterThanOrEqual(mean / 2);
    expect(Math.max(...buckets)).toBeLessThanOrEqual(2 * mean);
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
    // The first renewal is due at 7–73 % of the 60 s TTL, at the scheduler's first random draw.
    const renewAt = initial.obtainedAt + firstRenewalDelayMs(60 * SEC, seededRng(42)());

    await clock.advanceTo(renewAt - 1);
    expect(vault.count('issue')).toBe(1);
    await clock.advance(2);
    expect(holding.grants).toHaveLength(1);
    const refusedAt = vault.events.find((e) => e.type === 'issue' && e.t > initial.obtainedAt)!.t;
    expect(refusedAt).toBeCloseTo(renewAt, 2);
    expect(holding.grants[0]!.t).toBe(refusedAt); // no backoff
    await clock.advance(MIN);
    expect(holding.grants).toHaveLength(1); // the new lease is renewed, not replaced again
    expect(logger.at('warn').some((l) => /cannot be renewed/.test(l.msg) && l.obj.status === 400)).toBe(true);
    expect(logger.at('error')).toHaveLength(0);
    await scheduler.stop({ revoke: false });
  });

  it("a slow renewal's new expiry is dated from when the request was sent, not from when the answer arrived", async () => {
    const { clock, scheduler, logger } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 100 * HOUR });
    const holding = leaseHolding(vault);
    const sent: number[] = [];
    // Vault handles the request at once; its answer takes 3 s to arrive (a loaded network), every time.
    holding.renew = async (g, { incrementSec }) => {
      const sentAt = clock.now();
      sent.push(sentAt);
      const r = vault.renew(g.value.leaseId, incrementSec);
      await clock.sleep(3 * SEC);
      return { ...r, sentAt };
    };
    const initial = vault.issue();
    const h = scheduler.hold(holding, initial);
    const vaultExpiry = (): number => vault.leases.get(initial.value.leaseId)!.expiresAt;
    await clock.advanceTo(h.status().nextAt! + 4 * SEC);
    expect(sent).toHaveLength(1);
    // Vault's expiry, not 3 s later.
    expect(h.status().expiresAt).toBe(sent[0]! + 60 * SEC);
    expect(h.status().expiresAt).toBe(vaultExpiry());
    // Hours of renewals later: still the same lease, never taken for "stalled" or "capped", the expiry Vault's.
    await clock.advance(2 * HOUR);
    while (h.status().inFlight) await clock.advance(SEC);
    expect(sent.length).toBeGreaterThan(100);
    expect(h.status().expiresAt).toBe(vaultExpiry());
    expect(logger.lines.filter((l) => l.level !== 'debug')).toEqual([]);
    expect(vault.count('issue')).toBe(1);
    await scheduler.stop({ revoke: false });
  });

  it('without sentAt in the answer, a renewal is dated from when it started', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: HOUR });
    const holding = leaseHolding(vault);
    let started = 0;
    holding.renew = async (g, { incrementSec }) => {
      started = clock.now();
      const r = vault.renew(g.value.leaseId, incrementSec);
      await clock.sleep(5 * SEC);
      return r;
    };
    const h = scheduler.hold(holding, vault.issue());
    await clock.advanceTo(h.status().nextAt! + 6 * SEC);
    expect(h.status().expiresAt).toBe(started + 60 * SEC);
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

  it('a 60 s certificate (NotBefore back-dated 30 s, as Vault does) is issued again 36–43.8 s after the previous one, for 100 simulated hours', async () => {
    const { clock, logger, scheduler } = setup();
    const issued: number[] = [];
    const issue = (): Grant<string> => {
      const now = clock.now();
      issued.push(now);
      return { value: `cert ${issued.length}`, lifetime: { kind: 'certificate', notBefore: now - 30 * SEC, notAfter: now + 60 * SEC, requestedTtlSec: 60 }, obtainedAt: now };
    };
    const seen: string[] = [];
    scheduler.hold<string>(
      { name: 'vault:app,POST,ttl=60s:pki/issue/web', acquire: async () => issue(), onGrant: async (n) => void seen.push(n.value) },
      issue(),
    );
    await clock.advance(100 * HOUR);
    // Counted from the back-dated NotBefore, the re-issues came 24–35.7 s apart: 40–60 % of each certificate's life.
    const gaps = issued.slice(1).map((t, i) => t - issued[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(36 * SEC);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(43.8 * SEC);
    expect(issued.length).toBeGreaterThan(8_000); // about 9,000: one every 40 s
    expect(seen).toHaveLength(issued.length - 1);
    expect(logger.at('warn')).toEqual([]);
    await scheduler.stop({ revoke: false });
  });

  it('a 24 h certificate is issued again at 60–73 % of its validity', async () => {
    const { clock, scheduler } = setup();
    const issued: number[] = [];
    const issue = (): Grant<string> => {
      const now = clock.now();
      issued.push(now);
      return { value: `cert ${issued.length}`, lifetime: { kind: 'certificate', notBefore: now - 30 * SEC, notAfter: now + 24 * HOUR }, obtainedAt: now };
    };
    scheduler.hold<string>({ name: 'vault:app:pki/issue/web', acquire: async () => issue(), onGrant: async () => {} }, issue());
    await clock.advance(30 * 24 * HOUR);
    expect(issued.length).toBeGreaterThan(40);
    for (let i = 1; i < issued.length; i++) {
      const fraction = (issued[i]! - issued[i - 1]!) / (24 * HOUR);
      expect(fraction).toBeGreaterThanOrEqual(0.6);
      expect(fraction).toBeLessThanOrEqual(0.73);
    }
    await scheduler.stop({ revoke: false });
  });

  it('certificates capped at a fixed NotAfter (an expiring CA) are issued again with a backoff up to 30 s, not every second, with a warning naming the secret', async () => {
    const { clock, logger, scheduler } = setup();
    const caNotAfter = clock.now() + 10 * MIN;
    const issued: number[] = [];
    const issue = (): Grant<string> => {
      const now = clock.now();
      issued.push(now);
      // Vault caps every certificate at its CA's NotAfter; after it, what comes back has expired already.
      return { value: `cert ${issued.length}`, lifetime: { kind: 'certificate', notBefore: now - 30 * SEC, notAfter: Math.min(now + HOUR, caNotAfter), requestedTtlSec: 3600 }, obtainedAt: now };
    };
    scheduler.hold<string>({ name: 'vault:app,POST,ttl=1h:pki/issue/web', acquire: async () => issue(), onGrant: async () => {} }, issue());
    await clock.advance(HOUR + 10 * MIN);
    const gaps = issued.slice(1).map((t, i) => t - issued[i]!);
    // Past the CA's end, every new certificate is useless: the re-issues back off to one every 30 s.
    expect(gaps.slice(-10)).toEqual(new Array(10).fill(30 * SEC));
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(SEC);
    // A re-issue every second would be 3,600 in the hour after the CA's end.
    expect(issued.length).toBeLessThan(150);
    const warnings = logger.at('warn').map((l) => l.msg);
    expect(warnings.filter((m) => m.includes('expires no later than the one it replaces')).length).toBeGreaterThan(5);
    expect(warnings.every((m) => m.includes('vault:app,POST,ttl=1h:pki/issue/web'))).toBe(true);
    expect(warnings.filter((m) => m.includes('less than the ttl of 1h asked for'))).toHaveLength(1);
    await scheduler.stop({ revoke: false });
  });

  it('certificates shorter than the ttl asked for (the role caps it) are warned about once, and again only after a full-length one', async () => {
    const { clock, logger, scheduler } = setup();
    let ttlSec = 60; // the role's max_ttl
    const issue = (): Grant<string> => {
      const now = clock.now();
      return { value: 'cert', lifetime: { kind: 'certificate', notBefore: now - 30 * SEC, notAfter: now + ttlSec * 1000, requestedTtlSec: 24 * 3600 }, obtainedAt: now };
    };
    const name = 'vault:app,POST,common_name=a.example.com,ttl=24h:pki/issue/web';
    scheduler.hold<string>({ name, acquire: async () => issue(), onGrant: async () => {} }, issue());
    const shortWarnings = (): string[] => logger.at('warn').map((l) => l.msg).filter((m) => m.includes('less than the ttl of'));
    await clock.advance(HOUR);
    expect(shortWarnings()).toEqual([
      `Vault issued ${name} valid for 1m, less than the ttl of 24h asked for (its role's max_ttl, or the mount's, or its CA's expiry, caps it): it is issued again at 60–73 % of what it gets; said once while Vault keeps doing so`,
    ]);
    // Issued again all along, about every 40 s: the cap is not a reason to stop or to loop.
    expect(logger.lines.filter((l) => l.msg === `obtained a new ${name}`).length).toBeGreaterThan(80);
    expect(logger.at('warn').filter((l) => l.msg.includes('no sooner than'))).toEqual([]);
    ttlSec = 24 * 3600; // the role fixed
    await clock.advance(MIN);
    ttlSec = 60; // and capped again
    await clock.advance(24 * HOUR);
    expect(shortWarnings()).toHaveLength(2);
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
