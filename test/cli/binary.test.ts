/**
 * Binary files and the evaluation time limit, through the CLI:
 *  - std.native('base64Bytes')(data) as a file's whole value writes the decoded bytes exactly (bytes ff fe 00, and a
 *    real PKCS#12 keystore made by `openssl pkcs12 -export`, kept base64 in a secret as in Vault KV);
 *  - invalid base64 is an error naming the template and the output, never the data;
 *  - --render-timeout stops a runaway template with an error naming it.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { assertBuilt, killAll, runTconfd as run, startTconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';

const tmp = tempDirs('tconfd-binary-');
beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  tmp.cleanup();
});

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function project(template: string, env: Record<string, string> = {}): { root: string; env: Record<string, string> } {
  const secrets: Record<string, string> = {};
  for (const k of Object.keys(env)) secrets[`env:str:${k}`] = k.toLowerCase();
  const root = tmp.make({
    'conf/bin.json': JSON.stringify({ 'bin.jsonnet': { dir: '../out', mode: '0600', secrets } }),
    'conf/bin.jsonnet': template,
  });
  return { root, env };
}

describe("binary files: std.native('base64Bytes')", () => {
  it('writes bytes ff fe 00 ... exactly, with no newline added', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a, 0x80, 0x00]);
    const { root, env } = project(
      "local s = std.extVar('secrets');\n{ 'raw.bin': std.native('base64Bytes')(s.raw), 'empty.bin': std.native('base64Bytes')(''), 'text.txt': 'still text' }\n",
      { RAW: bytes.toString('base64') },
    );
    const r = await run(['--dir', 'conf', '--once'], { cwd: root, env });
    expect(r.code).toBe(0);
    expect(readFileSync(join(root, 'out/raw.bin')).equals(bytes)).toBe(true);
    expect(readFileSync(join(root, 'out/empty.bin')).length).toBe(0);
    expect(readFileSync(join(root, 'out/text.txt'), 'utf8')).toBe('still text\n');
  });

  it.runIf(hasOpenssl)('writes a PKCS#12 keystore kept base64 in a secret, byte for byte (openssl reads it back)', async () => {
    const dir = tmp.make();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-subj', '/CN=app.example.com', '-days', '2'], { stdio: 'ignore' });
    execFileSync('openssl', ['pkcs12', '-export', '-inkey', join(dir, 'key.pem'), '-in', join(dir, 'cert.pem'), '-out', join(dir, 'keystore.p12'), '-passout', 'pass:changeit'], { stdio: 'ignore' });
    const p12 = readFileSync(join(dir, 'keystore.p12'));
    // As `vault kv put secret/app keystore=@<(base64 -w 76 keystore.p12)` stores it: wrapped lines.
    const b64 = p12.toString('base64').replace(/.{76}/g, '$&\n');
    const { root, env } = project("{ 'keystore.p12': std.native('base64Bytes')(std.extVar('secrets').keystore) }\n", { KEYSTORE: b64 });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root, env });
    expect(r.code).toBe(0);
    const written = readFileSync(join(root, 'out/keystore.p12'));
    expect(written.equals(p12)).toBe(true);
    const info = spawnSync('openssl', ['pkcs12', '-in', join(root, 'out/keystore.p12'), '-passin', 'pass:changeit', '-nokeys', '-clcerts'], { encoding: 'utf8' });
    expect(info.status).toBe(0);
    expect(info.stdout).toMatch(/CN ?= ?app\.example\.com/);
  });

  it.skipIf(hasOpenssl)('SKIPPED: the PKCS#12 test needs openssl on PATH', () => undefined);

  it('invalid base64 is an error naming the template and the output, not the data; nothing is written', async () => {
    const data = 'bm90IGJhc2U2NA$$*secret-looking*';
    const { root, env } = project("{ 'keystore.p12': std.native('base64Bytes')(std.extVar('secrets').keystore), 'ok.txt': 'x' }\n", { KEYSTORE: data });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root, env });
    expect(r.code).toBe(1);
    expect(r.plain[0]).toMatch(/^tconfd: template "bin\.jsonnet": output "keystore\.p12": RUNTIME ERROR: std\.native\('base64Bytes'\): the data is not valid base64 \(at \S+bin\.jsonnet:1:\d+/);
    expect(r.stderr).not.toContain('secret-looking');
    expect(existsSync(join(root, 'out'))).toBe(false);
  });

  it('binary content inside JSON is an error (it can only be a whole file)', async () => {
    const { root } = project("{ 'a.json': { key: std.native('base64Bytes')('AAEC') } }\n");
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.plain[0]).toContain('output "a.json": RUNTIME ERROR: binary content (std.native(\'base64Bytes\')) can only be the whole content of a file');
  });
});

describe('--render-timeout', () => {
  it('stops a runaway template with an error naming it', async () => {
    const { root } = project("{ 'sum.txt': std.toString(std.foldl(function(a, b) a + b, std.range(0, 1e9), 0)) }\n");
    const started = Date.now();
    const r = await run(['--dir', 'conf', '--once', '--render-timeout', '500ms'], { cwd: root, timeoutMs: 60_000 });
    expect(r.code).toBe(1);
    expect(r.plain[0]).toMatch(/^tconfd: template "bin\.jsonnet": output "sum\.txt": RUNTIME ERROR: evaluation stopped after 500ms \(--render-timeout\)/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('SIGTERM during a long evaluation at startup ends tconfd at once (143): the evaluation stops at the end of its current file', async () => {
    // 100 files of a fraction of a second each: tens of seconds in all, far longer than the wait below.
    const { root } = project("{ ['f%d.txt' % i]: std.toString(std.foldl(function(a, b) a + b, std.range(1, 2000000), i)) for i in std.range(1, 100) }\n");
    const t = startTconfd(['--dir', 'conf', '--once', '--render-timeout', '10m'], { cwd: root });
    await t.waitForLog('config loaded');
    await sleep(1_000);
    const sent = Date.now();
    t.signal('SIGTERM');
    expect(await t.waitForExit({ timeoutMs: 20_000 }), t.tail()).toEqual({ code: 143, signal: null });
    expect(t.logs('stopped before the first rendering was complete')).toHaveLength(1);
    expect(existsSync(join(root, 'out'))).toBe(false);
    expect(Date.now() - sent).toBeLessThan(20_000);
  });

  it('must be a positive duration', async () => {
    const r = await run(['--render-timeout', '0s', '--once']);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: 'tconfd: --render-timeout: "0s" must be more than 0\n' });
  });
});
