/**
 * The Kubernetes auth method as Vault 1.8 answers it. The stand-in cannot call a TokenReview API, so the service
 * account JWT's signature is checked against the configured pem_keys instead: a JWT that no key verifies (or a
 * config without pem_keys, like an unreachable API server) gets the plain 403 a rejecting TokenReview gives.
 * Namespace and name checks answer 500, as in the recorded fixtures.
 */
import type { KeyObject } from 'node:crypto';
import type { LogicalRequest, LogicalResponse } from './types.js';
import { authFromParams, parseTokenParams, RoleLoginBackend, tokenParamsData, type TokenParams } from './auth-common.js';
import { MalformedJwtError, parsePublicKeys, verifyWithKeys } from './jwt-verify.js';
import {
  VaultError,
  badRequest,
  globMatch,
  isRecord,
  parseBool,
  parseStringList,
  permissionDenied,
  serverError,
  sortKeys,
  unsupportedOperation,
} from './util.js';

interface K8sConfig {
  host: string;
  caCert: string;
  pemKeys: string[];
  keys: KeyObject[];
  issuer: string;
  disableIssValidation: boolean;
  disableLocalCaJwt: boolean;
}

interface K8sRole {
  names: string[];
  namespaces: string[];
  audience: string;
  token: TokenParams;
}

const DEFAULT_ISSUER = 'kubernetes/serviceaccount';

function decodePayload(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new MalformedJwtError('square/go-jose: compact JWS format must have three parts');
  try {
    const claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as unknown;
    if (!isRecord(claims)) throw new Error('not an object');
    return claims;
  } catch (err) {
    throw new MalformedJwtError(`square/go-jose: ${(err as Error).message}`);
  }
}

function listContainsGlob(list: string[], value: string): boolean {
  return list.some((p) => globMatch(p, value));
}

export class KubernetesAuthBackend extends RoleLoginBackend<K8sRole> {
  readonly type = 'kubernetes';
  private config: K8sConfig | undefined;

