/**
 * Scenario 3: a PKI certificate (role ttl 10 s, no lease) is issued again before it expires: the rendered certificate's
 * NotAfter changes before the old NotAfter, and the file never holds an expired certificate; but not before 60 % of the
 * 10 s it was issued for (Vault back-dates NotBefore by 30 s: counted from there, it would be re-issued every second).
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
  // 10 s: tconfd re-issues at 60-73 % of the life from when it obtained the certificate to its NotAfter (6-7.3 s),
  // leaving seconds of margin on a busy machine.
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

  it('replaces it before it expires, 6-7.3 s after the previous one: the file never holds an expired certificate', async () => {
    const seen: Array<{ notBefore: number; notAfter: number }> = [];
    const end = Date.now() + 40_000;
    while (Date.now() < end && seen.length < 3) {
      const now = Date.now();
      const cert = new X509Certificate(readFileSync(dir.file('cert.pem')));
      const notAfter = Date.parse(cert.validTo);
      // validTo has 1 s resolution; a certificate still on disk at its NotAfter is expired for clients.
      expect(notAfter, `the rendered certificate expired at ${cert.validTo}`).toBeGreaterThan(now);
      expect(cert.verify(ca.publicKey)).toBe(true);
      if (seen.at(-1)?.notAfter !== notAfter) seen.push({ notBefore: Date.parse(cert.validFrom), notAfter });
      keys.add(readFileSync(dir.file('key.pem'), 'utf8'));
      await sleep(100);
    }
    // A 10 s certificate replaced twice, each time by a later one...
    expect(seen.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.notAfter).toBeGreaterThan(seen[i - 1]!.notAfter);
      // ...issued no sooner than 60 % of the 10 s after the previous one (NotBefore is back-dated by the same 30 s
      // each time and written in whole seconds): counted from NotBefore, it would come after 1 s, the floor.
      expect(seen[i]!.notBefore - seen[i - 1]!.notBefore).toBeGreaterThanOrEqual(5_000);
    }
    expect(keys.size).toBeGreaterThanOrEqual(3);
    expect(t.running).toBe(true);
    expect(t.logs((l) => l.level >= 40)).toEqual([]);
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
