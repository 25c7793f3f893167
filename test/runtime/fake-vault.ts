/**
 * A Vault model for the runtime unit tests (no HTTP, no process): tokens and the leases each created, as the Vault
 * session sees them through its client interface, on the FakeClock. Errors are the client's own VaultError, with the
 * bodies a Vault 1.8 dev server gives (test/fixtures/vault): a dead token gets `permission denied`, a policy denial
 * (sys/leases/revoke without the capability, a path the policy does not allow) the multi-error form.
 */
import type { Clock } from '../../src/clock.js';
import type { AuthGrant, AuthMethod } from '../../src/vault/auth.js';
import type { Renewal, TokenInfo, VaultExchange, VaultRequest, VaultResponse } from '../../src/vault/client.js';
import { flattenVaultErrors, VaultError } from '../../src/vault/errors.js';
import type { SessionClient } from '../../src/vault/session.js';

export interface FakeToken {
  readonly id: string;
  readonly role: string;
  alive: boolean;
  expiresAt: number;
  revokedBySelf: boolean;
  /** renew-self answers 400 `lease is not renewable` when false. */
  renewable: boolean;
}

export interface FakeLease {
  readonly id: string;
  readonly path: string;
  readonly token: string;
  alive: boolean;
  expiresAt: number;
  revoked: boolean;
}

const dead = (method: string, path: string): VaultError => new VaultError({ status: 403, method, path, errors: ['permission denied'] });
const denied = (method: string, path: string): VaultError =>
  new VaultError({ status: 403, method, path, errors: flattenVaultErrors(['1 error occurred:\n\t* permission denied\n\n']) });

export class FakeVault implements SessionClient {
  readonly tokens = new Map<string, FakeToken>();
  readonly leases = new Map<string, FakeLease>();
  /** Every call: `METHOD path token`. */
  readonly calls: string[] = [];
  /** The policy grants update on sys/leases/revoke. */
  allowRevoke = true;
  /** Paths the policy does not allow (403 policy denial), for every token (any path, auth/token/renew-self...). */
  readonly forbidden = new Set<string>();
  /** Paths the policy of one role's tokens does not allow. */
  readonly forbiddenFor = new Map<string, Set<string>>();
  /** Status of the next answers to sys/leases/renew (e.g. 503), until cleared. */
  renewStatus: number | undefined;
  leaseTtlSec = 60;
  tokenTtlSec = 3600;
  #n = 0;

  constructor(readonly clock: Clock) {}

  /** A login: a new token for role (ttlMs: what it has left, default tokenTtlSec; renew-self gives it tokenTtlSec). */
  issueToken(role: string, opts: { ttlMs?: number; renewable?: boolean } = {}): AuthGrant {
    const id = `s.${role}-${++this.#n}`;
    const ttlMs = opts.ttlMs ?? this.tokenTtlSec * 1000;
    const renewable = opts.renewable ?? true;
    this.tokens.set(id, { id, role, alive: true, expiresAt: this.clock.now() + ttlMs, revokedBySelf: false, renewable });
    return { token: id, renewable, durationSec: ttlMs / 1000, obtainedAt: this.clock.now(), byLogin: true };
  }

  /** An operator revokes a token (vault token revoke -accessor): its leases go with it. */
  revokeToken(id: string): void {
    const t = this.tokens.get(id);
    if (t === undefined) return;
    t.alive = false;
    for (const l of this.leases.values()) if (l.token === id) l.alive = false;
  }

  /** Leases alive, not expired, and whose token is neither revoked nor expired (Vault revokes them with it). */
  liveLeases(): FakeLease[] {
    const tokens = new Set(this.liveTokens().map((t) => t.id));
    return [...this.leases.values()].filter((l) => l.alive && l.expiresAt > this.clock.now() && tokens.has(l.token));
  }

  liveTokens(): FakeToken[] {
    return [...this.tokens.values()].filter((t) => t.alive && t.expiresAt > this.clock.now());
  }