  protected configPath(req: LogicalRequest): LogicalResponse | undefined {
    if (req.operation === 'read') {
      const c = this.config;
      if (!c) return undefined;
      return {
        data: {
          disable_iss_validation: c.disableIssValidation,
          disable_local_ca_jwt: c.disableLocalCaJwt,
          issuer: c.issuer,
          kubernetes_ca_cert: c.caCert,
          kubernetes_host: c.host,
          pem_keys: c.pemKeys,
        },
      };
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const host = String(d['kubernetes_host'] ?? '');
    if (!host) throw badRequest('no host provided');
    const pemKeys = parseStringList(d['pem_keys'], false);
    let keys: KeyObject[];
    try {
      keys = parsePublicKeys(pemKeys);
    } catch (err) {
      throw badRequest((err as Error).message);
    }
    this.config = {
      host,
      caCert: String(d['kubernetes_ca_cert'] ?? ''),
      pemKeys,
      keys,
      issuer: String(d['issuer'] ?? ''),
      disableIssValidation: parseBool(d['disable_iss_validation'], false),
      disableLocalCaJwt: parseBool(d['disable_local_ca_jwt'], false),
    };
    return undefined;
  }

  protected rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined {
    const existing = this.roles.get(name);
    if (req.operation === 'read') {
      if (!existing) throw new VaultError(404, []);
      const data: Record<string, unknown> = {
        bound_service_account_names: existing.names,
        bound_service_account_namespaces: existing.namespaces,
        ...tokenParamsData(existing.token),
      };
      if (existing.audience) data['audience'] = existing.audience;
      return { data: sortKeys(data) };
    }
    if (req.operation === 'delete') {
      this.roles.delete(name);
      return undefined;
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const role: K8sRole = {
      names:
        d['bound_service_account_names'] !== undefined
          ? parseStringList(d['bound_service_account_names'])
          : (existing?.names ?? []),
      namespaces:
        d['bound_service_account_namespaces'] !== undefined
          ? parseStringList(d['bound_service_account_namespaces'])
          : (existing?.namespaces ?? []),
      audience: String(d['audience'] ?? existing?.audience ?? ''),
      token: parseTokenParams(d, existing?.token),
    };
    if (role.names.length === 0) throw badRequest('"bound_service_account_names" can not be empty');
    if (role.namespaces.length === 0) throw badRequest('"bound_service_account_namespaces" can not be empty');
    if (role.names.length === 1 && role.names[0] === '*' && role.namespaces.length === 1 && role.namespaces[0] === '*') {
      throw badRequest('service_account_names and service_account_namespaces can not both be "*"');
    }
    this.roles.set(name, role);
    return undefined;
  }

  protected async login(req: LogicalRequest): Promise<LogicalResponse> {
    const d = req.data;
    const roleName = String(d['role'] ?? '');
    if (!roleName) throw badRequest('missing role');
    const jwt = String(d['jwt'] ?? '');
    if (!jwt) throw badRequest('missing jwt');
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`invalid role name "${roleName}"`);
    const config = this.config;
    if (!config) throw serverError('could not load backend configuration');

    let claims: Record<string, unknown>;
    try {
      claims = decodePayload(jwt);
    } catch (err) {
      throw serverError((err as Error).message);
    }
    if (typeof claims['aud'] === 'string') {
      throw serverError("1 error(s) decoding:\n\n* 'aud': source data must be an array or slice, got string");
    }
    if (!config.disableIssValidation) {
      const expected = config.issuer || DEFAULT_ISSUER;
      if (claims['iss'] !== expected) throw serverError('claim "iss" is invalid');
    }
    const projected = isRecord(claims['kubernetes.io']) ? claims['kubernetes.io'] : undefined;
    const projectedSa = projected && isRecord(projected['serviceaccount']) ? projected['serviceaccount'] : undefined;
    const namespace = String(projected?.['namespace'] ?? claims['kubernetes.io/serviceaccount/namespace'] ?? '');
    const saName = String(projectedSa?.['name'] ?? claims['kubernetes.io/serviceaccount/service-account.name'] ?? '');
    const uid = String(projectedSa?.['uid'] ?? claims['kubernetes.io/serviceaccount/service-account.uid'] ?? '');
    const secretName = projected ? '' : String(claims['kubernetes.io/serviceaccount/secret.name'] ?? '');

    if (!(role.namespaces.length === 1 && role.namespaces[0] === '*') && !listContainsGlob(role.namespaces, namespace)) {
      throw serverError('namespace not authorized');
    }
    if (!(role.names.length === 1 && role.names[0] === '*') && !listContainsGlob(role.names, saName)) {
      throw serverError('service account name not authorized');
    }
    if (role.audience) {
      const aud = Array.isArray(claims['aud']) ? claims['aud'].map(String) : [];
      if (!aud.includes(role.audience)) {
        throw serverError('invalid audience (aud) claim: audience claim does not match any expected audience');
      }
    }
    // Stand-in for the TokenReview call: a signature none of the pem_keys verifies (or no pem_keys) is rejected.
    if (config.keys.length === 0) throw permissionDenied();
    let verified: Record<string, unknown> | undefined;
    try {
      verified = await verifyWithKeys(jwt, config.keys);
    } catch {
      verified = undefined;
    }
    if (!verified) throw permissionDenied();
    if (typeof claims['exp'] === 'number' && claims['exp'] < Date.now() / 1000) throw permissionDenied();

    const metadata: Record<string, string> = {
      role: roleName,
      service_account_name: saName,
      service_account_namespace: namespace,
      service_account_secret_name: secretName,
      service_account_uid: uid,
    };
    return {
      auth: authFromParams(role.token, `${namespace}-${saName}`, metadata, uid, { role: roleName }),
    };
  }
}
