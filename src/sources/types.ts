/**
 * The contract between secret sources and the rest of tconfd. A source turns a parsed secret path into a value for
 * Jsonnet plus the facts about how long that value lives; it knows nothing of templates or files. A new backend plugs
 * in by implementing SecretSource for its spec type and registering it in sources/index.ts.
 */
import type { SecretSpec } from '../config/secret-path.js';

/** How long a fetched value lives, in Vault's words. Times are milliseconds since the epoch (from the Clock). */
export type Lifetime =
  /** Never changes by itself (env, file, exe static). */
  | { readonly kind: 'static' }
  /** Fetched again at every rendering of a template that uses it (exe dynamic). */
  | { readonly kind: 'dynamic' }
  /** A Vault response without a lease (KV v1/v2, transit, ...): read again every --static-refresh. */
  | { readonly kind: 'unleased' }
  /** A Vault lease (database credentials, ...). */
  | {
      readonly kind: 'lease';
      readonly leaseId: string;
      readonly renewable: boolean;
      /** lease_duration in seconds as Vault answered it. */
      readonly durationSec: number;
    }
  /** A PKI certificate issued without a lease: valid from notBefore to notAfter (read from the certificate). */
  | {
      readonly kind: 'certificate';
      readonly notBefore: number;
      readonly notAfter: number;
      /** The `ttl` the request asked for (its ttl=... argument), in seconds; absent when it asked for none. */
      readonly requestedTtlSec?: number;
    };

export interface Fetched {
  /** The JSON value given to Jsonnet in std.extVar('secrets'). */
  readonly value: unknown;
  readonly lifetime: Lifetime;
  /** When the value was obtained (Clock time, ms). */
  readonly fetchedAt: number;
}

export interface SecretSource<S extends SecretSpec = SecretSpec> {
  /** Fetch the current value. Errors name the secret path and never carry the value. */
  fetch(spec: S, signal?: AbortSignal): Promise<Fetched>;
}

/** Lease facts given to templates through std.extVar('leases') (never the lease id). */
export interface LeaseFacts {
  readonly renewable: boolean;
  /** Seconds the value is valid for from when it was fetched or last renewed (0 when it does not expire). */
  readonly lease_duration: number;
  /** RFC 3339 time at which the value expires, or null when it does not expire. */
  readonly expires_at: string | null;
}

/** A failure to fetch a secret. The message names the secret path; it never includes the secret's value. */
export class SecretFetchError extends Error {
  override readonly name = 'SecretFetchError';
  constructor(
    readonly secretPath: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`secret "${secretPath}": ${message}`, options);
  }
}
