/**
 * Errors of the Vault client. Their messages name the HTTP method, the API path and what Vault said; they never
 * carry a request body, a token or response data, so they can be logged and shown as they are.
 */
import { STATUS_CODES } from 'node:http';

/** HTTP statuses worth another attempt: Vault standby/sealed (503), rate limits (429), consistency (412), proxies. */
export const TRANSIENT_STATUSES: ReadonlySet<number> = new Set([412, 429, 500, 502, 503, 504]);

/** Facts about a KV v2 version that Vault answered 404 for because it is deleted or destroyed (no data). */
export interface Kv2Deleted {
  readonly version: number | undefined;
  readonly destroyed: boolean;
}

/** Vault answered with an HTTP error status. */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  readonly status: number;
  readonly method: string;
  /** API path after /v1/, without the query string. */
  readonly path: string;
  /** Vault's `errors`, flattened (`1 error occurred:\n\t* permission denied` → `permission denied`). */
  readonly errors: string[];
  readonly warnings?: string[];
  /** Set when a KV v2 read answered 404 because the version is soft-deleted or destroyed. */
  readonly kv2Deleted?: Kv2Deleted;
  /** How many attempts were made (1 when the status is not retried). */
  readonly attempts: number;

  constructor(init: {
    status: number;
    method: string;
    path: string;
    errors?: readonly string[];
    warnings?: readonly string[];
    kv2Deleted?: Kv2Deleted;
    attempts?: number;
  }) {
    const errors = [...(init.errors ?? [])];
    let detail = errors.length > 0 ? errors.join('; ') : statusText(init.status);
    if (init.kv2Deleted !== undefined && errors.length === 0) {
      const v = init.kv2Deleted.version !== undefined ? `version ${init.kv2Deleted.version}` : 'the latest version';
      detail = `${statusText(init.status)} (KV v2 ${v} is ${init.kv2Deleted.destroyed ? 'destroyed' : 'deleted'})`;
    }
    const tries = (init.attempts ?? 1) > 1 ? ` (after ${init.attempts} attempts)` : '';
    super(`Vault answered ${init.status} to ${init.method} ${init.path}: ${detail}${tries}`);
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.errors = errors;
    if (init.warnings !== undefined && init.warnings.length > 0) this.warnings = [...init.warnings];
    if (init.kv2Deleted !== undefined) this.kv2Deleted = init.kv2Deleted;
    this.attempts = init.attempts ?? 1;
  }
}

/** Vault could not be reached or did not answer in time (connection refused, reset, TLS failure, timeout). */
export class VaultNetworkError extends Error {
  override readonly name = 'VaultNetworkError';
  readonly status: undefined = undefined;
  readonly method: string;
  readonly path: string;
  /** Node/undici error code when there is one (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, TIMEOUT, ...). */
  readonly code: string | undefined;
  /** Whether trying again may help (false for TLS verification failures). */
  readonly transient: boolean;
  readonly attempts: number;

  constructor(init: {
    method: string;
    path: string;
    reason: string;
    code?: string;
    transient: boolean;
    attempts?: number;
    cause?: unknown;
  }) {
    const tries = (init.attempts ?? 1) > 1 ? ` (after ${init.attempts} attempts)` : '';
    super(`Vault did not answer ${init.method} ${init.path}: ${init.reason}${tries}`, { cause: init.cause });
    this.method = init.method;
    this.path = init.path;
    this.code = init.code;
    this.transient = init.transient;
    this.attempts = init.attempts ?? 1;
  }
}

export function statusText(status: number): string {
  const text = STATUS_CODES[status];
  return text === undefined ? String(status) : `${status} ${text}`;
}

/**
 * Flatten Vault's error strings: hashicorp/go-multierror renders `1 error occurred:\n\t* permission denied\n\n`;
 * keep the inner messages, one line each.
 */
export function flattenVaultErrors(errors: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const e of errors) {
    if (typeof e !== 'string') continue;
    const multi = /^\d+ errors? occurred:\s*\n([\s\S]*)$/.exec(e);
    if (multi !== null) {
      for (const item of (multi[1] ?? '').split(/\n\t\* /)) {
        const line = item.replace(/^\t?\* /, '').replace(/\s+/g, ' ').trim();
        if (line !== '') out.push(line);
      }
    } else {
      const line = e.replace(/\s+/g, ' ').trim();
      if (line !== '') out.push(line);
    }
  }
  return out;
}

/** err and its causes, innermost last (bounded, in case of cycles). */
function* chain(err: unknown): Generator<unknown> {
  let cur: unknown = err;
  for (let i = 0; i < 8 && cur !== undefined && cur !== null; i++) {
    yield cur;
    cur = cur instanceof Error ? cur.cause : undefined;
  }
}

function findVaultError(err: unknown): VaultError | undefined {
  for (const e of chain(err)) if (e instanceof VaultError) return e;
  return undefined;
}

/** Vault answered 403 (bad, expired or revoked token, or a policy denial), to err or one of its causes. */
export function isPermissionDenied(err: unknown): boolean {
  return findVaultError(err)?.status === 403;
}

/**
 * The lease (or token) cannot be renewed any more: Vault answers 400 `lease not found` once the lease is revoked or
 * expired, and `past the max TTL, cannot renew` at its max TTL. The caller must fetch a new secret.
 */
export function isLeaseGone(err: unknown): boolean {
  const e = findVaultError(err);
  if (e === undefined || e.status !== 400) return false;
  return e.errors.some((m) => /lease not found|past the max TTL|cannot renew|lease is not renewable|invalid lease/i.test(m));
}

/** A failure that may go away by itself: network trouble, Vault sealed/standby, rate limit, 5xx. */
export function isTransient(err: unknown): boolean {
  for (const e of chain(err)) {
    if (e instanceof VaultNetworkError) return e.transient;
    if (e instanceof VaultError) return TRANSIENT_STATUSES.has(e.status);
  }
  return false;
}
