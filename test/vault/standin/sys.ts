/**
 * The `sys/` backend: health, mounts and auth methods, ACL policies, leases, capabilities and the UI mount
 * lookup that Vault clients use to tell KV v1 from v2.
 */
import type { Core } from './core.js';
import type { Backend, LogicalRequest, LogicalResponse, Mount, MountConfig } from './types.js';
import { parsePolicy } from './policy.js';
import {
  VaultError,
  badRequest,
  isRecord,
  parseDurationSeconds,
  sortKeys,
  unsupportedOperation,
  unsupportedPath,
} from './util.js';

function parseMountConfig(raw: unknown): MountConfig {
  const c = isRecord(raw) ? raw : {};
  return {
    defaultLeaseTtl: parseDurationSeconds(c['default_lease_ttl'], 'default_lease_ttl'),
    maxLeaseTtl: parseDurationSeconds(c['max_lease_ttl'], 'max_lease_ttl'),
  };
}

function stringOptions(raw: unknown): Record<string, string> | null {
  if (!isRecord(raw)) return null;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) out[k] = String(v);
  return out;
}

export function mountInfo(m: Mount): Record<string, unknown> {
  const config: Record<string, unknown> = {
    default_lease_ttl: m.config.defaultLeaseTtl,
    force_no_cache: false,
    max_lease_ttl: m.config.maxLeaseTtl,
  };
  if (m.isAuth) config['token_type'] = 'default-service';
  return {
    accessor: m.accessor,
    config,
    description: m.description,
    external_entropy_access: false,
    local: false,
    options: m.options,
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

export class SysBackend implements Backend {
  readonly type = 'system';

  constructor(private readonly core: Core) {}

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    const op = req.operation;
    const d = req.data;
    const core = this.core;

    if (p === 'health' || p === 'health/') {
      if (op !== 'read') throw unsupportedOperation();
      return {
        rawJson: {
          initialized: true,
          sealed: false,
          standby: false,
          performance_standby: false,
          replication_performance_mode: 'disabled',
          replication_dr_mode: 'disabled',
          server_time_utc: Math.floor(Date.now() / 1000),
          version: core.version,
          cluster_name: core.clusterName,
          cluster_id: core.clusterId,
        },
      };
    }
    if (p === 'seal-status') {
      return {
        rawJson: {
          type: 'shamir',
          initialized: true,
          sealed: false,
          t: 1,
          n: 1,
          progress: 0,
          nonce: '',
          version: core.version,
          migration: false,
          cluster_name: core.clusterName,
          cluster_id: core.clusterId,
          recovery_seal: false,
          storage_type: 'inmem',
        },
      };
    }

    // ---------------------------------------------------------- mounts
    if (p === 'mounts' || p === 'mounts/') {
      if (op !== 'read') throw unsupportedOperation();
      const data: Record<string, unknown> = {};
      for (const m of [...core.mounts.values()].filter((x) => !x.isAuth).sort((a, b) => (a.path < b.path ? -1 : 1))) {
        data[m.path] = mountInfo(m);
      }
      return { data };
    }
    let m = /^mounts\/(.+?)\/tune$/.exec(p);
    if (m) return this.tune(m[1] as string, false, req);
    m = /^mounts\/(.+)$/.exec(p);
    if (m) {
      const path = (m[1] as string).replace(/\/+$/, '') + '/';
      if (op === 'update') {
        const type = String(d['type'] ?? '');
        if (!type) throw badRequest('backend type must be specified as a string');
        core.mountSecrets(
          path,
          type,
          stringOptions(d['options']),
          parseMountConfig(d['config']),
          String(d['description'] ?? ''),
        );
        return undefined;
      }
      if (op === 'delete') {
        await core.unmount(path);
        return undefined;
      }
      throw unsupportedOperation();
    }

    if (p === 'auth' || p === 'auth/') {
      if (op !== 'read') throw unsupportedOperation();
      const data: Record<string, unknown> = {};
      for (const mt of [...core.mounts.values()].filter((x) => x.isAuth).sort((a, b) => (a.path < b.path ? -1 : 1))) {
        data[mt.path.slice('auth/'.length)] = mountInfo(mt);
      }
      return { data };
    }
    m = /^auth\/(.+?)\/tune$/.exec(p);
    if (m) return this.tune(m[1] as string, true, req);
    m = /^auth\/(.+)$/.exec(p);
    if (m) {
      const path = (m[1] as string).replace(/\/+$/, '') + '/';
      if (op === 'update') {
        const type = String(d['type'] ?? '');
        if (!type) throw badRequest('backend type must be specified as a string');
        core.mountAuth(path, type, parseMountConfig(d['config']), String(d['description'] ?? ''));
        return undefined;
      }
      if (op === 'delete') {
        await core.unmount('auth/' + path);
        return undefined;
      }
      throw unsupportedOperation();
    }

    // ---------------------------------------------------------- policies
    if (p === 'policy' || p === 'policy/') {
      const keys = [...new Set([...core.policies.keys(), 'root'])].sort();
      return { data: { keys, policies: keys } };
    }
    if (p === 'policies/acl/' && op === 'list') {
      return { data: { keys: [...new Set([...core.policies.keys(), 'root'])].sort() } };
    }
    m = /^(policy|policies\/acl)\/(.+)$/.exec(p);
    if (m) {
      const legacy = m[1] === 'policy';
      const name = (m[2] as string).toLowerCase();
      if (op === 'read') {
        if (name === 'root') return { data: legacy ? { name, rules: '' } : { name, policy: '' } };
        const pol = core.policies.get(name);
        if (!pol) throw new VaultError(404, []);
        return { data: legacy ? { name, rules: pol.text } : { name, policy: pol.text } };
      }
      if (op === 'update') {
        if (name === 'root') throw badRequest('cannot update "root" policy');
        const text = d['policy'] ?? d['rules'];
        if (typeof text !== 'string' || text.trim() === '') throw badRequest("'policy' parameter not supplied or empty");
        core.policies.set(name, parsePolicy(name, text));
        return undefined;
      }
      if (op === 'delete') {
        // Vault's own words, recorded: `cannot delete default policy` (no quotes), but `cannot delete "root" policy`.
        if (name === 'default') throw badRequest('cannot delete default policy');
        if (name === 'root') throw badRequest('cannot delete "root" policy');
        core.policies.delete(name);
        return undefined;
      }
      throw unsupportedOperation();
    }

    // ---------------------------------------------------------- leases
    m = /^(?:leases\/renew|renew)(?:\/(.+))?$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const id = m[1] ?? String(d['lease_id'] ?? '');
      if (!id) throw badRequest('lease_id must be specified');
      const increment = parseDurationSeconds(d['increment'], 'increment');
      const { ttl, warnings, lease } = await core.leases.renew(id, increment);
      return { leaseInfo: { id: lease.id, renewable: true, duration: ttl }, data: null, warnings };
    }
    m = /^(?:leases\/revoke|revoke)(?:\/(.+))?$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const id = m[1] ?? String(d['lease_id'] ?? '');
      if (!id) throw badRequest('lease_id must be specified');
      await core.leases.revoke(id);
      return undefined;
    }
    m = /^(?:leases\/revoke-prefix|revoke-prefix|leases\/revoke-force|revoke-force)\/(.+)$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      await core.leases.revokePrefix(m[1] as string);
      return undefined;
    }
    if (p === 'leases/lookup') {
      if (op !== 'update') throw unsupportedOperation();
      const id = String(d['lease_id'] ?? '');
      if (!id) throw badRequest('missing lease ID');
      return { data: core.leases.lookup(id) };
    }
    m = /^leases\/lookup\/(.*)$/.exec(p);
    if (m && op === 'list') {
      const keys = core.leases.listPrefix(m[1] as string);
      if (keys.length === 0) throw new VaultError(404, []);
      return { data: { keys } };
    }

    // ---------------------------------------------------------- capabilities
    if (p === 'capabilities-self' || p === 'capabilities' || p === 'capabilities-accessor') {
      if (op !== 'update') throw unsupportedOperation();
      let token = req.token;
      if (p === 'capabilities') token = core.tokens.lookup(String(d['token'] ?? ''));
      if (p === 'capabilities-accessor') token = core.tokens.lookupAccessor(String(d['accessor'] ?? ''));
      if (!token) throw badRequest('invalid token');
      const paths = [
        ...(Array.isArray(d['paths']) ? d['paths'].map(String) : []),
        ...(typeof d['path'] === 'string' ? [d['path']] : []),
      ];
      if (paths.length === 0) throw badRequest("'paths' must be supplied");
      const data: Record<string, unknown> = {};
      const acl = core.acl(token);
      for (const path of paths) {
        let caps: string[];
        if (token.policies.includes('root')) caps = ['root'];
        else {
          caps = [...acl.capabilities(path.replace(/^\//, ''))].sort();
          if (caps.length === 0) caps = ['deny'];
        }
        data[path] = caps;
        if (paths.length === 1) data['capabilities'] = caps;
      }
      return { data: sortKeys(data) };
    }

    // ---------------------------------------------------------- UI mount lookup (KV version detection)
    m = /^internal\/ui\/mounts\/(.+)$/.exec(p);
    if (m) {
      const path = m[1] as string;
      const errResp = new VaultError(403, [
        `preflight capability check returned 403, please ensure client's policies grant access to path "${path}"`,
      ]);
      const mount = core.route(path);
      if (!mount || mount.path === 'sys/') throw errResp;
      const token = req.token;
      if (!token) throw errResp;
      if (!token.policies.includes('root') && !core.acl(token).anyUnder(mount.path)) throw errResp;
      return { data: sortKeys({ ...mountInfo(mount), path: mount.path }) };
    }

    throw unsupportedPath();
  }

  private tune(rawPath: string, isAuth: boolean, req: LogicalRequest): LogicalResponse | undefined {
    const path = (isAuth ? 'auth/' : '') + rawPath.replace(/\/+$/, '') + '/';
    const mount = this.core.mountByPath(path);
    if (!mount) throw badRequest(`cannot fetch sysview for path "${path}"`);
    if (req.operation === 'read') {
      const { sysDefault, sysMax } = this.core.mountTtls(mount);
      return {
        data: sortKeys({
          default_lease_ttl: sysDefault,
          description: mount.description,
          force_no_cache: false,
          max_lease_ttl: sysMax,
          ...(mount.options ? { options: mount.options } : {}),
        }),
      };
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    if (d['default_lease_ttl'] !== undefined) {
      mount.config.defaultLeaseTtl = parseDurationSeconds(d['default_lease_ttl'], 'default_lease_ttl');
    }
    if (d['max_lease_ttl'] !== undefined) {
      mount.config.maxLeaseTtl = parseDurationSeconds(d['max_lease_ttl'], 'max_lease_ttl');
    }
    if (typeof d['description'] === 'string') mount.description = d['description'];
    return undefined;
  }
}
