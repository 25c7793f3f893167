/**
 * The Vault client layer: HTTP client, errors, auth methods, and the session that owns tokens and leases.
 */
import type { VaultClient } from './client.js';
import type { AuthMethod } from './auth.js';
import { JwtAuth } from './auth-jwt.js';
import { AppRoleAuth } from './auth-approle.js';
import { TokenAuth } from './auth-token.js';

export {
  VaultClient,
  parseVaultAddr,
  detectKv2Deleted,
  type VaultClientOptions,
  type VaultRequest,
  type VaultExchange,
  type VaultResponse,
  type VaultAuthBlock,
  type VaultHttpMethod,
  type RetryOptions,
  type Renewal,
  type TokenInfo,
} from './client.js';
export {
  VaultError,
  VaultNetworkError,
  isPermissionDenied,
  isLeaseGone,
  isTransient,
  statusText,
  TRANSIENT_STATUSES,
  type Kv2Deleted,
} from './errors.js';
export {
  VaultLoginError,
  normalizeApiPath,
  type AuthGrant,
  type AuthMethod,
  type AuthKind,
} from './auth.js';
export { JwtAuth, DEFAULT_SERVICE_ACCOUNT_TOKEN, type JwtAuthOptions } from './auth-jwt.js';
export { AppRoleAuth, type AppRoleAuthOptions } from './auth-approle.js';
export { TokenAuth, remainingSec, type TokenAuthOptions } from './auth-token.js';
export { VaultSession, LeaseLostError, REVOKE_POLICY_LINE, type RevocationReport, type SessionClient, type VaultSessionOptions } from './session.js';
export { Ledger, type LeaseRecord, type TokenRecord } from './ledger.js';

/** Auth configuration, as the CLI gathers it. */
export type AuthConfig =
  | {
      readonly kind: 'kubernetes' | 'jwt';
      readonly loginPath?: string;
      readonly tokenFile?: string;
      /** rconfd's -T: an environment variable name, or the JWT itself. */
      readonly token?: string;
      readonly env?: Readonly<Record<string, string | undefined>>;
    }
  | { readonly kind: 'approle'; readonly mount?: string; readonly roleIdFile: string; readonly secretIdFile?: string }
  | { readonly kind: 'token'; readonly token?: string; readonly tokenFile?: string };

export function createAuthMethod(client: VaultClient, config: AuthConfig): AuthMethod {
  switch (config.kind) {
    case 'kubernetes':
    case 'jwt':
      return new JwtAuth({ client, ...config });
    case 'approle':
      return new AppRoleAuth({ client, ...config });
    case 'token':
      return new TokenAuth({ client, ...config });
  }
}
