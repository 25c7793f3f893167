import { describe, expect, it } from 'vitest';
import { createScheduler, type Grant, type HoldHandle, type Holding } from '../../src/leases/scheduler.js';
import { FakeClock } from '../support/fake-clock.js';
import { FakeVault, HOUR, MIN, RecordingLogger, SEC, VaultError, firstRenewalDelayMs, leaseHolding, seededRng } from './helpers.js';

function setup(seed = 42) {
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const scheduler = createScheduler({ clock, rng: seededRng(seed), logger });
  return { clock, logger, scheduler };
}

describe('stop', () => {
  it('with revoke releases every grant, including one waiting for its grace, and no timer fires afterwards', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 3600, maxTtlSec: 24 * 3600 });
    const holdings = Array.from({ length: 5 }, (_, i) => leaseHolding(vault, { name: `lease ${i}` }));
    const handles = holdings.map((h) => scheduler.hold(h, vault.issue()));
    const unleasedReads: number[] = [];
    scheduler.hold(
      {
        name: 'vault:app:secret/data/app',
        acquire: async () => (unleasedReads.push(clock.now()), { value: 1, lifetime: { kind: 'unleased' }, obtainedAt: clock.now() }),
        onGrant: async () => {},
      },
      { value: 1, lifetime: { kind: 'unleased' }, obtainedAt: clock.now() },
    );
    await clock.advance(MIN);
    await handles[0]!.replaceNow('test'); // lease 0's old lease now waits 30 s for its grace release
    expect(vault.alive()).toHaveLength(6);
    const callsBefore = vault.events.length;

    await scheduler.stop({ revoke: true });
    expect(vault.alive()).toHaveLength(0);
    expect(vault.count('revoke')).toBe(6);
    expect(clock.pending()).toBe(0);

    await clock.advance(1000 * HOUR);
    expect(vault.events.length).toBe(callsBefore + 6); // only the revocations
    expect(unleasedReads).toHaveLength(0);
    expect(holdings.every((h) => h.grants.length === (h === holdings[0] ? 1 : 0))).toBe(true);
    expect(scheduler.snapshot()).toHaveLength(0);
  });

  it('without revoke releases nothing and no timer fires afterwards', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault);
    const handle = scheduler.hold(holding, vault.issue());
    await clock.advance(MIN);
    await handle.replaceNow('test');
    const before = vault.events.length;
    await scheduler.stop({ revoke: false });
    expect(clock.pending()).toBe(0);
    await clock.advance(100 * HOUR);
    expect(vault.events.length).toBe(before);
    expect(vault.count('revoke')).toBe(0);
  });

  it('aborts in-flight operations, bounds each release, releases tokens after leases, and is idempotent', async () => {
    const { clock, scheduler, logger } = setup();
    const order: string[] = [];
    let acquireSignal: AbortSignal | undefined;
    const slowLease: Holding<string> = {
      name: 'slow lease',
      acquire: async ({ signal }) => {
        acquireSignal = signal;
        await clock.sleep(HOUR, signal);
        return { value: 'never', lifetime: { kind: 'lease', leaseId: 'l/2', renewable: false, durationSec: 60 }, obtainedAt: clock.now() };
      },
      release: async (_g, signal) => {
        order.push(`lease release start ${clock.now()}`);
        await clock.sleep(HOUR, signal).catch(() => {}); // hangs: bounded by the scheduler
      },
      onGrant: async () => {},
    };
    const token: Holding<string> = {
      name: 'token for role app',
      acquire: async () => ({ value: 't2', lifetime: { kind: 'token', renewable: false, durationSec: 3600 }, obtainedAt: clock.now() }),
      release: async () => void order.push(`token release ${clock.now()}`),
      onGrant: async () => {},
    };
    const t0 = clock.now();
    scheduler.hold(slowLease, { value: 'v1', lifetime: { kind: 'lease', leaseId: 'l/1', renewable: false, durationSec: 60 }, obtainedAt: t0 });
    scheduler.hold(token, { value: 't1', lifetime: { kind: 'token', renewable: false, durationSec: 3600 }, obtainedAt: t0 });
    await clock.advance(58 * SEC); // the lease's acquisition is in flight (hung)
    expect(acquireSignal?.aborted).toBe(false);

    const stopping = scheduler.stop({ revoke: true });
    expect(acquireSignal?.aborted).toBe(true);
    expect(scheduler.stop({ revoke: true })).toBe(stopping);
    await clock.advance(5 * SEC);
    await stopping;
    expect(order).toEqual([`lease release start ${t0 + 58 * SEC}`, `token release ${t0 + 63 * SEC}`]);
    expect(logger.at('warn').some((l) => /timed out/.test(l.msg) && l.obj.holding === 'slow lease')).toBe(true);
    expect(clock.pending()).toBe(0);
    expect(() => scheduler.hold(token, { value: 't', lifetime: { kind: 'static' }, obtainedAt: 0 })).toThrow(/stopped/);
  });

  it('with revoke during a hand-over releases both the grant in use and the one being handed over', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 600, maxTtlSec: 24 * 3600, renewable: false });
    const holding = leaseHolding(vault, { onGrant: () => clock.sleep(HOUR) }); // a slow app reload
    scheduler.hold(holding, vault.issue());
    await clock.advance(580 * SEC); // re-acquired at 85–95% of 600 s, the old one still valid
    expect(holding.grants).toHaveLength(1); // hand-over in progress
    expect(vault.alive()).toHaveLength(2);
    await scheduler.stop({ revoke: true });
    expect(vault.alive()).toHaveLength(0);
  });

  it('release errors are logged, never thrown', async () => {
    const { clock, scheduler, logger } = setup();
    scheduler.hold<string>(
      {
        name: 'flaky',
        acquire: async () => ({ value: 'x', lifetime: { kind: 'lease', leaseId: 'a', renewable: false, durationSec: 600 }, obtainedAt: clock.now() }),
        release: async () => {
          throw new VaultError('sealed', 503);
        },
        onGrant: async () => {},
      },
      { value: 'x', lifetime: { kind: 'lease', leaseId: 'a', renewable: false, durationSec: 600 }, obtainedAt: clock.now() },
    );
    await expect(scheduler.stop({ revoke: true })).resolves.toBeUndefined();
    expect(logger.at('warn').some((l) => l.obj.status === 503 && /release of flaky failed/.test(l.msg))).toBe(true);
  });
});

