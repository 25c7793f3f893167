/**
 * Test setup through Vault's HTTP API only, so the same code configures the stand-in and a real `vault server
 * -dev`. Every helper throws (naming method, path, status and Vault's errors, never a token) when Vault refuses.
 */
import { createPrivateKey, generateKeyPairSync, randomUUID, type KeyObject, type webcrypto } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import { vaultApi, type VaultApiResult, type VaultHttpMethod, type VaultTarget } from './target.js';

type Target = Pick<VaultTarget, 'addr' | 'rootToken'> & Partial<Pick<VaultTarget, 'kind'>>;
type Duration = number | string;

export class VaultSetupError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
  ) {
    const errors =
      typeof body === 'object' && body !== null && Array.isArray((body as { errors?: unknown }).errors)
        ? (body as { errors: string[] }).errors.join('; ')
        : JSON.stringify(body);
    super(`${method} /v1/${path} answered ${status}: ${errors}`);
    this.name = 'VaultSetupError';
  }
}

/** Call the API with the root token (or `token`) and insist on a 2xx answer. */
export async function call(
  target: Target,
  method: VaultHttpMethod,
  path: string,
  body?: unknown,
  token?: string | null,
): Promise<VaultApiResult> {
  const res = await vaultApi(target)(method, path, body, token);
  if (res.status < 200 || res.status >= 300) throw new VaultSetupError(method, path, res.status, res.body);
  return res;
}

const trim = (s: string): string => s.replace(/^\/+|\/+$/g, '');

async function mounts(target: Target, auth: boolean): Promise<Record<string, { type: string; options?: Record<string, string> | null }>> {
  const res = await call(target, 'GET', auth ? 'sys/auth' : 'sys/mounts');
  return (res.body?.data ?? {}) as Record<string, { type: string; options?: Record<string, string> | null }>;
}

/** Enable a secrets engine unless a mount of that type is already there (a dev server has `secret/`). */
export async function enableSecretsEngine(
  target: Target,
  mount: string,
  type: string,
  extra: { options?: Record<string, string>; config?: Record<string, unknown> } = {},
): Promise<void> {
  const existing = (await mounts(target, false))[`${trim(mount)}/`];
  if (existing) {
    if (existing.type !== type) throw new Error(`${mount}/ is already mounted as ${existing.type}, not ${type}`);
    const want = extra.options?.['version'];
    if (want && (existing.options?.['version'] ?? '1') !== want) {
      throw new Error(`${mount}/ is a kv version ${existing.options?.['version'] ?? '1'} mount, not ${want}`);
    }
    if (extra.config) await call(target, 'POST', `sys/mounts/${trim(mount)}/tune`, extra.config);
    return;
  }
  await call(target, 'POST', `sys/mounts/${trim(mount)}`, { type, ...extra });
}

export async function enableAuthMethod(target: Target, mount: string, type: string): Promise<void> {
  const existing = (await mounts(target, true))[`${trim(mount)}/`];
  if (existing) {
    if (existing.type !== type) throw new Error(`auth/${mount}/ is already enabled as ${existing.type}, not ${type}`);
    return;
  }
  await call(target, 'POST', `sys/auth/${trim(mount)}`, { type });
}

// ---------------------------------------------------------------- KV

export const enableKv2 = (target: Target, mount = 'secret'): Promise<void> =>
  enableSecretsEngine(target, mount, 'kv', { options: { version: '2' } });

export const enableKv1 = (target: Target, mount: string): Promise<void> =>
  enableSecretsEngine(target, mount, 'kv', { options: { version: '1' } });

export async function putKv2(
  target: Target,
  mount: string,
  path: string,
  data: Record<string, unknown>,
  opts: { cas?: number } = {},
): Promise<{ version: number }> {
  const body: Record<string, unknown> = { data };
  if (opts.cas !== undefined) body['options'] = { cas: opts.cas };
  const res = await call(target, 'POST', `${trim(mount)}/data/${trim(path)}`, body);
  return { version: res.body.data.version as number };
}

