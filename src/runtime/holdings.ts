/**
 * What the lease scheduler keeps fresh for Vault: one holding per Vault secret (lease, certificate or unleased read)
 * and one per Vault token that expires. Every callback goes through the Vault session, which owns the tokens and knows
 * which token created each lease; the scheduler only decides when.
 *
 * Leases die with the token that created them. When a token is replaced (its max TTL) or found dead (the session's
 * onTokenDead), every lease holding whose current lease was created with it is replaced at once, exactly once: the
 * replacement is shared while in flight, and a holding already acquiring is left to finish (a lease it brings back
 * from a dead token is refused by onGrant and acquired again). Once a login succeeds, whatever waits to be obtained
 * again with that role's token (in backoff after failed logins) is acquired at once.
 */
import type { Logger } from '../log.js';
import type { VaultSecretSpec } from '../config/secret-path.js';
import { grantFromFetched, type Grant, type HoldHandle, type LeaseScheduler } from '../leases/scheduler.js';
import type { TokenLifetime } from '../leases/policy.js';
import type { Fetched, Lifetime, SecretSource } from '../sources/types.js';
import type { Metrics } from '../supervisor/health.js';
import type { AuthGrant, VaultSession } from '../vault/index.js';
import type { Pipeline } from './pipeline.js';

export interface VaultHoldingsOptions {
  readonly scheduler: LeaseScheduler;
  readonly session: VaultSession;
  readonly source: SecretSource<VaultSecretSpec>;
  readonly pipeline: Pipeline;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** A secret has a new value (or a new lease): render the templates that use it. */
  readonly changed: (raw: string) => void;
}

