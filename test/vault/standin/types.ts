/**
 * The internal model of the Vault stand-in: mounts, the request a backend sees (Vault's logical.Request), the
 * answer it gives (logical.Response), tokens and leases.
 */

export type Operation = 'read' | 'list' | 'update' | 'delete';

export interface MountConfig {
  /** Seconds; 0 = the system's (32 days). */
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
}

export interface Mount {
  /** With trailing slash, relative to the API root: `secret/`, `auth/jwt/`. */
  readonly path: string;
  readonly type: string;
  readonly accessor: string;
  readonly uuid: string;
  readonly isAuth: boolean;
  description: string;
  options: Record<string, string> | null;
  config: MountConfig;
  readonly backend: Backend;
}

export interface LogicalRequest {
  readonly operation: Operation;
  /** The HTTP method as sent (GET, LIST, POST, PUT, DELETE). */
  readonly method: string;
  /** Path inside the mount, no leading slash: `data/foo`, `creds/app`, `login`. */
  readonly path: string;
  /** Full API path after /v1/: `secret/data/foo`. */
  readonly fullPath: string;
  readonly mount: Mount;
  /** The JSON body (writes) or the query parameters (reads, lists). */
  readonly data: Record<string, unknown>;
  readonly query: URLSearchParams;
  /** The caller's token (undefined on unauthenticated paths). */
  readonly token?: TokenEntry;
  readonly remoteAddr: string;
}

export interface SecretSpec {
  /** Seconds; 0 = the mount's default. */
  ttl: number;
  maxTtl: number;
  renewable: boolean;
  internal: Record<string, unknown>;
}

export interface AuthSpec {
  policies: string[];
  noDefaultPolicy?: boolean;
  /** Before the mount prefix is added (`alice` becomes `jwt-alice`). */
  displayName: string;
  metadata: Record<string, string> | null;
  ttl: number;
  maxTtl: number;
  explicitMaxTtl: number;
  period: number;
  numUses: number;
  renewable: boolean;
  /** Identity alias name; tokens from the same mount and alias share an entity_id. */
  aliasName?: string;
  internal: Record<string, unknown>;
}

export interface LogicalResponse {
  /** HTTP status; default 200 (or 204 when there is nothing to say). */
  status?: number;
  data?: Record<string, unknown> | null;
  secret?: SecretSpec;
  auth?: AuthSpec;
  warnings?: string[];
  /** A non-JSON answer (pki/ca/pem). */
  raw?: { status: number; contentType: string; body: string };
  /** KV v1 reads: a lease_duration without a lease. */
  leaseDurationHint?: number;
  /** Send exactly this JSON body (sys/health). */
  rawJson?: unknown;
  /** Envelope lease fields for an existing lease (sys/leases/renew). */
  leaseInfo?: { id: string; renewable: boolean; duration: number };
  /** A ready-made `auth` block for an existing token (auth/token/create, renew-self). */
  authBlock?: Record<string, unknown>;
}

export interface RenewAnswer {
  ttl: number;
  maxTtl: number;
}

export interface AuthRenewAnswer {
  ttl: number;
  maxTtl: number;
  period: number;
  explicitMaxTtl: number;
}

export interface Backend {
  readonly type: string;
  handle(req: LogicalRequest): Promise<LogicalResponse | undefined>;
  /** Paths (inside the mount) reachable without a token: logins, CA certificates. */
  isUnauthenticated?(path: string): boolean;
  /** Renew a secret: run the engine's side (database VALID UNTIL) and give the TTLs to apply. */
  renewSecret?(lease: LeaseEntry, increment: number): Promise<RenewAnswer>;
  revokeSecret?(lease: LeaseEntry): Promise<void>;
  /** Renew a token this auth method issued: the role's current TTLs. */
  renewAuth?(token: TokenEntry): AuthRenewAnswer;
  close?(): Promise<void>;
}

export interface TokenEntry {
  readonly id: string;
  readonly accessor: string;
  policies: string[];
  readonly parentId: string | undefined;
  readonly children: Set<string>;
  readonly path: string;
  readonly displayName: string;
  readonly meta: Record<string, string> | null;
  /** ms */
  readonly creationTime: number;
  readonly issueTime: number;
  /** The TTL it was created with (seconds); 0 = never expires. */
  readonly creationTtl: number;
  /** ms; undefined = never expires. */
  expireTime: number | undefined;
  lastRenewal: number | undefined;
  readonly explicitMaxTtl: number;
  readonly period: number;
  readonly renewable: boolean;
  numUses: number;
  readonly entityId: string;
  /** The auth mount that issued it (`auth/jwt/`), or `auth/token/`. */
  readonly mountPath: string;
  /** The TTLs of the issuing role at login, used when the backend cannot answer a renewal. */
  readonly authTtls: AuthRenewAnswer;
  readonly internal: Record<string, unknown>;
  revoked: boolean;
  revokedAt: number | undefined;
  timer: { cancel(): void } | undefined;
}

export interface LeaseEntry {
  readonly id: string;
  /** The request path that created it: `database/creds/app`. */
  readonly path: string;
  readonly mountPath: string;
  /** ms */
  readonly issueTime: number;
  expireTime: number;
  lastRenewal: number | undefined;
  readonly renewable: boolean;
  readonly internal: Record<string, unknown>;
  /** Accessor of the token that created the lease (undefined for none). */
  readonly tokenAccessor: string | undefined;
  readonly tokenId: string | undefined;
  revoked: boolean;
  revokedAt: number | undefined;
  /** Why the engine's revocation failed, if it did. */
  revokeError: string | undefined;
  timer: { cancel(): void } | undefined;
}