/** Soft-delete the latest version. */
export async function deleteKv2(target: Target, mount: string, path: string): Promise<void> {
  await call(target, 'DELETE', `${trim(mount)}/data/${trim(path)}`);
}

export async function putKv1(target: Target, mount: string, path: string, data: Record<string, unknown>): Promise<void> {
  await call(target, 'POST', `${trim(mount)}/${trim(path)}`, data);
}

// ---------------------------------------------------------------- database

/** Vault's documented PostgreSQL creation statement. */
export const PG_CREATION_STATEMENTS = [
  `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
];

export interface EnableDatabaseOptions {
  mount?: string;
  /** Name of the connection (database/config/<name>), default `db`. */
  name?: string;
  /**
   * postgres://user:password@host:port/db — sent to Vault as a templated connection_url with username/password.
   * Omitted: `memory://<name>`, which only the stand-in understands (throws against a real Vault).
   */
  pgConnectionUrl?: string;
  allowedRoles?: string[];
  verifyConnection?: boolean;
}

export async function enableDatabase(target: Target, opts: EnableDatabaseOptions = {}): Promise<void> {
  const mount = opts.mount ?? 'database';
  const name = opts.name ?? 'db';
  await enableSecretsEngine(target, mount, 'database');
  let body: Record<string, unknown>;
  if (opts.pgConnectionUrl) {
    const u = new URL(opts.pgConnectionUrl);
    const username = decodeURIComponent(u.username);
    const password = decodeURIComponent(u.password);
    const params = new URLSearchParams(u.search);
    if (!params.has('sslmode')) params.set('sslmode', 'disable');
    body = {
      plugin_name: 'postgresql-database-plugin',
      connection_url: `postgresql://{{username}}:{{password}}@${u.host}${u.pathname}?${params.toString()}`,
      username,
      password,
    };
  } else {
    if (target.kind === 'real') {
      throw new Error('enableDatabase without pgConnectionUrl uses memory://, which only the Vault stand-in supports');
    }
    body = { plugin_name: 'postgresql-database-plugin', connection_url: `memory://${name}` };
  }
  body['allowed_roles'] = opts.allowedRoles ?? ['*'];
  if (opts.verifyConnection !== undefined) body['verify_connection'] = opts.verifyConnection;
  await call(target, 'POST', `${trim(mount)}/config/${name}`, body);
}

export interface DbRoleOptions {
  mount?: string;
  name: string;
  /** The database/config/<dbName> connection (default `db`). */
  dbName?: string;
  creationStatements?: string[];
  revocationStatements?: string[];
  renewStatements?: string[];
  defaultTtl: Duration;
  maxTtl: Duration;
}

export async function createDbRole(target: Target, opts: DbRoleOptions): Promise<void> {
  const body: Record<string, unknown> = {
    db_name: opts.dbName ?? 'db',
    creation_statements: opts.creationStatements ?? PG_CREATION_STATEMENTS,
    default_ttl: opts.defaultTtl,
    max_ttl: opts.maxTtl,
  };
  if (opts.revocationStatements) body['revocation_statements'] = opts.revocationStatements;
  if (opts.renewStatements) body['renew_statements'] = opts.renewStatements;
  await call(target, 'POST', `${trim(opts.mount ?? 'database')}/roles/${opts.name}`, body);
}

// ---------------------------------------------------------------- PKI

export interface EnablePkiOptions {
  mount?: string;
  commonName: string;
  /** Root CA lifetime (default 87600h); the mount's max_lease_ttl is raised to it. */
  ttl?: Duration;
}

/** Mount PKI and generate an internal root; returns the CA certificate PEM. */
export async function enablePki(target: Target, opts: EnablePkiOptions): Promise<{ certificate: string }> {
  const mount = opts.mount ?? 'pki';
  const ttl = opts.ttl ?? '87600h';
  await enableSecretsEngine(target, mount, 'pki', { config: { max_lease_ttl: ttl } });
  const res = await call(target, 'POST', `${trim(mount)}/root/generate/internal`, { common_name: opts.commonName, ttl });
  return { certificate: res.body.data.certificate as string };
}

