/**
 * The PKI secrets engine: an internal root CA, roles, and real certificates issued from them (NotBefore 30 s in
 * the past, NotAfter = now + ttl, as Vault does). Leaf RSA keys come from a small pool generated in the
 * background so that an issue call does not wait for RSA key generation.
 */
import { generateKeyPair, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import type { Core } from './core.js';
import type { Backend, LeaseEntry, LogicalRequest, LogicalResponse } from './types.js';
import { buildCertificate, nameCN, publicKeyOf, subjectKeyId, toPem } from './der.js';
import {
  VaultError,
  badRequest,
  globMatch,
  parseBool,
  parseDurationSeconds,
  parseInteger,
  parseStringList,
  unsupportedOperation,
  unsupportedPath,
} from './util.js';

const genKeyPair = promisify(generateKeyPair);

// ------------------------------------------------------------------ RSA key pool (process-wide)

const rsaPool: KeyObject[] = [];
let filling: Promise<void> | undefined;
const POOL_TARGET = 4;

async function newRsaKey(): Promise<KeyObject> {
  const { privateKey } = await genKeyPair('rsa', { modulusLength: 2048 });
  return privateKey;
}

function fillPool(): void {
  if (filling || rsaPool.length >= POOL_TARGET) return;
  filling = (async () => {
    try {
      while (rsaPool.length < POOL_TARGET) rsaPool.push(await newRsaKey());
    } finally {
      filling = undefined;
    }
  })().catch(() => undefined);
}

async function takeRsaKey(): Promise<KeyObject> {
  const k = rsaPool.shift();
  fillPool();
  return k ?? newRsaKey();
}

/** Start generating leaf keys now (called when a CA is generated). */
export function warmPkiKeyPool(): void {
  fillPool();
}

// ------------------------------------------------------------------ engine

interface Ca {
  key: KeyObject;
  pem: string;
  name: Buffer;
  keyId: Buffer;
  notAfter: Date;
  serial: string;
}

interface PkiRole {
  allowedDomains: string[];
  allowSubdomains: boolean;
  allowBareDomains: boolean;
  allowLocalhost: boolean;
  allowAnyName: boolean;
  allowGlobDomains: boolean;
  allowIpSans: boolean;
  enforceHostnames: boolean;
  serverFlag: boolean;
  clientFlag: boolean;
  keyType: 'rsa' | 'ec';
  keyBits: number;
  ttl: number;
  maxTtl: number;
  generateLease: boolean;
  noStore: boolean;
}

function serialHex(serial: Buffer): string {
  return [...serial].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function newSerial(): Buffer {
  const b = randomBytes(20);
  b[0] = ((b[0] as number) & 0x7f) || 0x01;
  return b;
}

export class PkiBackend implements Backend {
  readonly type = 'pki';
  private ca: Ca | undefined;
  private readonly roles = new Map<string, PkiRole>();
  private readonly certs = new Map<string, string>();
  private readonly revoked = new Map<string, number>();

  constructor(private readonly core: Core) {}

  isUnauthenticated(path: string): boolean {
    return ['ca', 'ca/pem', 'cert/ca', 'ca_chain', 'crl', 'crl/pem'].includes(path) || path.startsWith('cert/');
  }

  async handle(req: LogicalRequest): Promise<LogicalResponse | undefined> {
    const p = req.path;
    const op = req.operation;
    let m = /^root\/generate\/(internal|exported)$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      return this.generateRoot(req, m[1] === 'exported');
    }
    if (p === 'root' && op === 'delete') {
      this.ca = undefined;
      return undefined;
    }
    if (p === 'ca/pem' || p === 'ca') {
      if (!this.ca) return { raw: { status: 204, contentType: 'application/pkix-cert', body: '' } };
      return { raw: { status: 200, contentType: 'application/pem-certificate-chain', body: this.ca.pem } };
    }
    if (p === 'cert/ca') {
      return { data: { certificate: this.ca?.pem ?? '' } };
    }
    if (p === 'config/urls') {
      return op === 'read' ? { data: { crl_distribution_points: [], issuing_certificates: [], ocsp_servers: [] } } : undefined;
    }
    if (p === 'roles/' && op === 'list') {
      const keys = [...this.roles.keys()].sort();
      if (!keys.length) throw new VaultError(404, []);
      return { data: { keys } };
    }
    m = /^roles\/(.+)$/.exec(p);
    if (m) return this.rolePath(req, m[1] as string);
    m = /^issue\/(.+)$/.exec(p);
    if (m) {
      if (op !== 'update') throw unsupportedOperation();
      return this.issue(req, m[1] as string);
    }
    m = /^cert\/(.+)$/.exec(p);
    if (m) {
      const serial = (m[1] as string).replace(/-/g, ':');
      const pem = this.certs.get(serial);
      if (!pem) throw new VaultError(404, []);
      return { data: { certificate: pem, revocation_time: Math.floor((this.revoked.get(serial) ?? 0) / 1000) } };
    }
    if (p === 'revoke' && op === 'update') {
      const serial = String(req.data['serial_number'] ?? '').replace(/-/g, ':');
      if (!this.certs.has(serial)) throw badRequest(`certificate with serial ${serial} not found`);
      if (!this.revoked.has(serial)) this.revoked.set(serial, Date.now());
      return { data: { revocation_time: Math.floor((this.revoked.get(serial) as number) / 1000) } };
    }
    throw unsupportedPath();
  }

  private async generateRoot(req: LogicalRequest, exported: boolean): Promise<LogicalResponse> {
    const d = req.data;
    const cn = String(d['common_name'] ?? '');
    if (!cn) {
      throw badRequest(
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      );
    }
    const { sysDefault, sysMax } = this.core.mountTtls(req.mount);
    // Vault 1.8 caps a TTL above the max silently (warnings null); later versions add a warning.
    const ttl = Math.min(parseDurationSeconds(d['ttl'], 'ttl') || sysDefault, sysMax);
    const keyType = String(d['key_type'] ?? 'rsa');
    let key: KeyObject;
    if (keyType === 'ec') key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    else if (keyType === 'rsa') {
      const bitsWanted = parseInteger(d['key_bits'], 2048);
      key = bitsWanted === 2048 ? await takeRsaKey() : (await genKeyPair('rsa', { modulusLength: bitsWanted })).privateKey;
    } else throw badRequest(`unknown key type ${keyType}`);
    const now = Date.now();
    const notAfter = new Date(now + ttl * 1000);
    const serial = newSerial();
    const name = nameCN(cn);
    const pub = publicKeyOf(key);
    const der = buildCertificate({
      serial,
      subjectCN: cn,
      issuerName: name,
      notBefore: new Date(now - 30_000),
      notAfter,
      publicKey: pub,
      signingKey: key,
      isCA: true,
      dnsNames: [cn],
      ipAddresses: [],
    });
    const pem = toPem(der);
    this.ca = {
      key,
      pem,
      name,
      keyId: subjectKeyId(pub.export({ type: 'spki', format: 'der' })),
      notAfter,
      serial: serialHex(serial),
    };
    this.certs.set(serialHex(serial), pem);
    warmPkiKeyPool();
    const data: Record<string, unknown> = {
      certificate: pem,
      expiration: Math.floor(notAfter.getTime() / 1000),
      issuing_ca: pem,
    };
    if (exported) {
      data['private_key'] = this.exportKey(key);
      data['private_key_type'] = keyType;
    }
    data['serial_number'] = serialHex(serial);
    return { data };
  }

  private exportKey(key: KeyObject): string {
    const pem =
      key.asymmetricKeyType === 'ec'
        ? key.export({ type: 'sec1', format: 'pem' })
        : key.export({ type: 'pkcs1', format: 'pem' });
    return String(pem).trimEnd();
  }

  private rolePath(req: LogicalRequest, name: string): LogicalResponse | undefined {
    const existing = this.roles.get(name);
    if (req.operation === 'read') {
      if (!existing) throw new VaultError(404, []);
      const r = existing;
      return {
        data: {
          allow_any_name: r.allowAnyName,
          allow_bare_domains: r.allowBareDomains,
          allow_glob_domains: r.allowGlobDomains,
          allow_ip_sans: r.allowIpSans,
          allow_localhost: r.allowLocalhost,
          allow_subdomains: r.allowSubdomains,
          allowed_domains: r.allowedDomains,
          client_flag: r.clientFlag,
          enforce_hostnames: r.enforceHostnames,
          generate_lease: r.generateLease,
          key_bits: r.keyBits,
          key_type: r.keyType,
          max_ttl: r.maxTtl,
          no_store: r.noStore,
          server_flag: r.serverFlag,
          ttl: r.ttl,
        },
      };
    }
    if (req.operation === 'delete') {
      this.roles.delete(name);
      return undefined;
    }
    if (req.operation !== 'update') throw unsupportedOperation();
    const d = req.data;
    const keyType = String(d['key_type'] ?? existing?.keyType ?? 'rsa');
    if (keyType !== 'rsa' && keyType !== 'ec') throw badRequest(`unknown key type ${keyType}`);
    const role: PkiRole = {
      allowedDomains: d['allowed_domains'] !== undefined ? parseStringList(d['allowed_domains']) : (existing?.allowedDomains ?? []),
      allowSubdomains: parseBool(d['allow_subdomains'], existing?.allowSubdomains ?? false),
      allowBareDomains: parseBool(d['allow_bare_domains'], existing?.allowBareDomains ?? false),
      allowLocalhost: parseBool(d['allow_localhost'], existing?.allowLocalhost ?? true),
      allowAnyName: parseBool(d['allow_any_name'], existing?.allowAnyName ?? false),
      allowGlobDomains: parseBool(d['allow_glob_domains'], existing?.allowGlobDomains ?? false),
      allowIpSans: parseBool(d['allow_ip_sans'], existing?.allowIpSans ?? true),
      enforceHostnames: parseBool(d['enforce_hostnames'], existing?.enforceHostnames ?? true),
      serverFlag: parseBool(d['server_flag'], existing?.serverFlag ?? true),
      clientFlag: parseBool(d['client_flag'], existing?.clientFlag ?? true),
      keyType,
      keyBits: parseInteger(d['key_bits'], existing?.keyBits ?? (keyType === 'ec' ? 256 : 2048)),
      ttl: d['ttl'] !== undefined ? parseDurationSeconds(d['ttl'], 'ttl') : (existing?.ttl ?? 0),
      maxTtl: d['max_ttl'] !== undefined ? parseDurationSeconds(d['max_ttl'], 'max_ttl') : (existing?.maxTtl ?? 0),
      generateLease: parseBool(d['generate_lease'], existing?.generateLease ?? false),
      noStore: parseBool(d['no_store'], existing?.noStore ?? false),
    };
    if (role.keyType === 'rsa' && role.keyBits !== 2048) {
      throw badRequest('the stand-in issues RSA 2048 keys only');
    }
    if (role.generateLease && role.noStore) {
      throw badRequest('Role cannot be saved because "generate_lease" and "no_store" are both set to true');
    }
    this.roles.set(name, role);
    return undefined;
  }

  private nameAllowed(role: PkiRole, name: string): boolean {
    if (role.allowAnyName) return true;
    if (role.allowLocalhost && (name === 'localhost' || name === 'localdomain')) return true;
    for (const dom of role.allowedDomains) {
      if (role.allowBareDomains && name === dom) return true;
      if (role.allowSubdomains && name.endsWith('.' + dom)) return true;
      if (role.allowGlobDomains && dom.includes('*') && globMatch(dom, name)) return true;
    }
    return false;
  }

  private async issue(req: LogicalRequest, roleName: string): Promise<LogicalResponse> {
    const role = this.roles.get(roleName);
    if (!role) throw badRequest(`unknown role: ${roleName}`);
    const ca = this.ca;
    if (!ca) throw badRequest('could not fetch the CA certificate (was one set?): backend must be configured with a CA certificate/key');
    const d = req.data;
    const cn = String(d['common_name'] ?? '');
    if (!cn) {
      throw badRequest(
        'the common_name field is required, or must be provided in a CSR with "use_csr_common_name" set to true, unless "require_cn" is set to false',
      );
    }
    if (!this.nameAllowed(role, cn)) throw badRequest(`common name ${cn} not allowed by this role`);
    const altNames = parseStringList(d['alt_names']);
    for (const n of altNames) {
      if (!this.nameAllowed(role, n)) throw badRequest(`subject alternate name ${n} not allowed by this role`);
    }
    const ipSans = parseStringList(d['ip_sans']);
    for (const ip of ipSans) {
      if (!role.allowIpSans) {
        throw badRequest(`IP Subject Alternative Names are not allowed in this role, but was provided ${ip}`);
      }
      if (!isIP(ip)) throw badRequest(`the value "${ip}" is not a valid IP address`);
    }
    const { sysDefault, sysMax } = this.core.mountTtls(req.mount);
    // As Vault 1.8 (recorded, pki-issue-ttl-over-max.json): a TTL above max_ttl is capped silently, warnings null.
    // (Vault 1.12 and later add `TTL "…" is longer than permitted maxTTL "…", so maxTTL is being used`.)
    const ttl = Math.min(parseDurationSeconds(d['ttl'], 'ttl') || role.ttl || sysDefault, role.maxTtl || sysMax);
    const now = Date.now();
    const notAfter = new Date(now + ttl * 1000);
    if (notAfter.getTime() > ca.notAfter.getTime()) {
      throw badRequest(
        `cannot satisfy request, as TTL would result in notAfter ${notAfter.toISOString()} that is beyond the expiration of the CA certificate at ${ca.notAfter.toISOString()}`,
      );
    }
    const key = role.keyType === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey : await takeRsaKey();
    const serial = newSerial();
    // As Vault (strutil.RemoveDuplicates): the common name and alt_names, deduplicated and sorted; the common name
    // is not necessarily first (recorded: DNS:a…, DNS:b…, DNS:svc…, then the IP SANs in the order given).
    const dnsNames = [...new Set([cn, ...altNames])].filter((n) => !isIP(n) && !n.includes('@')).sort();
    const der = buildCertificate({
      serial,
      subjectCN: cn,
      issuerName: ca.name,
      notBefore: new Date(now - 30_000),
      notAfter,
      publicKey: publicKeyOf(key),
      signingKey: ca.key,
      issuerKeyId: ca.keyId,
      isCA: false,
      dnsNames,
      ipAddresses: ipSans,
      serverAuth: role.serverFlag,
      clientAuth: role.clientFlag,
    });
    const pem = toPem(der);
    const serialStr = serialHex(serial);
    if (!role.noStore) this.certs.set(serialStr, pem);
    const resp: LogicalResponse = {
      data: {
        certificate: pem,
        expiration: Math.floor(notAfter.getTime() / 1000),
        issuing_ca: ca.pem,
        private_key: this.exportKey(key),
        private_key_type: role.keyType,
        serial_number: serialStr,
      },
    };
    if (role.generateLease) {
      resp.secret = { ttl, maxTtl: ttl, renewable: false, internal: { serial_number: serialStr } };
    }
    return resp;
  }

  async revokeSecret(lease: LeaseEntry): Promise<void> {
    const serial = String(lease.internal['serial_number'] ?? '');
    if (serial && !this.revoked.has(serial)) this.revoked.set(serial, Date.now());
  }

  /** Serial numbers revoked so far (lease revocation or pki/revoke). */
  revokedSerials(): string[] {
    return [...this.revoked.keys()];
  }
}
