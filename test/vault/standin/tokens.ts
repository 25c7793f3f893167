/**
 * The token store (auth/token/): token creation, lookup, renewal and revocation. A token that expires or is
 * revoked takes its leases and its child tokens with it, as in Vault.
 */
import type { Core } from './core.js';
import type { AuthRenewAnswer, AuthSpec, Backend, LogicalRequest, LogicalResponse, Mount, TokenEntry } from './types.js';
import {
  PastMaxTtlError,
  VaultError,
  badRequest,
  calculateTtl,
  goTime,
  isRecord,
  parseBool,
  parseDurationSeconds,
  parseInteger,
  parseStringList,
  permissionDenied,
  preciseNow,
  randomAlnum,
  sanitizePolicies,
  unrefTimer,
  unsupportedPath,
  uuid,
} from './util.js';

export interface TokenInfo {
  accessor: string;
  policies: string[];
  displayName: string;
  path: string;
  /** ms since the epoch; undefined = never */
  expiresAt: number | undefined;
  issuedAt: number;
  renewable: boolean;
  revoked: boolean;
  revokedAt: number | undefined;
  orphan: boolean;
  parentAccessor: string | undefined;
}

export interface NewToken {
  id?: string;
  policies: string[];
  parent: TokenEntry | undefined;
  path: string;
  displayName: string;
  meta: Record<string, string> | null;
  ttl: number;
  explicitMaxTtl: number;
  period: number;
  renewable: boolean;
  numUses: number;
  entityId: string;
  mountPath: string;
  authTtls: AuthRenewAnswer;
  internal?: Record<string, unknown>;
}

export class TokenStore {
  private readonly byId = new Map<string, TokenEntry>();
  private readonly byAccessor = new Map<string, TokenEntry>();
  private readonly entities = new Map<string, string>();

  constructor(private readonly core: Core) {}

  entityFor(mount: Mount, alias: string): string {
    const key = `${mount.accessor}\u0000${alias}`;
    let id = this.entities.get(key);
    if (!id) this.entities.set(key, (id = uuid()));
    return id;
  }

  create(t: NewToken): TokenEntry {
    const now = preciseNow();
    const entry: TokenEntry = {
      id: t.id ?? `s.${randomAlnum(24)}`,
      accessor: randomAlnum(24),
      policies: t.policies,
      parentId: t.parent?.id,
      children: new Set(),
      path: t.path,
      displayName: t.displayName,
      meta: t.meta,
      creationTime: now,
      issueTime: now,
      creationTtl: t.ttl,
      expireTime: t.ttl > 0 ? now + t.ttl * 1000 : undefined,
      lastRenewal: undefined,
      explicitMaxTtl: t.explicitMaxTtl,
      period: t.period,
      renewable: t.renewable && t.ttl > 0,
      numUses: t.numUses,
      entityId: t.entityId,
      mountPath: t.mountPath,
      authTtls: t.authTtls,
      internal: t.internal ?? {},
      revoked: false,
      revokedAt: undefined,
      timer: undefined,
    };
    this.byId.set(entry.id, entry);
    this.byAccessor.set(entry.accessor, entry);
    t.parent?.children.add(entry.id);
    this.schedule(entry);
    return entry;
  }

  private schedule(t: TokenEntry): void {
    t.timer?.cancel();
    t.timer = undefined;
    if (t.expireTime === undefined) return;
    t.timer = unrefTimer(t.expireTime, () => {
      void this.revoke(t).catch(() => undefined);
    });
  }

  /** A usable token: known, not revoked, not expired. */
  lookup(id: string): TokenEntry | undefined {
    const t = this.byId.get(id);
    if (!t || t.revoked) return undefined;
    if (t.expireTime !== undefined && t.expireTime <= Date.now()) {
      void this.revoke(t).catch(() => undefined);
      return undefined;
    }
    return t;
  }

  lookupAccessor(accessor: string): TokenEntry | undefined {
    const t = this.byAccessor.get(accessor);
    return t ? this.lookup(t.id) : undefined;
  }