export interface PkiRoleOptions {
  mount?: string;
  name: string;
  allowedDomains: string[];
  allowSubdomains?: boolean;
  allowBareDomains?: boolean;
  allowLocalhost?: boolean;
  allowAnyName?: boolean;
  ttl?: Duration;
  maxTtl?: Duration;
  generateLease?: boolean;
  keyType?: 'rsa' | 'ec';
}

export async function createPkiRole(target: Target, opts: PkiRoleOptions): Promise<void> {
  const body: Record<string, unknown> = {
    allowed_domains: opts.allowedDomains,
    allow_subdomains: opts.allowSubdomains ?? false,
    allow_bare_domains: opts.allowBareDomains ?? false,
    generate_lease: opts.generateLease ?? false,
  };
  if (opts.allowLocalhost !== undefined) body['allow_localhost'] = opts.allowLocalhost;
  if (opts.allowAnyName !== undefined) body['allow_any_name'] = opts.allowAnyName;
  if (opts.ttl !== undefined) body['ttl'] = opts.ttl;
  if (opts.maxTtl !== undefined) body['max_ttl'] = opts.maxTtl;
  if (opts.keyType) {
    body['key_type'] = opts.keyType;
    body['key_bits'] = opts.keyType === 'ec' ? 256 : 2048;
  }
  await call(target, 'POST', `${trim(opts.mount ?? 'pki')}/roles/${opts.name}`, body);
}

// ---------------------------------------------------------------- transit

export const enableTransit = (target: Target, mount = 'transit'): Promise<void> =>
  enableSecretsEngine(target, mount, 'transit');

export async function createTransitKey(target: Target, opts: { mount?: string; name: string; type?: string }): Promise<void> {
  await call(target, 'POST', `${trim(opts.mount ?? 'transit')}/keys/${opts.name}`, opts.type ? { type: opts.type } : {});
}

// ---------------------------------------------------------------- auth methods

export async function enableJwtAuth(
  target: Target,
  opts: { mount?: string; publicKeyPem: string | string[]; boundIssuer?: string },
): Promise<void> {
  const mount = opts.mount ?? 'jwt';
  await enableAuthMethod(target, mount, 'jwt');
  const keys = Array.isArray(opts.publicKeyPem) ? opts.publicKeyPem : [opts.publicKeyPem];
  const body: Record<string, unknown> = { jwt_validation_pubkeys: keys };
  if (opts.boundIssuer) body['bound_issuer'] = opts.boundIssuer;
  await call(target, 'POST', `auth/${trim(mount)}/config`, body);
}

export interface TokenRoleOptions {
  policies: string[];
  ttl?: Duration;
  maxTtl?: Duration;
  explicitMaxTtl?: Duration;
  period?: Duration;
}

function tokenFields(o: TokenRoleOptions): Record<string, unknown> {
  const b: Record<string, unknown> = { token_policies: o.policies };
  if (o.ttl !== undefined) b['token_ttl'] = o.ttl;
  if (o.maxTtl !== undefined) b['token_max_ttl'] = o.maxTtl;
  if (o.explicitMaxTtl !== undefined) b['token_explicit_max_ttl'] = o.explicitMaxTtl;
  if (o.period !== undefined) b['token_period'] = o.period;
  return b;
}

export interface JwtRoleOptions extends TokenRoleOptions {
  mount?: string;
  name: string;
  boundAudiences?: string[];
  boundSubject?: string;
  boundClaims?: Record<string, string | string[]>;
  /** Default `sub`. */
  userClaim?: string;
  claimMappings?: Record<string, string>;
}

