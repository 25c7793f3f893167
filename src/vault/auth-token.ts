/**
 * Token auth: a token given by the user (VAULT_TOKEN's value or a token file), used for every role. login() reads it
 * (the file again each time: an agent may rewrite it) and asks auth/token/lookup-self for its TTL and renewability.
 * A root token has ttl 0 and is not renewable: durationSec 0, it never expires. byLogin is false: tconfd did not create
 * the token, so it never revokes it.
 */
import type { VaultClient } from './client.js';
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
  }

  /** The role is ignored: the same token serves every role. */
  async login(_role: string, signal?: AbortSignal): Promise<AuthGrant> {
    const token = this.token ?? (await readCredentialFile('token', undefined, this.tokenFile as string, 'Vault token'));
    const source = this.token !== undefined ? 'the Vault token (VAULT_TOKEN)' : `the Vault token in ${this.tokenFile}`;
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
      durationSec: info.ttlSec,
      obtainedAt: info.sentAt,
      byLogin: false,
    };
  }
}
