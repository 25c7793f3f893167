/**
 * Issue 10, items 5 and 6 with Vault (the stand-in, or a real `vault server -dev` when `vault` is on PATH): Vault's
 * error answers are shown as a safe summary, never verbatim (they echo request values, and a hostile answer can say
 * anything), and an answer larger than --max-secret-size is refused while it is read.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { allOutput, killAll, startTconfd, type Tconfd } from '../support/tconfd.js';
import { createPkiRole, createToken, enablePki } from '../vault/setup.js';
import { requireStandin } from '../vault/target.js';
import { kv, marker, paths, policy, projectFiles, startWorld, type World } from '../integration/world.js';

const tmp = tempDirs('tconfd-sec-vault-');
let world: World;
let token: string;

beforeAll(async () => {
  world = await startWorld();
  await kv(world, 'app', { password: marker('kv') });
  await kv(world, 'big', { blob: 'x'.repeat(2 * 1024 * 1024) });
  await enablePki(world.target, { commonName: 'security CA', ttl: '24h' });
  await createPkiRole(world.target, { name: 'web', allowedDomains: ['example.com'], allowSubdomains: true, ttl: 60, maxTtl: 60 });
  await policy(world, 'app', { 'secret/data/*': ['read'], 'pki/issue/web': ['update'] });
  token = (await createToken(world.target, { policies: ['app'], ttl: '1h' })).token;
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

async function runOnce(secrets: Record<string, string>, args: string[] = []): Promise<{ t: Tconfd; out: string }> {
  const root = tmp.make(projectFiles(secrets));
  const t = startTconfd(['-d', paths(root).conf, '--once', '-u', world.addr, ...args], { env: { VAULT_TOKEN: token } });
  await t.waitForExit();
  return { t, out: paths(root).file() };
}

const reason = (t: Tconfd): string => t.plain.find((l) => l.startsWith('tconfd: ')) ?? `(no reason)\n${t.tail()}`;

describe("Vault's error answers are summarised, never shown verbatim (issue 10, item 5)", () => {
  it('a refused PKI common name: the status and what was refused, not the value Vault echoes', async () => {
    const cn = `${marker('leak')}.internal.org`.toLowerCase();
    const secret = `vault:app,POST,common_name=${cn}:pki/issue/web`;
    const { t, out } = await runOnce({ [secret]: 'cert' });
    expect(t.exit).toEqual({ code: 1, signal: null });
    expect(reason(t)).toBe(
      `tconfd: secret "${secret}": Vault answered 400 to POST pki/issue/web: a requested name is not allowed by this role`,
    );
    // the secret path is named in the message; the value never comes back from Vault's own text
    expect(t.stderr.split(cn).length - 1).toBe(t.stderr.split(secret).length - 1);
    expect(existsSync(out)).toBe(false);
  });

  it('a hostile error answer: its text is not shown, only that there was one', async (ctx) => {
    const standin = requireStandin(world.target, ctx, 'an error answer with arbitrary text');
    const planted = marker('planted');
    standin.failNext(1, 400, { pathPrefix: 'secret/data/app', body: { errors: [`invalid request: password is ${planted}`], warnings: [planted] } });
    const { t } = await runOnce({ 'vault:app:secret/data/app': 'kv' });
    expect(t.exit).toEqual({ code: 1, signal: null });
    expect(reason(t)).toBe(
      'tconfd: secret "vault:app:secret/data/app": Vault answered 400 to GET secret/data/app: 400 Bad Request (a message from Vault not shown: it may echo request or secret values)',
    );
    expect(t.stdout + t.stderr).not.toContain(planted);
  });

  it('no token or value in any output of this file', () => {
    expect(allOutput()).not.toContain(token);
  });
});

describe('Vault answers are bounded by --max-secret-size (issue 10, item 6)', () => {
  it('a KV value larger than the limit is an error naming the secret and the limit; nothing is written', async () => {
    const { t, out } = await runOnce({ 'vault:app:secret/data/big': 'big' }, ['--max-secret-size', '1MiB']);
    expect(t.exit).toEqual({ code: 1, signal: null });
    expect(reason(t)).toBe(
      `tconfd: secret "vault:app:secret/data/big": Vault's answer to GET secret/data/big is larger than the limit of 1 MiB (--max-secret-size)`,
    );
    expect(t.logs(/retrying/)).toEqual([]);
    expect(existsSync(out)).toBe(false);
  });

  it('within the default limit (4 MiB) the same value is read', async () => {
    const { t, out } = await runOnce({ 'vault:app:secret/data/big': 'big' });
    expect(t.exit, t.tail()).toEqual({ code: 0, signal: null });
    expect(existsSync(out)).toBe(true);
  });
});
