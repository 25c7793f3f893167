/**
 * One typed Settings object: everything the command line and the environment say, validated. Produced by
 * cli/parse.ts; consumed by main.ts. Durations are milliseconds.
 */
import type { LogFormat, LogLevel } from '../log.js';

export type AuthKind = 'kubernetes' | 'jwt' | 'approle' | 'token';
export type OnChangeAction = 'signal' | 'restart' | 'none';
export type RestartPolicy = 'never' | 'on-failure' | 'always';

export interface VaultSettings {
  /** Vault address without /v1 (rconfd's VAULT_URL is accepted and normalised); undefined when not configured. */
  readonly addr: string | undefined;
  readonly caCert: string | undefined;
  readonly clientCert: string | undefined;
  readonly clientKey: string | undefined;
  readonly namespace: string | undefined;
  readonly skipVerify: boolean;
  readonly timeoutMs: number;
  readonly retry: { readonly initialMs: number; readonly maxMs: number; readonly maxAttempts: number };
}

export interface AuthSettings {
  readonly method: AuthKind;
  /** Login path for kubernetes/jwt/approle, without a leading slash. */
  readonly loginPath: string;
  /** kubernetes/jwt: file holding the JWT (re-read at every login). */
  readonly jwtPath: string;
  /** kubernetes/jwt: rconfd's -T: name of an environment variable holding the JWT, or the JWT itself. */
  readonly jwtEnv: string | undefined;
  readonly approleRoleIdFile: string | undefined;
  readonly approleSecretIdFile: string | undefined;
  /** token auth: --vault-token-file (else VAULT_TOKEN). */
  readonly tokenFile: string | undefined;
}

export interface LeaseSettings {
  /** How often secrets without a lease (KV, transit...) are read again. */
  readonly staticRefreshMs: number;
  readonly revokeOnExit: boolean;
  /** How long an old lease lives on after its replacement was rendered. */
  readonly revokeGraceMs: number;
}

export interface SupervisorSettings {
  readonly onChange: OnChangeAction;
  readonly reloadSignal: NodeJS.Signals;
  /** --reload-grace: a reload signal due sooner than this after the command started is held until then. */
  readonly reloadGraceMs: number;
  readonly killSignal: NodeJS.Signals;
  readonly killTimeoutMs: number;
  readonly wait: { readonly minMs: number; readonly maxMs: number };
  readonly splayMs: number;
  readonly restart: RestartPolicy;
  readonly maxRestarts: number;
  readonly restartWindowMs: number;
  readonly envKeep: readonly string[];
  readonly readyFd: number | undefined;
  readonly healthListen: string | undefined;
}

export interface Settings {
  readonly dir: string;
  readonly jpaths: readonly string[];
  /** --render-timeout: evaluation time limit of one template. */
  readonly renderTimeoutMs: number;
  readonly once: boolean;
  readonly check: boolean;
  readonly daemon: boolean;
  /** The command to supervise (after --), empty for none. */
  readonly command: readonly string[];
  /** --confine: templates may not write absolute output paths unless they say "confine": false. */
  readonly confine: boolean;
  /** --max-secret-size: the most bytes one secret may have (a Vault answer, a file, an exe's output). */
  readonly maxSecretBytes: number;
  /** --exe-user: who exe secret commands run as when tconfd runs as root (a user name or uid[:gid]). */
  readonly exeUser: string;
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  readonly vault: VaultSettings;
  readonly auth: AuthSettings;
  readonly leases: LeaseSettings;
  readonly supervisor: SupervisorSettings;
}
