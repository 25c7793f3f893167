/**
 * Through the real CLI, with the Vault stand-in going away: the command is left alone while Vault is down, and
 * /readyz turns 503 (naming the secret) once a lease could not be renewed or replaced before it expired, while
 * /healthz stays 200 and /metrics shows the expiry and the renewals.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startVaultStandin, type VaultStandin } from '../vault/standin/index.js';
import { createDbRole, enableDatabase, enableKv2, putKv2 } from '../vault/setup.js';
import { freePort } from '../vault/target.js';
import { assertBuilt, httpGet, killAll, project, sleep, startTconfd, waitFor } from './helpers.js';

// One stand-in per test: they take it down.
const vaults: VaultStandin[] = [];

beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  await Promise.all(vaults.map((v) => v.stop()));
});

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
    const p = project({ secrets: { 'vault:app:secret/data/outage/kv': 'kv' }, content: "'value=' + s.kv.data.value + '\\n'" });
    const t = startTconfd(
      ['--dir', p.conf, '--vault-addr', vault.addr, '--static-refresh', '300ms', '--wait', '0s', '--vault-retry-max', '500ms'],
      { env: { VAULT_TOKEN: 'root', ...p.recorderEnv } },
    );
    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('value=steady\n');
    await waitFor(() => vault.count({ method: 'GET', path: 'secret/data/outage/kv' }) >= 2, 'a first re-read');

    await vault.goDown();
    const downAt = Date.now();
    await sleep(3_000);
    await vault.comeBack();
    const backAt = Date.now();
    // tconfd noticed the outage (a failed read logged at warn level or above)...
    expect(
      t.logs().some((l) => l.level >= 40 && l.time >= downAt && l.time < backAt && JSON.stringify(l).includes('secret/data/outage/kv')),
    ).toBe(true);
    // ...and reads again once Vault is back.
    await waitFor(
      () => vault.requests.some((r) => r.path === 'secret/data/outage/kv' && r.status === 200 && r.at >= backAt),
      'a successful read after Vault came back',
      { timeoutMs: 15_000 },
    );
    await sleep(400);
    expect(p.recorder.events().map((e) => [e.event, e.pid])).toEqual([['start', start.pid]]);
    expect(readFileSync(p.output, 'utf8')).toBe('value=steady\n');
    expect(t.logsMatching('command started')).toHaveLength(1);
    expect(t.exit).toBeUndefined();
    expect((await t.stop()).code).toBe(0);
  });

  it('/readyz turns 503 naming the secret when its lease cannot be renewed or replaced; /healthz stays 200; /metrics', async ({ expect }) => {
    const vault = await standin();
    await enableDatabase(vault);
    await createDbRole(vault, { name: 'short', defaultTtl: 3, maxTtl: 600 });
    const p = project({ secrets: { 'vault:app:database/creds/short': 'db' }, content: "'user=' + s.db.username + '\\n'" });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const t = startTconfd(
      ['--dir', p.conf, '--vault-addr', vault.addr, '--health-listen', `127.0.0.1:${port}`, '--vault-retry-max', '500ms'],
      { env: { VAULT_TOKEN: 'root', ...p.recorderEnv } },
    );
    await p.recorder.waitForStart();
    await t.waitForLog('serving /healthz, /readyz and /metrics');
    expect(await httpGet(`${base}/readyz`)).toEqual({ status: 200, body: 'ready\n' });
    expect((await httpGet(`${base}/healthz`)).status).toBe(200);

    // The lease (TTL 3 s) is renewed while Vault is there.
    const renewed = await waitFor(
      async () => {
        const m = (await httpGet(`${base}/metrics`)).body;
        const n = sample(m, 'tconfd_lease_renewals_total', '{secret="db"}');
        return n !== undefined && n >= 1 ? m : undefined;
      },
      'a lease renewal counted in /metrics',
    );
    const expiry = sample(renewed, 'tconfd_secret_expiry_seconds', '{secret="db"}');
    expect(expiry).toBeGreaterThan(0);
    expect(expiry).toBeLessThanOrEqual(3);
    expect(sample(renewed, 'tconfd_ready')).toBe(1);

    // Vault goes away: no renewal, no new credentials; the lease runs out.
    await vault.goDown();
    const downAt = Date.now();
    const notReady = await waitFor(
      async () => {
        const r = await httpGet(`${base}/readyz`);
        return r.status === 503 ? r : undefined;
      },
      '/readyz 503',
      { timeoutMs: 8_000 },
    );
    expect(Date.now() - downAt).toBeLessThan(5_000);
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
    await waitFor(
      async () => (await httpGet(`${base}/readyz`)).status === 200,
      '/readyz 200 again after Vault came back',
      { timeoutMs: 15_000 },
    );
    expect(readFileSync(p.output, 'utf8')).not.toBe(`user=${user}\n`);
    // Stops promptly, scrapers' keep-alive connections notwithstanding.
    const stopAt = Date.now();
    const exit = await t.stop();
    expect(exit.code).toBe(0);
    expect(exit.at - stopAt).toBeLessThan(3_000);
  });
});
