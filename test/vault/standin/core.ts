/**
 * The request pipeline of the stand-in, shaped like Vault's: find the token, check the ACL, route to the mount,
 * run the backend, register leases and tokens for what it answered, and wrap it all in Vault's JSON envelope.
 */
import type { Backend, LogicalRequest, LogicalResponse, Mount, MountConfig, Operation, TokenEntry } from './types.js';
import { Acl, DEFAULT_POLICY, parsePolicy, type Capability, type ParsedPolicy } from './policy.js';
import { LeaseManager } from './leases.js';
import { TokenBackend, TokenStore } from './tokens.js';
import { SysBackend } from './sys.js';
import { KvBackend } from './kv.js';
import { DatabaseBackend } from './database.js';
import { PkiBackend } from './pki.js';
import { TransitBackend } from './transit.js';
import { JwtAuthBackend } from './auth-jwt.js';
import { KubernetesAuthBackend } from './auth-kubernetes.js';
import { AppRoleAuthBackend } from './auth-approle.js';
import {
  SYSTEM_MAX_TTL,
  VaultError,
  badRequest,
  isRecord,
  permissionDenied,
  policyDenied,
  randomHex,
  unsupportedPath,
  uuid,
} from './util.js';

export interface CoreRequest {
  method: string;
  /** After /v1/, no leading slash, URL-decoded. */
  path: string;
  query: URLSearchParams;
  /** Parsed JSON body, or undefined. */
  body: unknown;
  token: string | undefined;
  remoteAddr: string;
}

export interface CoreAnswer {
  status: number;
  contentType: string;
  body: string;
  tokenAccessor?: string;
}

/** Placeholder backend for the built-in mounts that the stand-in only lists (cubbyhole/, identity/). */
class InertBackend implements Backend {
  constructor(readonly type: string) {}
  async handle(): Promise<LogicalResponse | undefined> {
    throw unsupportedPath();
  }
}

const UNAUTH_SYS = new Set(['sys/health', 'sys/seal-status', 'sys/leader', 'sys/init']);

export class Core {
  readonly mounts = new Map<string, Mount>();
  readonly policies = new Map<string, ParsedPolicy>();
  readonly tokens: TokenStore;
  readonly leases: LeaseManager;
  readonly clusterName = `vault-cluster-${randomHex(4)}`;
  readonly clusterId = uuid();
  readonly version = '1.8.0-dev';
  readonly rootTokenId: string;