  /** Revoke a token, its leases and (unless orphanChildren) its children, recursively. */
  async revoke(t: TokenEntry, orphanChildren = false): Promise<void> {
    if (t.revoked) return;
    t.revoked = true;
    t.revokedAt = Date.now();
    t.timer?.cancel();
    t.timer = undefined;
    this.core.leases.revokeByToken(t.id);
    const work: Promise<void>[] = [];
    for (const childId of t.children) {
      const child = this.byId.get(childId);
      if (!child) continue;
      if (!orphanChildren) work.push(this.revoke(child));
    }
    if (t.parentId) this.byId.get(t.parentId)?.children.delete(t.id);
    await Promise.all(work);
  }

  /** Renew like Vault's expiration manager RenewToken. */
  renew(t: TokenEntry, increment: number): { ttl: number; warnings: string[] } {
    if (t.expireTime === undefined) throw badRequest('lease not found or lease is not renewable');
    if (!t.renewable) throw badRequest('lease is not renewable');
    const mount = this.core.mountByPath(t.mountPath);
    let answer: AuthRenewAnswer = t.authTtls;
    if (mount?.backend.renewAuth) {
      try {
        answer = mount.backend.renewAuth(t);
      } catch (err) {
        const msg = err instanceof VaultError ? err.errors.join('; ') : (err as Error).message;
        throw badRequest(`failed to renew entry: ${msg}`);
      }
    }
    const { sysDefault, sysMax } = this.core.mountTtls(mount);
    const now = preciseNow();
    let result;
    try {
      result = calculateTtl({
        sysDefault,
        sysMax,
        increment,
        backendTtl: answer.ttl,
        period: answer.period,
        backendMaxTtl: answer.maxTtl,
        explicitMaxTtl: answer.explicitMaxTtl,
        startMs: t.issueTime,
        nowMs: now,
      });
    } catch (err) {
      if (err instanceof PastMaxTtlError) throw badRequest(err.message);
      throw err;
    }
    t.expireTime = now + result.ttl * 1000;
    t.lastRenewal = now;
    this.schedule(t);
    return result;
  }

  lookupData(t: TokenEntry): Record<string, unknown> {
    const data: Record<string, unknown> = {
      accessor: t.accessor,
      creation_time: Math.floor(t.creationTime / 1000),
      creation_ttl: t.creationTtl,
      display_name: t.displayName,
      entity_id: t.entityId,
      expire_time: t.expireTime === undefined ? null : goTime(t.expireTime),
      explicit_max_ttl: t.explicitMaxTtl,
      id: t.id,
      issue_time: goTime(t.issueTime),
      meta: t.meta,
      num_uses: t.numUses,
      orphan: t.parentId === undefined,
      path: t.path,
      policies: t.policies,
      renewable: t.renewable,
      ttl: t.expireTime === undefined ? 0 : Math.max(0, Math.trunc((t.expireTime - Date.now()) / 1000)),
      type: 'service',
    };
    if (t.period > 0) data['period'] = t.period;
    if (t.lastRenewal !== undefined) {
      data['last_renewal'] = goTime(t.lastRenewal);
      data['last_renewal_time'] = Math.floor(t.lastRenewal / 1000);
    }
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(data).sort()) sorted[k] = data[k];
    return sorted;
  }

  /** The `auth` block of a login or token creation answer. */
  authBlock(t: TokenEntry, leaseDuration?: number): Record<string, unknown> {
    return {
      client_token: t.id,
      accessor: t.accessor,
      policies: t.policies,
      token_policies: t.policies,
      metadata: t.meta,
      lease_duration:
        leaseDuration ?? (t.expireTime === undefined ? 0 : Math.max(0, Math.round((t.expireTime - Date.now()) / 1000))),
      renewable: t.renewable,
      entity_id: t.entityId,
      token_type: 'service',
      orphan: t.parentId === undefined,
    };
  }

  /** Turn an auth method's answer into a token (Vault's login request handling). */
  fromAuth(auth: AuthSpec, mount: Mount, path: string): { token: TokenEntry; ttl: number; warnings: string[] } {
    const policies = sanitizePolicies(auth.policies, !auth.noDefaultPolicy);
    const source = mount.path.replace(/^auth\//, '').replace(/\//g, '-');
    const displayName = (source + auth.displayName).replace(/-+$/, '');
    const { sysDefault, sysMax } = this.core.mountTtls(mount);
    const { ttl, warnings } = calculateTtl({
      sysDefault,
      sysMax,
      increment: 0,
      backendTtl: auth.ttl,
      period: auth.period,
      backendMaxTtl: auth.maxTtl,
      explicitMaxTtl: auth.explicitMaxTtl,
      nowMs: Date.now(),
    });
    const token = this.create({
      policies,
      parent: undefined,
      path,
      displayName,
      meta: auth.metadata,
      ttl: policies.includes('root') && auth.ttl === 0 ? 0 : ttl,
      explicitMaxTtl: auth.explicitMaxTtl,
      period: auth.period,
      renewable: auth.renewable,
      numUses: auth.numUses,
      entityId: auth.aliasName !== undefined ? this.entityFor(mount, auth.aliasName) : '',
      mountPath: mount.path,
      authTtls: { ttl: auth.ttl, maxTtl: auth.maxTtl, period: auth.period, explicitMaxTtl: auth.explicitMaxTtl },
      internal: auth.internal,
    });
    return { token, ttl, warnings };
  }

  info(): TokenInfo[] {
    return [...this.byId.values()].map((t) => ({
      accessor: t.accessor,
      policies: [...t.policies],
      displayName: t.displayName,
      path: t.path,
      expiresAt: t.expireTime,
      issuedAt: t.issueTime,
      renewable: t.renewable,
      revoked: t.revoked || (t.expireTime !== undefined && t.expireTime <= Date.now()),
      revokedAt: t.revokedAt,
      orphan: t.parentId === undefined,
      parentAccessor: t.parentId ? this.byId.get(t.parentId)?.accessor : undefined,
    }));
  }

  stopTimers(): void {
    for (const t of this.byId.values()) t.timer?.cancel();
  }
}