  #check(method: string, path: string, token: string | undefined): FakeToken {
    this.calls.push(`${method} ${path} ${token ?? ''}`);
    const t = token === undefined ? undefined : this.tokens.get(token);
    if (t === undefined || !t.alive || t.expiresAt <= this.clock.now()) throw dead(method, path);
    if (this.forbidden.has(path) || this.forbiddenFor.get(t.role)?.has(path) === true) throw denied(method, path);
    return t;
  }

  async exchange<T = VaultResponse>(req: VaultRequest): Promise<VaultExchange<T>> {
    await Promise.resolve();
    req.signal?.throwIfAborted();
    const t = this.#check(req.method, req.path, req.token);
    const sentAt = this.clock.now();
    if (req.path.startsWith('database/creds/')) {
      const id = `${req.path}/L${++this.#n}`;
      this.leases.set(id, { id, path: req.path, token: t.id, alive: true, expiresAt: sentAt + this.leaseTtlSec * 1000, revoked: false });
      const body = { lease_id: id, renewable: true, lease_duration: this.leaseTtlSec, data: { username: `v-${this.#n}`, password: `p-${this.#n}` } };
      return { status: 200, body: body as T, sentAt, attempts: 1 };
    }
    return { status: 200, body: { lease_id: '', data: { data: { v: 'kv' } } } as T, sentAt, attempts: 1 };
  }

  async lookupSelf(token: string, signal?: AbortSignal): Promise<TokenInfo> {
    await Promise.resolve();
    signal?.throwIfAborted();
    const t = this.#check('GET', 'auth/token/lookup-self', token);
    return {
      accessor: `acc-${t.id}`,
      // Rounded down as Vault does: a token in its last second says ttl 0, with its expire_time.
      ttlSec: Math.max(0, Math.trunc((t.expiresAt - this.clock.now()) / 1000)),
      renewable: t.renewable,
      expireTime: new Date(t.expiresAt).toISOString(),
      policies: ['default'],
      displayName: undefined,
      sentAt: this.clock.now(),
    };
  }

  async renewSelf(token: string, incrementSec?: number): Promise<Renewal> {
    await Promise.resolve();
    const t = this.#check('POST', 'auth/token/renew-self', token);
    if (!t.renewable) throw new VaultError({ status: 400, method: 'POST', path: 'auth/token/renew-self', errors: ['lease is not renewable'] });
    // Without an increment, Vault renews a token by its own TTL.
    const ttl = incrementSec ?? this.tokenTtlSec;
    t.expiresAt = this.clock.now() + ttl * 1000;
    return { durationSec: ttl, renewable: true, warnings: [], sentAt: this.clock.now() };
  }

  async revokeSelf(token: string): Promise<void> {
    await Promise.resolve();
    const t = this.#check('POST', 'auth/token/revoke-self', token);
    t.revokedBySelf = true;
    this.revokeToken(t.id);
    for (const l of this.leases.values()) if (l.token === t.id) l.revoked = true;
  }

  async renewLease(token: string, leaseId: string, incrementSec?: number, signal?: AbortSignal, deadline?: number): Promise<Renewal> {
    await Promise.resolve();
    this.#check('PUT', 'sys/leases/renew', token);
    if (this.renewStatus !== undefined) {
      // The client's retries (one attempt per 100 ms of fake time here), bounded by the deadline like the real one.
      for (;;) {
        signal?.throwIfAborted();
        if (deadline !== undefined && this.clock.now() + 100 >= deadline) break;
        await this.clock.sleep(100, signal);
        this.calls.push(`PUT sys/leases/renew ${token} (retry)`);
      }
      throw new VaultError({ status: this.renewStatus, method: 'PUT', path: 'sys/leases/renew', errors: ['Vault is sealed'] });
    }
    const l = this.leases.get(leaseId);
    if (l === undefined || !l.alive || l.expiresAt <= this.clock.now()) {
      throw new VaultError({ status: 400, method: 'PUT', path: 'sys/leases/renew', errors: ['lease not found'] });
    }
    const ttl = incrementSec ?? this.leaseTtlSec;
    l.expiresAt = this.clock.now() + ttl * 1000;
    return { durationSec: ttl, renewable: true, warnings: [], sentAt: this.clock.now() };
  }

  async revokeLease(token: string, leaseId: string): Promise<void> {
    await Promise.resolve();
    this.#check('PUT', 'sys/leases/revoke', token);
    if (!this.allowRevoke) throw denied('PUT', 'sys/leases/revoke');
    const l = this.leases.get(leaseId);
    if (l !== undefined) {
      l.alive = false;
      l.revoked = true;
    }
  }

  count(prefix: string): number {
    return this.calls.filter((c) => c.startsWith(prefix)).length;
  }
}

/** An auth method that logs in against the FakeVault and counts logins. */
export class FakeAuth implements AuthMethod {
  readonly kind = 'jwt' as const;
  logins = 0;
  constructor(private readonly vault: FakeVault) {}
  async login(role: string): Promise<AuthGrant> {
    await Promise.resolve();
    this.logins++;
    this.vault.calls.push(`POST auth/jwt/login ${role}`);
    return this.vault.issueToken(role);
  }
}