describe('replaceNow', () => {
  it('acquires at once, hands over (new, old), and releases the old one exactly after the grace', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 3600, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault, { onGrant: () => clock.sleep(2 * SEC) });
    const initial = vault.issue();
    const handle = scheduler.hold(holding, initial);
    await clock.advance(10 * MIN);
    const asked = clock.now();
    let resolvedAt = 0;
    const replaced = handle.replaceNow('token replaced').then((ok) => ((resolvedAt = clock.now()), ok));
    expect(vault.count('issue')).toBe(2); // at once, synchronously
    await clock.advance(2 * SEC);
    expect(await replaced).toBe(true);
    expect(resolvedAt).toBe(asked + 2 * SEC);
    expect(holding.grants).toHaveLength(1);
    expect(holding.grants[0]!.previous).toBe(initial);
    expect(handle.current()).toBe(holding.grants[0]!.next);
    const old = vault.leases.get(initial.value.leaseId)!;
    await clock.advance(30 * SEC - 1);
    expect(old.revokedAt).toBeUndefined();
    await clock.advance(1);
    expect(old.revokedAt).toBe(asked + 32 * SEC);
    await scheduler.stop({ revoke: false });
  });

  it('aborts an in-flight renewal; after an in-flight acquisition, acquires once more', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 24 * 3600 });
    const holding = leaseHolding(vault);
    let renewSignal: AbortSignal | undefined;
    holding.renew = async (g, { signal, incrementSec }) => {
      renewSignal = signal;
      await clock.sleep(5 * SEC, signal);
      return vault.renew(g.value.leaseId, incrementSec);
    };
    const initial = vault.issue();
    const handle = scheduler.hold(holding, initial);
    // The first renewal starts at 7–73 % of the 60 s TTL (the scheduler's first random draw) and takes 5 s.
    const renewAt = initial.obtainedAt + firstRenewalDelayMs(60 * SEC, seededRng(42)());
    expect(scheduler.snapshot()[0]!.nextAt).toBeCloseTo(renewAt, 2);
    await clock.advanceTo(renewAt - 1);
    expect(renewSignal).toBeUndefined();
    await clock.advance(2 * SEC); // renewal in flight
    expect(scheduler.snapshot()[0]).toMatchObject({ inFlight: true, nextAction: 'renew' });
    expect(renewSignal?.aborted).toBe(false);
    await handle.replaceNow('token replaced');
    expect(renewSignal?.aborted).toBe(true);
    expect(holding.grants).toHaveLength(1);

    // Now an acquisition in flight (slow) when the token changes again.
    holding.acquire = async () => {
      await clock.sleep(3 * SEC);
      return vault.issue();
    };
    const first = handle.replaceNow('one');
    await clock.advance(SEC);
    const second = handle.replaceNow('two'); // the acquisition in flight may have used the old token
    await clock.advance(2 * SEC);
    expect(await first).toBe(true);
    expect(holding.grants).toHaveLength(2);
    await clock.advance(3 * SEC);
    expect(await second).toBe(true);
    expect(holding.grants).toHaveLength(3);
    await scheduler.stop({ revoke: false });
  });

  it('resolves false when the scheduler stops first', async () => {
    const { clock, scheduler } = setup();
    const handle = scheduler.hold<number>(
      {
        name: 'down',
        acquire: async () => {
          throw new VaultError('connect ECONNREFUSED');
        },
        onGrant: async () => {},
      },
      { value: 1, lifetime: { kind: 'unleased' }, obtainedAt: clock.now() },
    );
    const p = handle.replaceNow('x');
    await clock.advance(MIN);
    await scheduler.stop({ revoke: false });
    expect(await p).toBe(false);
    expect(await handle.replaceNow('y')).toBe(false);
  });
});

