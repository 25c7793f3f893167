/** Logins (jwt, kubernetes, approle) on default and custom mount paths, and token renewal, capping and expiry. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyObject } from 'node:crypto';
import { requireStandin, startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import {
  call,
  createAppRole,
  createJwtRole,
  createKubernetesRole,
  createToken,
  enableAppRole,
  enableJwtAuth,
  enableKubernetesAuth,
  generateRsaKeyPair,
  login,
  makeServiceAccountJwt,
  signJwt,
  writePolicy,
} from './setup.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const now = (): number => Math.floor(Date.now() / 1000);

let target: VaultTarget;
let api: VaultApi;
let jwtKey: KeyObject;
let saKey: KeyObject;

beforeAll(async () => {
  target = await startVaultTarget();
  api = vaultApi(target);
  await writePolicy(target, 'peer-read', 'path "secret/data/foo" {\n  capabilities = ["read"]\n}\n');
  const jwt = generateRsaKeyPair();
  jwtKey = jwt.privateKey;
  await enableJwtAuth(target, { mount: 'jwt-ci', publicKeyPem: jwt.publicKeyPem, boundIssuer: 'https://ci.example' });
  await createJwtRole(target, {
    mount: 'jwt-ci',
    name: 'deploy',
    boundAudiences: ['vault'],
    boundClaims: { repo: ['org/app', 'org/lib'] },
    claimMappings: { repo: 'repository' },
    policies: ['peer-read'],
    ttl: 2,
    maxTtl: 4,
  });
  const sa = generateRsaKeyPair();
  saKey = sa.privateKey;
  await enableKubernetesAuth(target, { mount: 'k8s-prod', publicKeyPem: sa.publicKeyPem });
  await createKubernetesRole(target, {
    mount: 'k8s-prod',
    name: 'app',
    serviceAccountNames: ['app', 'app-*'],
    namespaces: ['prod-*'],
    policies: ['peer-read'],
    ttl: '1h',
  });
});

afterAll(async () => {
  await target?.stop();
});

const ciJwt = (claims: Record<string, unknown> = {}): Promise<string> =>
  signJwt(jwtKey, { iss: 'https://ci.example', sub: 'alice', aud: ['vault'], repo: 'org/app', iat: now(), exp: now() + 300, ...claims });

describe('jwt auth on a custom mount', () => {
  it('logs in; the token carries the role, the mapped claims and a jwt-ci- display name', async () => {
    const t = await login(target, 'jwt-ci', { role: 'deploy', jwt: await ciJwt() });
    expect(t.policies).toEqual(['default', 'peer-read']);
    expect(t.leaseDuration).toBe(2);
    const self = await call(target, 'GET', 'auth/token/lookup-self', undefined, t.token);
    expect(self.body.data).toMatchObject({
      display_name: 'jwt-ci-alice',
      meta: { repository: 'org/app', role: 'deploy' },
      orphan: true,
      path: 'auth/jwt-ci/login',
    });
  });

  it('answers each validation failure with Vault’s message', async () => {
    const attempt = async (jwt: string): Promise<unknown> =>
      (await api('POST', 'auth/jwt-ci/login', { role: 'deploy', jwt }, null)).body;
    const other = generateRsaKeyPair().privateKey;
    expect(await attempt(await signJwt(other, { iss: 'https://ci.example', sub: 'a', aud: ['vault'], iat: now() }))).toEqual({
      errors: ['error validating token: error verifying token signature: no known key successfully validated the token signature'],
    });
    expect(await attempt(await ciJwt({ iss: 'https://elsewhere' }))).toEqual({
      errors: ['error validating token: invalid issuer (iss) claim'],
    });
    expect(await attempt(await ciJwt({ repo: 'org/other' }))).toEqual({
      errors: ['error validating claims: claim "repo" does not match any associated bound claim values'],
    });
    expect(await attempt(await ciJwt({ nbf: now() + 3600 }))).toEqual({
      errors: ['error validating token: invalid not before (nbf) claim: token not yet valid'],
    });
    expect(await attempt('not.a.jwt-at-all')).toEqual({
      errors: [expect.stringMatching(/^error validating token: error verifying token signature: /)],
    });
    expect((await api('POST', 'auth/jwt-ci/login', { role: 'nope', jwt: await ciJwt() }, null)).body).toEqual({
      errors: ['role "nope" could not be found'],
    });
    // A role without role_type is an OIDC role, which needs redirect URIs.
    expect((await api('POST', 'auth/jwt-ci/role/oidc', { user_claim: 'sub', bound_audiences: ['x'] })).body).toEqual({
      errors: ["'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."],
    });
  });

  it('renew-self is capped at token_max_ttl with Vault’s warning, and the token then expires', async () => {
    const t = await login(target, 'jwt-ci', { role: 'deploy', jwt: await ciJwt() });
    const r = await call(target, 'POST', 'auth/token/renew-self', { increment: 60 }, t.token);
    // What is left of the 4 s token_max_ttl, in whole seconds (less if the machine is slow between login and renew).
    const capped: number = r.body.auth.lease_duration;
    expect(capped).toBeGreaterThanOrEqual(1);
    expect(capped).toBeLessThanOrEqual(4);
    expect(r.body.warnings).toEqual([
      `TTL of "1m" exceeded the effective max_ttl of "${capped}s"; TTL value is capped accordingly`,
    ]);
    await sleep(capped * 1000 + 300);
    expect(await api('POST', 'auth/token/renew-self', {}, t.token)).toEqual({
      status: 403,
      body: { errors: ['permission denied'] },
    });
  });
});

describe('kubernetes auth on a custom mount', () => {
  it('logs in with projected and with legacy service account tokens', async (ctx) => {
    requireStandin(target, ctx, 'kubernetes login (a real Vault would call a TokenReview API)');
    for (const style of ['projected', 'legacy'] as const) {
      const jwt = await makeServiceAccountJwt(saKey, { namespace: 'prod-eu', serviceAccount: 'app-web', uid: 'u-1', style });
      const t = await login(target, 'k8s-prod', { role: 'app', jwt });
      expect(t.leaseDuration).toBe(3600);
      const self = await call(target, 'GET', 'auth/token/lookup-self', undefined, t.token);
      expect(self.body.data.display_name).toBe('k8s-prod-prod-eu-app-web');
      expect(self.body.data.meta).toMatchObject({
        role: 'app',
        service_account_name: 'app-web',
        service_account_namespace: 'prod-eu',
        service_account_uid: 'u-1',
      });
    }
  });

  it('refuses unbound names (500), forged tokens (403) and expired projected tokens (403)', async (ctx) => {
    requireStandin(target, ctx, 'kubernetes login (a real Vault would call a TokenReview API)');
    const attempt = async (jwt: string): Promise<unknown> =>
      api('POST', 'auth/k8s-prod/login', { role: 'app', jwt }, null);
    expect(await attempt(await makeServiceAccountJwt(saKey, { namespace: 'prod-eu', serviceAccount: 'db' }))).toEqual({
      status: 500,
      body: { errors: ['service account name not authorized'] },
    });
    expect(await attempt(await makeServiceAccountJwt(saKey, { namespace: 'dev', serviceAccount: 'app' }))).toEqual({
      status: 500,
      body: { errors: ['namespace not authorized'] },
    });
    const forged = await makeServiceAccountJwt(generateRsaKeyPair().privateKey, { namespace: 'prod-eu', serviceAccount: 'app' });
    expect(await attempt(forged)).toEqual({ status: 403, body: { errors: ['permission denied'] } });
    const expired = await makeServiceAccountJwt(saKey, {
      namespace: 'prod-eu',
      serviceAccount: 'app',
      style: 'projected',
      ttlSeconds: -60,
    });
    expect(await attempt(expired)).toEqual({ status: 403, body: { errors: ['permission denied'] } });
    expect((await api('POST', 'auth/k8s-prod/login', { role: 'nope', jwt: forged }, null)).body).toEqual({
      errors: ['invalid role name "nope"'],
    });
  });
});

describe('approle', () => {
  it('logs in with role_id and secret_id; refuses bad ones', async () => {
    await enableAppRole(target);
    const r = await createAppRole(target, { name: 'svc', policies: ['peer-read'], ttl: '20m', maxTtl: '1h' });
    const t = await login(target, 'approle', { role_id: r.roleId, secret_id: r.secretId });
    expect(t.leaseDuration).toBe(1200);
    const self = await call(target, 'GET', 'auth/token/lookup-self', undefined, t.token);
    expect(self.body.data).toMatchObject({ display_name: 'approle', meta: { role_name: 'svc' } });
    // Vault 1.8 (what the stand-in answers) names which one is wrong; current Vault answers both with
    // `invalid role or secret ID`.
    const current = { errors: ['invalid role or secret ID'] };
    expect([{ errors: ['invalid secret id'] }, current]).toContainEqual(
      (await api('POST', 'auth/approle/login', { role_id: r.roleId, secret_id: 'nope' }, null)).body,
    );
    expect([{ errors: ['invalid role ID'] }, current]).toContainEqual(
      (await api('POST', 'auth/approle/login', { role_id: 'nope', secret_id: r.secretId }, null)).body,
    );
  });
});

describe('token store', () => {
  it('caps renewals at explicit_max_ttl and expires the token for real', async () => {
    const t = await createToken(target, { policies: ['peer-read'], ttl: 2, explicit_max_ttl: 3 });
    const self = await call(target, 'GET', 'auth/token/lookup-self', undefined, t.token);
    expect(self.body.data).toMatchObject({ creation_ttl: 2, explicit_max_ttl: 3, renewable: true, orphan: false });
    const r = await call(target, 'POST', 'auth/token/renew-self', { increment: 3600 }, t.token);
    expect(r.body.auth.lease_duration).toBeLessThanOrEqual(3);
    expect(r.body.warnings[0]).toMatch(/^TTL of "1h" exceeded the effective max_ttl of "[1-3]s"; TTL value is capped accordingly$/);
    await sleep(r.body.auth.lease_duration * 1000 + 300);
    expect((await api('GET', 'auth/token/lookup-self', undefined, t.token)).status).toBe(403);
  });

  it('a non-renewable token cannot renew; a periodic one renews to its period', async () => {
    const fixed = await createToken(target, { policies: ['peer-read'], ttl: 60, renewable: false });
    expect(await api('POST', 'auth/token/renew-self', {}, fixed.token)).toEqual({
      status: 400,
      body: { errors: ['lease is not renewable'] },
    });
    const periodic = await createToken(target, { policies: ['peer-read'], period: 30 });
    const r = await call(target, 'POST', 'auth/token/renew-self', { increment: 3600 }, periodic.token);
    expect(r.body.auth.lease_duration).toBe(30);
    expect((await call(target, 'GET', 'auth/token/lookup-self', undefined, periodic.token)).body.data.period).toBe(30);
  });
});
