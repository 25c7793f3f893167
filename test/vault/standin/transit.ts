/**
 * The transit secrets engine, for aes256-gcm96 keys: key creation and rotation, encrypt/decrypt
 * (`vault:v<N>:` + base64(nonce | ciphertext | tag)), and HMAC-SHA2 with `hmac`/`verify`.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Backend, LogicalRequest, LogicalResponse } from './types.js';
import { VaultError, badRequest, parseBool, parseInteger, unsupportedOperation, unsupportedPath } from './util.js';

interface KeyVersion {
  aes: Buffer;
  hmac: Buffer;
  created: number;
}

interface TransitKey {
  name: string;
  type: string;
  versions: Map<number, KeyVersion>;
  latest: number;
  minDecryption: number;
  deletionAllowed: boolean;
  exportable: boolean;
}

const HMAC_ALGOS: Record<string, string> = {
  'sha2-224': 'sha224',
  'sha2-256': 'sha256',
  'sha2-384': 'sha384',
  'sha2-512': 'sha512',
};

function decodeB64(raw: unknown, what: string): Buffer {
  if (typeof raw !== 'string') throw badRequest(`missing ${what}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(raw) || raw.length % 4 !== 0) {
    throw badRequest(`unable to decode input as base64: illegal base64 data at input byte 0`);
  }
  return Buffer.from(raw, 'base64');
}

function parseVersioned(value: string, what: string): { version: number; body: string } {
  const m = /^vault:v(\d+):(.*)$/.exec(value);
  if (!m) throw badRequest(`invalid ${what}: no prefix`);
  return { version: Number(m[1]), body: m[2] as string };
}

export class TransitBackend implements Backend {
  readonly type = 'transit';
  private readonly keys = new Map<string, TransitKey>();

  private newVersion(): KeyVersion {
    return { aes: randomBytes(32), hmac: randomBytes(32), created: Math.floor(Date.now() / 1000) };
  }

  private createKey(name: string, type = 'aes256-gcm96', exportable = false): TransitKey {
    if (type !== 'aes256-gcm96') throw badRequest(`the stand-in supports only aes256-gcm96 keys, not ${type}`);
    const k: TransitKey = {
      name,
      type,
      versions: new Map([[1, this.newVersion()]]),
      latest: 1,
      minDecryption: 1,
      deletionAllowed: false,
      exportable,
    };
    this.keys.set(name, k);
    return k;
  }

  private key(name: string): TransitKey {
    const k = this.keys.get(name);
    if (!k) throw badRequest('encryption key not found');
    return k;
  }

  private version(k: TransitKey, requested: number): [number, KeyVersion] {
    const n = requested || k.latest;
    const v = k.versions.get(n);
    if (!v || n < k.minDecryption) throw badRequest('invalid key version');
    return [n, v];
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    const op = req.operation;
    const d = req.data;
    if (p === 'keys/' && op === 'list') {
      const keys = [...this.keys.keys()].sort();
      if (!keys.length) throw new VaultError(404, []);
      return { data: { keys } };
    }
    let m = /^keys\/([^/]+)\/rotate$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const k = this.key(m[1] as string);
      k.latest += 1;
      k.versions.set(k.latest, this.newVersion());
      return undefined;
    }
    m = /^keys\/([^/]+)\/config$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const k = this.key(m[1] as string);
      k.deletionAllowed = parseBool(d['deletion_allowed'], k.deletionAllowed);
      k.minDecryption = parseInteger(d['min_decryption_version'], k.minDecryption) || 1;
      return undefined;
    }
    m = /^keys\/([^/]+)$/.exec(p);
    if (m) {
      const name = m[1] as string;
      if (op === 'update') {
        if (!this.keys.has(name)) this.createKey(name, String(d['type'] ?? 'aes256-gcm96'), parseBool(d['exportable'], false));
        return undefined;
      }
      if (op === 'read') {
        const k = this.keys.get(name);
        if (!k) throw new VaultError(404, []);
        const keys: Record<string, number> = {};
        for (const [n, v] of k.versions) keys[String(n)] = v.created;
        return {
          data: {
            allow_plaintext_backup: false,
            deletion_allowed: k.deletionAllowed,
            derived: false,
            exportable: k.exportable,
            keys,
            latest_version: k.latest,
            min_available_version: 0,
            min_decryption_version: k.minDecryption,
            min_encryption_version: 0,
            name: k.name,
            supports_decryption: true,
            supports_derivation: true,
            supports_encryption: true,
            supports_signing: false,
            type: k.type,
          },
        };
      }
      if (op === 'delete') {
        const k = this.key(name);
        if (!k.deletionAllowed) throw badRequest('deletion is not allowed for this key');
        this.keys.delete(name);
        return undefined;
      }
      throw unsupportedOperation();
    }
    m = /^encrypt\/([^/]+)$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const name = m[1] as string;
      if (typeof d['plaintext'] !== 'string') throw badRequest('missing plaintext to encrypt');
      const plaintext = decodeB64(d['plaintext'], 'plaintext');
      const k = this.keys.get(name) ?? this.createKey(name, String(d['type'] ?? 'aes256-gcm96'));
      const [n, v] = this.version(k, parseInteger(d['key_version'], 0));
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', v.aes, nonce);
      const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return { data: { ciphertext: `vault:v${n}:${Buffer.concat([nonce, ct]).toString('base64')}`, key_version: n } };
    }
    m = /^decrypt\/([^/]+)$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const k = this.key(m[1] as string);
      const { version, body } = parseVersioned(String(d['ciphertext'] ?? ''), 'ciphertext');
      const [, v] = this.version(k, version);
      const raw = Buffer.from(body, 'base64');
      if (raw.length < 28) throw badRequest('invalid ciphertext: unable to decrypt');
      try {
        const decipher = createDecipheriv('aes-256-gcm', v.aes, raw.subarray(0, 12));
        decipher.setAuthTag(raw.subarray(raw.length - 16));
        const pt = Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]);
        return { data: { plaintext: pt.toString('base64') } };
      } catch {
        throw badRequest('cipher: message authentication failed');
      }
    }
    m = /^(hmac|verify)\/([^/]+)(?:\/([^/]+))?$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      const k = this.key(m[2] as string);
      const algoName = m[3] ?? String(d['algorithm'] ?? d['hash_algorithm'] ?? 'sha2-256');
      const algo = HMAC_ALGOS[algoName];
      if (!algo) throw badRequest(`unsupported algorithm ${algoName}`);
      const input = decodeB64(d['input'], 'input');
      if (m[1] === 'hmac') {
        const [n, v] = this.version(k, parseInteger(d['key_version'], 0));
        const mac = createHmac(algo, v.hmac).update(input).digest('base64');
        return { data: { hmac: `vault:v${n}:${mac}` } };
      }
      if (typeof d['hmac'] !== 'string') throw badRequest('missing hmac value to verify');
      const { version, body } = parseVersioned(d['hmac'], 'hmac');
      const [, v] = this.version(k, version);
      const expected = createHmac(algo, v.hmac).update(input).digest();
      const given = Buffer.from(body, 'base64');
      const valid = given.length === expected.length && timingSafeEqual(given, expected);
      return { data: { valid } };
    }
    throw unsupportedPath();
  }
}
