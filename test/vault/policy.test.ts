/** Tokens and ACL policies: which 4xx a client gets, glob and segment matching, the default policy. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import { call, createToken, putKv2, writePolicy } from './setup.js';

const DENIED = { status: 403, body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] } };
const BAD_TOKEN = { status: 403, body: { errors: ['permission denied'] } };

let target: VaultTarget;
let api: VaultApi;

beforeAll(async () => {
  target = await startVaultTarget();
  api = vaultApi(target);
  for (const p of ['app/one', 'other/x', 'team/a/config', 'team/a/b/config', 'mixed/app/x', 'mixed/y']) {
    await putKv2(target, 'secret', p, { v: p });
  }
  await writePolicy(
    target,
    'reader',
    `
# app secrets
path "secret/data/app/*" {
  capabilities = ["read"]
}
path "secret/data/team/+/config" {
  capabilities = ["read"]
}
path "secret/metadata/app" {
  capabilities = ["list"]
}
path "secret/data/mixed/*" {
  capabilities = ["deny"]
}
path "secret/data/mixed/app/*" {
  capabilities = ["read", "update"]
}
`,
  );
});

afterAll(async () => {
  await target?.stop();
});

describe('policies', () => {
  it('no token is a 400; an unknown token a plain 403; a policy denial the multierror 403', async () => {
    const t = await createToken(target, { policies: ['reader'], ttl: '1h' });
    expect(await api('GET', 'secret/data/app/one', undefined, null)).toEqual({
      status: 400,
      body: { errors: ['missing client token'] },
    });
    expect(await api('GET', 'secret/data/app/one', undefined, 's.AAAAAAAAAAAAAAAAAAAAAAAA')).toEqual(BAD_TOKEN);
    expect(await api('GET', 'secret/data/other/x', undefined, t.token)).toEqual(DENIED);
    expect((await api('GET', 'secret/data/app/one', undefined, t.token)).status).toBe(200);
    // An unmounted path: denied for a restricted token, "no handler" for root.
    expect(await api('GET', 'nosuchmount/thing', undefined, t.token)).toEqual(DENIED);
    expect(await api('GET', 'nosuchmount/thing')).toEqual({
      status: 404,
      body: { errors: ["no handler for route 'nosuchmount/thing'"] },
    });
  });

  it('matches * suffixes, + segments, list paths, and the most specific pattern', async () => {
    const t = (await createToken(target, { policies: ['reader'], ttl: '1h' })).token;
    expect((await api('GET', 'secret/data/team/a/config', undefined, t)).status).toBe(200);
    expect(await api('GET', 'secret/data/team/a/b/config', undefined, t)).toEqual(DENIED);
    expect(await api('POST', 'secret/data/app/one', { data: { v: 2 } }, t)).toEqual(DENIED);
    expect((await api('LIST', 'secret/metadata/app', undefined, t)).body.data.keys).toEqual(['one']);
    expect(await api('LIST', 'secret/metadata/other', undefined, t)).toEqual(DENIED);
    expect((await api('GET', 'secret/data/mixed/app/x', undefined, t)).status).toBe(200);
    expect((await api('POST', 'secret/data/mixed/app/x', { data: { v: 3 } }, t)).status).toBe(200);
    expect(await api('GET', 'secret/data/mixed/y', undefined, t)).toEqual(DENIED);
  });

  it('the default policy lets a token look itself up and renew itself, nothing else', async () => {
    const t = await createToken(target, { policies: ['default'], ttl: 600 });
    expect((await api('GET', 'auth/token/lookup-self', undefined, t.token)).body.data.policies).toEqual(['default']);
    const renewed = await api('POST', 'auth/token/renew-self', { increment: 300 }, t.token);
    expect(renewed.body.auth.lease_duration).toBe(300);
    expect(await api('POST', 'auth/token/create', {}, t.token)).toEqual(DENIED);
    expect(await api('GET', 'sys/mounts', undefined, t.token)).toEqual(DENIED);
    const caps = await call(target, 'POST', 'sys/capabilities-self', { paths: ['auth/token/renew-self', 'secret/data/x'] }, t.token);
    expect(caps.body.data).toEqual({ 'auth/token/renew-self': ['update'], 'secret/data/x': ['deny'] });
  });

  it('policy changes apply to existing tokens; policies read back; bad HCL is refused', async () => {
    const t = (await createToken(target, { policies: ['late'], ttl: '1h' })).token;
    expect(await api('GET', 'secret/data/other/x', undefined, t)).toEqual(DENIED);
    const hcl = 'path "secret/data/other/*" {\n  capabilities = ["read"]\n}\n';
    await writePolicy(target, 'late', hcl);
    expect((await api('GET', 'secret/data/other/x', undefined, t)).status).toBe(200);
    expect((await call(target, 'GET', 'sys/policies/acl/late')).body.data).toEqual({ name: 'late', policy: hcl });
    expect((await call(target, 'GET', 'sys/policy/late')).body.data).toEqual({ name: 'late', rules: hcl });
    expect((await call(target, 'LIST', 'sys/policies/acl')).body.data.keys).toEqual(['default', 'late', 'reader', 'root']);
    const bad = await api('PUT', 'sys/policies/acl/broken', { policy: 'path "x" { capabilities = ["read" }' });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0]).toMatch(/^failed to parse policy/);
    // Vault's words (recorded): no quotes for default, quotes for root.
    expect(await api('DELETE', 'sys/policies/acl/default')).toEqual({ status: 400, body: { errors: ['cannot delete default policy'] } });
    expect(await api('DELETE', 'sys/policy/default')).toEqual({ status: 400, body: { errors: ['cannot delete default policy'] } });
    expect(await api('DELETE', 'sys/policies/acl/root')).toEqual({ status: 400, body: { errors: ['cannot delete "root" policy'] } });
  });

  it('a child token cannot get policies its parent lacks', async () => {
    const parent = await createToken(target, { policies: ['reader'], ttl: '1h' });
    await writePolicy(target, 'creator', 'path "auth/token/create" {\n  capabilities = ["update"]\n}\n');
    const p2 = await createToken(target, { policies: ['reader', 'creator'], ttl: '1h' });
    expect(await api('POST', 'auth/token/create', { policies: ['root'] }, p2.token)).toEqual({
      status: 400,
      body: { errors: ['child policies must be subset of parent'] },
    });
    const child = await call(target, 'POST', 'auth/token/create', { policies: ['reader'], ttl: 60 }, p2.token);
    expect(child.body.auth.orphan).toBe(false);
    expect(child.body.auth.policies).toEqual(['default', 'reader']);
    expect(await api('POST', 'auth/token/create', {}, parent.token)).toEqual(DENIED);
  });
});