export function holdVault(opts: VaultHoldingsOptions): void {
  const { scheduler, session, source, pipeline, metrics, logger } = opts;
  const secrets: HoldHandle<unknown>[] = [];
  /** The token key (session.key(role)) of each holding: secrets and tokens. */
  const keyOf = new Map<HoldHandle<unknown>, string>();
  const tokens = new Map<string, HoldHandle<AuthGrant>>();
  const replacing = new Map<string, Promise<void>>();

  /** Replace every lease created with `token` (once, however many ask). */
  const replaceLeasesOf = (token: string, reason: string): Promise<void> => {
    const running = replacing.get(token);
    if (running !== undefined) return running;
    const targets = secrets.filter((h) => {
      const l = h.current().lifetime;
      if (l.kind !== 'lease' || session.ledger.findLease(l.leaseId)?.token.grant.token !== token) return false;
      const st = h.status();
      return !(st.inFlight && st.nextAction === 'acquire');
    });
    if (targets.length === 0) return Promise.resolve();
    logger.info({ secrets: targets.length, reason }, 'new Vault token: obtaining its leases again');
    const p = Promise.all(targets.map((h) => h.replaceNow(reason))).then(() => undefined);
    replacing.set(token, p);
    void p.finally(() => replacing.delete(token));
    return p;
  };

  for (const spec of pipeline.vaultSecrets()) {
    const current = pipeline.current(spec.raw);
    if (current === undefined || !keptFresh(current.lifetime)) continue;
    const metricName = pipeline.nameOf(spec.raw);
    const leased = current.lifetime.kind === 'lease';
    const renewable = current.lifetime.kind === 'lease' && current.lifetime.renewable;
    const handle = scheduler.hold<unknown>(
      {
        name: spec.raw,
        acquire: async ({ signal }) => grantFromFetched(await source.fetch(spec, signal)),
        ...(renewable
          ? {
              renew: async (g, { signal, incrementSec, deadline }) => {
                const r = await session.renewLease(leaseIdOf(g), spec.role, incrementSec, { signal, ...(deadline !== undefined ? { deadline } : {}) });
                metrics.incLeaseRenewals(metricName);
                return r;
              },
            }
          : {}),
        ...(leased ? { release: (g, signal) => session.releaseLease(leaseIdOf(g), signal) } : {}),
        onGrant: async (next) => {
          const l = next.lifetime as Lifetime;
          if (l.kind === 'lease' && session.ledger.findLease(l.leaseId)?.state === 'dead') {
            throw new Error('obtained with a Vault token that is no longer valid');
          }
          const fetched: Fetched = { value: next.value, lifetime: l, fetchedAt: next.obtainedAt };
          if (pipeline.update(spec.raw, fetched)) {
            logger.info({ secret: spec.raw, lifetime: l.kind }, 'secret changed: rendering its templates');
            opts.changed(spec.raw);
          } else if (l.kind === 'lease') {
            opts.changed(spec.raw); // same value, new lease: the files must say which lease they hold
          } else {
            logger.debug({ secret: spec.raw }, 'secret read again: unchanged');
          }
        },
      },
      grantFromFetched(current),
    );
    secrets.push(handle);
    keyOf.set(handle, session.key(spec.role));
  }

  // One holding per Vault token that expires (one per role; one in all with --auth token).
  const roles = new Map<string, string>();
  for (const spec of pipeline.vaultSecrets()) roles.set(session.key(spec.role), spec.role);
  for (const [key, role] of roles) {
    const grant = session.currentGrant(role);
    if (grant === undefined || grant.durationSec === 0) continue; // a token that never expires
    const name = session.authKind === 'token' ? 'Vault token (--auth token)' : `Vault token for role "${role}"`;
    const handle: HoldHandle<AuthGrant> = scheduler.hold<AuthGrant>(
      {
        name,
        acquire: async ({ signal }) => tokenGrant(await session.replaceToken(role, handle.current().value.token, signal)),
        // Whatever the first token was: a token given later (a token file rewritten) may be renewable. The scheduler
        // renews only grants that say they are renewable.
        renew: (g, { signal, incrementSec, deadline }) =>
          session.renewToken(g.value.token, incrementSec, { signal, ...(deadline !== undefined ? { deadline } : {}) }),
        ...(grant.byLogin ? { release: (g, signal) => session.releaseToken(g.value.token, signal) } : {}),
        // Only once the leases of the previous token are obtained again is that token released (after the grace). The
        // same token again (token auth reads the token it was given once more): its leases are fine.
        onGrant: async (next, previous) => {
          if (next.value.token !== previous.value.token) await replaceLeasesOf(previous.value.token, 'the Vault token that created it is being replaced');
        },
      },
      tokenGrant(grant),
    );
    tokens.set(key, handle);
    keyOf.set(handle as HoldHandle<unknown>, key);
  }

  // A login succeeded (after failed ones: Vault restarted empty and not set up again yet, a token file rewritten...):
  // what waits to be obtained again with that role's token goes now, not at the end of its backoff (up to 30 s), so
  // that the leases of a dead token are rendered together, the command told once.
  session.onLogin((fresh) => {
    for (const [h, key] of keyOf) {
      if (key !== fresh.key) continue;
      const st = h.status();
      if (st.inFlight) continue;
      const l = h.current().lifetime;
      const deadLease = l.kind === 'lease' && session.ledger.findLease(l.leaseId)?.state === 'dead';
      if (deadLease || (st.consecutiveFailures > 0 && st.nextAction === 'acquire')) void h.replaceNow('a new Vault token is available');
    }
  });

  session.onTokenDead((dead) => {
    const h = tokens.get(dead.key);
    if (h !== undefined && h.current().value.token === dead.grant.token) void h.replaceNow('Vault no longer accepts the token');
    void replaceLeasesOf(dead.grant.token, 'the Vault token that created it is no longer valid');
  });
}

function keptFresh(l: Lifetime): boolean {
  return l.kind === 'lease' || l.kind === 'certificate' || l.kind === 'unleased';
}

function leaseIdOf(g: Grant<unknown>): string {
  return (g.lifetime as Extract<Lifetime, { kind: 'lease' }>).leaseId;
}

function tokenGrant(g: AuthGrant): Grant<AuthGrant> {
  const lifetime: TokenLifetime = { kind: 'token', renewable: g.renewable, durationSec: g.durationSec };
  return { value: g, lifetime, obtainedAt: g.obtainedAt };
}
