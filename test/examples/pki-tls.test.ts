/**
 * examples/pki-tls through the real CLI against the Vault stand-in: the example's own tconfd.d and server.mjs, a 40 s
 * certificate TTL. A TLS client sees a new certificate, valid against the CA, before the old one expires, served by
 * the same process (reloaded with SIGHUP, not restarted). Needs `npm run build` first.
 */
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { configurePki } from '../../examples/pki-tls/vault-config.js';
import { killAll, ROOT, startTconfd, type Tconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';

interface Seen {
  serial: string;
  notAfter: number;
  authorized: boolean;
  authorizationError: string | undefined;
  raw: Buffer;
  body: string;
}

/** One HTTPS request over a fresh TLS connection, verifying the server against the CA as localhost. */
function fetchOnce(port: number, ca: string): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: false }, () => {
      const peer: PeerCertificate = socket.getPeerCertificate();
      // Node sets authorizationError to the OpenSSL code (a string such as CERT_HAS_EXPIRED), whatever its typings say.
      const authorized = socket.authorized;
      const authorizationError = authorized ? undefined : String(socket.authorizationError as unknown);
      let body = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => (body += d));
      socket.on('end', () =>
        resolve({
          serial: peer.serialNumber.toUpperCase(),
          notAfter: Date.parse(peer.valid_to),
          authorized,
          authorizationError,
          raw: peer.raw,
          body: body.split('\r\n\r\n')[1] ?? body,
        }),
      );
      socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    socket.once('error', reject);
  });
}

describe('examples/pki-tls', () => {
  let standin: VaultStandin;
  let tmp: string;
  let tlsDir: string;
  let caPem: string;
  let t: Tconfd;
  let port: number;
  let serverPid: number;

  beforeAll(async () => {
    standin = await startVaultStandin();
    const { caPem: ca, token } = await configurePki(standin);
    caPem = ca;
    tmp = mkdtempSync(join(tmpdir(), 'tconfd-ex-pki-'));
    tlsDir = join(tmp, 'tls');
    mkdirSync(tlsDir);
    writeFileSync(join(tmp, 'token'), token, { mode: 0o600 });
    t = startTconfd(
      [
        '-d', join(ROOT, 'examples/pki-tls/tconfd.d'),
        '-u', standin.addr,
        '--auth', 'token', '--vault-token-file', join(tmp, 'token'),
        '--wait', '100ms:500ms',
      ],
      {
        command: [process.execPath, join(ROOT, 'examples/pki-tls/server.mjs'), tlsDir, '0'],
        // 40 s: tconfd re-issues at 60-73 % of the life from the issue to NotAfter (not from the NotBefore Vault
        // back-dates by 30 s), i.e. 24-29 s after the issue: the server has long installed its SIGHUP handler.
        env: { TLS_DIR: tlsDir, TLS_TTL: '40s', TLS_CN: 'localhost' },
        logLevel: 'info',
      },
    );
    const m = await t.waitForOutput(/pid (\d+) listening on https:\/\/localhost:(\d+)\//, { stream: 'stdout' });
    serverPid = Number(m[1]);
    port = Number(m[2]);
  });

  afterAll(async () => {
    await killAll();
    await standin?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('renders cert.pem (certificate + issuing CA, 0644), key.pem (0600) and the expiry from std.extVar("leases")', async () => {
    expect(statSync(join(tlsDir, 'cert.pem')).mode & 0o777).toBe(0o644);
    expect(statSync(join(tlsDir, 'key.pem')).mode & 0o777).toBe(0o600);
    // cert.pem and cert-info.json are two files: read them until they belong to the same certificate (a rotation may
    // be under way).
    const { pem, leaf, info } = await waitFor('cert.pem and cert-info.json of the same certificate', () => {
      const pem = readFileSync(join(tlsDir, 'cert.pem'), 'utf8');
      const info = JSON.parse(readFileSync(join(tlsDir, 'cert-info.json'), 'utf8')) as { serial_number: string; expires_at: string; lease_duration: number };
      const leaf = new X509Certificate(pem);
      return info.serial_number.replace(/:/g, '').toUpperCase() === leaf.serialNumber ? { pem, leaf, info } : undefined;
    });
    expect(pem.match(/-----BEGIN CERTIFICATE-----/g)).toHaveLength(2);
    expect(pem).toContain(caPem.trim());
    expect(Date.parse(info.expires_at)).toBe(Date.parse(leaf.validTo)); // NotAfter, from the certificate itself
    expect(info.lease_duration).toBeGreaterThanOrEqual(30);
    expect(info.lease_duration).toBeLessThanOrEqual(40);
  });

  it('serves a new certificate, valid against the CA, before the old one expires; reloaded, not restarted', async () => {
    const first = await fetchOnce(port, caPem);
    expect(first.authorized, first.authorizationError).toBe(true);
    expect(first.body).toContain(`server pid ${serverPid}`);
    expect(first.notAfter - Date.now()).toBeLessThanOrEqual(40_000);

    const second = await waitFor(
      'a connection presenting a new certificate',
      async () => {
        const s = await fetchOnce(port, caPem);
        return s.serial !== first.serial ? s : undefined;
      },
      // The re-issue comes 24-29 s after the first certificate: the default deadline (60 s) is well past that.
      { intervalMs: 100, detail: () => t.tail() },
    );
    const seenAt = Date.now();
    expect(seenAt).toBeLessThan(first.notAfter);
    expect(second.authorized, second.authorizationError).toBe(true);
    expect(second.notAfter).toBeGreaterThan(first.notAfter - 1000);
    const ca = new X509Certificate(caPem);
    const leaf = new X509Certificate(second.raw);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkHost('localhost')).toBe('localhost');

    // Same process: reloaded through SIGHUP (server.setSecureContext), never restarted.
    expect(second.body).toContain(`server pid ${serverPid}`);
    expect(second.body).toMatch(/reloads [1-9]/);
    expect(t.stdout).toMatch(new RegExp(`SIGHUP: new certificate serial ${second.serial}`));
    expect(t.stdout.match(/listening on/g)).toHaveLength(1);
    expect(t.stderr).toContain('"msg":"reloading the command"');
    expect(t.stderr.match(/"msg":"command started"/g)).toHaveLength(1);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.stdout).toMatch(/SIGTERM: closing/);
    expect(t.output).not.toContain('PRIVATE KEY');
  });
});