describe('drop', () => {
  it('stops keeping one holding fresh and, with revoke, releases its grants; others go on', async () => {
    const { clock, scheduler } = setup();
    const vault = new FakeVault(clock, { ttlSec: 60, maxTtlSec: 24 * 3600 });
    const a = scheduler.hold(leaseHolding(vault, { name: 'a' }), vault.issue());
    const bGrant = vault.issue();
    scheduler.hold(leaseHolding(vault, { name: 'b' }), bGrant);
    await a.drop({ revoke: true });
    expect(vault.alive().map((l) => l.id)).toEqual([bGrant.value.leaseId]);
    expect(scheduler.snapshot().map((s) => s.name)).toEqual(['b']);
    await clock.advance(HOUR);
    expect(vault.alive().map((l) => l.id)).toEqual([bGrant.value.leaseId]);
    await scheduler.stop({ revoke: false });
  });
});

/** Vault's token side: login (approle, kubernetes, ...), renew-self capped by the token's max TTL, revoke-self. */
class FakeAuth {
  readonly tokens = new Map<string, { expiresAt: number; maxExpiresAt: number; revokedAt?: number }>();
  readonly logins: number[] = [];
  readonly renewals: number[] = [];
  #n = 0;
  constructor(
    readonly clock: FakeClock,
    readonly ttlSec: number,
    readonly maxTtlSec: number,
  ) {}
  login(): Grant<string> {
    const now = this.clock.now();
    const token = `hvs.${++this.#n}`;
    this.logins.push(now);
    this.tokens.set(token, { expiresAt: now + this.ttlSec * 1000, maxExpiresAt: now + this.maxTtlSec * 1000 });
    return { value: token, lifetime: { kind: 'token', renewable: true, durationSec: this.ttlSec }, obtainedAt: now };
  }
  /** Like Vault at the max TTL without a warning: answers the TTL left, which no longer extends the token. */
  renewSelf(token: string, incrementSec: number): { durationSec: number } {
    const now = this.clock.now();
    const t = this.tokens.get(token);
    if (!t || t.revokedAt !== undefined || now >= t.expiresAt) throw new VaultError('permission denied', 403);
    this.renewals.push(now);
    t.expiresAt = Math.min(now + incrementSec * 1000, t.maxExpiresAt);
    return { durationSec: Math.floor((t.expiresAt - now) / 1000) };
  }
  revokeSelf(token: string): void {
    this.tokens.get(token)!.revokedAt = this.clock.now();
  }
  valid(token: string): boolean {
    const t = this.tokens.get(token);
    return !!t && t.revokedAt === undefined && this.clock.now() < t.expiresAt;
  }
}

