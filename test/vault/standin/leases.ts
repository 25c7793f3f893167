/**
 * Vault's expiration manager, for secrets: every leased answer is tracked with its issue and expiry times and
 * the token that created it; leases expire for real (unref'd timers) and are then revoked through the engine
 * (a database lease runs its revocation statements).
 */
import type { Core } from './core.js';
import type { LeaseEntry, Mount, SecretSpec, TokenEntry } from './types.js';
import {
  PastMaxTtlError,
  VaultError,
  badRequest,
  calculateTtl,
  goTime,
  preciseNow,
  randomAlnum,
  unrefTimer,
} from './util.js';

/**
 * How long after its token's revocation the stand-in revokes a lease (Vault: a job of its expiration manager, a few ms
 * on an idle dev server, longer on a busy one). Long enough that a test checking at once sees the lease still there.
 */
export const LAZY_REVOCATION_MS = 100;

export interface LeaseInfo {
  id: string;
  path: string;
  /** ms since the epoch */
  issuedAt: number;
  expiresAt: number;
  lastRenewal: number | undefined;
  renewable: boolean;
  revoked: boolean;
  revokedAt: number | undefined;
  revokeError: string | undefined;
  creatingTokenAccessor: string | undefined;
}

export class LeaseManager {
  private readonly leases = new Map<string, LeaseEntry>();

  constructor(private readonly core: Core) {}

  /** Register a secret answered on path; returns the lease id and the TTL to report. */
  register(
    path: string,
    mount: Mount,
    secret: SecretSpec,
    token: TokenEntry | undefined,
  ): { id: string; ttl: number; warnings: string[] } {
    const { sysDefault, sysMax } = this.core.mountTtls(mount);
    let ttl = secret.ttl > 0 ? secret.ttl : sysDefault;
    const maxTtl = secret.maxTtl > 0 && secret.maxTtl < sysMax ? secret.maxTtl : sysMax;
    if (ttl > maxTtl) ttl = maxTtl;
    const now = preciseNow();
    const lease: LeaseEntry = {
      id: `${path.replace(/\/+$/, '')}/${randomAlnum(24)}`,
      path,
      mountPath: mount.path,
      issueTime: now,
      expireTime: now + ttl * 1000,
      lastRenewal: undefined,
      renewable: secret.renewable,
      internal: secret.internal,
      tokenAccessor: token?.accessor,
      tokenId: token?.id,
      revoked: false,
      revokedAt: undefined,
      revokeError: undefined,
      timer: undefined,
    };
    this.leases.set(lease.id, lease);
    this.schedule(lease);
    return { id: lease.id, ttl, warnings: [] };
  }

  private schedule(lease: LeaseEntry): void {
    lease.timer?.cancel();
    lease.timer = unrefTimer(lease.expireTime, () => {
      void this.revokeLease(lease, false).catch(() => undefined);
    });
  }

  /** A live lease (not revoked), or undefined. */
  get(id: string): LeaseEntry | undefined {
    const l = this.leases.get(id);
    return l && !l.revoked ? l : undefined;
  }

  /** Any lease ever issued, revoked or not. */
  getAny(id: string): LeaseEntry | undefined {
    return this.leases.get(id);
  }

  /** PUT sys/leases/renew. */
  async renew(id: string, increment: number): Promise<{ ttl: number; warnings: string[]; lease: LeaseEntry }> {
    const lease = this.get(id);
    if (!lease) throw badRequest('lease not found');
    if (lease.expireTime < Date.now()) throw badRequest('lease expired');
    if (!lease.renewable) throw badRequest('lease is not renewable');
    const mount = this.core.mountByPath(lease.mountPath);
    if (!mount?.backend.renewSecret) {
      throw badRequest('failed to renew entry: resp: (*logical.Response)(nil) err: lease is not renewable');
    }
    let answer;
    try {
      answer = await mount.backend.renewSecret(lease, increment);
    } catch (err) {
      const msg = err instanceof VaultError ? err.errors.join('; ') : (err as Error).message;
      throw badRequest(`failed to renew entry: resp: (*logical.Response)(nil) err: ${msg}`);
    }
    if (lease.revoked) throw badRequest('lease not found');
    const { sysDefault, sysMax } = this.core.mountTtls(mount);
    const now = preciseNow();
    let result;
    try {
      result = calculateTtl({
        sysDefault,
        sysMax,
        increment,
        backendTtl: answer.ttl,
        period: 0,
        backendMaxTtl: answer.maxTtl,
        explicitMaxTtl: 0,
        startMs: lease.issueTime,
        nowMs: now,
      });
    } catch (err) {
      if (err instanceof PastMaxTtlError) throw badRequest(err.message);
      throw err;
    }
    lease.expireTime = now + result.ttl * 1000;
    lease.lastRenewal = now;
    this.schedule(lease);
    return { ttl: result.ttl, warnings: result.warnings, lease };
  }

