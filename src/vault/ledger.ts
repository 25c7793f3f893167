/**
 * The ledger of a Vault session: every token tconfd obtained or was given, and every lease obtained with each, with
 * the token that actually created it. Pure bookkeeping, no I/O: the session (session.ts) writes it as requests
 * answer; the exit sweep reads what is still alive from it.
 *
 * A lease dies with the token that created it (Vault revokes a token's leases with it), so a token's state carries
 * over to its leases: a dead or revoked token's live leases become dead or revoked too.
 */
import type { AuthGrant } from './auth.js';

export type TokenState =
  /** Valid as far as tconfd knows. */
  | 'live'
  /** Vault refused it (revoked by someone else, expired, Vault restarted empty): nothing to revoke. */
  | 'dead'
  /** Revoked by tconfd (revoke-self). */
  | 'revoked';

export type LeaseState =
  | 'live'
  /** Revoked by tconfd, directly or with its token. */
  | 'revoked'
  /** Its token died, or Vault said it is gone: nothing to revoke. */
  | 'dead';

export interface TokenRecord {
  /** One entry per role (one in all with token auth). */
  readonly key: string;
  readonly role: string;
  /** The grant; its TTL is updated by renewals. */
  grant: AuthGrant;
  state: TokenState;
  readonly leases: Set<LeaseRecord>;
  /**
   * Operations Vault's policy refuses this token although lookup-self accepts it (a 403 on a live token): tconfd
   * stops asking (each token has its own policies: another role's token may be allowed).
   */
  readonly denied: Set<DeniedOperation>;
}

/** What a policy may refuse a live token. */
export type DeniedOperation = 'renew-self' | 'renew-lease' | 'revoke-self' | 'revoke-lease';

export interface LeaseRecord {
  readonly leaseId: string;
  /** The API path that created it (for logs; never a value). */
  readonly path: string;
  /** The token whose request created it. */
  readonly token: TokenRecord;
  /** Clock ms after which Vault will have revoked it by itself; null when it does not expire. */
  expiresAt: number | null;
  state: LeaseState;
  /** Left valid on purpose (files hold its credentials after a failed start): never revoked, nor its token. */
  kept?: boolean;
}

export class Ledger {
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #leases = new Map<string, LeaseRecord>();

  /**
   * Record a token (a login, or a token given by the user); the same token twice is the same record. A login just
   * answered it, so Vault accepts it: a record taken for dead (a given token found dead earlier, which lookup-self now
   * accepts) is live again; its leases stay dead (they were obtained again).
   */
  token(key: string, role: string, grant: AuthGrant): TokenRecord {
    const known = this.#tokens.get(grant.token);
    if (known !== undefined) {
      known.grant = grant;
      if (known.state === 'dead') known.state = 'live';
      return known;
    }
    const rec: TokenRecord = { key, role, grant, state: 'live', leases: new Set(), denied: new Set() };
    this.#tokens.set(grant.token, rec);
    return rec;
  }

  findToken(token: string): TokenRecord | undefined {
    return this.#tokens.get(token);
  }

  /** Record a lease created by a request made with `token`. */
  lease(leaseId: string, path: string, token: TokenRecord, expiresAt: number | null): LeaseRecord {
    const rec: LeaseRecord = { leaseId, path, token, expiresAt, state: token.state === 'live' ? 'live' : 'dead' };
    this.#leases.set(leaseId, rec);
    token.leases.add(rec);
    return rec;
  }

  findLease(leaseId: string): LeaseRecord | undefined {
    return this.#leases.get(leaseId);
  }

  /** The token is known to be invalid: it and its leases need no revocation. */
  tokenDied(rec: TokenRecord): void {
    if (rec.state !== 'live') return;
    rec.state = 'dead';
    for (const l of rec.leases) if (l.state === 'live') l.state = 'dead';
  }

  /** tconfd revoked the token: Vault revoked its leases with it. Returns how many live leases went with it. */
  tokenRevoked(rec: TokenRecord): number {
    if (rec.state !== 'live') return 0;
    rec.state = 'revoked';
    let n = 0;
    for (const l of rec.leases) {
      if (l.state === 'live') {
        l.state = 'revoked';
        n++;
      }
    }
    return n;
  }

  leaseRevoked(rec: LeaseRecord): void {
    if (rec.state === 'live') rec.state = 'revoked';
  }

  leaseGone(rec: LeaseRecord): void {
    if (rec.state === 'live') rec.state = 'dead';
  }

  /** Live leases that have not expired by `now`. */
  liveLeases(now: number): LeaseRecord[] {
    return [...this.#leases.values()].filter((l) => l.state === 'live' && (l.expiresAt === null || l.expiresAt > now));
  }

  /**
   * Forget what needs no more bookkeeping: leases revoked, dead or expired by `now`, and tokens no longer live whose
   * leases are all forgotten (a long run replaces leases for weeks: the ledger stays the size of what is alive).
   */
  prune(now: number): void {
    for (const [id, l] of this.#leases) {
      if (l.state !== 'live' || (l.expiresAt !== null && l.expiresAt <= now)) {
        this.#leases.delete(id);
        l.token.leases.delete(l);
      }
    }
    for (const [id, t] of this.#tokens) if (t.state !== 'live' && t.leases.size === 0) this.#tokens.delete(id);
  }

  get size(): { tokens: number; leases: number } {
    return { tokens: this.#tokens.size, leases: this.#leases.size };
  }

  /** Live tokens; with byLogin, only those tconfd created (and may revoke). */
  liveTokens(opts: { byLogin?: boolean } = {}): TokenRecord[] {
    return [...this.#tokens.values()].filter(
      (t) => t.state === 'live' && (opts.byLogin === undefined || t.grant.byLogin === opts.byLogin),
    );
  }
}