  constructor(rootToken: string) {
    this.rootTokenId = rootToken;
    this.tokens = new TokenStore(this);
    this.leases = new LeaseManager(this);
    this.policies.set('default', parsePolicy('default', DEFAULT_POLICY));
    this.addMount('sys/', 'system', new SysBackend(this), false, 'system endpoints used for control, policy and debugging', null);
    this.addMount('cubbyhole/', 'cubbyhole', new InertBackend('cubbyhole'), false, 'per-token private secret storage', null);
    this.addMount('identity/', 'identity', new InertBackend('identity'), false, 'identity store', null);
    this.addMount('auth/token/', 'token', new TokenBackend(this), true, 'token based credentials', null);
    this.mountSecrets('secret/', 'kv', { version: '2' }, { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, 'key/value secret storage');
    this.tokens.create({
      id: rootToken,
      policies: ['root'],
      parent: undefined,
      // As on a dev server: lookup-self shows display_name "token" and path "auth/token/create".
      path: 'auth/token/create',
      displayName: 'token',
      meta: null,
      ttl: 0,
      explicitMaxTtl: 0,
      period: 0,
      renewable: false,
      numUses: 0,
      entityId: '',
      mountPath: 'auth/token/',
      authTtls: { ttl: 0, maxTtl: 0, period: 0, explicitMaxTtl: 0 },
    });
  }

  // ------------------------------------------------------------ mounts

  private addMount(
    path: string,
    type: string,
    backend: Backend,
    isAuth: boolean,
    description: string,
    options: Record<string, string> | null,
    config: MountConfig = { defaultLeaseTtl: 0, maxLeaseTtl: 0 },
  ): Mount {
    const prefix = isAuth ? `auth_${type}_` : `${type}_`;
    const m: Mount = {
      path,
      type,
      accessor: prefix + randomHex(4),
      uuid: uuid(),
      isAuth,
      description,
      options,
      config: { ...config },
      backend,
    };
    this.mounts.set(path, m);
    return m;
  }

  /** sys/mounts/<path> POST. */
  mountSecrets(
    path: string,
    type: string,
    options: Record<string, string> | null,
    config: MountConfig,
    description: string,
  ): Mount {
    const p = normalizeMountPath(path);
    this.checkMountPath(p);
    let backend: Backend;
    let opts = options;
    switch (type) {
      case 'kv':
      case 'kv-v1':
      case 'generic':
      case 'kv-v2': {
        const version = type === 'kv-v2' ? '2' : type === 'kv-v1' || type === 'generic' ? '1' : (options?.['version'] ?? '1');
        if (version !== '1' && version !== '2') throw badRequest(`invalid kv version: ${version}`);
        backend = new KvBackend(this, version === '2' ? 2 : 1);
        opts = { ...(options ?? {}), version };
        return this.addMount(p, 'kv', backend, false, description, opts, config);
      }
      case 'database':
        backend = new DatabaseBackend(this);
        break;
      case 'pki':
        backend = new PkiBackend(this);
        break;
      case 'transit':
        backend = new TransitBackend();
        break;
      default:
        throw badRequest(`plugin not found in the catalog: ${type}`);
    }
    return this.addMount(p, type, backend, false, description, opts, config);
  }

  /** sys/auth/<path> POST. */
  mountAuth(path: string, type: string, config: MountConfig, description: string): Mount {
    const p = 'auth/' + normalizeMountPath(path);
    this.checkMountPath(p);
    let backend: Backend;
    switch (type) {
      case 'jwt':
      case 'oidc':
        backend = new JwtAuthBackend(type);
        break;
      case 'kubernetes':
        backend = new KubernetesAuthBackend();
        break;
      case 'approle':
        backend = new AppRoleAuthBackend();
        break;
      case 'token':
        throw badRequest('token credential backend cannot be instantiated');
      default:
        throw badRequest(`plugin not found in the catalog: ${type}`);
    }
    return this.addMount(p, type, backend, true, description, null, config);
  }

  private checkMountPath(p: string): void {
    for (const existing of this.mounts.keys()) {
      if (p.startsWith(existing) || existing.startsWith(p)) {
        throw badRequest(`path is already in use at ${existing}`);
      }
    }
    if (p === 'sys/' || p.startsWith('sys/') || p === 'auth/' || p === 'cubbyhole/' || p === 'identity/') {
      throw badRequest(`cannot mount at reserved path ${p}`);
    }
  }

  async unmount(path: string): Promise<void> {
    const m = this.mounts.get(path);
    if (!m) return;
    if (['sys/', 'cubbyhole/', 'identity/', 'auth/token/'].includes(path)) {
      throw badRequest(`cannot unmount "${path}"`);
    }
    await this.leases.revokePrefix(path);
    if (m.isAuth) {
      for (const t of this.tokens.info()) {
        if (t.revoked) continue;
        const entry = this.tokens.lookupAccessor(t.accessor);
        if (entry && entry.mountPath === path) await this.tokens.revoke(entry);
      }
    }
    this.mounts.delete(path);
    await m.backend.close?.();
  }

  mountByPath(path: string): Mount | undefined {
    return this.mounts.get(path);
  }

  /** The mount that serves an API path (longest prefix). */
  route(path: string): Mount | undefined {
    let best: Mount | undefined;
    const probe = path.endsWith('/') ? path : path + '/';
    for (const m of this.mounts.values()) {
      if (probe.startsWith(m.path) && (!best || m.path.length > best.path.length)) best = m;
    }
    return best;
  }

  /** The default and maximum lease TTLs in force on a mount (seconds). */
  mountTtls(mount: Mount | undefined): { sysDefault: number; sysMax: number } {
    const sysMax = mount && mount.config.maxLeaseTtl > 0 ? mount.config.maxLeaseTtl : SYSTEM_MAX_TTL;
    let sysDefault = mount && mount.config.defaultLeaseTtl > 0 ? mount.config.defaultLeaseTtl : SYSTEM_MAX_TTL;
    if (sysDefault > sysMax) sysDefault = sysMax;
    return { sysDefault, sysMax };
  }

  // ------------------------------------------------------------ policies

  acl(token: TokenEntry): Acl {
    const parsed: ParsedPolicy[] = [];
    for (const name of token.policies) {
      const p = this.policies.get(name);
      if (p) parsed.push(p);
    }
    return new Acl(parsed);
  }

  private needsSudo(path: string, op: Operation): boolean {
    return (
      (path.startsWith('sys/auth/') && op !== 'read') ||
      path.startsWith('sys/leases/revoke-prefix/') ||
      path.startsWith('sys/leases/revoke-force/') ||
      (path.startsWith('sys/leases/lookup/') && op === 'list') ||
      path === 'auth/token/accessors/' ||
      path === 'auth/token/create-orphan'
    );
  }

  // ------------------------------------------------------------ requests

  async handle(r: CoreRequest): Promise<CoreAnswer> {
    let tokenAccessor: string | undefined;
    try {
      const method = r.method.toUpperCase();
      let op: Operation;
      switch (method) {
        case 'GET':
        case 'HEAD':
          op = r.query.get('list') === 'true' ? 'list' : 'read';
          break;
        case 'LIST':
          op = 'list';
          break;
        case 'POST':
        case 'PUT':
          op = 'update';
          break;
        case 'DELETE':
          op = 'delete';
          break;
        default:
          throw new VaultError(405, []);
      }
      let path = r.path.replace(/^\/+/, '');
      if (op === 'list' && !path.endsWith('/')) path += '/';

      let data: Record<string, unknown> = {};
      if (op === 'read' || op === 'list') {
        for (const [k, v] of r.query) if (!(k in data)) data[k] = v;
      }
      if (r.body !== undefined && r.body !== null) {
        if (!isRecord(r.body)) throw badRequest('failed to parse JSON input: body must be a JSON object');
        data = { ...data, ...r.body };
      }

      const mount = this.route(path);
      const rel = mount ? path.slice(Math.min(mount.path.length, path.length)) : '';
      const unauth =
        UNAUTH_SYS.has(path.replace(/\/$/, '')) || (mount?.backend.isUnauthenticated?.(rel) ?? false);

      let token: TokenEntry | undefined;
      if (!unauth) {
        if (!r.token) throw badRequest('missing client token');
        token = this.tokens.lookup(r.token);
        if (!token) throw permissionDenied();
        tokenAccessor = token.accessor;
        if (!token.policies.includes('root') && !path.startsWith('sys/internal/ui/mounts/')) {
          const needed: Capability[] =
            op === 'read' ? ['read'] : op === 'list' ? ['list'] : op === 'delete' ? ['delete'] : ['create', 'update'];
          const allowed = this.acl(token).allows(path, needed, op === 'list', this.needsSudo(path, op));
          // As in Vault, the default policy does not cover sys/leases/revoke: revoking even one's own lease needs a policy.
          if (!allowed) throw policyDenied();
        }
      } else if (r.token) {
        tokenAccessor = this.tokens.lookup(r.token)?.accessor;
      }

      if (!mount) throw new VaultError(404, [`no handler for route '${path}'`]);

      const req: LogicalRequest = {
        operation: op,
        method,
        path: rel,
        fullPath: path,
        mount,
        data,
        query: r.query,
        ...(token ? { token } : {}),
        remoteAddr: r.remoteAddr,
      };
      const resp = await mount.backend.handle(req);
      const answer = this.respond(resp, req, token);
      if (token && token.numUses > 0) {
        token.numUses -= 1;
        if (token.numUses === 0) await this.tokens.revoke(token);
      }
      if (method === 'HEAD') answer.body = '';
      return { ...answer, ...(tokenAccessor ? { tokenAccessor } : {}) };
    } catch (err) {
      const e =
        err instanceof VaultError
          ? err
          : new VaultError(500, [err instanceof Error ? err.message : String(err)]);
      return {
        status: e.status,
        contentType: 'application/json',
        body: JSON.stringify({ errors: e.errors }) + '\n',
        ...(tokenAccessor ? { tokenAccessor } : {}),
      };
    }
  }

  private respond(resp: LogicalResponse | undefined, req: LogicalRequest, token: TokenEntry | undefined): CoreAnswer {
    if (resp?.raw) return { status: resp.raw.status, contentType: resp.raw.contentType, body: resp.raw.body };
    if (resp?.rawJson !== undefined) {
      return { status: resp.status ?? 200, contentType: 'application/json', body: JSON.stringify(resp.rawJson) + '\n' };
    }
    if (
      !resp ||
      (resp.data === undefined &&
        !resp.secret &&
        !resp.auth &&
        !resp.authBlock &&
        !resp.leaseInfo &&
        !(resp.warnings && resp.warnings.length) &&
        resp.leaseDurationHint === undefined)
    ) {
      return { status: resp?.status ?? 204, contentType: 'application/json', body: '' };
    }
    const warnings = [...(resp.warnings ?? [])];
    let leaseId = '';
    let renewable = false;
    let leaseDuration = resp.leaseDurationHint ?? 0;
    let auth: Record<string, unknown> | null = resp.authBlock ?? null;
    if (resp.leaseInfo) {
      leaseId = resp.leaseInfo.id;
      renewable = resp.leaseInfo.renewable;
      leaseDuration = resp.leaseInfo.duration;
    }
    if (resp.secret) {
      const reg = this.leases.register(req.fullPath, req.mount, resp.secret, token);
      leaseId = reg.id;
      renewable = resp.secret.renewable;
      leaseDuration = reg.ttl;
      warnings.push(...reg.warnings);
    }
    if (resp.auth) {
      const made = this.tokens.fromAuth(resp.auth, req.mount, req.fullPath);
      auth = this.tokens.authBlock(made.token, made.ttl);
      warnings.push(...made.warnings);
    }
    const envelope = {
      request_id: uuid(),
      lease_id: leaseId,
      renewable,
      lease_duration: leaseDuration,
      data: resp.data ?? null,
      wrap_info: null,
      warnings: warnings.length ? warnings : null,
      auth,
    };
    return { status: resp.status ?? 200, contentType: 'application/json', body: JSON.stringify(envelope) + '\n' };
  }

  async close(): Promise<void> {
    this.leases.stopTimers();
    this.tokens.stopTimers();
    await Promise.all([...this.mounts.values()].map((m) => m.backend.close?.().catch(() => undefined)));
  }
}

export function normalizeMountPath(path: string): string {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '');
  if (!p) throw badRequest('missing mount path');
  return p + '/';
}
