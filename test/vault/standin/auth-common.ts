/**
 * What Vault's auth methods share: the token_* role fields (tokenutil.TokenParams, with the legacy policies /
 * ttl / max_ttl / period / num_uses aliases) and how they become the `auth` of a login answer.
 */
import type { AuthRenewAnswer, AuthSpec, Backend, LogicalRequest, LogicalResponse, TokenEntry } from './types.js';
import {
  VaultError,
  parseBool,
  parseDurationSeconds,
  parseInteger,
  parseStringList,
  unsupportedOperation,
  unsupportedPath,
} from './util.js';

export interface TokenParams {
  policies: string[];
  ttl: number;
  maxTtl: number;
  explicitMaxTtl: number;
  period: number;
  numUses: number;
  noDefaultPolicy: boolean;
  boundCidrs: string[];
  type: string;
  /** Legacy fields that were given, echoed on read like Vault does. */
  legacy: { policies?: boolean; ttl?: boolean; maxTtl?: boolean; period?: boolean; numUses?: boolean };
}

export const emptyTokenParams = (): TokenParams => ({
  policies: [],
  ttl: 0,
  maxTtl: 0,
  explicitMaxTtl: 0,
  period: 0,
  numUses: 0,
  noDefaultPolicy: false,
  boundCidrs: [],
  type: 'default',
  legacy: {},
});

/** Parse token_* (and legacy) fields from a role write, on top of the previous values. */
export function parseTokenParams(d: Record<string, unknown>, prev?: TokenParams): TokenParams {
  const t: TokenParams = prev ? { ...prev, legacy: { ...prev.legacy } } : emptyTokenParams();
  if (d['token_policies'] !== undefined) t.policies = parseStringList(d['token_policies']);
  else if (d['policies'] !== undefined) {
    t.policies = parseStringList(d['policies']);
    t.legacy.policies = true;
  }
  if (d['token_ttl'] !== undefined) t.ttl = parseDurationSeconds(d['token_ttl'], 'token_ttl');
  else if (d['ttl'] !== undefined) {
    t.ttl = parseDurationSeconds(d['ttl'], 'ttl');
    t.legacy.ttl = true;
  }
  if (d['token_max_ttl'] !== undefined) t.maxTtl = parseDurationSeconds(d['token_max_ttl'], 'token_max_ttl');
  else if (d['max_ttl'] !== undefined) {
    t.maxTtl = parseDurationSeconds(d['max_ttl'], 'max_ttl');
    t.legacy.maxTtl = true;
  }
  if (d['token_explicit_max_ttl'] !== undefined) {
    t.explicitMaxTtl = parseDurationSeconds(d['token_explicit_max_ttl'], 'token_explicit_max_ttl');
  }
  if (d['token_period'] !== undefined) t.period = parseDurationSeconds(d['token_period'], 'token_period');
  else if (d['period'] !== undefined) {
    t.period = parseDurationSeconds(d['period'], 'period');
    t.legacy.period = true;
  }
  if (d['token_num_uses'] !== undefined) t.numUses = parseInteger(d['token_num_uses'], 0);
  else if (d['num_uses'] !== undefined) {
    t.numUses = parseInteger(d['num_uses'], 0);
    t.legacy.numUses = true;
  }
  if (d['token_no_default_policy'] !== undefined) t.noDefaultPolicy = parseBool(d['token_no_default_policy'], false);
  if (d['token_bound_cidrs'] !== undefined) t.boundCidrs = parseStringList(d['token_bound_cidrs']);
  if (d['token_type'] !== undefined) t.type = String(d['token_type']);
  return t;
}

/** tokenutil PopulateTokenData plus the legacy echo, merged into data (caller sorts). */
export function tokenParamsData(t: TokenParams): Record<string, unknown> {
  const d: Record<string, unknown> = {
    token_bound_cidrs: t.boundCidrs,
    token_explicit_max_ttl: t.explicitMaxTtl,
    token_max_ttl: t.maxTtl,
    token_no_default_policy: t.noDefaultPolicy,
    token_num_uses: t.numUses,
    token_period: t.period,
    token_policies: t.policies,
    token_ttl: t.ttl,
    token_type: t.type,
  };
  if (t.legacy.policies) d['policies'] = t.policies;
  if (t.legacy.ttl) d['ttl'] = t.ttl;
  if (t.legacy.maxTtl) d['max_ttl'] = t.maxTtl;
  if (t.legacy.period) d['period'] = t.period;
  if (t.legacy.numUses) d['num_uses'] = t.numUses;
  return d;
}

export function authFromParams(
  t: TokenParams,
  displayName: string,
  metadata: Record<string, string>,
  aliasName: string,
  internal: Record<string, unknown>,
): AuthSpec {
  return {
    policies: t.policies,
    noDefaultPolicy: t.noDefaultPolicy,
    displayName,
    metadata,
    ttl: t.ttl,
    maxTtl: t.maxTtl,
    explicitMaxTtl: t.explicitMaxTtl,
    period: t.period,
    numUses: t.numUses,
    renewable: true,
    aliasName,
    internal,
  };
}

export function renewFromParams(t: TokenParams): AuthRenewAnswer {
  return { ttl: t.ttl, maxTtl: t.maxTtl, period: t.period, explicitMaxTtl: t.explicitMaxTtl };
}

/**
 * An auth method with a `config`, named roles carrying token_* fields, and a `login` (jwt, kubernetes): the routing,
 * role listing and token renewal they share. Subclasses answer config, role/<name> and login.
 */
export abstract class RoleLoginBackend<R extends { readonly token: TokenParams }> implements Backend {
  abstract readonly type: string;
  protected readonly roles = new Map<string, R>();

  isUnauthenticated(path: string): boolean {
    return path === 'login';
  }

  renewAuth(token: TokenEntry): AuthRenewAnswer {
    const name = String(token.internal['role'] ?? '');
    const role = this.roles.get(name);
    if (!role) throw new Error(`role ${name} does not exist during renewal`);
    return renewFromParams(role.token);
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    if (p === 'config') return this.configPath(req);
    if (p === 'role/' && req.operation === 'list') {
      const keys = [...this.roles.keys()].sort();
      if (!keys.length) throw new VaultError(404, []);
      return { data: { keys } };
    }
    const m = /^role\/(.+)$/.exec(p);
    if (m) return this.rolePath(req, m[1] as string);
    if (p === 'login') {
      if (req.operation !== 'update') throw unsupportedOperation();
      return this.login(req);
    }
    throw unsupportedPath();
  }

  protected abstract configPath(req: LogicalRequest): LogicalResponse | undefined;
  protected abstract rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined;
  protected abstract login(req: LogicalRequest): Promise<LogicalResponse>;
}
