/**
 * The JWT auth method (vault-plugin-auth-jwt as shipped with Vault 1.8, validating with hashicorp/cap): local
 * public keys (jwt_validation_pubkeys) or a JWKS URL; roles with bound audiences, subject and claims; the same
 * error strings (`error validating token: invalid audience (aud) claim: ...`).
 */
import type { LogicalRequest, LogicalResponse } from './types.js';
import { authFromParams, parseTokenParams, RoleLoginBackend, tokenParamsData, type TokenParams } from './auth-common.js';
import { MalformedJwtError, parsePublicKeys, tokenAlg, verifyWithKeys } from './jwt-verify.js';
import type { KeyObject } from 'node:crypto';
import {
  VaultError,
  badRequest,
  globMatch,
  isRecord,
  parseDurationSeconds,
  parseStringList,
  sortKeys,
  unsupportedOperation,
} from './util.js';

interface JwtConfig {
  pubkeys: string[];
  keys: KeyObject[];
  jwksUrl: string;
  boundIssuer: string;
  supportedAlgs: string[];
  defaultRole: string;
}

interface JwtRole {
  roleType: string;
  boundAudiences: string[];
  boundSubject: string;
  boundClaims: Record<string, unknown>;
  boundClaimsType: string;
  userClaim: string;
  groupsClaim: string;
  claimMappings: Record<string, string>;
  allowedRedirectUris: string[];
  expirationLeeway: number;
  notBeforeLeeway: number;
  clockSkewLeeway: number;
  token: TokenParams;
}

