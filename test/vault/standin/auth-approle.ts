/** The AppRole auth method: roles, role-id, secret-id (with TTL and use limits) and login. */
import type { AuthRenewAnswer, Backend, LogicalRequest, LogicalResponse, TokenEntry } from './types.js';
import { authFromParams, parseTokenParams, renewFromParams, tokenParamsData, type TokenParams } from './auth-common.js';
import {
  VaultError,
  badRequest,
  isRecord,
  parseBool,
  parseDurationSeconds,
  parseInteger,
  sortKeys,
  unsupportedOperation,
  unsupportedPath,
  uuid,
} from './util.js';

interface SecretId {
  id: string;
  accessor: string;
  expiresAt: number | undefined;
  usesLeft: number;
  metadata: Record<string, string>;
}

interface AppRole {
  name: string;
  roleId: string;
  bindSecretId: boolean;
  secretIdTtl: number;
  secretIdNumUses: number;
  token: TokenParams;
  secretIds: Map<string, SecretId>;
}

export class AppRoleAuthBackend implements Backend {
  readonly type = 'approle';
  private readonly roles = new Map<string, AppRole>();

  isUnauthenticated(path: string): boolean {
    return path === 'login';
  }

  renewAuth(token: TokenEntry): AuthRenewAnswer {
    const name = String(token.internal['role_name'] ?? '');
    const role = this.roles.get(name);
    if (!role) throw new Error(`role ${name} does not exist during renewal`);
    return renewFromParams(role.token);
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    const op = req.operation;
    if (p === 'role/' && op === 'list') {
      const keys = [...this.roles.keys()].sort();
      if (!keys.length) throw new VaultError(404, []);
      return { data: { keys } };
    }
    let m = /^role\/([^/]+)\/role-id$/.exec(p);
    if (m) {
      const role = this.role(m[1] as string);
      if (op === 'read') return { data: { role_id: role.roleId } };
      if (op === 'update') {
        const id = String(req.data['role_id'] ?? '');
        if (!id) throw badRequest('missing role_id');
        role.roleId = id;
        return undefined;
      }
      throw unsupportedOperation();
    }
    m = /^role\/([^/]+)\/secret-id\/?$/.exec(p);
    if (m) {
      const role = this.role(m[1] as string);
      if (op === 'list') {
        const keys = [...role.secretIds.values()].map((s) => s.accessor).sort();
        if (!keys.length) throw new VaultError(404, []);
        return { data: { keys } };
      }
      if (op !== 'update') throw unsupportedOperation();
      const ttl = req.data['ttl'] !== undefined ? parseDurationSeconds(req.data['ttl'], 'ttl') : role.secretIdTtl;
      const metadata: Record<string, string> = {};
      const rawMeta = req.data['metadata'];
      const metaObj = typeof rawMeta === 'string' && rawMeta ? (JSON.parse(rawMeta) as unknown) : rawMeta;
      if (isRecord(metaObj)) for (const [k, v] of Object.entries(metaObj)) metadata[k] = String(v);
      const s: SecretId = {
        id: uuid(),
        accessor: uuid(),
        expiresAt: ttl > 0 ? Date.now() + ttl * 1000 : undefined,
        usesLeft: parseInteger(req.data['num_uses'], role.secretIdNumUses),
        metadata,
      };
      role.secretIds.set(s.id, s);
      return { data: { secret_id: s.id, secret_id_accessor: s.accessor, secret_id_ttl: ttl } };
    }
    m = /^role\/([^/]+)$/.exec(p);
    if (m) return this.rolePath(req, m[1] as string);
    if (p === 'login') {
      if (op !== 'update') throw unsupportedOperation();
      return this.login(req);
    }
    throw unsupportedPath();
  }

  private role(name: string): AppRole {
    const r = this.roles.get(name);
    if (!r) throw badRequest(`role "${name}" does not exist`);
    return r;
  }

  private rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined {
    const existing = this.roles.get(name);
    if (req.operation === 'read') {
      if (!existing) throw new VaultError(404, []);
      return {
        data: sortKeys({
          bind_secret_id: existing.bindSecretId,
          local_secret_ids: false,
          secret_id_bound_cidrs: [],
          secret_id_num_uses: existing.secretIdNumUses,
          secret_id_ttl: existing.secretIdTtl,
          ...tokenParamsData(existing.token),
        }),
      };
    }
    if (req.operation === 'delete') {
      this.roles.delete(name);
      return undefined;
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const role: AppRole = {
      name,
      roleId: existing?.roleId ?? uuid(),
      bindSecretId: parseBool(d['bind_secret_id'], existing?.bindSecretId ?? true),
      secretIdTtl:
        d['secret_id_ttl'] !== undefined ? parseDurationSeconds(d['secret_id_ttl'], 'secret_id_ttl') : (existing?.secretIdTtl ?? 0),
      secretIdNumUses: parseInteger(d['secret_id_num_uses'], existing?.secretIdNumUses ?? 0),
      token: parseTokenParams(d, existing?.token),
      secretIds: existing?.secretIds ?? new Map(),
    };
    if (!role.bindSecretId && role.token.boundCidrs.length === 0) {
      throw badRequest('at least one constraint should be enabled on the role');
    }
    this.roles.set(name, role);
    return undefined;
  }

  private login(req: LogicalRequest): LogicalResponse {
    const roleId = String(req.data['role_id'] ?? '');
    if (!roleId) throw badRequest('missing role_id');
    const role = [...this.roles.values()].find((r) => r.roleId === roleId);
    if (!role) throw badRequest('invalid role ID');
    let metadata: Record<string, string> = {};
    if (role.bindSecretId) {
      const sid = String(req.data['secret_id'] ?? '');
      if (!sid) throw badRequest('missing secret_id');
      const s = role.secretIds.get(sid);
      if (!s || (s.expiresAt !== undefined && s.expiresAt <= Date.now())) {
        if (s) role.secretIds.delete(sid);
        throw badRequest('invalid secret id');
      }
      if (s.usesLeft > 0) {
        s.usesLeft -= 1;
        if (s.usesLeft === 0) role.secretIds.delete(sid);
      }
      metadata = { ...s.metadata };
    }
    metadata['role_name'] = role.name;
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(metadata).sort()) sorted[k] = metadata[k] as string;
    return { auth: authFromParams(role.token, '', sorted, role.roleId, { role_name: role.name }) };
  }
}
