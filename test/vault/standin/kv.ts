/**
 * The KV secrets engine, versions 1 and 2, in memory. Version 2 keeps versions, soft deletes, undeletes,
 * destroys, check-and-set and metadata, with the 404 bodies real Vault gives (`{"errors":[]}` for a missing
 * path, a full envelope with `data.data: null` for a deleted version).
 */
import type { Core } from './core.js';
import type { Backend, LogicalRequest, LogicalResponse } from './types.js';
import {
  VaultError,
  badRequest,
  goTime,
  isRecord,
  parseBool,
  parseDurationSeconds,
  parseInteger,
  preciseNow,
  unsupportedOperation,
} from './util.js';

interface KvVersion {
  data: Record<string, unknown> | null;
  createdTime: string;
  deletionTime: string;
  destroyed: boolean;
}

interface KvEntry {
  createdTime: string;
  updatedTime: string;
  currentVersion: number;
  oldestVersion: number;
  maxVersions: number;
  casRequired: boolean;
  deleteVersionAfter: number;
  versions: Map<number, KvVersion>;
}

const V2_INVALID_PATH =
  "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";

function listChildren(keys: Iterable<string>, prefix: string): string[] {
  const out = new Set<string>();
  for (const k of keys) {
    if (!k.startsWith(prefix)) continue;
    const rest = k.slice(prefix.length);
    if (rest === '') continue;
    const slash = rest.indexOf('/');
    out.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
  }
  return [...out].sort();
}

function versionList(raw: unknown): number[] {
  const list = Array.isArray(raw) ? raw : typeof raw === 'string' ? raw.split(',') : raw === undefined ? [] : [raw];
  return list.map((v) => parseInteger(v, 0)).filter((v) => v > 0);
}

export class KvBackend implements Backend {
  readonly type = 'kv';
  private readonly v1 = new Map<string, Record<string, unknown>>();
  private readonly v2 = new Map<string, KvEntry>();
  private config = { maxVersions: 0, casRequired: false, deleteVersionAfter: 0 };