/** Claim lookup like the plugin's getClaim: a plain key, or a JSON pointer starting with '/'. */
function getClaim(claims: Record<string, unknown>, name: string): unknown {
  if (!name.startsWith('/')) return claims[name];
  let cur: unknown = claims;
  for (const raw of name.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isRecord(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

function normalizeList(v: unknown): string[] | undefined {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return [String(v)];
  if (Array.isArray(v)) {
    if (!v.every((x) => typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean')) return undefined;
    return v.map(String);
  }
  return undefined;
}

function leeway(value: number, dflt: number): number {
  if (value < 0) return 0;
  return value === 0 ? dflt : value;
}

export class JwtAuthBackend extends RoleLoginBackend<JwtRole> {
  private config: JwtConfig | undefined;

  constructor(readonly type: string) {
    super();
  }

  override isUnauthenticated(path: string): boolean {
    return path === 'login' || path.startsWith('oidc/');
  }

  protected configPath(req: LogicalRequest): LogicalResponse | undefined {
    if (req.operation === 'read') {
      const c = this.config;
      if (!c) return undefined;
      return {
        data: {
          bound_issuer: c.boundIssuer,
          default_role: c.defaultRole,
          jwks_ca_pem: '',
          jwks_url: c.jwksUrl,
          jwt_supported_algs: c.supportedAlgs,
          jwt_validation_pubkeys: c.pubkeys,
          namespace_in_state: false,
          oidc_client_id: '',
          oidc_discovery_ca_pem: '',
          oidc_discovery_url: '',
          oidc_response_mode: '',
          oidc_response_types: [],
          provider_config: {},
        },
      };
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const pubkeys = parseStringList(d['jwt_validation_pubkeys'], false);
    const jwksUrl = String(d['jwks_url'] ?? '');
    const discovery = String(d['oidc_discovery_url'] ?? '');
    const set = [pubkeys.length > 0, jwksUrl !== '', discovery !== ''].filter(Boolean).length;
    if (set !== 1) {
      throw badRequest("exactly one of 'jwt_validation_pubkeys', 'jwks_url' or 'oidc_discovery_url' must be set");
    }
    if (discovery) throw badRequest('the Vault stand-in does not support oidc_discovery_url; use jwt_validation_pubkeys');
    let keys: KeyObject[];
    try {
      keys = parsePublicKeys(pubkeys);
    } catch (err) {
      throw badRequest(`error parsing public key: ${(err as Error).message}`);
    }
    this.config = {
      pubkeys,
      keys,
      jwksUrl,
      boundIssuer: String(d['bound_issuer'] ?? ''),
      supportedAlgs: parseStringList(d['jwt_supported_algs']),
      defaultRole: String(d['default_role'] ?? ''),
    };
    return undefined;
  }

  protected rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined {
    const existing = this.roles.get(name);
    if (req.operation === 'read') {
      if (!existing) throw new VaultError(404, []);
      const r = existing;
      return {
        data: sortKeys({
          allowed_redirect_uris: r.allowedRedirectUris,
          bound_audiences: r.boundAudiences,
          bound_claims: Object.keys(r.boundClaims).length ? r.boundClaims : null,
          bound_claims_type: r.boundClaimsType,
          bound_subject: r.boundSubject,
          claim_mappings: Object.keys(r.claimMappings).length ? r.claimMappings : null,
          clock_skew_leeway: r.clockSkewLeeway,
          expiration_leeway: r.expirationLeeway,
          groups_claim: r.groupsClaim,
          max_age: 0,
          not_before_leeway: r.notBeforeLeeway,
          oidc_scopes: [],
          role_type: r.roleType,
          user_claim: r.userClaim,
          verbose_oidc_logging: false,
          ...tokenParamsData(r.token),
        }),
      };
    }
    if (req.operation === 'delete') {
      this.roles.delete(name);
      return undefined;
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const roleType = String(d['role_type'] ?? existing?.roleType ?? 'oidc');
    if (roleType !== 'jwt' && roleType !== 'oidc') throw badRequest(`invalid 'role_type': ${roleType}`);
    const mappings: Record<string, string> = {};
    if (isRecord(d['claim_mappings'])) {
      for (const [k, v] of Object.entries(d['claim_mappings'])) mappings[k] = String(v);
    }
    const role: JwtRole = {
      roleType,
      boundAudiences:
        d['bound_audiences'] !== undefined ? parseStringList(d['bound_audiences']) : (existing?.boundAudiences ?? []),
      boundSubject: String(d['bound_subject'] ?? existing?.boundSubject ?? ''),
      boundClaims: isRecord(d['bound_claims']) ? d['bound_claims'] : (existing?.boundClaims ?? {}),
      boundClaimsType: String(d['bound_claims_type'] ?? existing?.boundClaimsType ?? 'string'),
      userClaim: String(d['user_claim'] ?? existing?.userClaim ?? ''),
      groupsClaim: String(d['groups_claim'] ?? existing?.groupsClaim ?? ''),
      claimMappings: d['claim_mappings'] !== undefined ? mappings : (existing?.claimMappings ?? {}),
      allowedRedirectUris:
        d['allowed_redirect_uris'] !== undefined
          ? parseStringList(d['allowed_redirect_uris'])
          : (existing?.allowedRedirectUris ?? []),
      expirationLeeway: parseDurationSeconds(d['expiration_leeway'] ?? existing?.expirationLeeway ?? 0, 'expiration_leeway'),
      notBeforeLeeway: parseDurationSeconds(d['not_before_leeway'] ?? existing?.notBeforeLeeway ?? 0, 'not_before_leeway'),
      clockSkewLeeway: parseDurationSeconds(d['clock_skew_leeway'] ?? existing?.clockSkewLeeway ?? 0, 'clock_skew_leeway'),
      token: parseTokenParams(d, existing?.token),
    };
    if (role.boundClaimsType !== 'string' && role.boundClaimsType !== 'glob') {
      throw badRequest(`invalid 'bound_claims_type': ${role.boundClaimsType}`);
    }
    if (!role.userClaim) throw badRequest('a user claim must be defined on the role');
    if (
      role.roleType === 'jwt' &&
      role.boundAudiences.length === 0 &&
      role.token.boundCidrs.length === 0 &&
      role.boundSubject === '' &&
      Object.keys(role.boundClaims).length === 0
    ) {
      throw badRequest('must have at least one bound constraint when creating/updating a role');
    }
    if (role.roleType === 'oidc' && role.allowedRedirectUris.length === 0) {
      throw badRequest("'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified.");
    }
    this.roles.set(name, role);
    return undefined;
  }

  protected async login(req: LogicalRequest): Promise<LogicalResponse> {
    const d = req.data;
    const jwt = String(d['jwt'] ?? '');
    if (!jwt) throw badRequest('missing token');
    const config = this.config;
    const roleName = String(d['role'] ?? '') || config?.defaultRole || '';
    if (!roleName) throw badRequest('missing role');
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`role "${roleName}" could not be found`);
    if (role.roleType === 'oidc') throw badRequest('role with oidc role_type is not allowed');
    if (!config) throw badRequest('could not load configuration');

    const fail = (msg: string): VaultError => badRequest(`error validating token: ${msg}`);
    let claims: Record<string, unknown> | undefined;
    try {
      claims = await verifyWithKeys(jwt, config.keys, config.jwksUrl || undefined);
    } catch (err) {
      if (err instanceof MalformedJwtError) throw fail(`error verifying token signature: ${err.message}`);
      throw err;
    }
    if (!claims) {
      throw fail(
        config.jwksUrl
          ? 'error verifying token signature: failed to verify id token signature'
          : 'error verifying token signature: no known key successfully validated the token signature',
      );
    }
    const algs = config.supportedAlgs.length ? config.supportedAlgs : ['RS256'];
    if (!algs.includes(tokenAlg(jwt))) {
      throw fail('invalid algorithm (alg) header parameter: token signed with unexpected algorithm');
    }
    if (config.boundIssuer && claims['iss'] !== config.boundIssuer) throw fail('invalid issuer (iss) claim');
    if (role.boundSubject && claims['sub'] !== role.boundSubject) throw fail('invalid subject (sub) claim');
    const audRaw = claims['aud'];
    const aud = typeof audRaw === 'string' ? [audRaw] : Array.isArray(audRaw) ? audRaw.map(String) : [];
    if (role.boundAudiences.length && !role.boundAudiences.some((a) => aud.includes(a))) {
      throw fail('invalid audience (aud) claim: audience claim does not match any expected audience');
    }
    const num = (v: unknown): number => (typeof v === 'number' ? Math.floor(v) : 0);
    const iat = num(claims['iat']);
    let exp = num(claims['exp']);
    let nbf = num(claims['nbf']);
    if (iat === 0 && exp === 0 && nbf === 0) {
      throw fail('no issued at (iat), not before (nbf), or expiration time (exp) claims in token');
    }
    if (exp === 0) exp = Math.max(iat, nbf) + leeway(role.expirationLeeway, 150);
    if (nbf === 0) nbf = iat !== 0 ? iat : exp - leeway(role.notBeforeLeeway, 150);
    const cks = leeway(role.clockSkewLeeway, 60);
    const now = Date.now() / 1000;
    if (now + cks < nbf) throw fail('invalid not before (nbf) claim: token not yet valid');
    if (now - cks > exp) throw fail('invalid expiration time (exp) claim: token is expired');
    if (iat !== 0 && now + cks < iat) throw fail('invalid issued at (iat) claim: token issued in the future');

    if (Array.isArray(audRaw) && audRaw.length > 0 && role.boundAudiences.length === 0) {
      throw badRequest('audience claim found in JWT but no audiences bound to the role');
    }
    const userRaw = getClaim(claims, role.userClaim);
    if (userRaw === undefined || userRaw === null) throw badRequest(`claim "${role.userClaim}" not found in token`);
    if (typeof userRaw !== 'string') throw badRequest(`claim "${role.userClaim}" could not be converted to string`);
    const metadata: Record<string, string> = { role: roleName };
    for (const [source, target] of Object.entries(role.claimMappings)) {
      const v = getClaim(claims, source);
      if (v === undefined || v === null) continue;
      if (typeof v !== 'string') throw badRequest(`error converting claim '${source}' to string`);
      metadata[target] = v;
    }
    for (const [claim, expected] of Object.entries(role.boundClaims)) {
      const actual = getClaim(claims, claim);
      if (actual === undefined || actual === null) throw badRequest(`error validating claims: claim "${claim}" is missing`);
      const actVals = normalizeList(actual);
      if (!actVals) throw badRequest(`error validating claims: received claim is not a string or list: ${JSON.stringify(actual)}`);
      const expVals = normalizeList(expected);
      if (!expVals) throw badRequest(`error validating claims: bound claim is not a string or list: ${JSON.stringify(expected)}`);
      const found = expVals.some((e) =>
        actVals.some((a) => (role.boundClaimsType === 'glob' ? globMatch(e, a) : e === a)),
      );
      if (!found) throw badRequest(`error validating claims: claim "${claim}" does not match any associated bound claim values`);
    }
    const sortedMeta: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) sortedMeta[k] = metadata[k] as string;
    return { auth: authFromParams(role.token, userRaw, sortedMeta, userRaw, { role: roleName }) };
  }
}
