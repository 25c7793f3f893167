/**
 * Scenario 10: secrets never appear in tconfd's output, at the most verbose log level, through a busy life: JWT
 * logins and re-logins, token renewals, database leases renewed and replaced, certificates re-issued, KV values
 * changing, a template failing on a malformed secret (at runtime and at startup), a supervised command reloaded,
 * and the revocations on exit. Every secret is collected from the stand-in or from the rendered files, then stdout
 * and stderr of every tconfd run are searched for it.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { allOutput, killAll, ROOT, startTconfd, type Tconfd } from '../support/tconfd.js';
import { sleep, waitFor } from '../support/wait.js';
import { createPkiRole, enablePki } from '../vault/setup.js';
import { database, jwtAuth, jwtRole, kv, marker, paths, policy, startWorld, type World } from './world.js';

const tmp = tempDirs('tconfd-it-');
let world: World;
let jwt: string;
/** Every secret value seen; checked against all output at the end. */
const secrets = new Set<string>();
/** Multi-line secrets (private keys): each line of their body is checked. */
const keys = new Set<string>();
let badBlob = '';

const goodKv = () => ({ password: marker('kv-pass'), blob: Buffer.from(marker('blob-plain')).toString('base64'), port: '5432' });

beforeAll(async () => {
  world = await startWorld();
  await database(world, [{ name: 'short', defaultTtl: 2, maxTtl: 5 }]);
  const v = goodKv();
  for (const s of [v.password, v.blob]) secrets.add(s);
  await kv(world, 'app', v);
  await enablePki(world.target, { commonName: 'secrecy CA', ttl: '24h' });
  await createPkiRole(world.target, { name: 'web', allowedDomains: ['example.com'], allowSubdomains: true, ttl: 3, maxTtl: 60 });
  await policy(world, 'app', { 'database/creds/short': ['read'], 'secret/data/app': ['read'], 'pki/issue/web': ['update'] });
  const issuer = await jwtAuth(world);
  await jwtRole(world, 'app', ['app'], 2, 4);
  jwt = await issuer.sign();
  secrets.add(jwt);
});

afterAll(async () => {
  await killAll();
  await world?.stop();
  tmp.cleanup();
});

const CONFIG = {
  'conf/app.json': {
    'app.jsonnet': {
      dir: '../out',
      secrets: {
        'vault:app:database/creds/short': 'db',
        'vault:app:secret/data/app': 'kv',
        'vault:app:auth/token/lookup-self': 'me',
        'vault:app,POST,common_name=app.example.com:pki/issue/web': 'cert',
      },
    },
    // A second template that decodes secrets: the error must not quote the offending value.
    'decode.jsonnet': { dir: '../out', secrets: { 'vault:app:secret/data/app': 'kv' } },
  },
  'conf/app.jsonnet': `local s = std.extVar('secrets');
{
  'app.json': { db: s.db, token: s.me.id, password: s.kv.data.password },
  'cert.pem': s.cert.certificate,
  'key.pem': s.cert.private_key,
}
`,
  'conf/decode.jsonnet': `local s = std.extVar('secrets');
{
  'decoded.txt': std.base64Decode(s.kv.data.blob),
  'port.txt': std.toString(std.parseInt(s.kv.data.port)),
}
`,
};

interface App {
  db: { username: string; password: string };
  token: string;
  password: string;
}