  /** Revoke through the engine. With `explicit`, a failure is reported and the lease stays. */
  async revokeLease(lease: LeaseEntry, explicit: boolean): Promise<void> {
    if (lease.revoked) return;
    const mount = this.core.mountByPath(lease.mountPath);
    try {
      await mount?.backend.revokeSecret?.(lease);
    } catch (err) {
      const msg = err instanceof VaultError ? err.errors.join('; ') : (err as Error).message;
      if (explicit) {
        throw badRequest(`failed to revoke entry: resp: (*logical.Response)(nil) err: ${msg}`);
      }
      lease.revokeError = msg;
    }
    lease.revoked = true;
    lease.revokedAt = Date.now();
    lease.timer?.cancel();
    lease.timer = undefined;
  }

  /** PUT sys/leases/revoke: unknown leases are fine (204), as in Vault. */
  async revoke(id: string): Promise<void> {
    const lease = this.get(id);
    if (lease) await this.revokeLease(lease, true);
  }

  async revokePrefix(prefix: string): Promise<void> {
    const targets = [...this.leases.values()].filter((l) => !l.revoked && l.id.startsWith(prefix));
    await Promise.all(targets.map((l) => this.revokeLease(l, false)));
  }

  /**
   * Every lease a token created, when the token is revoked or expires. As Vault's RevokeByToken (1.8 and later): the
   * token goes at once, but each of its leases is only marked expired and handed to the expiration manager, which
   * revokes it in the background moments later. Until then sys/leases/lookup and LIST still show it (ttl 0), a
   * renewal answers `lease expired`, and a database user still exists. So revoke-self or revoke-accessor answering 204
   * does not mean the leases are gone: a test waits for that (test/integration/world.ts, leasesGone).
   */
  revokeByToken(tokenId: string): void {
    const now = preciseNow();
    for (const l of this.leases.values()) {
      if (l.revoked || l.tokenId !== tokenId) continue;
      l.expireTime = Math.min(l.expireTime, now);
      l.timer?.cancel();
      l.timer = unrefTimer(Date.now() + LAZY_REVOCATION_MS, () => {
        void this.revokeLease(l, false).catch(() => undefined);
      });
    }
  }

  lookup(id: string): Record<string, unknown> {
    const lease = this.get(id);
    if (!lease) throw badRequest('invalid lease');
    return {
      expire_time: goTime(lease.expireTime),
      id: lease.id,
      issue_time: goTime(lease.issueTime),
      last_renewal: lease.lastRenewal === undefined ? null : goTime(lease.lastRenewal),
      renewable: lease.renewable,
      ttl: Math.max(0, Math.trunc((lease.expireTime - Date.now()) / 1000)),
    };
  }

  listPrefix(prefix: string): string[] {
    const keys = new Set<string>();
    for (const l of this.leases.values()) {
      if (l.revoked || !l.id.startsWith(prefix)) continue;
      const rest = l.id.slice(prefix.length);
      const slash = rest.indexOf('/');
      keys.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
    }
    return [...keys].sort();
  }

  info(): LeaseInfo[] {
    return [...this.leases.values()].map((l) => ({
      id: l.id,
      path: l.path,
      issuedAt: l.issueTime,
      expiresAt: l.expireTime,
      lastRenewal: l.lastRenewal,
      renewable: l.renewable,
      revoked: l.revoked,
      revokedAt: l.revokedAt,
      revokeError: l.revokeError,
      creatingTokenAccessor: l.tokenAccessor,
    }));
  }

  stopTimers(): void {
    for (const l of this.leases.values()) l.timer?.cancel();
  }
}
