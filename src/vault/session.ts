/**
 * The Vault session: the one owner of tconfd's Vault tokens and of the leases obtained with them.
 *
 * - It is the only caller of AuthMethod.login: one token per role (one in all with token auth); callers that need a
 *   token at the same time share one login; a replacement asked for a token that was already replaced answers the
 *   replacement (so a token is replaced exactly once, whoever notices first).
 * - Every request that may create a lease goes through request(): the answer's lease is recorded in the ledger with
 *   the token that actually sent the request, and renewLease() / releaseLease() use that token.
 * - A 403 on a token tconfd believed valid, whatever the request (a read, renew-self, a lease renewal, a revocation),
 *   goes through one check, lookup-self: a 403 there too means the token is dead (revoked by an operator, expired,
 *   Vault restarted empty): it is replaced at once (one login), a read is retried once, and the onTokenDead listeners
 *   are told, so that every lease created with it is obtained again; once a login succeeds, the onLogin listeners
 *   are told, so that what waits to be obtained again (in backoff after failed logins) goes at once. A 200 means the
 *   token is live and the policy refused that path: a read fails (no login); a refused renewal (renew-self,
 *   sys/leases/renew) is answered as "not renewable" with the TTL left, so that the token or lease is replaced before
 *   it expires, not at once; a refused revocation leaves it alive and counts it as not revoked. Each refusal is said
 *   once per role at warn, naming the policy line that grants it, and that token is not asked again (another role's
 *   token has its own policies).
 * - Releasing a replaced lease or token asks the credential gate first: while a rendered file still holds the
 *   lease's credentials (no newer rendering succeeded), the release is deferred (releaseDeferred() retries).
 * - Without `update` on sys/leases/revoke (Vault's default policy), revoking a lease answers 403: this is said once per
 *   role at info, and that token's replaced leases are left to expire; revoke-self of a login token still revokes every
 *   lease it created.
 * - revokeAll(), at exit, after the lease scheduler gave back what it held: waits (bounded) for requests in flight
 *   that may still create a lease or a token, revokes every lease recorded and not revoked, then revoke-self of every
 *   token tconfd logged in with, and reports what was revoked and what was not.
 */
import { setMaxListeners } from 'node:events';
import { raceSignal } from '../abort.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuthGrant, AuthMethod } from './auth.js';
import { remainingSec } from './auth-token.js';
import type { Renewal, TokenInfo, VaultClient, VaultExchange, VaultRequest, VaultResponse } from './client.js';
import { isPermissionDenied } from './errors.js';
import { Ledger, type DeniedOperation, type LeaseRecord, type TokenRecord } from './ledger.js';

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
  /** The policy lines whose absence left something alive (revoke-self, sys/leases/revoke refused to a live token). */
  readonly missingPolicy: readonly string[];
  /** Left valid on purpose (keepLeases): files hold their credentials. Not counted as not revoked. */
  readonly kept: { readonly leases: number; readonly tokens: number };
}

/** The policy line that grants each operation a policy may refuse a live token. */
export const POLICY_LINES: Readonly<Record<DeniedOperation, string>> = {
  'revoke-lease': 'path "sys/leases/revoke" { capabilities = ["update"] }',
  'revoke-self': 'path "auth/token/revoke-self" { capabilities = ["update"] }',
  'renew-self': 'path "auth/token/renew-self" { capabilities = ["update"] }',
  'renew-lease': 'path "sys/leases/renew" { capabilities = ["update"] }',
};

/** The policy line that lets tconfd revoke a lease it replaced (or holds at exit) at once. */
export const REVOKE_POLICY_LINE = POLICY_LINES['revoke-lease'];

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

/** What lookup-self says of a token that got a 403: dead, live (the policy refused the path), or not known. */
type Check = { readonly state: 'dead' } | { readonly state: 'live'; readonly info: TokenInfo } | { readonly state: 'unknown'; readonly err: unknown };

