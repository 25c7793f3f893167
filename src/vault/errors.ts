/**
 * Errors of the Vault client. Their messages name the HTTP method, the API path and a safe summary of what Vault
 * said: Vault's error strings may echo request values (a common name, a role name, a plaintext) or anything else a
 * hostile answer puts there, so only the ones in a catalogue of Vault's own messages are shown, rewritten without the
 * values they carry (vaultMessage). They never carry a request body, a token or response data, so they can be logged
 * and shown as they are.
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

  /** How many of Vault's error strings were not shown (not in the catalogue of known messages). */
  readonly hidden: number;

  constructor(init: {
    status: number;
    method: string;
    path: string;
    /** Safe summaries (vaultMessage), never Vault's raw strings. */
    errors?: readonly string[];
    warnings?: readonly string[];
    hidden?: number;
    kv2Deleted?: Kv2Deleted;
    attempts?: number;
  }) {
    const errors = [...(init.errors ?? [])];
    const hidden = init.hidden ?? 0;
    let detail = errors.length > 0 ? errors.join('; ') : statusText(init.status);
    if (hidden > 0) {
      detail += ` (${hidden === 1 ? 'a message' : `${hidden} messages`} from Vault not shown: ${hidden === 1 ? 'it' : 'they'} may echo request or secret values)`;
    }
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
    this.hidden = hidden;
    if (init.warnings !== undefined && init.warnings.length > 0) this.warnings = [...init.warnings];
    if (init.kv2Deleted !== undefined) this.kv2Deleted = init.kv2Deleted;
    this.attempts = init.attempts ?? 1;
  }
}