export async function createJwtRole(target: Target, opts: JwtRoleOptions): Promise<void> {
  const body: Record<string, unknown> = {
    role_type: 'jwt',
    user_claim: opts.userClaim ?? 'sub',
    ...tokenFields(opts),
  };
  if (opts.boundAudiences) body['bound_audiences'] = opts.boundAudiences;
  if (opts.boundSubject) body['bound_subject'] = opts.boundSubject;
  if (opts.boundClaims) body['bound_claims'] = opts.boundClaims;
  if (opts.claimMappings) body['claim_mappings'] = opts.claimMappings;
  await call(target, 'POST', `auth/${trim(opts.mount ?? 'jwt')}/role/${opts.name}`, body);
}

export async function enableKubernetesAuth(
  target: Target,
  opts: {
    mount?: string;
    publicKeyPem: string | string[];
    kubernetesHost?: string;
    caCertPem?: string;
    issuer?: string;
    disableIssValidation?: boolean;
  },
): Promise<void> {
  const mount = opts.mount ?? 'kubernetes';
  await enableAuthMethod(target, mount, 'kubernetes');
  const body: Record<string, unknown> = {
    kubernetes_host: opts.kubernetesHost ?? 'https://127.0.0.1:16443',
    pem_keys: Array.isArray(opts.publicKeyPem) ? opts.publicKeyPem : [opts.publicKeyPem],
  };
  if (opts.caCertPem) body['kubernetes_ca_cert'] = opts.caCertPem;
  if (opts.issuer !== undefined) body['issuer'] = opts.issuer;
  if (opts.disableIssValidation !== undefined) body['disable_iss_validation'] = opts.disableIssValidation;
  await call(target, 'POST', `auth/${trim(mount)}/config`, body);
}

export interface KubernetesRoleOptions extends TokenRoleOptions {
  mount?: string;
  name: string;
  serviceAccountNames: string[];
  namespaces: string[];
  audience?: string;
}

export async function createKubernetesRole(target: Target, opts: KubernetesRoleOptions): Promise<void> {
  const body: Record<string, unknown> = {
    bound_service_account_names: opts.serviceAccountNames,
    bound_service_account_namespaces: opts.namespaces,
    ...tokenFields(opts),
  };
  if (opts.audience) body['audience'] = opts.audience;
  await call(target, 'POST', `auth/${trim(opts.mount ?? 'kubernetes')}/role/${opts.name}`, body);
}

export const enableAppRole = (target: Target, mount = 'approle'): Promise<void> =>
  enableAuthMethod(target, mount, 'approle');

export async function createAppRole(
  target: Target,
  opts: TokenRoleOptions & { mount?: string; name: string; secretIdTtl?: Duration },
): Promise<{ roleId: string; secretId: string; secretIdAccessor: string }> {
  const mount = trim(opts.mount ?? 'approle');
  const body = tokenFields(opts);
  if (opts.secretIdTtl !== undefined) body['secret_id_ttl'] = opts.secretIdTtl;
  await call(target, 'POST', `auth/${mount}/role/${opts.name}`, body);
  const roleId = await getAppRoleId(target, { mount, name: opts.name });
  const s = await createAppRoleSecretId(target, { mount, name: opts.name });
  return { roleId, ...s };
}

export async function getAppRoleId(target: Target, opts: { mount?: string; name: string }): Promise<string> {
  const res = await call(target, 'GET', `auth/${trim(opts.mount ?? 'approle')}/role/${opts.name}/role-id`);
  return res.body.data.role_id as string;
}

export async function createAppRoleSecretId(
  target: Target,
  opts: { mount?: string; name: string },
): Promise<{ secretId: string; secretIdAccessor: string }> {
  const res = await call(target, 'POST', `auth/${trim(opts.mount ?? 'approle')}/role/${opts.name}/secret-id`, {});
  return { secretId: res.body.data.secret_id as string, secretIdAccessor: res.body.data.secret_id_accessor as string };
}

// ---------------------------------------------------------------- policies and tokens

export async function writePolicy(target: Target, name: string, hcl: string): Promise<void> {
  await call(target, 'PUT', `sys/policies/acl/${name}`, { policy: hcl });
}

