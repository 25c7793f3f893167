/**
 * The Vault session: the one owner of tconfd's Vault tokens and of the leases obtained with them.
 *
 * - It is the only caller of AuthMethod.login: one token per role (one in all with token auth); callers that need a
 *   token at the same time share one login; a replacement asked for a token that was already replaced answers the
 *   replacement (so a token is replaced exactly once, whoever notices first).
 * - Every request that may create a lease goes through request(): the answer's lease is recorded in the ledger with
 *   the token that actually sent the request, and renewLease() / releaseLease() use that token.
 * - A 403 on a token tconfd believed valid is checked with lookup-self: a 403 there too means the token is dead
 *   (revoked by an operator, expired, Vault restarted empty): it is replaced at once (one login), the request retried
 *   once, and the onTokenDead listeners are told, so that every lease created with it is obtained again. A 200 means
 *   the policy denied the path: an error, no login.
 * - Releasing a replaced lease or token asks the credential gate first: while a rendered file still holds the
 *   lease's credentials (no newer rendering succeeded), the release is deferred (releaseDeferred() retries).
 * - Without `update` on sys/leases/revoke (Vault's default policy), revoking a lease answers 403: this is said once at
 *   info, and replaced leases are left to expire; revoke-self of a login token still revokes every lease it created.
 * - revokeAll(), at exit, after the lease scheduler gave back what it held: waits (bounded) for requests in flight
 *   that may still create a lease or a token, revokes every lease recorded and not revoked, then revoke-self of every
 *   token tconfd logged in with, and reports what was revoked and what was not.
 */
import { setMaxListeners } from 'node:events';
import { raceSignal } from '../abort.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuthGrant, AuthMethod } from './auth.js';
import type { Renewal, VaultClient, VaultExchange, VaultRequest, VaultResponse } from './client.js';
import { isPermissionDenied } from './errors.js';
import { Ledger, type LeaseRecord, type TokenRecord } from './ledger.js';

export type SessionClient = Pick<VaultClient, 'exchange' | 'lookupSelf' | 'renewSelf' | 'revokeSelf' | 'renewLease' | 'revokeLease'>;

export interface VaultSessionOptions {
  readonly client: SessionClient;
  readonly auth: AuthMethod;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long revokeAll() waits for requests in flight before revoking (default 3000 ms). */
  readonly settleMs?: number;
  /** Limit of one revocation (default 5000 ms). */
  readonly revokeTimeoutMs?: number;
}

/** What revokeAll() did. Leases revoked with their token (revoke-self) count as revoked. */
export interface RevocationReport {
  readonly leases: { readonly revoked: number; readonly notRevoked: number };
  readonly tokens: { readonly revoked: number; readonly notRevoked: number };
  /** Leases were left to expire because the policy does not allow sys/leases/revoke. */
  readonly revokeDenied: boolean;
}

/** The policy line that lets tconfd revoke a lease it replaced (or holds at exit) at once. */
export const REVOKE_POLICY_LINE = 'path "sys/leases/revoke" { capabilities = ["update"] }';

/** A lease whose token is gone: it cannot be renewed (status 403, as Vault answers), obtain a new one. */
export class LeaseLostError extends Error {
  override readonly name = 'LeaseLostError';
  readonly status = 403;
}

interface Entry {
  current: TokenRecord | undefined;
  inflight: Promise<AuthGrant> | undefined;
}

type Outcome = 'revoked' | 'gone' | 'denied' | 'failed';

export class VaultSession {
  readonly ledger = new Ledger();
  readonly #client: SessionClient;
  readonly #auth: AuthMethod;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settleMs: number;
  readonly #revokeTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #checks = new Map<TokenRecord, Promise<boolean>>();
  readonly #deadListeners = new Set<(token: TokenRecord) => void>();
  /** Requests that may still create a lease or a token. */
  readonly #inflight = new Set<Promise<unknown>>();
  /** Aborts what is still in flight once revokeAll() stopped waiting for it. */
  readonly #closing = new AbortController();
  readonly #deferredLeases = new Set<LeaseRecord>();
  readonly #deferredTokens = new Set<TokenRecord>();
  #gate: ((leaseId: string) => boolean) | undefined;
  #exiting = false;
  #revokeDenied = false;
  #recorded = 0;
  #revoked = { leases: 0, tokens: 0 };

