/**
 * Through the real CLI, with the Vault stand-in going away: the command is left alone while Vault is down, and
 * /readyz turns 503 (naming the secret) once a lease could not be renewed or replaced before it expired, while
 * /healthz stays 200 and /metrics shows the expiry and the renewals.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { createDbRole, enableDatabase, enableKv2, putKv2 } from '../vault/setup.js';
import { freePort } from '../vault/target.js';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject } from '../support/recorder.js';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { sleep, waitFor } from '../support/wait.js';

// One stand-in per test: they take it down.
const vaults: VaultStandin[] = [];
const tmp = tempDirs('tconfd-sup-cli-');

beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  await Promise.all(vaults.map((v) => v.stop()));
  tmp.cleanup();
});

/** Fetch a URL; returns status and body text. */
async function httpGet(url: string): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: await res.text() };
}

async function standin(): Promise<VaultStandin> {
  const v = await startVaultStandin();
  vaults.push(v);
  return v;
}

/** The value of a sample `name{label="value"} N` in a Prometheus text body, or undefined when absent. */
function sample(body: string, name: string, labels = ''): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.concurrent('Vault outage', () => {
  it('Vault down for ~3 s (short --static-refresh) never restarts or signals the command', async ({ expect }) => {
    const vault = await standin();
    await enableKv2(vault, 'secret');
    await putKv2(vault, 'secret', 'outage/kv', { value: 'steady' });
    const p = recorderProject(tmp.make(), { secrets: { 'vault:app:secret/data/outage/kv': 'kv' }, content: "'value=' + s.kv.data.value + '\\n'" });
    const t = startTconfd(
      ['--dir', p.conf, '--vault-addr', vault.addr, '--static-refresh', '300ms', '--wait', '0s', '--vault-retry-max', '500ms'],
      { command: RECORDER_CMD, env: { VAULT_TOKEN: 'root', ...p.recorderEnv } },
    );
    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('value=steady\n');
    await waitFor('a first re-read', () => vault.count({ method: 'GET', path: 'secret/data/outage/kv' }) >= 2);

    await vault.goDown();
    const downAt = Date.now();
    // tconfd notices the outage (a failed read logged at warn level or above)...
    await t.waitForLog((l) => l.level >= 40 && l.time >= downAt && JSON.stringify(l).includes('secret/data/outage/kv'));
    // ...Vault stays down for at least 3 s of failed re-reads...
    await sleep(Math.max(0, downAt + 3_000 - Date.now()));
    await vault.comeBack();
    const backAt = Date.now();
    // ...and tconfd reads again once Vault is back.
    await waitFor('a successful read after Vault came back', () =>
      vault.requests.some((r) => r.path === 'secret/data/outage/kv' && r.status === 200 && r.at >= backAt),
    );
    await sleep(400);
    expect(p.recorder.events().map((e) => [e.event, e.pid])).toEqual([['start', start.pid]]);
    expect(readFileSync(p.output, 'utf8')).toBe('value=steady\n');
    expect(t.logs('command started')).toHaveLength(1);
    expect(t.exit).toBeUndefined();
    expect((await t.stop()).code).toBe(0);
  });

  it('/readyz turns 503 naming the secret when its lease cannot be renewed or replaced; /healthz stays 200; /metrics', async ({ expect }) => {
    const vault = await standin();
    await enableDatabase(vault);
    // 10 s: kept renewed while Vault is there even on a busy machine, and run out soon after it is gone.
    await createDbRole(vault, { name: 'short', defaultTtl: 10, maxTtl: 600 });
    const p = recorderProject(tmp.make(), { secrets: { 'vault:app:database/creds/short': 'db' }, content: "'user=' + s.db.username + '\\n'" });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const t = startTconfd(
      ['--dir', p.conf, '--vault-addr', vault.addr, '--health-listen', `127.0.0.1:${port}`, '--vault-retry-max', '500ms'],
      { command: RECORDER_CMD, env: { VAULT_TOKEN: 'root', ...p.recorderEnv } },
    );
    await p.recorder.waitForStart();
    await t.waitForLog('serving /healthz, /readyz and /metrics');
    expect(await httpGet(`${base}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
    expect((await httpGet(`${base}/healthz`)).status).toBe(200);

    // The lease (TTL 10 s) is renewed while Vault is there.
    const renewed = await waitFor('a lease renewal counted in /metrics', async () => {
      const m = (await httpGet(`${base}/metrics`)).body;
      const n = sample(m, 'tconfd_lease_renewals_total', '{secret="db"}');
      return n !== undefined && n >= 1 ? m : undefined;
    });
    const expiry = sample(renewed, 'tconfd_secret_expiry_seconds', '{secret="db"}');
    expect(expiry).toBeGreaterThan(0);
    expect(expiry).toBeLessThanOrEqual(10);
    expect(sample(renewed, 'tconfd_ready')).toBe(1);

    // Vault goes away: no renewal, no new credentials; the lease runs out.
    await vault.goDown();
    const downAt = Date.now();
    const notReady = await waitFor('/readyz 503', async () => {
      const r = await httpGet(`${base}/readyz`);
      return r.status === 503 ? r : undefined;
    });
    // Once the lease (10 s) ran out; not long after (a generous bound: this machine may be busy).
    expect(Date.now() - downAt).toBeLessThan(30_000);
    expect(notReady.body).toMatch(/^secret "db" (not valid|expired)\n$/);
    expect((await httpGet(`${base}/healthz`)).status).toBe(200);
    const m = (await httpGet(`${base}/metrics`)).body;
    expect(sample(m, 'tconfd_secret_expiry_seconds', '{secret="db"}')).toBeLessThanOrEqual(0);
    expect(sample(m, 'tconfd_lease_renewals_total', '{secret="db"}')).toBeGreaterThanOrEqual(1);
    expect(sample(m, 'tconfd_ready')).toBe(0);
    expect(sample(m, 'tconfd_child_up')).toBe(1);
    // Nothing in the endpoints gives a credential away.
    const user = readFileSync(p.output, 'utf8').trim().slice('user='.length);
    expect(user).not.toBe('');
    expect(m + notReady.body).not.toContain(user);
    expect(t.exit).toBeUndefined();

    // Vault is back: new credentials, rendered, and ready again.
    await vault.comeBack();
    await waitFor('/readyz 200 again after Vault came back', async () => (await httpGet(`${base}/readyz`)).status === 200);
    expect(readFileSync(p.output, 'utf8')).not.toBe(`user=${user}\n`);
    // Stops, whatever scrapers hold open: here a request that never ends (its headers unfinished). Closing the health
    // server waits for no connection: without that, this one would hold tconfd for the server's headersTimeout (60 s),
    // past stop()'s deadline.
    const stuck = connect(port, '127.0.0.1');
    await once(stuck, 'connect');
    stuck.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    stuck.on('error', () => undefined);
    try {
      expect((await t.stop()).code).toBe(0);
    } finally {
      stuck.destroy();
    }
  });
});
