/**
 * Token auth: a token given by the user (VAULT_TOKEN's value or a token file), used for every role. login() reads it
 * (the file again each time: an agent may rewrite it) and asks auth/token/lookup-self for its TTL and renewability.
 * lookup-self rounds the TTL down: a root token says ttl 0 with expire_time null (durationSec 0: it never expires), but
 * so does a token with less than a second left, whose expire_time is set: that one is expiring (see remainingSec).
 * byLogin is false: tconfd did not create the token, so it never revokes it.
 */
import type { TokenInfo, VaultClient } from './client.js';
import { readCredentialFile, VaultLoginError, type AuthGrant, type AuthMethod } from './auth.js';
import { VaultError } from './errors.js';

export interface TokenAuthOptions {
  readonly client: VaultClient;
  /** The token itself (VAULT_TOKEN's value). */
  readonly token?: string;
  /** A file holding the token (read at every login). Used when token is not given. */
  readonly tokenFile?: string;
}

export class TokenAuth implements AuthMethod {
  readonly kind = 'token' as const;
  readonly given: { readonly source: string; readonly remedy: string };
  private readonly client: VaultClient;
  private readonly token: string | undefined;
  private readonly tokenFile: string | undefined;

  constructor(opts: TokenAuthOptions) {
    this.client = opts.client;
    this.token = opts.token?.trim() === '' ? undefined : opts.token?.trim();
    this.tokenFile = opts.tokenFile;
    if (this.token === undefined && this.tokenFile === undefined) {
      throw new VaultLoginError('token', undefined, 'token auth needs a token (VAULT_TOKEN) or a token file');
    }
    this.given =
      this.token !== undefined
        ? { source: 'the Vault token (VAULT_TOKEN)', remedy: 'restart tconfd with a valid VAULT_TOKEN' }
        : { source: `the Vault token in ${this.tokenFile}`, remedy: `write a valid token to ${this.tokenFile}: it is read again at each retry` };
  }

  /** The role is ignored: the same token serves every role. */
  async login(_role: string, signal?: AbortSignal): Promise<AuthGrant> {
    const token = this.token ?? (await readCredentialFile('token', undefined, this.tokenFile as string, 'Vault token'));
    const source = this.given.source;
    let info;
    try {
      info = await this.client.lookupSelf(token, signal);
    } catch (err) {
      if (signal?.aborted) throw err;
      const reason = err instanceof Error ? err.message : String(err);
      const msg =
        err instanceof VaultError && err.status === 403
          ? `Vault refused ${source}: it is invalid, expired or revoked (${reason})`
          : `cannot look up ${source}: ${reason}`;
      throw new VaultLoginError('token', undefined, msg, { cause: err });
    }
    return {
      token,
      ...(info.accessor !== undefined && info.accessor !== '' ? { accessor: info.accessor } : {}),
      renewable: info.renewable,
      durationSec: remainingSec(info, info.sentAt),
      obtainedAt: info.sentAt,
      byLogin: false,
    };
  }
}

/**
 * Seconds a looked-up token has left; 0 only for a token that never expires (expire_time null, e.g. a root token).
 * A ttl of 0 with an expire_time means less than a second left (Vault rounds down): the time to expire_time from
 * `wallNow` (the lookup's sentAt: the Clock, ms since the epoch), kept within (0, 1] s against clock skew, so that the
 * token is renewed at once (or reported).
 */
export function remainingSec(info: Pick<TokenInfo, 'ttlSec' | 'expireTime'>, wallNow: number = Date.now()): number {
  if (info.ttlSec > 0) return info.ttlSec;
  if (info.expireTime === null) return 0;
  const left = (Date.parse(info.expireTime) - wallNow) / 1000;
  return Number.isFinite(left) ? Math.min(1, Math.max(0.1, left)) : 0.1;
}