describe('a Vault token', () => {
  it('is renewed, then replaced by a fresh login when renewal stops extending it; leases move to the new token first', async () => {
    const { clock, scheduler } = setup();
    // Token TTL 1h, max TTL 3h.
    const auth = new FakeAuth(clock, 3600, 3 * 3600);
    let clientToken = '';
    const vault = new FakeVault(clock, { ttlSec: 3600, maxTtlSec: 24 * 3600 });
    const leaseTokens = new Map<string, string>(); // lease id -> token that created it
    const lease = leaseHolding(vault);
    const issue = lease.acquire;
    lease.acquire = async (ctx) => {
      const g = await issue(ctx);
      leaseTokens.set(g.value.leaseId, clientToken);
      return g;
    };
    const leaseHandles: HoldHandle<unknown>[] = [];
    const tokenEvents: string[] = [];
    const tokenHolding: Holding<string> = {
      name: 'token for role app',
      acquire: async () => auth.login(),
      renew: async (g, { incrementSec }) => auth.renewSelf(g.value, incrementSec),
      release: async (g) => {
        tokenEvents.push(`revoke ${g.value} at ${clock.now()}`);
        auth.revokeSelf(g.value);
      },
      onGrant: async (next, previous) => {
        tokenEvents.push(`switch ${previous.value} -> ${next.value} at ${clock.now()}`);
        clientToken = next.value;
        // The leases created with the old token die with it: move them before the old token is released.
        await Promise.all(leaseHandles.map((h) => h.replaceNow('token replaced')));
        tokenEvents.push(`leases moved at ${clock.now()}`);
      },
    };

    const firstToken = auth.login();
    clientToken = firstToken.value;
    scheduler.hold(tokenHolding, firstToken);
    const initialLease = vault.issue();
    leaseTokens.set(initialLease.value.leaseId, clientToken);
    leaseHandles.push(scheduler.hold(lease, initialLease) as HoldHandle<unknown>);

    await clock.advance(3 * HOUR);
    // Renewed while renewing extended it (at ~40 min, ~80 min), then logged in again before the max TTL.
    expect(auth.renewals.length).toBeGreaterThanOrEqual(2);
    expect(auth.logins).toHaveLength(2);
    expect(auth.logins[1]!).toBeLessThan(firstToken.obtainedAt + 3 * HOUR);
    // The lease was re-acquired with the new token, and the old token revoked only after that, after the grace.
    expect(tokenEvents).toHaveLength(3);
    const switchedAt = auth.logins[1]!;
    expect(tokenEvents).toEqual([
      `switch hvs.1 -> hvs.2 at ${switchedAt}`,
      `leases moved at ${switchedAt}`,
      `revoke hvs.1 at ${switchedAt + 30 * SEC}`,
    ]);
    expect(lease.grants).toHaveLength(1);
    expect(leaseTokens.get(lease.grants[0]!.next.value.leaseId)).toBe('hvs.2');
    expect(auth.valid('hvs.2')).toBe(true);
    expect(auth.valid('hvs.1')).toBe(false);

    // Over a day: a new login per ~max TTL, the token in use always valid.
    for (let i = 0; i < 24 * 6; i++) {
      await clock.advance(10 * MIN);
      expect(auth.valid(clientToken)).toBe(true);
    }
    expect(auth.logins.length).toBeGreaterThanOrEqual(9);
    expect(auth.logins.length).toBeLessThanOrEqual(12);
    await scheduler.stop({ revoke: true });
    expect(auth.valid(clientToken)).toBe(false);
  });

  it('a non-renewable token is never renewed: a fresh login at 85–95% of its TTL', async () => {
    const { clock, scheduler } = setup();
    const logins: number[] = [];
    let renewals = 0;
    const login = (): Grant<string> => {
      logins.push(clock.now());
      return { value: 't', lifetime: { kind: 'token', renewable: false, durationSec: 3600 }, obtainedAt: clock.now() };
    };
    const t0 = clock.now();
    scheduler.hold<string>(
      { name: 'token', acquire: async () => login(), renew: async () => (renewals++, { durationSec: 3600 }), onGrant: async () => {} },
      { value: 't0', lifetime: { kind: 'token', renewable: false, durationSec: 3600 }, obtainedAt: t0 },
    );
    await clock.advance(10 * HOUR);
    expect(renewals).toBe(0);
    expect(logins.length).toBeGreaterThanOrEqual(10);
    expect((logins[0]! - t0) / HOUR).toBeGreaterThanOrEqual(0.85);
    expect((logins[0]! - t0) / HOUR).toBeLessThanOrEqual(0.95);
    await scheduler.stop({ revoke: false });
  });
});
