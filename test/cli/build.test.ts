import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { webcrypto } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/tconfd.js';
import '../vault-client/reflect-shim.js';
import * as x509 from '@peculiar/x509';
import { startServer } from '../vault-client/support.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const tmp = mkdtempSync(join(tmpdir(), 'tconfd-build-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the built CLI saying which scripts it compiled and whether their code cache was accepted. */
function codeCaches(args: string[], env: Record<string, string> = {}): { status: number | null; scripts: Map<string, string>; stderr: string } {
  return collect(spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', TCONFD_DEBUG_CODE_CACHE: '1', ...env },
    encoding: 'utf8',
  }));
}

async function codeCachesAsync(args: string[], env: Record<string, string>): Promise<ReturnType<typeof codeCaches>> {
  const { spawn } = await import('node:child_process');
  const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { PATH: process.env['PATH'] ?? '', TCONFD_DEBUG_CODE_CACHE: '1', ...env } });
  let stderr = '';
  p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const status = await new Promise<number | null>((resolve) => p.on('close', resolve));
  return collect({ status, stderr });
}

function collect(r: { status: number | null; stderr: string }): ReturnType<typeof codeCaches> {
  const scripts = new Map<string, string>();
  for (const m of r.stderr.matchAll(/^tconfd: code cache of (\S+) (\w+)$/gm)) scripts.set(m[1]!, m[2]!);
  return { status: r.status, scripts, stderr: r.stderr };
}

describe('the built CLI', () => {
  it("starts from V8's code cache made by the build (a rejected cache costs ~40 ms of every start)", () => {
    const r = codeCaches(['--dir', 'examples/quickstart/tconfd.d', '--check'], { QUICKSTART_OUT: join(tmp, 'qs'), HOME: tmp });
    expect(r.status, r.stderr).toBe(0);
    expect(r.scripts).toEqual(new Map([['tconfd.cjs', 'accepted']]));
    // --version, like --help, is yargs' (a chunk of its own)
    const v = codeCaches(['--version']);
    expect(v.status).toBe(0);
    expect(v.scripts).toEqual(new Map([['tconfd.cjs', 'accepted'], ['chunks/yargs.cjs', 'accepted']]));
  });

  it('reads the large dependencies a run does not need only when it needs them, each from its own code cache', () => {
    // env-only: neither the Vault stack (undici) nor yargs
    const conf = join(tmp, 'env');
    writeFileSync(join(tmp, 'app.jsonnet'), "{ 'a.txt': std.extVar('secrets').g }\n");
    mkdirSync(conf);
    writeFileSync(join(conf, 'app.json'), JSON.stringify({ [join(tmp, 'app.jsonnet')]: { dir: join(tmp, 'out'), secrets: { 'env:str:G': 'g' } } }));
    const env = codeCaches(['--dir', conf, '--once'], { G: 'hello' });
    expect(env.status, env.stderr).toBe(0);
    expect([...env.scripts.keys()]).toEqual(['tconfd.cjs']);

    // --log-format pretty: pino-pretty, from its code cache
    const qs = codeCaches(['--dir', 'examples/quickstart/tconfd.d', '--once', '--log-format', 'pretty'], { QUICKSTART_OUT: join(tmp, 'qs'), HOME: tmp });
    expect(qs.status, qs.stderr).toBe(0);
    expect(qs.scripts).toEqual(
      new Map([
        ['tconfd.cjs', 'accepted'],
        ['chunks/pino-pretty.cjs', 'accepted'],
      ]),
    );
  });

  it('speaks https to Vault from the undici chunk (which loads tls when an https address needs it), and http', async () => {
    const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=vault.test',
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      keys,
      signingAlgorithm: ALG,
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }])],
    });
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey as unknown as webcrypto.CryptoKey)).toString('base64');
    const tls = { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n')}\n-----END PRIVATE KEY-----\n` };
    writeFileSync(join(tmp, 'ca.pem'), tls.cert);
    const handler = (req: { path: string }) => (req.path === 'auth/jwt/login' ? { fixture: 'jwt-login.json' } : req.path === 'secret/data/app' ? { fixture: 'kv2-read.json' } : { status: 204 });
    const conf = join(tmp, 'vault-conf');
    mkdirSync(conf);
    writeFileSync(join(tmp, 'kv.jsonnet'), "{ 'kv.json': std.extVar('secrets').kv.data }\n");
    writeFileSync(join(conf, 'app.json'), JSON.stringify({ [join(tmp, 'kv.jsonnet')]: { dir: join(tmp, 'vault-out'), secrets: { 'vault:app:secret/data/app': 'kv' } } }));
    for (const server of [await startServer(handler, tls), await startServer(handler)]) {
      try {
        const args = ['--dir', conf, '--once', '-u', server.url, '--auth', 'jwt', '-T', 'JWT', '--vault-cacert', join(tmp, 'ca.pem')];
        const r = await codeCachesAsync(args, { JWT: 'header.payload.signature' });
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(readFileSync(join(tmp, 'vault-out', 'kv.json'), 'utf8'))).toEqual({ a: '1', b: 'two' });
        expect(r.scripts).toEqual(new Map([['tconfd.cjs', 'accepted'], ['chunks/undici.cjs', 'accepted']]));
        expect(server.requests.map((q) => q.path)).toEqual(['auth/jwt/login', 'secret/data/app']);
      } finally {
        await server.close();
      }
    }
  });
});
