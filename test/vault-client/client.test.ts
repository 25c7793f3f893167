import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  VaultClient,
  VaultError,
  VaultNetworkError,
  isLeaseGone,
  isPermissionDenied,
  isTransient,
  parseVaultAddr,
  type VaultClientOptions,
} from '../../src/vault/index.js';
import { captureLogger, deadPort, FakeClock, startServer, type TestServer } from './support.js';

const TOKEN = 's.SuperSecretToken0123456789';
const PASSWORD = 'hunter2-do-not-leak-0123';

let server: TestServer;
const clients: VaultClient[] = [];

beforeAll(async () => {
  server = await startServer(() => ({ fixture: 'kv2-read.json' }));
});
afterAll(async () => {
  await server.close();
});
afterEach(async () => {
  server.requests.length = 0;
  server.handler = () => ({ fixture: 'kv2-read.json' });
  await Promise.all(clients.splice(0).map((c) => c.close()));
});

function client(over: Partial<VaultClientOptions> = {}): { c: VaultClient; clock: FakeClock; log: ReturnType<typeof captureLogger> } {
  const clock = new FakeClock();
  const log = captureLogger();
  const c = new VaultClient({ addr: server.url, clock, logger: log.logger, timeoutMs: 2000, ...over });
  clients.push(c);
  return { c, clock, log };
}