/** Vault's answer was larger than the size limit (--max-secret-size): not read further, not retried. */
export class VaultResponseTooLarge extends Error {
  override readonly name = 'VaultResponseTooLarge';
  constructor(
    readonly method: string,
    readonly path: string,
    readonly limit: string,
  ) {
    super(`Vault's answer to ${method} ${path} is larger than the limit of ${limit} (--max-secret-size)`);
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
 * expired, `lease expired` between its expiry (or its token's revocation) and its revocation by Vault's expiration
 * manager, and `past the max TTL, cannot renew` at its max TTL. The caller must fetch a new secret.
 */
export function isLeaseGone(err: unknown): boolean {
  const e = findVaultError(err);
  if (e === undefined || e.status !== 400) return false;
  return e.errors.some((m) =>
    /lease not found|lease expired|past the max TTL|cannot renew|lease is not renewable|invalid lease/i.test(m),
  );
}

/** A failure that may go away by itself: network trouble, Vault sealed/standby, rate limit, 5xx. */
export function isTransient(err: unknown): boolean {
  for (const e of chain(err)) {
    if (e instanceof VaultNetworkError) return e.transient;
    if (e instanceof VaultError) return TRANSIENT_STATUSES.has(e.status);
  }
  return false;
}

/**
 * Vault's own error messages, each as a pattern and the text shown for it. A message matching none is not shown.
 * The texts keep what helps (which check failed) and drop what a message echoes (names, values, claims).
 */
const KNOWN_MESSAGES: readonly (readonly [RegExp, string | ((m: RegExpExecArray) => string)])[] = [
  [/^permission denied$/i, 'permission denied'],
  [/^missing client token$/i, 'missing client token'],
  [/^(bad|invalid) token$/i, 'invalid token'],
  [/past the max TTL/i, 'past the max TTL, cannot renew'],
  [/lease is not renewable/i, 'lease is not renewable'],
  [/^lease not found/i, 'lease not found'],
  [/^lease expired$/i, 'lease expired'],
  [/^invalid lease( ID)?$/i, 'invalid lease ID'],
  [/^no handler for route\b/i, 'no handler for route (nothing is mounted at this path)'],
  [/^unsupported path$/i, 'unsupported path'],
  [/^unsupported operation$/i, 'unsupported operation'],
  [/^cannot delete (default|"root") policy$/i, 'cannot delete a built-in policy (default, root)'],
  [/^unknown role\b|^role\b.* (not found|does not exist|could not be found)$|^invalid role name\b/i, 'unknown role'],
  [/not allowed by this role$/i, 'a requested name is not allowed by this role'],
  [/^error validating token: .*token is expired/i, 'error validating token: token is expired'],
  [/^error validating token: .*(audience|\(aud\))/i, 'error validating token: invalid audience (aud) claim'],
  [/^error validating token: .*(not valid yet|\(nbf\))/i, 'error validating token: token not valid yet (nbf)'],
  [/^error validating token: .*(issuer|\(iss\))/i, 'error validating token: invalid issuer (iss) claim'],
  [/^error validating token: .*signature/i, 'error validating token: invalid signature'],
  [/^error validating token\b/i, 'error validating token'],
  // Claim names come from the role's bound_claims (the Vault administrator's), not from the token: kept when plain.
  [/^error validating claims: claim "([\w.:/-]{1,64})" does not match any associated bound claim values$/i, (m) => `error validating claims: claim "${m[1]}" does not match any associated bound claim values`],
  [/^error validating claims: claim "([\w.:/-]{1,64})" is missing$/i, (m) => `error validating claims: claim "${m[1]}" is missing`],
  [/^error validating claims\b/i, 'error validating claims: a bound claim does not match'],
  [/^claim "([\w.:/-]{1,64})" not found in token$/i, (m) => `claim "${m[1]}" not found in token`],
  [/^claim .* not found in token$/i, 'a claim the role needs is not in the token'],
  [/^audience claim found in JWT but no audiences bound to the role$/i, 'audience claim found in JWT but no audiences bound to the role'],
  [/^invalid audience \(aud\) claim/i, 'invalid audience (aud) claim'],
  [/^claim "iss" is invalid$/i, 'claim "iss" is invalid'],
  [/^namespace not authorized$/i, 'namespace not authorized'],
  [/^service account name not authorized$/i, 'service account name not authorized'],
  [/^\d+ error\(s\) decoding\b|source data must be/i, 'Vault could not decode a field of the request or of the token'],
  [/^failed to parse JSON input\b/i, 'Vault could not parse the request body'],
  [/^missing (role_id|secret_id|role|jwt|token|path)$/i, (m) => `missing ${m[1]!.toLowerCase()}`],
  [/^invalid (role ID|secret id)$/i, (m) => `invalid ${m[1]!}`],
  [/^could not load (backend )?configuration$/i, 'could not load the auth method\'s configuration'],
  [/^role with oidc role_type is not allowed$/i, 'role with oidc role_type is not allowed'],
  [/is not an allowed role$/i, "the role is not in the database connection's allowed_roles"],
  [/^failed to find entry for connection\b/i, 'the database connection of the role does not exist'],
  [/^Vault is sealed$/i, 'Vault is sealed'],
  [/local node not active|node not active/i, 'no active Vault node (standby)'],
  [/^rate limit quota exceeded$/i, 'rate limit quota exceeded'],
  [/^internal error$/i, 'internal error'],
  [/^the answer is not JSON$/, 'the answer is not JSON'],
];

/** The safe text for one of Vault's (flattened) error or warning strings, or undefined when it is not a known one. */
export function vaultMessage(text: string): string | undefined {
  for (const [pattern, shown] of KNOWN_MESSAGES) {
    const m = pattern.exec(text);
    if (m !== null) return typeof shown === 'string' ? shown : shown(m);
  }
  return undefined;
}

/** Vault's strings -> the safe texts of the known ones (deduplicated) and how many were not shown. */
export function safeVaultMessages(raw: readonly unknown[]): { shown: string[]; hidden: number } {
  const shown: string[] = [];
  let hidden = 0;
  for (const text of flattenVaultErrors(raw)) {
    const safe = vaultMessage(text);
    if (safe === undefined) hidden++;
    else if (!shown.includes(safe)) shown.push(safe);
  }
  return { shown, hidden };
}

/** Vault's warnings on a successful renewal: the TTL-capped warning (durations only) is kept, others are counted. */
export function safeVaultWarnings(raw: readonly unknown[]): string[] {
  const out: string[] = [];
  let hidden = 0;
  for (const text of flattenVaultErrors(raw)) {
    if (/^TTL of "[\w.]+" exceeded the effective max_ttl of "[\w.]+"; TTL value is capped accordingly$/.test(text)) out.push(text);
    else hidden++;
  }
  if (hidden > 0) out.push(`${hidden} other warning${hidden === 1 ? '' : 's'} from Vault (not shown: may echo values)`);
  return out;
}
