/**
 * Just enough DER to build X.509 certificates like Vault's PKI engine issues them, signed with node:crypto.
 * (@peculiar/x509 needs a reflect-metadata polyfill that this project does not install.)
 */
import { createHash, createPublicKey, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>= 8;
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export const tlv = (tag: number, content: Buffer): Buffer => Buffer.concat([Buffer.from([tag]), len(content.length), content]);
export const seq = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
export const bool = (b: boolean): Buffer => tlv(0x01, Buffer.from([b ? 0xff : 0x00]));
export const nul = (): Buffer => Buffer.from([0x05, 0x00]);
export const octets = (b: Buffer): Buffer => tlv(0x04, b);
export const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
export const explicit = (n: number, content: Buffer): Buffer => tlv(0xa0 | n, content);

export function integer(value: Buffer | number): Buffer {
  let b = typeof value === 'number' ? Buffer.from([value]) : value;
  while (b.length > 1 && b[0] === 0 && ((b[1] as number) & 0x80) === 0) b = b.subarray(1);
  if (((b[0] as number) & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [(parts[0] as number) * 40 + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const stack: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      stack.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...stack);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  if (y >= 1950 && y < 2050) return tlv(0x17, Buffer.from(digits.slice(2) + 'Z', 'ascii'));
  return tlv(0x18, Buffer.from(digits + 'Z', 'ascii'));
}

/** A Name with only a common name, encoded as Go does (PrintableString when possible). */
export function nameCN(cn: string): Buffer {
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(cn);
  const value = printable ? tlv(0x13, Buffer.from(cn, 'ascii')) : tlv(0x0c, Buffer.from(cn, 'utf8'));
  return seq(set(seq(oid('2.5.4.3'), value)));
}

/** Read one TLV at offset: [tag, contentStart, contentEnd]. */
function readTlv(buf: Buffer, offset: number): [number, number, number] {
  const tag = buf[offset] as number;
  let l = buf[offset + 1] as number;
  let start = offset + 2;
  if (l & 0x80) {
    const n = l & 0x7f;
    l = 0;
    for (let i = 0; i < n; i++) l = l * 256 + (buf[offset + 2 + i] as number);
    start += n;
  }
  return [tag, start, start + l];
}

/** SHA-1 of the subjectPublicKey bits, as Go computes the Subject Key Identifier. */
export function subjectKeyId(spkiDer: Buffer): Buffer {
  const [, outerStart] = readTlv(spkiDer, 0);
  const [, , algEnd] = readTlv(spkiDer, outerStart);
  const [, bitStart, bitEnd] = readTlv(spkiDer, algEnd);
  return createHash('sha1').update(spkiDer.subarray(bitStart + 1, bitEnd)).digest();
}

export interface CertSpec {
  serial: Buffer;
  subjectCN: string;
  issuerName: Buffer;
  notBefore: Date;
  notAfter: Date;
  publicKey: KeyObject;
  signingKey: KeyObject;
  /** SKI of the issuer (for the authority key identifier). Omit for self-signed: its own SKI is used. */
  issuerKeyId?: Buffer;
  isCA: boolean;
  dnsNames: string[];
  ipAddresses: string[];
  serverAuth?: boolean;
  clientAuth?: boolean;
}

function ext(id: string, critical: boolean, value: Buffer): Buffer {
  return critical ? seq(oid(id), bool(true), octets(value)) : seq(oid(id), octets(value));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6
  const [head, tail] = ip.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

/** Build and sign a certificate; returns its DER. */
export function buildCertificate(spec: CertSpec): Buffer {
  const spki = spec.publicKey.export({ type: 'spki', format: 'der' });
  const ski = subjectKeyId(spki);
  const isEc = spec.signingKey.asymmetricKeyType === 'ec';
  const sigAlg = isEc ? seq(oid('1.2.840.10045.4.3.2')) : seq(oid('1.2.840.113549.1.1.11'), nul());
  const extensions: Buffer[] = [];
  if (spec.isCA) {
    // keyCertSign | cRLSign
    extensions.push(ext('2.5.29.15', true, bits(Buffer.from([0x06]), 1)));
    extensions.push(ext('2.5.29.19', true, seq(bool(true))));
  } else {
    // digitalSignature | keyEncipherment | keyAgreement
    extensions.push(ext('2.5.29.15', true, bits(Buffer.from([0xa8]), 3)));
    const ekus: Buffer[] = [];
    if (spec.serverAuth !== false) ekus.push(oid('1.3.6.1.5.5.7.3.1'));
    if (spec.clientAuth !== false) ekus.push(oid('1.3.6.1.5.5.7.3.2'));
    if (ekus.length) extensions.push(ext('2.5.29.37', false, seq(...ekus)));
  }
  extensions.push(ext('2.5.29.14', false, octets(ski)));
  extensions.push(ext('2.5.29.35', false, seq(tlv(0x80, spec.issuerKeyId ?? ski))));
  const sans: Buffer[] = [
    ...spec.dnsNames.map((n) => tlv(0x82, Buffer.from(n, 'ascii'))),
    ...spec.ipAddresses.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  if (sans.length) extensions.push(ext('2.5.29.17', false, seq(...sans)));

  const tbs = seq(
    explicit(0, integer(2)),
    integer(spec.serial),
    sigAlg,
    spec.issuerName,
    seq(time(spec.notBefore), time(spec.notAfter)),
    nameCN(spec.subjectCN),
    spki,
    explicit(3, seq(...extensions)),
  );
  const signature = sign(isEc ? 'sha256' : 'sha256', tbs, spec.signingKey);
  return seq(tbs, sigAlg, bits(signature));
}

export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----`;
}

export function publicKeyOf(privateKey: KeyObject): KeyObject {
  return createPublicKey(privateKey);
}