  constructor(opts: VaultSessionOptions) {
    this.#client = opts.client;
    this.#auth = opts.auth;
    this.#clock = opts.clock;
    this.#log = opts.logger;
    this.#settleMs = opts.settleMs ?? 3_000;
    this.#revokeTimeoutMs = opts.revokeTimeoutMs ?? 5_000;
    // Every request in flight listens to it (1,000 leases obtained at startup at once).
    setMaxListeners(0, this.#closing.signal);
  }

  get authKind(): AuthMethod['kind'] {
    return this.#auth.kind;
  }

  /** The key under which role's token lives ('' for every role with token auth). */
  key(role: string): string {
    return this.#auth.kind === 'token' ? '' : role;
  }

  /** The current grant of role, if logged in. */
  currentGrant(role: string): AuthGrant | undefined {
    const rec = this.#entries.get(this.key(role))?.current;
    return rec?.state === 'live' ? rec.grant : undefined;
  }

  /** Whether a lease tconfd obtained is still valid as far as it knows (not revoked, dead or expired). */
  leaseLive(leaseId: string): boolean {
    const rec = this.ledger.findLease(leaseId);
    return rec !== undefined && rec.state === 'live' && (rec.expiresAt === null || rec.expiresAt > this.#clock.now());
  }

  /** The current token of role: logs in the first time (concurrent callers share one login). */
  async token(role: string, signal?: AbortSignal): Promise<string> {
    return (await this.#record(role, signal)).grant.token;
  }

  /** Called with every token found dead (after its replacement login started). */
  onTokenDead(fn: (token: TokenRecord) => void): () => void {
    this.#deadListeners.add(fn);
    return () => this.#deadListeners.delete(fn);
  }

  /**
   * Send a request as role. A 403 on a token that lookup-self also refuses replaces the token (once) and retries once;
   * a lease in the answer is recorded with the token that sent the request. When the caller stops waiting (signal),
   * the answer is still recorded, and a lease nobody took is revoked.
   */
  request<T = VaultResponse>(
    role: string,
    req: Omit<VaultRequest, 'token' | 'signal'>,
    signal?: AbortSignal,
  ): Promise<VaultExchange<T>> {
    // Not tied to the caller's signal: what it obtains is recorded (and given back) even after the caller gave up.
    return raceSignal(this.#track(this.#request<T>(role, req, signal)), signal);
  }

  async #request<T>(role: string, req: Omit<VaultRequest, 'token' | 'signal'>, caller?: AbortSignal): Promise<VaultExchange<T>> {
    const rec = await this.#record(role);
    try {
      return await this.#send<T>(rec, req, caller);
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      if (!(await this.#confirmDead(rec))) throw err; // the policy denies this path: not the token's fault
    }
    return this.#send<T>(await this.#record(role), req, caller);
  }

  /**
   * Log in again for role because `previous` must be replaced (max TTL, dead). When it was already replaced, or a
   * login is in flight, that token is answered: never a second login for the same replacement.
   */
  async replaceToken(role: string, previous: string, signal?: AbortSignal): Promise<AuthGrant> {
    const e = this.#entry(role);
    if (e.current !== undefined && e.current.state === 'live' && e.current.grant.token !== previous) return e.current.grant;
    return raceSignal(this.#login(e, role), signal);
  }

  /** auth/token/renew-self; the ledger keeps the new TTL. A 403 means the token is dead. */
  async renewToken(token: string, incrementSec: number, opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<Renewal> {
    const rec = this.ledger.findToken(token);
    try {
      const r = await this.#client.renewSelf(token, incrementSec, opts.signal, opts.deadline);
      if (rec !== undefined) rec.grant = { ...rec.grant, durationSec: r.durationSec, obtainedAt: r.sentAt };
      return r;
    } catch (err) {
      if (rec !== undefined && isPermissionDenied(err) && opts.signal?.aborted !== true) this.#tokenDied(rec);
      throw err;
    }
  }

  /** sys/leases/renew with the token that created the lease. */
  async renewLease(
    leaseId: string,
    role: string,
    incrementSec: number,
    opts: { signal?: AbortSignal; deadline?: number } = {},
  ): Promise<Renewal> {
    const lease = this.ledger.findLease(leaseId);
    const tok = lease?.token ?? (await this.#record(role, opts.signal));
    if (tok.state !== 'live' || lease?.state === 'dead') {
      throw new LeaseLostError(`the Vault token that created lease of ${lease?.path ?? 'this secret'} is no longer valid`);
    }
    try {
      const r = await this.#client.renewLease(tok.grant.token, leaseId, incrementSec, opts.signal, opts.deadline);
      if (lease !== undefined) lease.expiresAt = r.sentAt + r.durationSec * 1000;
      return r;
    } catch (err) {
      if (isPermissionDenied(err) && opts.signal?.aborted !== true) await this.#confirmDead(tok);
      throw err;
    }
  }

  /**
   * The credential gate: whether a rendered file still holds a lease's credentials (no newer rendering succeeded).
   * Such a lease, and the token that created it, are not released until releaseDeferred() finds them free.
   */
  setCredentialGate(holds: (leaseId: string) => boolean): void {
    this.#gate = holds;
  }

  /** Give back a lease that was replaced (or, at exit, held): deferred while a file holds it. */
  async releaseLease(leaseId: string, signal?: AbortSignal): Promise<void> {
    const rec = this.ledger.findLease(leaseId);
    if (rec === undefined || rec.state !== 'live') return;
    if (!this.#exiting && this.#gate?.(leaseId) === true) {
      this.#deferredLeases.add(rec);
      this.#log.info({ path: rec.path }, 'replaced lease kept: a rendered file still holds its credentials');
      return;
    }
    const outcome = await this.#revokeLease(rec, signal);
    if (outcome === 'failed') throw new Error(`lease of ${rec.path} could not be revoked`);
  }

  /** Give back a token tconfd logged in with (revoke-self, which revokes its leases): deferred like its leases. */
  async releaseToken(token: string, signal?: AbortSignal): Promise<void> {
    const rec = this.ledger.findToken(token);
    if (rec === undefined || rec.state !== 'live' || !rec.grant.byLogin) return;
    if (!this.#exiting && this.#holdsAny(rec)) {
      this.#deferredTokens.add(rec);
      this.#log.info({ role: rec.role }, 'replaced Vault token kept: a rendered file still holds credentials of its leases');
      return;
    }
    const outcome = await this.#revokeToken(rec, signal);
    if (outcome === 'failed') throw new Error(`the Vault token of role "${rec.role}" could not be revoked`);
  }

  /** Release what was deferred and is no longer held by a file (call after each successful rendering). */
  releaseDeferred(): void {
    if (this.#exiting) return;
    for (const rec of [...this.#deferredLeases]) {
      if (rec.state !== 'live') this.#deferredLeases.delete(rec);
      else if (this.#gate?.(rec.leaseId) !== true) {
        this.#deferredLeases.delete(rec);
        void this.#bounded((s) => this.#revokeLease(rec, s));
      }
    }
    for (const rec of [...this.#deferredTokens]) {
      if (rec.state !== 'live') this.#deferredTokens.delete(rec);
      else if (!this.#holdsAny(rec)) {
        this.#deferredTokens.delete(rec);
        void this.#bounded((s) => this.#revokeToken(rec, s));
      }
    }
  }

  /** From now on releases are not deferred and revocations are counted for the exit report. */
  beginExit(): void {
    if (this.#exiting) return;
    this.#exiting = true;
    this.#revoked = { leases: 0, tokens: 0 };
  }

  /**
   * The exit sweep: wait (bounded) for requests in flight, revoke every lease recorded and not revoked, then every
   * token tconfd logged in with (revoke-self). Never rejects.
   */
  async revokeAll(signal?: AbortSignal): Promise<RevocationReport> {
    this.beginExit();
    if (this.#inflight.size > 0) {
      const sleep = new AbortController();
      await Promise.race([
        Promise.allSettled([...this.#inflight]),
        this.#clock.sleep(this.#settleMs, sleep.signal).catch(() => undefined),
      ]);
      sleep.abort();
    }
    this.#closing.abort(new Error('the Vault session is closing'));
    await Promise.all(this.ledger.liveLeases(this.#clock.now()).map((l) => this.#revokeLease(l, signal)));
    await Promise.all(this.ledger.liveTokens({ byLogin: true }).map((t) => this.#revokeToken(t, signal)));
    return {
      leases: { revoked: this.#revoked.leases, notRevoked: this.ledger.liveLeases(this.#clock.now()).length },
      tokens: { revoked: this.#revoked.tokens, notRevoked: this.ledger.liveTokens({ byLogin: true }).length },
      revokeDenied: this.#revokeDenied,
    };
  }

  // ---- tokens ------------------------------------------------------------------------------------------------------

  #entry(role: string): Entry {
    const k = this.key(role);
    let e = this.#entries.get(k);
    if (e === undefined) {
      e = { current: undefined, inflight: undefined };
      this.#entries.set(k, e);
    }
    return e;
  }

  async #record(role: string, signal?: AbortSignal): Promise<TokenRecord> {
    const e = this.#entry(role);
    for (let i = 0; i < 3; i++) {
      const cur = e.current;
      if (cur !== undefined && cur.state === 'live' && !this.#expired(cur.grant)) return cur;
      const grant = await raceSignal(this.#login(e, role), signal);
      const rec = this.ledger.findToken(grant.token);
      if (rec !== undefined && rec.state === 'live') return rec;
    }
    throw new Error(`no valid Vault token for role "${role}"`);
  }

  #expired(g: AuthGrant): boolean {
    return g.durationSec > 0 && this.#clock.now() >= g.obtainedAt + g.durationSec * 1000;
  }

  /** The one call of AuthMethod.login; shared while in flight, not tied to any caller's signal. */
  #login(e: Entry, role: string): Promise<AuthGrant> {
    if (e.inflight !== undefined) return e.inflight;
    // Once the exit sweep has begun revoking, a new token could never be revoked: no more logins.
    if (this.#closing.signal.aborted) return Promise.reject(new Error('the Vault session is closing: no new login'));
    const key = this.key(role);
    const p = this.#track(this.#auth.login(role, this.#closing.signal)).then((grant) => {
      const rec = this.ledger.token(key, role, grant);
      e.current = rec;
      this.#log.info(
        { role, auth: this.#auth.kind, ttlSec: Math.round(grant.durationSec), renewable: grant.renewable },
        'logged in to Vault',
      );
      if (grant.durationSec > 0 && grant.durationSec < 2 && !grant.renewable) {
        this.#log.warn({ role, auth: this.#auth.kind }, 'the Vault token expires within seconds and cannot be renewed');
      }
      return grant;
    });
    e.inflight = p;
    const clear = (): void => {
      if (e.inflight === p) e.inflight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /** Whether Vault refuses the token itself (lookup-self answers 403). Shared per token while in flight. */
  #confirmDead(rec: TokenRecord): Promise<boolean> {
    if (rec.state !== 'live') return Promise.resolve(true);
    let p = this.#checks.get(rec);
    if (p === undefined) {
      p = this.#client.lookupSelf(rec.grant.token, this.#closing.signal).then(
        () => false,
        (err: unknown) => {
          if (!isPermissionDenied(err)) return false;
          this.#tokenDied(rec);
          return true;
        },
      );
      this.#checks.set(rec, p);
      const done = (): void => {
        this.#checks.delete(rec);
      };
      p.then(done, done);
    }
    return p;
  }

  #tokenDied(rec: TokenRecord): void {
    if (rec.state !== 'live') return;
    const leases = [...rec.leases].filter((l) => l.state === 'live').length;
    this.ledger.tokenDied(rec);
    const e = this.#entries.get(rec.key);
    const current = e?.current === rec;
    this.#log.warn(
      { role: rec.role, auth: this.#auth.kind, leases },
      current
        ? 'Vault no longer accepts the token tconfd logged in with (revoked or expired): logging in again and obtaining its leases again'
        : 'Vault no longer accepts an earlier token of tconfd: obtaining its leases again',
    );
    if (current && e !== undefined && !this.#exiting) this.#login(e, rec.role).catch(() => undefined);
    for (const fn of this.#deadListeners) {
      try {
        fn(rec);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'a token listener failed');
      }
    }
  }

  #holdsAny(rec: TokenRecord): boolean {
    const gate = this.#gate;
    return gate !== undefined && [...rec.leases].some((l) => l.state === 'live' && gate(l.leaseId));
  }

  // ---- requests and leases -----------------------------------------------------------------------------------------

  async #send<T>(rec: TokenRecord, req: Omit<VaultRequest, 'token' | 'signal'>, caller?: AbortSignal): Promise<VaultExchange<T>> {
    const res = await this.#client.exchange<T>({ ...req, token: rec.grant.token, signal: this.#closing.signal });
    const lease = this.#recordLease(res as VaultExchange<unknown>, rec, req.path);
    // Nobody will use a lease obtained for a caller that stopped waiting: give it back now (at exit, the sweep does).
    if (lease !== undefined && caller?.aborted === true && !this.#exiting) void this.#bounded((s) => this.#revokeLease(lease, s));
    return res;
  }

  #recordLease(res: VaultExchange<unknown>, rec: TokenRecord, path: string): LeaseRecord | undefined {
    const body = res.body as VaultResponse | undefined;
    const leaseId = body?.lease_id;
    if (typeof leaseId !== 'string' || leaseId === '') return undefined;
    const ttl = typeof body?.lease_duration === 'number' ? body.lease_duration : 0;
    const lease = this.ledger.lease(leaseId, path.split('?')[0]!, rec, ttl > 0 ? res.sentAt + ttl * 1000 : null);
    if (++this.#recorded % 256 === 0) this.ledger.prune(this.#clock.now());
    return lease;
  }

  async #revokeLease(rec: LeaseRecord, signal?: AbortSignal): Promise<Outcome> {
    if (rec.state !== 'live') return 'gone';
    if (rec.expiresAt !== null && rec.expiresAt <= this.#clock.now()) {
      this.ledger.leaseGone(rec);
      return 'gone';
    }
    if (this.#revokeDenied) return 'denied';
    const tok = rec.token;
    if (tok.state !== 'live') return 'gone';
    try {
      await this.#client.revokeLease(tok.grant.token, rec.leaseId, signal);
      if (rec.state === 'live') {
        this.ledger.leaseRevoked(rec);
        if (this.#exiting) this.#revoked.leases++;
      }
      return 'revoked';
    } catch (err) {
      const status = (err as { status?: unknown }).status;
      if (status === 400 || status === 404) {
        this.ledger.leaseGone(rec); // lease not found: expired or revoked already
        return 'gone';
      }
      if (status === 403 && signal?.aborted !== true) {
        if (await this.#confirmDead(tok)) return 'gone';
        this.#denyRevocation();
        return 'denied';
      }
      this.#log.debug({ path: rec.path, err: (err as Error).message }, 'lease not revoked');
      return 'failed';
    }
  }

  async #revokeToken(rec: TokenRecord, signal?: AbortSignal): Promise<Outcome> {
    if (rec.state !== 'live' || !rec.grant.byLogin) return 'gone';
    try {
      await this.#client.revokeSelf(rec.grant.token, signal);
      if (rec.state !== 'live') return 'gone';
      const leases = this.ledger.tokenRevoked(rec);
      if (this.#exiting) {
        this.#revoked.tokens++;
        this.#revoked.leases += leases;
      }
      this.#log.debug({ role: rec.role, leases }, 'Vault token revoked (and the leases it created)');
      return 'revoked';
    } catch (err) {
      if (isPermissionDenied(err) && signal?.aborted !== true) {
        this.#tokenDied(rec);
        return 'gone';
      }
      this.#log.debug({ role: rec.role, err: (err as Error).message }, 'Vault token not revoked');
      return 'failed';
    }
  }

  #denyRevocation(): void {
    if (this.#revokeDenied) return;
    this.#revokeDenied = true;
    this.#log.info(
      { policy: REVOKE_POLICY_LINE },
      "Vault's policy does not let tconfd revoke leases (403 on sys/leases/revoke): replaced leases expire on their " +
        'own at the end of their TTL, and the leases of a login token are revoked with it at exit; add the policy line ' +
        'to revoke them at once',
    );
  }

  #bounded(fn: (signal: AbortSignal) => Promise<unknown>): Promise<void> {
    const ac = new AbortController();
    const timer = this.#clock.setTimer(this.#revokeTimeoutMs, () => ac.abort(new Error('revocation timed out')));
    return fn(ac.signal).then(
      () => timer.cancel(),
      () => timer.cancel(),
    );
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#inflight.add(p);
    const done = (): void => {
      this.#inflight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}