export class VaultSession {
  readonly ledger = new Ledger();
  readonly #client: SessionClient;
  readonly #auth: AuthMethod;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #settleMs: number;
  readonly #revokeTimeoutMs: number;
  readonly #entries = new Map<string, Entry>();
  readonly #checks = new Map<TokenRecord, Promise<Check>>();
  readonly #deadListeners = new Set<(token: TokenRecord) => void>();
  readonly #loginListeners = new Set<(token: TokenRecord) => void>();
  /** Requests that may still create a lease or a token. */
  readonly #inflight = new Set<Promise<unknown>>();
  /** Aborts what is still in flight once revokeAll() stopped waiting for it. */
  readonly #closing = new AbortController();
  readonly #deferredLeases = new Set<LeaseRecord>();
  readonly #deferredTokens = new Set<TokenRecord>();
  #gate: CredentialGate | undefined;
  #exiting = false;
  /** "operation role" pairs whose refusal was said (once per role). */
  readonly #said = new Set<string>();
  /** Tokens said to expire within seconds without renewal (once each). */
  readonly #saidExpiring = new WeakSet<TokenRecord>();
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

  /** Called with every token obtained by a successful login (what waits for one, e.g. in backoff, may go now). */
  onLogin(fn: (token: TokenRecord) => void): () => void {
    this.#loginListeners.add(fn);
    return () => this.#loginListeners.delete(fn);
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
      if ((await this.#check(rec)).state !== 'dead') throw err; // the policy denies this path: not the token's fault
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

  /**
   * auth/token/renew-self; the ledger keeps the new TTL. A 403 is checked with lookup-self: a dead token throws it; a
   * live one (the policy does not grant renew-self) answers "not renewable" with the TTL it has left, so that it is
   * replaced (a new login) before it expires; when lookup-self cannot be asked, the failure is transient (no status).
   */
  async renewToken(token: string, incrementSec: number, opts: { signal?: AbortSignal; deadline?: number } = {}): Promise<Renewal> {
    const rec = this.ledger.findToken(token);
    if (rec?.denied.has('renew-self') === true) return notRenewable(rec.grant.durationSec, rec.grant.obtainedAt);
    // A token tconfd did not log in for is renewed by its own TTL (no increment, as `vault token renew`): what it had
    // left when tconfd looked it up is no measure of it (a token given in its last second would be renewed by a
    // second at a time, for ever).
    const increment = rec !== undefined && !rec.grant.byLogin ? undefined : incrementSec;
    try {
      const r = await this.#client.renewSelf(token, increment, opts.signal, opts.deadline);
      if (rec !== undefined) rec.grant = { ...rec.grant, durationSec: r.durationSec, obtainedAt: r.sentAt };
      return r;
    } catch (err) {
      if (rec === undefined || !isPermissionDenied(err) || opts.signal?.aborted === true) throw err;
      const check = await this.#check(rec);
      if (check.state === 'dead') throw err;
      if (check.state === 'unknown') throw unknownAfter(err, check.err);
      this.#denied(
        rec,
        'renew-self',
        rec.grant.byLogin
          ? 'the Vault token cannot be renewed: it is replaced (a new login) before it expires'
          : `${this.#auth.given?.source ?? 'the Vault token given'} cannot be renewed: it is used until it expires`,
      );
      const left = remainingSec(check.info, check.info.sentAt);
      rec.grant = { ...rec.grant, renewable: false, ...(left > 0 ? { durationSec: left, obtainedAt: check.info.sentAt } : {}) };
      this.#expiring(rec, 'the policy refuses auth/token/renew-self');
      return notRenewable(rec.grant.durationSec, rec.grant.obtainedAt);
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
    const left = (): Renewal => notRenewable(Math.max(0, ((lease?.expiresAt ?? this.#clock.now()) - this.#clock.now()) / 1000), this.#clock.now());
    if (tok.denied.has('renew-lease')) return left();
    try {
      const r = await this.#client.renewLease(tok.grant.token, leaseId, incrementSec, opts.signal, opts.deadline);
      if (lease !== undefined) lease.expiresAt = r.sentAt + r.durationSec * 1000;
      return r;
    } catch (err) {
      if (!isPermissionDenied(err) || opts.signal?.aborted === true) throw err;
      const check = await this.#check(tok);
      if (check.state === 'dead') throw err;
      if (check.state === 'unknown') throw unknownAfter(err, check.err);
      this.#denied(tok, 'renew-lease', 'leases cannot be renewed: each is replaced before it expires');
      return left();
    }
  }

  /**
   * The credential gate: whether a lease must be kept for now, and why (a rendered file still holds its credentials;
   * the application was not told about their replacement yet, or less than --revoke-grace ago). Such a lease, and the
   * token that created it, are not released until releaseDeferred() finds them free.
   */
  setCredentialGate(holds: CredentialGate): void {
    this.#gate = holds;
  }

  /** Why the gate keeps a lease now (undefined: it may go). */
  #kept(leaseId: string): string | undefined {
    const r = this.#gate?.(leaseId);
    return r === true ? 'a rendered file still holds its credentials' : r === false || r === undefined ? undefined : r;
  }

  /** Give back a lease that was replaced (or, at exit, held): deferred while the gate keeps it. */
  async releaseLease(leaseId: string, signal?: AbortSignal): Promise<void> {
    const rec = this.ledger.findLease(leaseId);
    if (rec === undefined || rec.state !== 'live') return;
    const why = this.#exiting ? undefined : this.#kept(leaseId);
    if (why !== undefined) {
      this.#deferredLeases.add(rec);
      this.#log.info({ path: rec.path, why }, `replaced lease kept for now: ${why}`);
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
      this.#log.info({ role: rec.role }, 'replaced Vault token kept for now: one of its leases is kept (see the lease)');
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
      else if (this.#kept(rec.leaseId) === undefined) {
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

  /**
   * Never revoke these leases, nor the tokens that created them (revoke-self would take them along): files hold their
   * credentials (a start that failed after some files were put in place). Returns how many leases and tokens that is.
   */
  keepLeases(leaseIds: Iterable<string>): { leases: number; tokens: number } {
    const tokens = new Set<TokenRecord>();
    let leases = 0;
    for (const id of leaseIds) {
      const rec = this.ledger.findLease(id);
      if (rec === undefined || rec.state !== 'live') continue;
      rec.kept = true;
      leases++;
      if (rec.token.grant.byLogin) tokens.add(rec.token);
    }
    return { leases, tokens: tokens.size };
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
    const kept = (l: LeaseRecord): boolean => l.kept === true;
    const keptToken = (t: TokenRecord): boolean => [...t.leases].some((l) => l.state === 'live' && kept(l));
    await Promise.all(this.ledger.liveLeases(this.#clock.now()).filter((l) => !kept(l)).map((l) => this.#revokeLease(l, signal)));
    await Promise.all(this.ledger.liveTokens({ byLogin: true }).filter((t) => !keptToken(t)).map((t) => this.#revokeToken(t, signal)));
    const live = this.ledger.liveLeases(this.#clock.now());
    const liveTokens = this.ledger.liveTokens({ byLogin: true });
    const leases = live.filter((l) => !kept(l));
    const tokens = liveTokens.filter((t) => !keptToken(t));
    const missing = new Set<string>();
    for (const l of leases) if (l.token.denied.has('revoke-lease')) missing.add(POLICY_LINES['revoke-lease']);
    for (const t of tokens) if (t.denied.has('revoke-self')) missing.add(POLICY_LINES['revoke-self']);
    return {
      leases: { revoked: this.#revoked.leases, notRevoked: leases.length },
      tokens: { revoked: this.#revoked.tokens, notRevoked: tokens.length },
      revokeDenied: [...this.#said].some((k) => k.startsWith('revoke-lease ')),
      missingPolicy: [...missing],
      kept: { leases: live.length - leases.length, tokens: liveTokens.length - tokens.length },
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
    const p = this.#track(this.#auth.login(role, this.#closing.signal)).then((answered) => {
      const rec = this.ledger.token(key, role, answered);
      // The same token again (token auth): what the policy refused it still holds.
      if (rec.denied.has('renew-self') && answered.renewable) rec.grant = { ...answered, renewable: false };
      const grant = rec.grant;
      e.current = rec;
      this.#log.info(
        { role, auth: this.#auth.kind, ttlSec: Math.round(grant.durationSec), renewable: grant.renewable },
        'logged in to Vault',
      );
      if (!grant.renewable) this.#expiring(rec, 'Vault says it is not renewable');
      this.#tell(this.#loginListeners, rec, 'a login listener failed');
      return grant;
    });
    e.inflight = p;
    const clear = (): void => {
      if (e.inflight === p) e.inflight = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * The one check of a token that got a 403, whatever the request: lookup-self. A 403 there too: the token is dead (it
   * is marked so, replaced if current, and the listeners told). A 200: it is live, the policy refused that path.
   * Shared per token while in flight. Aborted with the session (`signal`: the exit sweep passes its own, since the
   * session is closed by then).
   */
  #check(rec: TokenRecord, signal: AbortSignal = this.#closing.signal): Promise<Check> {
    if (rec.state !== 'live') return Promise.resolve({ state: 'dead' });
    let p = this.#checks.get(rec);
    if (p === undefined) {
      p = this.#client.lookupSelf(rec.grant.token, signal).then(
        (info): Check => ({ state: 'live', info }),
        (err: unknown): Check => {
          if (!isPermissionDenied(err)) return { state: 'unknown', err };
          this.#tokenDied(rec);
          return { state: 'dead' };
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
    this.#tell(this.#deadListeners, rec, 'a token listener failed');
  }

  #tell(listeners: ReadonlySet<(token: TokenRecord) => void>, rec: TokenRecord, failed: string): void {
    for (const fn of listeners) {
      try {
        fn(rec);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, failed);
      }
    }
  }

  /**
   * Say (once per token) that a token expires within seconds and cannot be renewed. A login token is replaced by a new
   * login (warn). A token given to tconfd (--auth token) has no replacement tconfd could obtain: it is used until it
   * expires, then every request fails until a valid token is given; said at error, naming where the token comes from
   * (never the token).
   */
  #expiring(rec: TokenRecord, why: string): void {
    const g = rec.grant;
    const leftSec = g.durationSec - (this.#clock.now() - g.obtainedAt) / 1000;
    if (g.durationSec === 0 || leftSec >= 2 || this.#saidExpiring.has(rec)) return;
    this.#saidExpiring.add(rec);
    const fields = { role: rec.role, auth: this.#auth.kind, expiresInSec: Math.max(0, Math.round(leftSec * 10) / 10) };
    if (g.byLogin) {
      this.#log.warn(fields, `the Vault token expires within seconds and cannot be renewed (${why}): logging in again before it expires`);
      return;
    }
    const given = this.#auth.given ?? { source: 'the Vault token given', remedy: 'give tconfd a valid token' };
    this.#log.error(
      { ...fields, source: given.source },
      `${given.source} expires within seconds and cannot be renewed (${why}): tconfd uses it until then; afterwards ` +
        `Vault refuses it and secrets are neither read nor renewed (the files keep their last values): ${given.remedy}`,
    );
  }

  #holdsAny(rec: TokenRecord): boolean {
    return [...rec.leases].some((l) => l.state === 'live' && this.#kept(l.leaseId) !== undefined);
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
    if (rec.kept === true) return 'denied';
    if (rec.expiresAt !== null && rec.expiresAt <= this.#clock.now()) {
      this.ledger.leaseGone(rec);
      // Kept while the application was not told yet (--wait, --splay, --reload-grace) or within --revoke-grace.
      if (!this.#exiting) this.#log.info({ path: rec.path }, 'replaced lease expired while it was kept: not revoked, it ran out by itself');
      return 'gone';
    }
    const tok = rec.token;
    if (tok.state !== 'live') return 'gone';
    if (tok.denied.has('revoke-lease')) return 'denied';
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
        if (!this.#exiting) this.#log.info({ path: rec.path }, 'replaced lease expired while it was kept: not revoked, it ran out by itself');
        return 'gone';
      }
      if (status === 403 && signal?.aborted !== true) {
        const check = await this.#check(tok, signal ?? new AbortController().signal);
        if (check.state === 'dead') return 'gone';
        if (check.state === 'unknown') return 'failed';
        this.#denied(tok, 'revoke-lease');
        return 'denied';
      }
      this.#log.debug({ path: rec.path, err: (err as Error).message }, 'lease not revoked');
      return 'failed';
    }
  }

  async #revokeToken(rec: TokenRecord, signal?: AbortSignal): Promise<Outcome> {
    if (rec.state !== 'live' || !rec.grant.byLogin) return 'gone';
    if (rec.denied.has('revoke-self')) return 'denied';
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
        const check = await this.#check(rec, signal ?? new AbortController().signal);
        if (check.state === 'dead') return 'gone';
        if (check.state === 'live') {
          this.#denied(rec, 'revoke-self', 'the token stays valid (with its leases) until it expires');
          return 'denied';
        }
      }
      this.#log.debug({ role: rec.role, err: (err as Error).message }, 'Vault token not revoked');
      return 'failed';
    }
  }

  /**
   * The policy refused a live token an operation: that token is not asked again, and it is said once per role, naming
   * the policy line that grants it. A lease revocation refused is routine under Vault's default policy (info); the
   * others are warnings.
   */
  #denied(rec: TokenRecord, op: DeniedOperation, consequence?: string): void {
    rec.denied.add(op);
    const key = `${op} ${rec.role}`;
    if (this.#said.has(key)) return;
    this.#said.add(key);
    const fields = { role: rec.role, auth: this.#auth.kind, policy: POLICY_LINES[op] };
    if (op === 'revoke-lease') {
      this.#log.info(
        fields,
        "Vault's policy does not let tconfd revoke leases (403 on sys/leases/revoke): replaced leases expire on their " +
          'own at the end of their TTL, and the leases of a login token are revoked with it at exit; add the policy line ' +
          `${POLICY_LINES[op]} to revoke them at once`,
      );
      return;
    }
    const path = op === 'renew-lease' ? 'sys/leases/renew' : `auth/token/${op}`;
    this.#log.warn(
      fields,
      `Vault's policy refuses ${path} to tconfd's token (403; lookup-self accepts the token, so it is valid): ${consequence ?? 'not asked again'}; add the policy line ${POLICY_LINES[op]}`,
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

/**
 * Whether a lease must be kept for now: why (a reason), or true (a rendered file holds its credentials); false or
 * undefined when it may be released.
 */
export type CredentialGate = (leaseId: string) => string | boolean | undefined;

/** A renewal refused by policy, as the lease scheduler reads it: not renewable, `durationSec` left from `sentAt`. */
function notRenewable(durationSec: number, sentAt: number): Renewal {
  return { durationSec, renewable: false, warnings: [], sentAt };
}

/** A 403 that lookup-self could not explain (no answer): a transient failure (no status), retried with backoff. */
function unknownAfter(err: unknown, lookupErr: unknown): Error {
  const why = lookupErr instanceof Error ? lookupErr.message : String(lookupErr);
  return new Error(`${(err as Error).message}; lookup-self could not tell whether the token is still valid (${why})`, { cause: err });
}