describe('addresses', () => {
  it('accepts VAULT_ADDR and rconfd VAULT_URL (with /v1) styles', () => {
    expect(parseVaultAddr('https://vault:8200')).toMatchObject({ origin: 'https://vault:8200', prefix: '' });
    expect(parseVaultAddr('https://vault:8200/v1')).toMatchObject({ origin: 'https://vault:8200', prefix: '' });
    expect(parseVaultAddr('https://vault:8200/v1/')).toMatchObject({ prefix: '' });
    expect(parseVaultAddr('https://proxy/vault/v1')).toMatchObject({ origin: 'https://proxy', prefix: '/vault' });
    expect(() => parseVaultAddr('vault:8200')).toThrow(/https:\/\//);
    expect(() => parseVaultAddr('not a url')).toThrow(/not a URL/);
  });

  it('sends requests under /v1 whichever style is given', async () => {
    const { c } = client({ addr: `${server.url}/v1` });
    await c.request({ method: 'GET', path: 'secret/data/foo', token: TOKEN });
    const { c: c2 } = client({ addr: `${server.url}/` });
    await c2.request({ method: 'GET', path: '/secret/data/foo', token: TOKEN });
    expect(server.requests.map((r) => r.url)).toEqual(['/v1/secret/data/foo', '/v1/secret/data/foo']);
  });
});

describe('requests', () => {
  it('sends the token, the namespace and a JSON body, and parses the answer', async () => {
    const { c } = client({ namespace: 'team-a' });
    const res = await c.request<{ data: { data: Record<string, string> } }>({
      method: 'POST',
      path: 'secret/data/foo',
      token: TOKEN,
      body: { data: { a: '1' } },
    });
    expect(res?.data.data).toEqual({ a: '1', b: 'two' });
    const seen = server.requests[0]!;
    expect(seen.method).toBe('POST');
    expect(seen.headers['x-vault-token']).toBe(TOKEN);
    expect(seen.headers['x-vault-namespace']).toBe('team-a');
    expect(seen.headers['content-type']).toBe('application/json');
    expect(seen.json).toEqual({ data: { a: '1' } });
  });

  it('sends no token or namespace header when there is none', async () => {
    const { c } = client();
    await c.request({ method: 'GET', path: 'sys/health' });
    expect(server.requests[0]!.headers['x-vault-token']).toBeUndefined();
    expect(server.requests[0]!.headers['x-vault-namespace']).toBeUndefined();
  });

  it('sends LIST as GET ?list=true and keeps query parameters', async () => {
    server.handler = () => ({ fixture: 'kv2-list.json' });
    const { c } = client();
    const res = await c.request<{ data: { keys: string[] } }>({ method: 'LIST', path: 'secret/metadata/', token: TOKEN });
    expect(res?.data.keys).toEqual(['foo']);
    await c.request({ method: 'GET', path: 'secret/data/foo?version=1', token: TOKEN, query: { x: 'y z' } });
    expect(server.requests[0]!.method).toBe('GET');
    expect(server.requests[0]!.query.get('list')).toBe('true');
    expect(server.requests[1]!.query.get('version')).toBe('1');
    expect(server.requests[1]!.query.get('x')).toBe('y z');
    expect(server.requests[1]!.path).toBe('secret/data/foo');
  });

  it('answers undefined for 204 with an empty body', async () => {
    server.handler = () => ({ status: 204 });
    const { c } = client();
    await expect(c.request({ method: 'DELETE', path: 'secret/data/foo', token: TOKEN })).resolves.toBeUndefined();
    expect(server.requests[0]!.method).toBe('DELETE');
  });

  it('refuses a body with GET (use query parameters)', async () => {
    const { c } = client();
    await expect(c.request({ method: 'GET', path: 'x', body: { a: 1 } })).rejects.toThrow(/cannot carry a body/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('retries', () => {
  it('retries 503 with exponential backoff and full jitter, up to maxAttempts', async () => {
    server.handler = () => ({ status: 503, body: { errors: ['Vault is sealed'] } });
    const { c, clock, log } = client({ rng: () => 0.5, retry: { initialMs: 100, maxMs: 1000, maxAttempts: 6 } });
    const err = await c.request({ method: 'GET', path: 'secret/data/foo', token: TOKEN }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultError);
    expect((err as VaultError).status).toBe(503);
    expect((err as VaultError).attempts).toBe(6);
    expect((err as Error).message).toContain('after 6 attempts');
    expect(server.requests).toHaveLength(6);
    // ceilings 100, 200, 400, 800, 1000 (capped); jitter 0.5
    expect(clock.sleeps).toEqual([50, 100, 200, 400, 500]);
    expect(isTransient(err)).toBe(true);
    // one warn per retry, naming method, path and status, never the token
    const warns = log.lines().filter((l) => l['level'] === 40);
    expect(warns).toHaveLength(5);
    expect(warns[0]).toMatchObject({ vault: { method: 'GET', path: 'secret/data/foo', status: 503 } });
    expect(log.text()).not.toContain(TOKEN);
  });

  it('stays within [0, min(max, initial*2^n)) with any random number', async () => {
    server.handler = () => ({ status: 503 });
    const { c, clock } = client({ rng: () => 0.999999, retry: { initialMs: 250, maxMs: 30_000, maxAttempts: 9 } });
    await c.request({ method: 'GET', path: 'x' }).catch(() => undefined);
    const ceilings = [250, 500, 1000, 2000, 4000, 8000, 16000, 30000];
    expect(clock.sleeps).toHaveLength(8);
    clock.sleeps.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThan(ceilings[i]!);
      expect(d).toBeGreaterThan(ceilings[i]! * 0.99);
    });
  });

  it('succeeds when Vault recovers', async () => {
    let n = 0;
    server.handler = () => (++n < 3 ? { status: 503 } : { fixture: 'kv2-read.json' });
    const { c, clock } = client();
    const res = await c.exchange({ method: 'GET', path: 'secret/data/foo', token: TOKEN });
    expect(res.status).toBe(200);
    expect(res.attempts).toBe(3);
    expect(server.requests).toHaveLength(3);
    expect(clock.sleeps).toHaveLength(2);
  });

  it.each([412, 429, 500, 502, 504])('retries %i', async (status) => {
    server.handler = () => ({ status, body: { errors: [] } });
    const { c } = client({ retry: { maxAttempts: 3 } });
    await expect(c.request({ method: 'GET', path: 'x' })).rejects.toMatchObject({ status, attempts: 3 });
    expect(server.requests).toHaveLength(3);
  });

  it.each([
    [400, 'error-400-db-unknown-role.json'],
    [403, 'error-403-bad-token.json'],
    [404, 'error-404-kv2-missing.json'],
  ])('never retries %i', async (status, fx) => {
    server.handler = () => ({ status, fixture: fx });
    const { c, clock } = client();
    await expect(c.request({ method: 'GET', path: 'x', token: TOKEN })).rejects.toMatchObject({ status, attempts: 1 });
    expect(server.requests).toHaveLength(1);
    expect(clock.sleeps).toHaveLength(0);
  });

  it('does not retry with retry: false', async () => {
    server.handler = () => ({ status: 503 });
    const { c } = client();
    await expect(c.request({ method: 'GET', path: 'x', retry: false })).rejects.toMatchObject({ status: 503 });
    expect(server.requests).toHaveLength(1);
  });

  it('retries connection refused, then fails with a VaultNetworkError naming method and path', async () => {
    const port = await deadPort();
    const { c, clock, log } = client({ addr: `http://127.0.0.1:${port}`, retry: { maxAttempts: 4 } });
    const err = await c.request({ method: 'GET', path: 'database/creds/app', token: TOKEN }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultNetworkError);
    const e = err as VaultNetworkError;
    expect(e.status).toBeUndefined();
    expect(e.code).toBe('ECONNREFUSED');
    expect(e.attempts).toBe(4);
    expect(e.message).toContain('GET database/creds/app');
    expect(e.message).toContain('ECONNREFUSED');
    expect(clock.sleeps).toHaveLength(3);
    expect(isTransient(e)).toBe(true);
    expect(log.lines().filter((l) => l['level'] === 40)).toHaveLength(3);
  });

  it('stops retrying when the caller aborts', async () => {
    server.handler = () => ({ status: 503 });
    const { c, clock } = client();
    const ac = new AbortController();
    const origSleep = clock.sleep.bind(clock);
    clock.sleep = (ms, signal) => {
      ac.abort(new Error('shutting down'));
      return origSleep(ms, signal);
    };
    await expect(c.request({ method: 'GET', path: 'x', signal: ac.signal })).rejects.toThrow('shutting down');
    expect(server.requests).toHaveLength(1);
  });
});

describe('timeouts', () => {
  it('gives up an attempt after timeoutMs and retries it', async () => {
    server.handler = () => ({ hang: true });
    const { c, clock } = client({ timeoutMs: 150, retry: { maxAttempts: 2 } });
    const started = Date.now();
    const err = await c.request({ method: 'GET', path: 'secret/data/slow', token: TOKEN }).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(20_000); // the server never answers: only the timeout ends it
    expect(err).toBeInstanceOf(VaultNetworkError);
    expect((err as VaultNetworkError).message).toMatch(/GET secret\/data\/slow: no answer within 150 ms/);
    expect((err as VaultNetworkError).attempts).toBe(2);
    expect(server.requests).toHaveLength(2);
    expect(clock.sleeps).toHaveLength(1);
  });
});

describe('errors', () => {
  it('name status, method, path and what Vault said', async () => {
    server.handler = () => ({ status: 403, fixture: 'error-403-bad-token.json' });
    const { c } = client();
    const err = (await c.request({ method: 'GET', path: 'secret/data/app', token: TOKEN }).catch((e: unknown) => e)) as VaultError;
    expect(err.message).toBe('Vault answered 403 to GET secret/data/app: permission denied');
    expect(err).toMatchObject({ status: 403, method: 'GET', path: 'secret/data/app', errors: ['permission denied'] });
    expect(isPermissionDenied(err)).toBe(true);
    expect(isTransient(err)).toBe(false);
  });

  it('flatten the multi-error of a policy denial', async () => {
    server.handler = () => ({ status: 403, fixture: 'error-403-policy.json' });
    const { c } = client();
    const err = (await c.request({ method: 'GET', path: 'sys/mounts', token: TOKEN }).catch((e: unknown) => e)) as VaultError;
    expect(err.message).toBe('Vault answered 403 to GET sys/mounts: permission denied');
    expect(isPermissionDenied(err)).toBe(true);
  });

  it('use the status text when Vault gives no errors (KV v2 missing path)', async () => {
    server.handler = () => ({ status: 404, fixture: 'error-404-kv2-missing.json' });
    const { c } = client();
    const err = (await c.request({ method: 'GET', path: 'secret/data/nope', token: TOKEN }).catch((e: unknown) => e)) as VaultError;
    expect(err.message).toBe('Vault answered 404 to GET secret/data/nope: 404 Not Found');
    expect(err.errors).toEqual([]);
  });

  it('say when a KV v2 version is deleted (404 with an envelope), without its data', async () => {
    server.handler = () => ({ status: 404, fixture: 'error-404-kv2-deleted-version.json' });
    const { c } = client();
    const err = (await c.request({ method: 'GET', path: 'secret/data/foo', token: TOKEN }).catch((e: unknown) => e)) as VaultError;
    expect(err.kv2Deleted).toEqual({ version: 3, destroyed: false });
    expect(err.message).toContain('version 3 is deleted');
    expect(JSON.stringify(err)).not.toContain('2026-11-22');
  });

  it('never carry the token, the request body or response data', async () => {
    // A Vault error that (badly) echoes the request back, and an answer full of data.
    server.handler = () => ({
      status: 400,
      body: { errors: [`bad request for token ${TOKEN} with password ${PASSWORD}`], data: { password: 'resp-secret-xyz' } },
    });
    const { c, log } = client();
    const err = (await c
      .request({ method: 'PUT', path: 'database/config/db', token: TOKEN, body: { password: PASSWORD, username: 'app' } })
      .catch((e: unknown) => e)) as VaultError;
    expect(err).toBeInstanceOf(VaultError);
    expect(err.message).toContain('Vault answered 400 to PUT database/config/db');
    for (const s of [err.message, String(err), JSON.stringify(err), err.stack ?? '', log.text()]) {
      expect(s).not.toContain(TOKEN);
      expect(s).not.toContain(PASSWORD);
      expect(s).not.toContain('resp-secret-xyz');
    }
  });

  it('never carry the token or body in network errors and retry logs', async () => {
    const port = await deadPort();
    const { c, log } = client({ addr: `http://127.0.0.1:${port}`, retry: { maxAttempts: 2 } });
    const err = (await c
      .request({ method: 'POST', path: 'auth/kubernetes/login', token: TOKEN, body: { role: 'app', jwt: PASSWORD } })
      .catch((e: unknown) => e)) as VaultNetworkError;
    for (const s of [err.message, String(err), JSON.stringify(err), log.text()]) {
      expect(s).not.toContain(TOKEN);
      expect(s).not.toContain(PASSWORD);
    }
  });

  it('classify lease errors (isLeaseGone)', async () => {
    const { c } = client();
    for (const fx of ['error-400-renew-revoked.json', 'error-400-renew-at-max-ttl.json', 'error-400-renew-past-max.json']) {
      server.handler = () => ({ status: 400, fixture: fx });
      const err = await c.renewLease(TOKEN, 'database/creds/app/x', 60).catch((e: unknown) => e);
      expect(isLeaseGone(err)).toBe(true);
      expect(isTransient(err)).toBe(false);
    }
    // Between a lease's expiry (or its token's revocation) and Vault's revocation of it (not recorded: Vault's words).
    server.handler = () => ({ status: 400, body: { errors: ['lease expired'] } });
    expect(isLeaseGone(await c.renewLease(TOKEN, 'database/creds/app/x', 60).catch((e: unknown) => e))).toBe(true);
    server.handler = () => ({ status: 400, fixture: 'error-400-db-unknown-role.json' });
    expect(isLeaseGone(await c.request({ method: 'GET', path: 'database/creds/nope' }).catch((e: unknown) => e))).toBe(false);
    expect(isLeaseGone(new Error('lease not found'))).toBe(false);
  });
});

describe('token and lease operations', () => {
  it('renewLease sends lease_id and increment and reads the capped TTL and warnings', async () => {
    server.handler = () => ({ fixture: 'lease-renew-over-max.json' });
    const { c } = client();
    const r = await c.renewLease(TOKEN, 'database/creds/app/1T92oT8ulJA1powr7AMEc3Ai', 3600);
    expect(r).toMatchObject({ durationSec: 300, renewable: true });
    expect(r.warnings[0]).toContain('capped');
    const seen = server.requests[0]!;
    expect(seen.method).toBe('PUT');
    expect(seen.path).toBe('sys/leases/renew');
    expect(seen.json).toEqual({ lease_id: 'database/creds/app/1T92oT8ulJA1powr7AMEc3Ai', increment: 3600 });
  });

  it('renewLease without an increment sends only lease_id', async () => {
    server.handler = () => ({ fixture: 'lease-renew.json' });
    const { c } = client();
    expect(await c.renewLease(TOKEN, 'l1')).toMatchObject({ durationSec: 120, renewable: true, warnings: [] });
    expect(server.requests[0]!.json).toEqual({ lease_id: 'l1' });
  });

  it('revokeLease answers on 204', async () => {
    server.handler = () => ({ status: 204 });
    const { c } = client();
    await c.revokeLease(TOKEN, 'l1');
    expect(server.requests[0]).toMatchObject({ method: 'PUT', path: 'sys/leases/revoke', json: { lease_id: 'l1' } });
  });

  it('renewSelf reads the auth block; revokeSelf and lookupSelf', async () => {
    server.handler = (r) =>
      r.path === 'auth/token/renew-self'
        ? { fixture: 'token-renew-self.json' }
        : r.path === 'auth/token/lookup-self'
          ? { fixture: 'token-lookup-self.json' }
          : { status: 204 };
    const { c } = client();
    expect(await c.renewSelf(TOKEN, 1800)).toMatchObject({ durationSec: 1800, renewable: true, warnings: [] });
    expect(server.requests[0]!.json).toEqual({ increment: '1800s' });
    const info = await c.lookupSelf(TOKEN);
    expect(info).toMatchObject({ ttlSec: 3599, renewable: true, accessor: 'uehWK9WcQbExJ7EvjmKjTHeN' });
    expect(JSON.stringify(info)).not.toContain('s.4PLf5n5VUPdWOlhH2Op4XDnm');
    await c.revokeSelf(TOKEN);
    expect(server.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST auth/token/renew-self',
      'GET auth/token/lookup-self',
      'POST auth/token/revoke-self',
    ]);
    expect(server.requests.every((r) => r.headers['x-vault-token'] === TOKEN)).toBe(true);
  });
});