describe('a busy tconfd at --log-level trace', () => {
  let t: Tconfd;
  let dir: ReturnType<typeof paths>;
  let recorder: string;
  let stopCollecting = false;
  let collecting: Promise<void>;

  /** Read the rendered files often, keeping every secret they ever held. */
  async function collect(): Promise<void> {
    while (!stopCollecting) {
      try {
        const app = JSON.parse(readFileSync(dir.file('app.json'), 'utf8')) as App;
        secrets.add(app.db.password);
        secrets.add(app.token);
        secrets.add(app.password);
        keys.add(readFileSync(dir.file('key.pem'), 'utf8'));
      } catch {
        // between writes, or not there yet
      }
      await sleep(50);
    }
  }

  beforeAll(async () => {
    const root = tmp.make(CONFIG);
    dir = paths(root);
    recorder = `${root}/recorder.log`;
    t = startTconfd(
      [
        '-d', dir.conf, '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--static-refresh', '1s',
        // --wait 2s: the first reload comes seconds after the command started, once Node.js has installed the
        // recorder's handlers even on a busy machine (a SIGHUP before that kills it).
        '--revoke-grace', '300ms', '--wait', '2s:5s', '--',
        process.execPath, `${ROOT}/test/fixtures/child/recorder.mjs`,
      ],
      { env: { CI_JOB_JWT: jwt, RECORDER_LOG: recorder }, logLevel: 'trace' },
    );
    await t.ready();
    collecting = collect();
  });

  it('lives through leases replaced, re-logins, certificates re-issued, and a template failing on a malformed secret', async () => {
    const first = JSON.parse(readFileSync(dir.file('app.json'), 'utf8')) as App;
    expect(readFileSync(dir.file('port.txt'), 'utf8')).toBe('5432\n');
    // A malformed value: the decoding template fails and keeps its previous files; the other one goes on.
    const bad = { password: marker('kv-pass2'), blob: `${marker('not-base64')}!!`, port: marker('not-a-port') };
    for (const s of Object.values(bad)) secrets.add(s);
    badBlob = bad.blob;
    const from = t.lines.length;
    await kv(world, 'app', bad);
    await t.waitForLog((l) => l.msg === 'rendering failed: the previous files stay in place', { from });
    await t.waitForFile(dir.file('app.json'), (c) => c.includes(bad.password));
    expect(readFileSync(dir.file('port.txt'), 'utf8')).toBe('5432\n');
    // The database lease is replaced at its max TTL, the token too; the command is reloaded.
    const replaced = JSON.parse(await t.waitForFile(dir.file('app.json'), (c) => !c.includes(first.db.username))) as App;
    // What the collector may have missed between two reads: the first and the replacing credentials.
    for (const app of [first, replaced]) for (const v of [app.db.password, app.token, app.password]) secrets.add(v);
    await waitFor('a second JWT login', () => t.logs('logged in to Vault').length >= 2, { detail: () => t.tail() });
    await waitFor('a reload of the command', () => readFileSync(recorder, 'utf8').includes('SIGHUP'));
    expect(t.running).toBe(true);
    expect(await t.stop()).toEqual({ code: 0, signal: null });
    expect(t.logs('leases and tokens revoked'), JSON.stringify(t.logs(/revoked|NOT|release|clean-up/))).toHaveLength(1);
    stopCollecting = true;
    await collecting;
  });

  it('a malformed secret at startup: the exit line does not quote it', async () => {
    const root = tmp.make(CONFIG);
    const r = startTconfd(['-d', paths(root).conf, '--once', '-u', world.addr, '--auth', 'jwt', '-T', 'CI_JOB_JWT'], {
      env: { CI_JOB_JWT: jwt },
      logLevel: 'trace',
    });
    expect(await r.waitForExit()).toEqual({ code: 1, signal: null });
    expect(r.plain).toHaveLength(1);
    expect(r.plain[0]).toMatch(/^tconfd: template "decode\.jsonnet": output "decoded\.txt": RUNTIME ERROR: Not a base64 encoded string/);
    expect(badBlob).not.toBe('');
    expect(r.plain[0]).not.toContain(badBlob);
  });
});

describe('secrecy', () => {
  it('none of the secrets appears in any output', () => {
    // What any Vault yields: the JWT, the five KV values, at least two database passwords (the first lease and its
    // replacement) and at least one Vault token, all read from the rendered files.
    expect(secrets.size).toBeGreaterThanOrEqual(9);
    // The stand-in also knows the passwords of database users that were never rendered: check those too.
    for (const u of world.standin?.databaseUsers() ?? []) secrets.add(u.password);
    expect(keys.size).toBeGreaterThanOrEqual(2);
    const text = allOutput();
    expect(text.length).toBeGreaterThan(10_000);
    for (const s of secrets) {
      expect(text).not.toContain(s);
      expect(text).not.toContain(JSON.stringify(s).slice(1, -1));
    }
    for (const k of keys) {
      for (const line of k.split('\n').filter((l) => l !== '' && !l.startsWith('-----'))) expect(text).not.toContain(line);
    }
    // Nor the decoded content of a secret.
    expect(text).not.toMatch(/blob-plain-/);
  });
});
