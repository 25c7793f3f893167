/**
 * Vault authentication: one token per Vault role. An AuthMethod logs in and answers an AuthGrant; the Vault session
 * (session.ts), its only caller, keeps one grant per role in memory. The methods live in auth-jwt.ts (kubernetes, jwt),
 * auth-approle.ts and auth-token.ts; createAuthMethod() builds one from configuration.
 */
import { readRegularFile, ReadFileError } from '../read-file.js';
import type { VaultAuthBlock, VaultClient, VaultResponse } from './client.js';
import { VaultError } from './errors.js';

export type AuthKind = 'kubernetes' | 'jwt' | 'approle' | 'token';

export interface AuthGrant {
  /** The Vault token. Kept in memory only; never logged. */
  readonly token: string;
  readonly accessor?: string;
  readonly renewable: boolean;
  /** TTL in seconds from obtainedAt; 0 when the token never expires (root token). */
  readonly durationSec: number;
  /** Clock time (ms) just before the login request was sent: the TTL started no earlier. */
  readonly obtainedAt: number;
  /** true when tconfd created the token by logging in (so it should revoke it on exit); false for a given token. */
  readonly byLogin: boolean;
}

export interface AuthMethod {
  readonly kind: AuthKind;
  /**
   * A token given to tconfd (token auth), for messages: where it comes from ("the Vault token (VAULT_TOKEN)", "the Vault
   * token in /run/token") and what gives tconfd a valid one. Never the token itself.
   */
  readonly given?: { readonly source: string; readonly remedy: string };
  /** Log in as role (ignored by token auth). Throws VaultLoginError. */
  login(role: string, signal?: AbortSignal): Promise<AuthGrant>;
}

/** A login failed: the message names the method, the role and the login path, and carries Vault's reason. */
export class VaultLoginError extends Error {
  override readonly name = 'VaultLoginError';
  constructor(
    readonly kind: AuthKind,
    readonly role: string | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** `/auth/kubernetes/login` (rconfd's -l), `v1/auth/...` and `auth/...` all become `auth/...`. */
export function normalizeApiPath(path: string): string {
  return path.trim().replace(/^\/+/, '').replace(/^v1\//, '').replace(/\/+$/, '');
}

/** Largest credential file read (a JWT, a token, an AppRole role_id or secret_id is a few KiB at most). */
const MAX_CREDENTIAL_BYTES = 64 * 1024;

/**
 * Read a credential from a file, trimmed. Missing, unreadable, empty or oversized files, and anything but a regular
 * file (a FIFO would block the login for ever), give a VaultLoginError naming the file (never its content). Symbolic
 * links are followed: a projected service-account token is one (token -> ..data/token).
 */
export async function readCredentialFile(
  kind: AuthKind,
  role: string | undefined,
  path: string,
  what: string,
): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readRegularFile(path, MAX_CREDENTIAL_BYTES);
  } catch (err) {
    const e = err as ReadFileError;
    const why = e.code === 'ENOENT' ? 'it does not exist' : e instanceof ReadFileError ? e.reason : String(err);
    throw new VaultLoginError(kind, role, `cannot read the ${what} file ${path}: ${why}`, { cause: err });
  }
  const value = bytes.toString('utf8').trim();
  if (value === '') throw new VaultLoginError(kind, role, `the ${what} file ${path} is empty`);
  return value;
}

/** Turn the `auth` block of a login answer into a grant. */
export function grantFromLogin(
  kind: AuthKind,
  role: string,
  loginPath: string,
  body: VaultResponse | undefined,
  sentAt: number,
): AuthGrant {
  const auth: VaultAuthBlock | null | undefined = body?.auth;
  if (auth === null || auth === undefined || typeof auth.client_token !== 'string' || auth.client_token === '') {
    throw new VaultLoginError(
      kind,
      role,
      `${kind} login as role "${role}" at ${loginPath}: Vault's answer has no auth.client_token`,
    );
  }
  return {
    token: auth.client_token,
    ...(typeof auth.accessor === 'string' && auth.accessor !== '' ? { accessor: auth.accessor } : {}),
    renewable: auth.renewable === true,
    durationSec: typeof auth.lease_duration === 'number' ? auth.lease_duration : 0,
    obtainedAt: sentAt,
    byLogin: true,
  };
}

/** Wrap a failed login request into a VaultLoginError naming the role and the login path. */
export function loginFailure(kind: AuthKind, role: string, loginPath: string, err: unknown): VaultLoginError {
  if (err instanceof VaultLoginError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (err instanceof VaultError && err.status === 403) {
    return new VaultLoginError(
      kind,
      role,
      `Vault refused the ${kind} login as role "${role}" at ${loginPath} (${reason})`,
      { cause: err },
    );
  }
  return new VaultLoginError(kind, role, `${kind} login as role "${role}" at ${loginPath} failed: ${reason}`, {
    cause: err,
  });
}

/** Shared by the login methods that POST to a login path and answer in `auth`. */
export async function postLogin(
  client: VaultClient,
  kind: AuthKind,
  role: string,
  loginPath: string,
  body: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<AuthGrant> {
  let res;
  try {
    res = await client.exchange<VaultResponse>({
      method: 'POST',
      path: loginPath,
      body,
      ...(signal ? { signal } : {}),
    });
  } catch (err) {
    if (signal?.aborted) throw err;
    throw loginFailure(kind, role, loginPath, err);
  }
  return grantFromLogin(kind, role, loginPath, res.body, res.sentAt);
}