/** The `auth/token/` backend. */
export class TokenBackend implements Backend {
  readonly type = 'token';

  constructor(private readonly core: Core) {}

  renewAuth(t: TokenEntry): AuthRenewAnswer {
    return { ttl: t.creationTtl, maxTtl: 0, period: t.period, explicitMaxTtl: t.explicitMaxTtl };
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const store = this.core.tokens;
    const caller = req.token;
    if (!caller) throw permissionDenied();
    const d = req.data;
    const op = req.operation;
    const p = req.path;

    if ((p === 'create' || p === 'create-orphan') && op === 'update') {
      return this.createToken(req, caller, p === 'create-orphan');
    }
    if (p === 'lookup-self' && (op === 'read' || op === 'update')) {
      return { data: store.lookupData(caller) };
    }
    if (p === 'lookup' && (op === 'update' || op === 'read')) {
      const id = String(d['token'] ?? '');
      if (!id) throw badRequest('missing token');
      const t = store.lookup(id);
      if (!t) throw new VaultError(403, ['bad token']);
      return { data: store.lookupData(t) };
    }
    if (p === 'lookup-accessor' && op === 'update') {
      const t = store.lookupAccessor(String(d['accessor'] ?? ''));
      if (!t) throw badRequest('invalid accessor');
      const data = store.lookupData(t);
      data['id'] = '';
      return { data };
    }
    if (p === 'renew-self' && op === 'update') {
      const inc = parseDurationSeconds(d['increment'], 'increment');
      const { ttl, warnings } = store.renew(caller, inc);
      return { authBlock: store.authBlock(caller, ttl), warnings };
    }
    if (p === 'renew' && op === 'update') {
      const t = store.lookup(String(d['token'] ?? ''));
      if (!t) throw badRequest('lease not found or lease is not renewable');
      const inc = parseDurationSeconds(d['increment'], 'increment');
      const { ttl, warnings } = store.renew(t, inc);
      return { authBlock: store.authBlock(t, ttl), warnings };
    }
    if (p === 'revoke-self' && op === 'update') {
      await store.revoke(caller);
      return undefined;
    }
    if ((p === 'revoke' || p === 'revoke-orphan') && op === 'update') {
      const t = store.lookup(String(d['token'] ?? ''));
      if (t) await store.revoke(t, p === 'revoke-orphan');
      return undefined;
    }
    if (p === 'revoke-accessor' && op === 'update') {
      const t = store.lookupAccessor(String(d['accessor'] ?? ''));
      if (!t) throw badRequest('invalid accessor');
      await store.revoke(t);
      return undefined;
    }
    if (p === 'accessors/' && op === 'list') {
      return { data: { keys: store.info().filter((t) => !t.revoked).map((t) => t.accessor) } };
    }
    throw unsupportedPath();
  }

