/**
 * The lease scheduler: keeps leased secrets, certificates, polled unleased values and Vault tokens fresh.
 * See scheduler.ts for the API and policy.ts for the timing rules.
 *
 * Wiring (sketch; `vault` is a Vault client, `render` re-renders the templates using a secret):
 *
 *   const scheduler = createScheduler({ clock: systemClock, logger: log.child({ component: 'leases' }) });
 *
 *   const db = scheduler.hold<unknown>({
 *     name: 'vault:app:database/creds/app',
 *     acquire: async ({ signal }) => grantFromFetched(await source.fetch(spec, signal)),
 *     renew: async (g, { signal, incrementSec }) => {
 *       const lt = g.lifetime as { leaseId: string };
 *       const r = await vault.put('sys/leases/renew', { lease_id: lt.leaseId, increment: incrementSec }, signal);
 *       return { durationSec: r.lease_duration, warnings: r.warnings ?? [], renewable: r.renewable };
 *     },
 *     release: (g, signal) => vault.put('sys/leases/revoke', { lease_id: (g.lifetime as { leaseId: string }).leaseId }, signal),
 *     onGrant: (next) => render(next.value), // resolves once the app uses the new credentials
 *   }, grantFromFetched(initialFetch));
 *
 *   scheduler.hold<string>({
 *     name: 'token for role app',
 *     acquire: async ({ signal }) => login(signal), // { value: token, lifetime: { kind: 'token', renewable, durationSec }, obtainedAt }
 *     renew: async (g, { signal, incrementSec }) => renewSelf(g.value, incrementSec, signal),
 *     release: (g, signal) => revokeSelf(g.value, signal),
 *     onGrant: async (next) => {
 *       vault.setToken(next.value);
 *       await Promise.all([db].map((h) => h.replaceNow('token replaced'))); // before the old token is revoked
 *     },
 *   }, initialToken);
 *
 *   process.on('SIGTERM', () => void scheduler.stop({ revoke: true }));
 */
export {
  createScheduler,
  grantFromFetched,
  type AcquireContext,
  type Grant,
  type HoldHandle,
  type Holding,
  type HoldingStatus,
  type LeaseScheduler,
  type Renewal,
  type RenewContext,
  type SchedulerLogger,
  type SchedulerOptions,
} from './scheduler.js';
export { DEFAULT_TIMING, resolveTiming, type HeldLifetime, type Rng, type Timing, type TokenLifetime } from './policy.js';