export interface CreateTokenOptions {
  policies: string[];
  ttl?: Duration;
  explicit_max_ttl?: Duration;
  renewable?: boolean;
  period?: Duration;
  no_parent?: boolean;
  no_default_policy?: boolean;
  display_name?: string;
  num_uses?: number;
  meta?: Record<string, string>;
  /** Parent token (default: root). */
  parentToken?: string;
}

export interface IssuedToken {
  token: string;
  accessor: string;
  policies: string[];
  leaseDuration: number;
  renewable: boolean;
}

function issued(body: { auth: Record<string, unknown> }): IssuedToken {
  const a = body.auth;
  return {
    token: a['client_token'] as string,
    accessor: a['accessor'] as string,
    policies: a['policies'] as string[],
    leaseDuration: a['lease_duration'] as number,
    renewable: a['renewable'] as boolean,
  };
}

export async function createToken(target: Target, opts: CreateTokenOptions): Promise<IssuedToken> {
  const { parentToken, ...body } = opts;
  const res = await call(target, 'POST', 'auth/token/create', body, parentToken);
  return issued(res.body);
}

/** POST auth/<mount>/login without a token; returns the issued token. */
export async function login(target: Target, mount: string, body: Record<string, unknown>): Promise<IssuedToken> {
  const res = await call(target, 'POST', `auth/${trim(mount)}/login`, body, null);
  return issued(res.body);
}

// ---------------------------------------------------------------- keys and JWTs

export function generateRsaKeyPair(): { privateKey: KeyObject; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { privateKey, publicKeyPem: String(publicKey.export({ type: 'spki', format: 'pem' })) };
}

/** Sign claims as an RS256 JWT (privateKey: a KeyObject, a WebCrypto key or a PEM). */
export async function signJwt(
  privateKey: KeyObject | webcrypto.CryptoKey | string,
  claims: JWTPayload & Record<string, unknown>,
  opts: { kid?: string; alg?: string } = {},
): Promise<string> {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return new SignJWT(claims).setProtectedHeader({ alg: opts.alg ?? 'RS256', typ: 'JWT', ...(opts.kid ? { kid: opts.kid } : {}) }).sign(key);
}

export interface ServiceAccountJwtOptions {
  namespace: string;
  serviceAccount: string;
  uid?: string;
  secretName?: string;
  /** `both` (default) carries the projected `kubernetes.io` claim and the legacy flat claims. */
  style?: 'both' | 'projected' | 'legacy';
  /** Default `kubernetes/serviceaccount`, what Vault 1.8 expects unless the config sets an issuer. */
  issuer?: string;
  /** Must be a list for Vault's kubernetes auth; a string reproduces its 500. */
  audience?: string[] | string;
  /** Lifetime for projected tokens (default 3600 s); negative makes an expired token. */
  ttlSeconds?: number;
}

export async function makeServiceAccountJwt(
  privateKey: KeyObject | webcrypto.CryptoKey | string,
  opts: ServiceAccountJwtOptions,
): Promise<string> {
  const style = opts.style ?? 'both';
  const uid = opts.uid ?? randomUUID();
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    iss: opts.issuer ?? 'kubernetes/serviceaccount',
    sub: `system:serviceaccount:${opts.namespace}:${opts.serviceAccount}`,
  };
  if (style !== 'legacy') {
    claims['iat'] = now;
    claims['nbf'] = now;
    claims['exp'] = now + (opts.ttlSeconds ?? 3600);
    claims['kubernetes.io'] = {
      namespace: opts.namespace,
      serviceaccount: { name: opts.serviceAccount, uid },
    };
  }
  if (style !== 'projected') {
    claims['kubernetes.io/serviceaccount/namespace'] = opts.namespace;
    claims['kubernetes.io/serviceaccount/secret.name'] = opts.secretName ?? `${opts.serviceAccount}-token-${uid.slice(0, 5)}`;
    claims['kubernetes.io/serviceaccount/service-account.name'] = opts.serviceAccount;
    claims['kubernetes.io/serviceaccount/service-account.uid'] = uid;
  }
  if (opts.audience !== undefined) claims['aud'] = opts.audience;
  return signJwt(privateKey, claims);
}