  private createToken(req: LogicalRequest, parent: TokenEntry, orphanPath: boolean): LogicalResponse {
    const d = req.data;
    const store = this.core.tokens;
    const parentIsRoot = parent.policies.includes('root');
    const noParent = orphanPath || parseBool(d['no_parent'], false);
    if (noParent && !parentIsRoot && !orphanPath) {
      throw badRequest('root or sudo privileges required to create orphan token');
    }
    let policies = parseStringList(d['policies']);
    const noDefault = parseBool(d['no_default_policy'], false);
    if (policies.length === 0) policies = parent.policies.filter((p) => !(noDefault && p === 'default'));
    const sanitized = sanitizePolicies(policies, !noDefault);
    if (!parentIsRoot) {
      const parentSet = new Set(parent.policies);
      const child = sanitizePolicies(policies, false);
      if (child.includes('root') || !child.every((p) => parentSet.has(p) || p === 'default')) {
        throw badRequest('child policies must be subset of parent');
      }
    }
    const period = parseDurationSeconds(d['period'], 'period');
    if (period > 0 && !parentIsRoot) throw badRequest('root or sudo privileges required to create periodic token');
    let ttl = parseDurationSeconds(d['ttl'] ?? d['lease'], 'ttl');
    const explicitMaxTtl = parseDurationSeconds(d['explicit_max_ttl'], 'explicit_max_ttl');
    if (ttl < 0) throw badRequest('ttl must be positive');
    if (explicitMaxTtl > 0 && (ttl === 0 || explicitMaxTtl < ttl)) ttl = explicitMaxTtl;
    const warnings: string[] = [];
    const mount = req.mount;
    const { sysDefault, sysMax } = this.core.mountTtls(mount);
    if (period > 0 || ttl > 0 || !sanitized.includes('root')) {
      const r = calculateTtl({
        sysDefault,
        sysMax,
        increment: 0,
        backendTtl: ttl,
        period,
        backendMaxTtl: 0,
        explicitMaxTtl,
        nowMs: Date.now(),
      });
      ttl = r.ttl;
      warnings.push(...r.warnings);
    }
    const displayRaw = String(d['display_name'] ?? '').trim();
    const displayName = displayRaw
      ? `token-${displayRaw.replace(/[^a-zA-Z0-9-]/g, '-')}`.replace(/-+$/, '')
      : 'token';
    let meta: Record<string, string> | null = null;
    if (isRecord(d['meta'])) {
      meta = {};
      for (const [k, v] of Object.entries(d['meta'])) meta[k] = String(v);
    }
    const id = typeof d['id'] === 'string' && d['id'] !== '' ? d['id'] : undefined;
    if (id !== undefined && !parentIsRoot) throw badRequest('root or sudo privileges required to specify token id');
    if (id !== undefined && store.lookup(id)) throw badRequest('cannot create a token with a duplicate ID');
    const token = store.create({
      id,
      policies: sanitized,
      parent: noParent ? undefined : parent,
      path: req.fullPath,
      displayName,
      meta,
      ttl,
      explicitMaxTtl,
      period,
      renewable: parseBool(d['renewable'], true),
      numUses: parseInteger(d['num_uses'], 0),
      entityId: '',
      mountPath: 'auth/token/',
      authTtls: { ttl, maxTtl: 0, period, explicitMaxTtl },
    });
    return { authBlock: store.authBlock(token, ttl), warnings };
  }
}
