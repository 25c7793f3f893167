import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import './reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VaultClient, VaultNetworkError, isTransient, type VaultClientOptions } from '../../src/vault/index.js';
import { captureLogger, FakeClock, startServer, type TestServer } from './support.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

async function selfSigned(cn: string): Promise<{ cert: string; key: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: Date.now().toString(16),
    name: `CN=${cn}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: 'ip', value: '127.0.0.1' },
        { type: 'dns', value: 'localhost' },
      ]),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey);
  const b64 = Buffer.from(pkcs8).toString('base64').replace(/(.{64})/g, '$1\n');
  return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n` };
}

let dir: string;
let serverCert: { cert: string; key: string };
let clientCert: { cert: string; key: string };
let https: TestServer;
let mtls: TestServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tconfd-vault-tls-'));
  serverCert = await selfSigned('vault.test');
  clientCert = await selfSigned('tconfd.client');
  writeFileSync(join(dir, 'ca.pem'), serverCert.cert);
  writeFileSync(join(dir, 'client.pem'), clientCert.cert);
  writeFileSync(join(dir, 'client-key.pem'), clientCert.key);
  writeFileSync(join(dir, 'other.pem'), (await selfSigned('someone.else')).cert);
  https = await startServer(() => ({ fixture: 'kv2-read.json' }), serverCert);
  mtls = await startServer(() => ({ fixture: 'kv2-read.json' }), { ...serverCert, ca: clientCert.cert });
});

afterAll(async () => {
  await https.close();
  await mtls.close();
  rmSync(dir, { recursive: true, force: true });
});

async function get(opts: Partial<VaultClientOptions> & { addr: string }): Promise<unknown> {
  const clock = new FakeClock();
  const c = new VaultClient({ clock, logger: captureLogger().logger, timeoutMs: 3000, retry: { maxAttempts: 3 }, ...opts });
  try {
    return await c.request({ method: 'GET', path: 'secret/data/foo', token: 's.x' });
  } finally {
    await c.close();
  }
}

describe('TLS', () => {
  it('connects to an https Vault whose certificate the CA file vouches for', async () => {
    const res = (await get({ addr: `${https.url}/v1`, caCert: join(dir, 'ca.pem') })) as { data: { data: unknown } };
    expect(res.data.data).toEqual({ a: '1', b: 'two' });
  });

  it('fails without the CA, at once (a TLS failure is not retried)', async () => {
    const before = https.requests.length;
    const err = await get({ addr: https.url }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultNetworkError);
    expect((err as VaultNetworkError).message).toMatch(/TLS verification failed/);
    expect((err as VaultNetworkError).attempts).toBe(1);
    expect(isTransient(err)).toBe(false);
    expect(https.requests.length).toBe(before);
  });

  it('fails with the wrong CA', async () => {
    await expect(get({ addr: https.url, caCert: join(dir, 'other.pem') })).rejects.toBeInstanceOf(VaultNetworkError);
  });

  it('connects without verification with skipVerify', async () => {
    await expect(get({ addr: https.url, skipVerify: true })).resolves.toBeDefined();
  });

  it('presents a client certificate', async () => {
    const res = await get({
      addr: mtls.url,
      caCert: join(dir, 'ca.pem'),
      clientCert: join(dir, 'client.pem'),
      clientKey: join(dir, 'client-key.pem'),
    });
    expect(res).toBeDefined();
    await expect(get({ addr: mtls.url, caCert: join(dir, 'ca.pem') })).rejects.toBeInstanceOf(VaultNetworkError);
  });

  it('names a CA file it cannot read', () => {
    expect(
      () => new VaultClient({ addr: https.url, caCert: join(dir, 'missing.pem'), clock: new FakeClock(), logger: captureLogger().logger }),
    ).toThrow(/Vault CA certificate file .*missing\.pem/);
  });
});
