/**
 * AppRole auth: POST <mount>/login {role_id, secret_id}, both read from files at every login (a secret_id is often
 * delivered by another process and replaced). A `{role}` in a file name is replaced by the Vault role of the secret,
 * so that several roles can each have their own AppRole credentials.
 */
import type { VaultClient } from './client.js';
import { normalizeApiPath, postLogin, readCredentialFile, type AuthGrant, type AuthMethod } from './auth.js';

export interface AppRoleAuthOptions {
  readonly client: VaultClient;
  /** Mount path of the AppRole auth method (default auth/approle). */
  readonly mount?: string;
  /** File holding the role_id (may contain `{role}`). */
  readonly roleIdFile: string;
  /** File holding the secret_id (may contain `{role}`); omit for roles with bind_secret_id=false. */
  readonly secretIdFile?: string;
}

export class AppRoleAuth implements AuthMethod {
  readonly kind = 'approle' as const;
  readonly loginPath: string;
  private readonly client: VaultClient;
  private readonly roleIdFile: string;
  private readonly secretIdFile: string | undefined;

  constructor(opts: AppRoleAuthOptions) {
    this.client = opts.client;
    this.loginPath = `${normalizeApiPath(opts.mount ?? 'auth/approle')}/login`;
    this.roleIdFile = opts.roleIdFile;
    this.secretIdFile = opts.secretIdFile;
  }

  async login(role: string, signal?: AbortSignal): Promise<AuthGrant> {
    const file = (f: string): string => f.split('{role}').join(role);
    const body: Record<string, string> = {
      role_id: await readCredentialFile('approle', role, file(this.roleIdFile), 'AppRole role_id'),
    };
    if (this.secretIdFile !== undefined) {
      body['secret_id'] = await readCredentialFile('approle', role, file(this.secretIdFile), 'AppRole secret_id');
    }
    return postLogin(this.client, 'approle', role, this.loginPath, body, signal);
  }
}