  constructor(
    private readonly core: Core,
    readonly version: 1 | 2,
  ) {}

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    return this.version === 1 ? this.handleV1(req) : this.handleV2(req);
  }

  // -------------------------------------------------------------- v1

  private handleV1(req: LogicalRequest): LogicalResponse | undefined {
    const key = req.path;
    switch (req.operation) {
      case 'read': {
        const data = this.v1.get(key);
        if (!data) throw new VaultError(404, []);
        let ttl = this.core.mountTtls(req.mount).sysDefault;
        const rawTtl = data['ttl'] ?? data['lease'];
        if (rawTtl !== undefined) {
          try {
            ttl = parseDurationSeconds(rawTtl, 'ttl');
          } catch {
            /* keep default */
          }
        }
        return { data: { ...data }, leaseDurationHint: ttl };
      }
      case 'update':
        if (key === '' || key.endsWith('/')) throw badRequest('missing path');
        this.v1.set(key, { ...req.data });
        return undefined;
      case 'delete':
        this.v1.delete(key);
        return undefined;
      case 'list': {
        const keys = listChildren(this.v1.keys(), key);
        if (keys.length === 0) throw new VaultError(404, []);
        return { data: { keys } };
      }
    }
  }

  // -------------------------------------------------------------- v2

  private handleV2(req: LogicalRequest): LogicalResponse | undefined {
    const p = req.path;
    if (p === 'config') return this.configPath(req);
    const m = /^(data|metadata|delete|undelete|destroy)\/(.*)$/.exec(p) ?? (p === 'metadata' ? ['', 'metadata', ''] : null);
    if (!m) {
      return { status: 404, data: null, warnings: [V2_INVALID_PATH] };
    }
    const kind = m[1] as string;
    const key = m[2] as string;
    switch (kind) {
      case 'data':
        return this.dataPath(req, key);
      case 'metadata':
        return this.metadataPath(req, key);
      case 'delete':
        if (req.operation !== 'update') throw unsupportedOperation();
        return this.setDeleted(key, versionList(req.data['versions']), true);
      case 'undelete':
        if (req.operation !== 'update') throw unsupportedOperation();
        return this.setDeleted(key, versionList(req.data['versions']), false);
      case 'destroy': {
        if (req.operation !== 'update') throw unsupportedOperation();
        const versions = versionList(req.data['versions']);
        if (versions.length === 0) throw badRequest('no version number provided');
        const entry = this.v2.get(key);
        if (entry) {
          for (const v of versions) {
            const ver = entry.versions.get(v);
            if (ver) {
              ver.destroyed = true;
              ver.data = null;
            }
          }
        }
        return undefined;
      }
    }
    throw unsupportedOperation();
  }

  private versionMeta(v: KvVersion, n: number): Record<string, unknown> {
    return { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed, version: n };
  }

  private dataPath(req: LogicalRequest, key: string): LogicalResponse | undefined {
    const entry = this.v2.get(key);
    switch (req.operation) {
      case 'read': {
        if (!entry) throw new VaultError(404, []);
        const n = parseInteger(req.data['version'], 0) || entry.currentVersion;
        const v = entry.versions.get(n);
        if (!v) throw new VaultError(404, []);
        if (v.deletionTime !== '' || v.destroyed) {
          return { status: 404, data: { data: null, metadata: this.versionMeta(v, n) } };
        }
        return { data: { data: v.data, metadata: this.versionMeta(v, n) } };
      }
      case 'update': {
        const data = req.data['data'];
        if (!isRecord(data)) throw badRequest('no data provided');
        const options = isRecord(req.data['options']) ? req.data['options'] : {};
        const casRequired = this.config.casRequired || (entry?.casRequired ?? false);
        if (options['cas'] !== undefined) {
          const cas = parseInteger(options['cas'], -1);
          if (cas !== (entry?.currentVersion ?? 0)) {
            throw badRequest('check-and-set parameter did not match the current version');
          }
        } else if (casRequired) {
          throw badRequest('check-and-set parameter required for this call');
        }
        const now = goTime(preciseNow());
        const e: KvEntry = entry ?? {
          createdTime: now,
          updatedTime: now,
          currentVersion: 0,
          oldestVersion: 0,
          maxVersions: 0,
          casRequired: false,
          deleteVersionAfter: 0,
          versions: new Map(),
        };
        if (!entry) this.v2.set(key, e);
        const n = e.currentVersion + 1;
        const v: KvVersion = { data: { ...data }, createdTime: now, deletionTime: '', destroyed: false };
        e.versions.set(n, v);
        e.currentVersion = n;
        e.updatedTime = now;
        const max = e.maxVersions || this.config.maxVersions || 10;
        const oldestKept = n - max + 1;
        if (oldestKept > 1) {
          for (const k of [...e.versions.keys()]) if (k < oldestKept) e.versions.delete(k);
          e.oldestVersion = oldestKept;
        }
        return { data: this.versionMeta(v, n) };
      }
      case 'delete':
        if (entry) {
          const v = entry.versions.get(entry.currentVersion);
          if (v && v.deletionTime === '' && !v.destroyed) v.deletionTime = goTime(preciseNow());
        }
        return undefined;
      default:
        throw unsupportedOperation();
    }
  }

  private metadataPath(req: LogicalRequest, key: string): LogicalResponse | undefined {
    switch (req.operation) {
      case 'list': {
        const keys = listChildren(this.v2.keys(), key);
        if (keys.length === 0) throw new VaultError(404, []);
        return { data: { keys } };
      }
      case 'read': {
        const e = this.v2.get(key);
        if (!e) throw new VaultError(404, []);
        const versions: Record<string, unknown> = {};
        for (const n of [...e.versions.keys()].map(String).sort()) {
          const v = e.versions.get(Number(n)) as KvVersion;
          versions[n] = { created_time: v.createdTime, deletion_time: v.deletionTime, destroyed: v.destroyed };
        }
        return {
          data: {
            cas_required: e.casRequired,
            created_time: e.createdTime,
            current_version: e.currentVersion,
            delete_version_after: `${e.deleteVersionAfter}s`,
            max_versions: e.maxVersions,
            oldest_version: e.oldestVersion,
            updated_time: e.updatedTime,
            versions,
          },
        };
      }
      case 'update': {
        let e = this.v2.get(key);
        if (!e) {
          const now = goTime(preciseNow());
          e = {
            createdTime: now,
            updatedTime: now,
            currentVersion: 0,
            oldestVersion: 0,
            maxVersions: 0,
            casRequired: false,
            deleteVersionAfter: 0,
            versions: new Map(),
          };
          this.v2.set(key, e);
        }
        const d = req.data;
        if (d['max_versions'] !== undefined) e.maxVersions = parseInteger(d['max_versions'], 0);
        if (d['cas_required'] !== undefined) e.casRequired = parseBool(d['cas_required'], false);
        if (d['delete_version_after'] !== undefined) {
          e.deleteVersionAfter = parseDurationSeconds(d['delete_version_after'], 'delete_version_after');
        }
        return undefined;
      }
      case 'delete':
        this.v2.delete(key);
        return undefined;
    }
  }

  private setDeleted(key: string, versions: number[], deleted: boolean): LogicalResponse | undefined {
    if (versions.length === 0) throw badRequest('no version number provided');
    const entry = this.v2.get(key);
    if (!entry) return undefined;
    const now = goTime(preciseNow());
    for (const n of versions) {
      const v = entry.versions.get(n);
      if (!v || v.destroyed) continue;
      if (deleted && v.deletionTime === '') v.deletionTime = now;
      if (!deleted) v.deletionTime = '';
    }
    return undefined;
  }

  private configPath(req: LogicalRequest): LogicalResponse | undefined {
    if (req.operation === 'read') {
      return {
        data: {
          cas_required: this.config.casRequired,
          delete_version_after: `${this.config.deleteVersionAfter}s`,
          max_versions: this.config.maxVersions,
        },
      };
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    if (d['max_versions'] !== undefined) this.config.maxVersions = parseInteger(d['max_versions'], 0);
    if (d['cas_required'] !== undefined) this.config.casRequired = parseBool(d['cas_required'], false);
    if (d['delete_version_after'] !== undefined) {
      this.config.deleteVersionAfter = parseDurationSeconds(d['delete_version_after'], 'delete_version_after');
    }
    return undefined;
  }
}
