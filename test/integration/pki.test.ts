/**
 * Scenario 3: a PKI certificate (role ttl 10 s, no lease) is issued again before it expires: the rendered certificate's
 * NotAfter changes before the old NotAfter, and the file never holds an expired certificate.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';
import { createPkiRole, createToken, enablePki } from '../vault/setup.js';
import { paths, policy, projectFiles, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let token: string;
let ca: X509Certificate;
const keys = new Set<string>();

beforeAll(async () => {
  world = await startWorld();
  ca = new X509Certificate((await enablePki(world.target, { commonName: 'tconfd test CA', ttl: '24h' })).certificate);
  // 10 s: Vault backdates NotBefore by 30 s, and tconfd re-issues at 60-73 % of NotBefore→NotAfter, so a certificate
  // this short is re-issued about every second (the floor between two acquisitions): seconds of margin on a busy machine.
  await createPkiRole(world.target, { name: 'web', allowedDomains: ['example.com'], allowSubdomains: true, ttl: 10, maxTtl: 60 });
  await policy(world, 'pki', { 'pki/issue/web': ['update'] });
  token = (await createToken(world.target, { policies: ['pki'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

describe('a short-lived PKI certificate', () => {
  let t: Tconfd;
  let dir: ReturnType<typeof paths>;

  beforeAll(async () => {
    const root = tmp.make(
      projectFiles(
        { 'vault:app,POST,common_name=app.example.com:pki/issue/web': 'cert' },
        `local s = std.extVar('secrets');
{
  'cert.pem': s.cert.certificate,
  'key.pem': s.cert.private_key,
  'leases.json': std.extVar('leases'),
}
`,
      ),
    );
    dir = paths(root);
    t = startTconfd(['-d', dir.conf, '-D', '-u', world.addr, '--revoke-grace', '1s'], { env: { VAULT_TOKEN: token } });
    await t.ready();
  });

  it('renders a certificate signed by the CA, with its NotAfter as the lease facts’ expires_at', () => {
    const cert = new X509Certificate(readFileSync(dir.file('cert.pem')));
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subject).toContain('CN=app.example.com');
    const notAfter = Date.parse(cert.validTo);
    expect(notAfter).toBeGreaterThan(Date.now());
    expect(notAfter).toBeLessThanOrEqual(Date.now() + 11_000);
    keys.add(readFileSync(dir.file('key.pem'), 'utf8'));
    const facts = readJson<{ cert: { renewable: boolean; expires_at: string; lease_duration: number } }>(dir.file('leases.json'));
    expect(facts.cert.renewable).toBe(false);
    expect(Date.parse(facts.cert.expires_at)).toBe(notAfter);
  });

  it('replaces it before it expires: the file never holds an expired certificate', async () => {
    const notAfters: number[] = [];
    const end = Date.now() + 7000;
    while (Date.now() < end) {
      const now = Date.now();
      const cert = new X509Certificate(readFileSync(dir.file('cert.pem')));
      const notAfter = Date.parse(cert.validTo);
      // validTo has 1 s resolution; a certificate still on disk at its NotAfter is expired for clients.
      expect(notAfter, `the rendered certificate expired at ${cert.validTo}`).toBeGreaterThan(now);
      expect(cert.verify(ca.publicKey)).toBe(true);
      if (notAfters.at(-1) !== notAfter) notAfters.push(notAfter);
      keys.add(readFileSync(dir.file('key.pem'), 'utf8'));
      await sleep(100);
    }
    // Over 7 s, a 10 s certificate must have been replaced at least once, each time by a later one.
    expect(notAfters.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < notAfters.length; i++) expect(notAfters[i]!).toBeGreaterThan(notAfters[i - 1]!);
    expect(keys.size).toBeGreaterThanOrEqual(2);
    expect(t.running).toBe(true);
    expect(t.logs((l) => l.level >= 50)).toEqual([]);
  });

  it('stops on SIGTERM with status 0', async () => {
    expect(await t.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('secrecy', () => {
  it('no private key and no Vault token appears in any output', () => {
    const text = allOutput();
    expect(text).not.toContain(token);
    expect(keys.size).toBeGreaterThanOrEqual(2);
    for (const k of keys) {
      const body = k.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
      for (const line of body) expect(text).not.toContain(line);
    }
  });
});
