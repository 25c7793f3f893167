/**
 * Test doubles for the lease scheduler: a seeded rng, a recording logger, and a tiny model of Vault's lease bookkeeping
 * (TTL, max_ttl capping, renew/revoke, outages) driven by the FakeClock.
 */
import type { Clock } from '../../src/clock.js';
import type { Grant, Holding, Renewal, SchedulerLogger } from '../../src/leases/scheduler.js';

/** mulberry32: a small deterministic PRNG in [0, 1). */
export function seededRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string;
}

export class RecordingLogger implements SchedulerLogger {
  readonly lines: LogLine[] = [];
  debug(obj: object, msg: string): void {
    this.lines.push({ level: 'debug', obj: obj as Record<string, unknown>, msg });
  }
  info(obj: object, msg: string): void {
    this.lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg });
  }
  warn(obj: object, msg: string): void {
    this.lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg });
  }
  error(obj: object, msg: string): void {
    this.lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg });
  }
  at(level: LogLine['level']): LogLine[] {
    return this.lines.filter((l) => l.level === level);
  }
}

/** An error as the Vault client would throw it: `status` only for HTTP answers. */
export class VaultError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export const networkError = (): VaultError => new VaultError('connect ECONNREFUSED 127.0.0.1:8200');

interface FakeLease {
  readonly id: string;
  readonly issuedAt: number;
  expiresAt: number;
  readonly maxExpiresAt: number;
  revokedAt?: number;
}

export interface Credentials {
  readonly username: string;
  readonly leaseId: string;
}

export interface VaultEvent {
  readonly t: number;
  readonly type: 'issue' | 'renew' | 'revoke' | 'fail';
  readonly leaseId?: string;
}

/**
 * Vault's side of leases: `issue` (read database/creds/app), `renew` (sys/leases/renew with an increment, capped at
 * max_ttl with Vault's warning), `revoke`. `down` makes every call throw a network error.
 */
export class FakeVault {
  readonly leases = new Map<string, FakeLease>();
  readonly events: VaultEvent[] = [];
  down = false;
  #n = 0;

  constructor(
    readonly clock: Clock,
    readonly opts: { ttlSec: number; maxTtlSec: number; renewable?: boolean },
  ) {}

  #check(): void {
    if (this.down) {
      this.events.push({ t: this.clock.now(), type: 'fail' });
      throw networkError();
    }
  }

  issue(): Grant<Credentials> {
    this.#check();
    const now = this.clock.now();
    const id = `database/creds/app/${++this.#n}`;
    const ttl = Math.min(this.opts.ttlSec, this.opts.maxTtlSec);
    this.leases.set(id, { id, issuedAt: now, expiresAt: now + ttl * 1000, maxExpiresAt: now + this.opts.maxTtlSec * 1000 });
    this.events.push({ t: now, type: 'issue', leaseId: id });
    return {
      value: { username: `v-app-${this.#n}`, leaseId: id },
      lifetime: { kind: 'lease', leaseId: id, renewable: this.opts.renewable ?? true, durationSec: ttl },
      obtainedAt: now,
    };
  }

  renew(id: string, incrementSec: number): Renewal {
    this.#check();
    const now = this.clock.now();
    const l = this.leases.get(id);
    if (!l || l.revokedAt !== undefined || now >= l.expiresAt) throw new VaultError('lease not found', 400);
    if (!(this.opts.renewable ?? true)) throw new VaultError('lease is not renewable', 400);
    if (now >= l.maxExpiresAt) throw new VaultError('past the max TTL, cannot renew', 400);
    const left = Math.floor((l.maxExpiresAt - now) / 1000);
    const ttl = Math.min(incrementSec, left);
    l.expiresAt = now + ttl * 1000;
    this.events.push({ t: now, type: 'renew', leaseId: id });
    const warnings =
      ttl < incrementSec
        ? [`TTL of "${incrementSec}s" exceeded the effective max_ttl of "${left}s"; TTL value is capped accordingly`]
        : [];
    return { durationSec: ttl, warnings, renewable: true };
  }

  revoke(id: string): void {
    this.#check();
    const now = this.clock.now();
    const l = this.leases.get(id);
    if (!l || now >= l.expiresAt) throw new VaultError('lease not found', 400);
    l.revokedAt = now;
    this.events.push({ t: now, type: 'revoke', leaseId: id });
  }

  /** Leases alive now (issued, not revoked, not expired). */
  alive(): FakeLease[] {
    const now = this.clock.now();
    return [...this.leases.values()].filter((l) => l.revokedAt === undefined && now < l.expiresAt);
  }

  count(type: VaultEvent['type']): number {
    return this.events.filter((e) => e.type === type).length;
  }
}

export interface GrantCall {
  readonly t: number;
  readonly next: Grant<Credentials>;
  readonly previous: Grant<Credentials>;
}

/** A database-credentials holding backed by a FakeVault, recording onGrant calls. */
export function leaseHolding(
  vault: FakeVault,
  opts: { name?: string; onGrant?: (next: Grant<Credentials>, previous: Grant<Credentials>) => Promise<void> } = {},
): Holding<Credentials> & { grants: GrantCall[] } {
  const grants: GrantCall[] = [];
  return {
    name: opts.name ?? 'vault:app:database/creds/app',
    grants,
    acquire: async () => vault.issue(),
    renew: async (g, { incrementSec }) => vault.renew(g.value.leaseId, incrementSec),
    release: async (g) => vault.revoke(g.value.leaseId),
    onGrant: async (next, previous) => {
      grants.push({ t: vault.clock.now(), next, previous });
      await opts.onGrant?.(next, previous);
    },
  };
}

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;

/**
 * The first renewal of a renewable grant obtained with `ttlMs` left: 7–73 % of it, at the point `draw` (the rng value
 * the scheduler draws when it plans it). Written out, not read from DEFAULT_TIMING, so that the tests pin the rule.
 */
export function firstRenewalDelayMs(ttlMs: number, draw: number): number {
  return ttlMs * (0.07 + (0.73 - 0.07) * draw);
}
