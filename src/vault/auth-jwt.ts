/**
 * Kubernetes and JWT/OIDC auth: POST <loginPath> {role, jwt}.
 *
 * The JWT comes, as in rconfd, either from `-T` (the name of an environment variable holding the JWT; when no such
 * variable exists the value itself is the JWT) or from a file (`-t`, default: the pod's service-account token). It is
 * read again at every login, because projected service-account tokens rotate.
 */
import type { VaultClient } from './client.js';
import { normalizeApiPath, postLogin, readCredentialFile, VaultLoginError, type AuthGrant, type AuthMethod } from './auth.js';

export const DEFAULT_SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export interface JwtAuthOptions {
  readonly client: VaultClient;
  /** 'kubernetes' (default) or 'jwt'; only changes the default login path and the wording of errors. */
  readonly kind?: 'kubernetes' | 'jwt';
  /** Login path, rconfd's `-l` (a leading `/` or `/v1/` is dropped). Default auth/kubernetes/login (auth/jwt/login). */
  readonly loginPath?: string;
  /** File holding the JWT, rconfd's `-t`. Default /var/run/secrets/kubernetes.io/serviceaccount/token. */
  readonly tokenFile?: string;
  /**
   * rconfd's `-T`: the name of an environment variable holding the JWT, or, if no variable has that name, the JWT
   * itself. Takes precedence over tokenFile.
   */
  readonly token?: string;
  /** Where `-T` variables are looked up (default process.env), read at every login. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export class JwtAuth implements AuthMethod {
  readonly kind: 'kubernetes' | 'jwt';
  readonly loginPath: string;
  private readonly client: VaultClient;
  private readonly tokenFile: string;
  private readonly tokenArg: string | undefined;
  private readonly env: Readonly<Record<string, string | undefined>>;

  constructor(opts: JwtAuthOptions) {
    this.client = opts.client;
    this.kind = opts.kind ?? 'kubernetes';
    this.loginPath = normalizeApiPath(opts.loginPath ?? `auth/${this.kind}/login`);
    this.tokenFile = opts.tokenFile ?? DEFAULT_SERVICE_ACCOUNT_TOKEN;
    this.tokenArg = opts.token === '' ? undefined : opts.token;
    this.env = opts.env ?? process.env;
  }

  /** Where the JWT comes from, for logs (never the JWT). */
  describeSource(): string {
    if (this.tokenArg !== undefined) {
      return this.env[this.tokenArg] !== undefined ? `environment variable ${this.tokenArg}` : 'the -T value';
    }
    return `file ${this.tokenFile}`;
  }

  async login(role: string, signal?: AbortSignal): Promise<AuthGrant> {
    const jwt = await this.readJwt(role);
    return postLogin(this.client, this.kind, role, this.loginPath, { role, jwt }, signal);
  }

  private async readJwt(role: string): Promise<string> {
    if (this.tokenArg !== undefined) {
      const fromEnv = this.env[this.tokenArg];
      const jwt = (fromEnv ?? this.tokenArg).trim();
      if (jwt === '') {
        throw new VaultLoginError(this.kind, role, `the environment variable ${this.tokenArg} holding the JWT is empty`);
      }
      return jwt;
    }
    const what = this.kind === 'kubernetes' ? 'service-account token' : 'JWT';
    return readCredentialFile(this.kind, role, this.tokenFile, what);
  }
}
