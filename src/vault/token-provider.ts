/**
 * One Vault token per role, in memory only. get(role) logs in the first time (concurrent callers share one login),
 * then answers the stored token; invalidate(role, token) forgets that token so that the next get() logs in again (the
 * vault source does this after a 403). A lease scheduler renews or replaces tokens through grant() / setGrant().
 *
 * With token auth every role shares the one given token: all roles map to the same entry.
 */
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AuthGrant, AuthMethod } from './auth.js';

/** What the vault source needs: a token per role, and a way to drop a token that Vault refused. */
export interface TokenSource {
  get(role: string, signal?: AbortSignal): Promise<string>;
  /** Forget token (if it is still the current one for role): the next get() logs in again. */
  invalidate(role: string, token: string): void;
}

export interface TokenProviderOptions {
  /** When given, a grant past its TTL is not handed out: get() logs in again. */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

interface Entry {
  grant: AuthGrant | undefined;
  inflight: Promise<AuthGrant> | undefined;
  /** Bumped by setGrant/invalidate so that a login started earlier does not overwrite a newer grant. */
  generation: number;
}

export class TokenProvider implements TokenSource {
  private readonly entries = new Map<string, Entry>();

  constructor(
    readonly auth: AuthMethod,
    private readonly opts: TokenProviderOptions = {},
  ) {}

  /** The key under which role's token lives ('' for every role with token auth). */
  key(role: string): string {
    return this.auth.kind === 'token' ? '' : role;
  }

  async get(role: string, signal?: AbortSignal): Promise<string> {
    const e = this.entry(role);
    if (e.grant !== undefined && !this.expired(e.grant)) return e.grant.token;
    return (await this.loginShared(role, e, signal)).token;
  }

  /** Log in again now (sharing a login already in flight) and store the new grant. */
  async login(role: string, signal?: AbortSignal): Promise<AuthGrant> {
    return this.loginShared(role, this.entry(role), signal);
  }

  invalidate(role: string, token: string): void {
    const e = this.entries.get(this.key(role));
    if (e?.grant !== undefined && e.grant.token === token) {
      e.grant = undefined;
      e.generation++;
      this.opts.logger?.debug({ role, auth: this.auth.kind }, 'Vault token dropped; the next request logs in again');
    }
  }

  /** The current grant of role, if logged in. */
  grant(role: string): AuthGrant | undefined {
    return this.entries.get(this.key(role))?.grant;
  }

  /** Replace role's grant (after a token renewal or a re-login by the scheduler). */
  setGrant(role: string, grant: AuthGrant): void {
    const e = this.entry(role);
    e.grant = grant;
    e.generation++;
  }

  /** Forget role's grant without a login; returns it (e.g. to revoke it). */
  remove(role: string): AuthGrant | undefined {
    const e = this.entries.get(this.key(role));
    if (e === undefined) return undefined;
    const g = e.grant;
    e.grant = undefined;
    e.generation++;
    return g;
  }

  /** Every (key, grant) held, one per distinct token. */
  grants(): Array<[string, AuthGrant]> {
    const out: Array<[string, AuthGrant]> = [];
    for (const [k, e] of this.entries) if (e.grant !== undefined) out.push([k, e.grant]);
    return out;
  }

  private entry(role: string): Entry {
    const k = this.key(role);
    let e = this.entries.get(k);
    if (e === undefined) {
      e = { grant: undefined, inflight: undefined, generation: 0 };
      this.entries.set(k, e);
    }
    return e;
  }

  private expired(g: AuthGrant): boolean {
    const clock = this.opts.clock;
    if (clock === undefined || g.durationSec <= 0) return false;
    return clock.now() >= g.obtainedAt + g.durationSec * 1000;
  }

  private loginShared(role: string, e: Entry, signal?: AbortSignal): Promise<AuthGrant> {
    if (e.inflight === undefined) {
      const generation = e.generation;
      // The shared login is not tied to one caller's signal; each caller stops waiting on its own signal below.
      const p = this.auth.login(role).then(
        (grant) => {
          if (e.generation === generation || e.grant === undefined) {
            e.grant = grant;
            e.generation++;
          }
          this.opts.logger?.info(
            { role, auth: this.auth.kind, ttlSec: grant.durationSec, renewable: grant.renewable },
            'logged in to Vault',
          );
          return grant;
        },
      );
      e.inflight = p;
      const clear = (): void => {
        if (e.inflight === p) e.inflight = undefined;
      };
      p.then(clear, clear);
    }
    return raceSignal(e.inflight, signal);
  }
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}
