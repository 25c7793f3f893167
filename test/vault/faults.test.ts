/** The stand-in's test controls: request log, injected failures and delays, going down and coming back, restarting empty. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request as httpRequest } from 'node:http';
import { Agent, request as undiciRequest } from 'undici';
import { findOnPath, requireStandin, startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import { waitFor } from '../support/wait.js';
import { call, createDbRole, createToken, enableDatabase, putKv2, writePolicy } from './setup.js';

let target: VaultTarget;
let api: VaultApi;

beforeAll(async () => {
  target = await startVaultTarget();
  api = vaultApi(target);
  await putKv2(target, 'secret', 'foo', { a: '1' });
});

afterAll(async () => {
  await target?.stop();
});

describe('target', () => {
  it('is the stand-in unless a vault binary is on PATH', () => {
    const forced = process.env['TCONFD_VAULT_TARGET'];
    const expected = (findOnPath('vault') && forced !== 'standin') || forced === 'opaque' ? 'real' : 'standin';
    expect(target.kind).toBe(expected);
    expect(target.addr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('answers sys/health without a token, HEAD included', async () => {
    expect((await api('GET', 'sys/health', undefined, null)).body).toMatchObject({ initialized: true, sealed: false });
    const head = await api('HEAD', 'sys/health', undefined, null);
    expect(head).toEqual({ status: 200, body: null });
  });

  it('accepts X-Vault-Namespace (ignored), Authorization: Bearer, and chunked bodies', async () => {
    const res = await fetch(`${target.addr}/v1/secret/data/foo`, {
      headers: { Authorization: `Bearer ${target.rootToken}`, 'X-Vault-Namespace': 'team-a/' },
    });
    expect(res.status).toBe(200);
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(
        `${target.addr}/v1/secret/data/chunky`,
        { method: 'POST', headers: { 'X-Vault-Token': target.rootToken, 'Transfer-Encoding': 'chunked' } },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.write('{"data":');
      req.write('{"x":"y"}}');
      req.end();
    });
    expect(chunked.status).toBe(200);
    expect(JSON.parse(chunked.body).data.version).toBe(1);
  });
});

describe('stand-in controls', () => {
  it('logs requests with method, path, status and the token accessor', async (ctx) => {
    const v = requireStandin(target, ctx, 'request log');
    v.clearRequests();
    const t = await createToken(target, { policies: ['default'], ttl: 60 });
    await api('GET', 'auth/token/lookup-self', undefined, t.token);
    await api('LIST', 'secret/metadata/');
    await api('GET', 'secret/data/foo?version=1');
    expect(v.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['POST', 'auth/token/create', 200],
      ['GET', 'auth/token/lookup-self', 200],
      ['LIST', 'secret/metadata/', 200],
      ['GET', 'secret/data/foo', 200],
    ]);
    expect(v.requests[1]?.tokenAccessor).toBe(t.accessor);
    expect(v.count({ path: /^secret\// })).toBe(2);
    expect(v.count({ method: 'LIST' })).toBe(1);
    expect(v.count({ path: '/v1/auth/token/lookup-self' })).toBe(1);
    expect(v.tokens().find((x) => x.accessor === t.accessor)).toMatchObject({ policies: ['default'], revoked: false });
    expect(JSON.stringify(v.tokens())).not.toContain(t.token);
  });

  it('failNext fails the next n matching requests without running them', async (ctx) => {
    const v = requireStandin(target, ctx, 'fault injection');
    v.failNext(2, 503, { pathPrefix: 'secret/' });
    expect(await api('GET', 'sys/health', undefined, null)).toMatchObject({ status: 200 });
    expect(await api('POST', 'secret/data/foo', { data: { a: 'changed' } })).toEqual({
      status: 503,
      body: { errors: ['Vault is sealed'] },
    });
    expect((await api('GET', 'secret/data/foo')).status).toBe(503);
    const after = await call(target, 'GET', 'secret/data/foo');
    expect(after.body.data.data).toEqual({ a: '1' });
    v.failNext(1, 500, { body: { errors: ['custom'] } });
    expect(await api('GET', 'secret/data/foo')).toEqual({ status: 500, body: { errors: ['custom'] } });
    expect(v.requests.at(-1)).toMatchObject({ path: 'secret/data/foo', status: 500 });
  });

  it('delayNext holds the next n matching requests', async (ctx) => {
    const v = requireStandin(target, ctx, 'delay injection');
    // 2 s: far above what an undelayed loopback request takes, even on a loaded machine.
    v.delayNext(1, 2000, { pathPrefix: '/v1/secret/data' });
    let t0 = Date.now();
    await call(target, 'GET', 'secret/data/foo');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1990);
    t0 = Date.now();
    await call(target, 'GET', 'secret/data/foo');
    expect(Date.now() - t0).toBeLessThan(2000);
  });

  it('goDown refuses connections (keep-alive ones included); comeBack serves again on the same address with the same state', async (ctx) => {
    const v = requireStandin(target, ctx, 'goDown / comeBack');
    const agent = new Agent({ keepAliveTimeout: 30_000 });
    const get = async (): Promise<number> => {
      const r = await undiciRequest(`${v.addr}/v1/secret/data/foo`, {
        dispatcher: agent,
        headers: { 'x-vault-token': v.rootToken },
      });
      await r.body.text();
      return r.statusCode;
    };
    try {
      expect(await get()).toBe(200);
      await v.goDown();
      expect(v.isDown).toBe(true);
      await expect(get()).rejects.toThrow();
      await expect(fetch(`${v.addr}/v1/sys/health`)).rejects.toThrow();
      await v.comeBack();
      expect(await get()).toBe(200);
      expect((await call(target, 'GET', 'secret/data/foo')).body.data.data).toEqual({ a: '1' });
    } finally {
      await agent.close();
    }
  });

  // Last in this file: it forgets what the tests before it set up.
  it('restartEmpty: the same address, nothing remembered (tokens 403, leases, mounts, KV versions, policies); the request log kept', async (ctx) => {
    const v = requireStandin(target, ctx, 'restarting Vault empty');
    await writePolicy(target, 'before', 'path "secret/data/*" { capabilities = ["read"] }');
    const user = await createToken(target, { policies: ['before'], ttl: '1h' });
    await enableDatabase(target);
    await createDbRole(target, { name: 'app', defaultTtl: 60, maxTtl: 3600 });
    const creds = await call(target, 'GET', 'database/creds/app');
    const lease = creds.body.lease_id as string;
    expect((await putKv2(target, 'secret', 'foo', { a: '2' })).version).toBeGreaterThan(1);
    const logged = v.requests.length;

    await v.restartEmpty();
    expect(v.isDown).toBe(false);
    expect(v.requests.length).toBe(logged);
    // As after a real restart, a client's idle keep-alive connections were closed: the first request may meet one.
    await waitFor('the restarted stand-in to answer', () => fetch(`${v.addr}/v1/sys/health`).then((r) => r.ok, () => false));
    expect(v.addr).toBe(target.addr);
    // A token issued before: Vault does not know it (the bad-token 403, as for a revoked or expired one).
    expect(await api('GET', 'auth/token/lookup-self', undefined, user.token)).toEqual({ status: 403, body: { errors: ['permission denied'] } });
    expect(v.tokens().map((t) => t.accessor)).not.toContain(user.accessor);
    expect(v.leases()).toEqual([]);
    expect((await api('PUT', 'sys/leases/lookup', { lease_id: lease })).status).toBe(400);
    // A fresh dev server: the root token and secret/ (KV v2, empty: versions start again at 1), no database mount.
    expect((await api('GET', 'secret/data/foo')).status).toBe(404);
    expect((await putKv2(target, 'secret', 'foo', { a: '3' })).version).toBe(1);
    expect((await api('GET', 'database/creds/app')).status).toBe(404);
    expect(Object.keys((await call(target, 'GET', 'sys/mounts')).body.data).sort()).toEqual(['cubbyhole/', 'identity/', 'secret/', 'sys/']);
    expect((await call(target, 'LIST', 'sys/policies/acl')).body.data.keys).not.toContain('before');
    expect(v.requests.length).toBeGreaterThan(logged);
  });
});
