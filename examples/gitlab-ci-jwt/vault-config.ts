/**
 * What Vault needs for examples/gitlab-ci-jwt, through its HTTP API (the `vault` commands of README.md), and GitLab-
 * like job tokens for trying it locally. GitLab signs its job tokens with keys published at https://gitlab.com/-/jwks;
 * here a local key pair stands in for them (jwt_validation_pubkeys instead of jwks_url), everything else is the same:
 * bound issuer, audience, bound claims, policy, token_explicit_max_ttl 60.
 * Used by setup.ts (run.sh) and test/examples/gitlab-ci-jwt.test.ts.
 */
import { randomUUID, type KeyObject } from 'node:crypto';
import { call, enableJwtAuth, enableKv2, putKv2, signJwt, writePolicy } from '../../test/vault/setup.js';
import { vaultApi } from '../../test/vault/target.js';

export const ISSUER = 'https://gitlab.com';
/** The `aud` of the job's id_token (.gitlab-ci.yml: id_tokens: CI_JOB_JWT: aud: ...). */
export const AUDIENCE = 'https://vault.example.com';
export const ROLE = 'myrole';

export const POLICY = `path "kv/data/ci/*" { capabilities = ["read"] }
`;

/**
 * The role: only jobs of projects in the `alpine` group (namespace_path), running for a protected tag, may log in;
 * their token lives 60 s at most (the job only needs it to render its files).
 */
export const ROLE_BODY = {
  role_type: 'jwt',
  policies: ['ci-deploy'],
  token_explicit_max_ttl: 60,
  user_claim: 'user_email',
  bound_audiences: [AUDIENCE],
  bound_claims: { namespace_path: 'alpine', ref_protected: 'true', ref_type: 'tag' },
};

export interface Target {
  addr: string;
  rootToken: string;
}

/** JWT auth (with a local public key), the ci-deploy policy, the role and the KV secret the job reads. */
export async function configureGitlabJwt(target: Target, publicKeyPem: string): Promise<void> {
  // Never overwrite a real GitLab (or other) JWT configuration with the local test key.
  const current = await vaultApi(target)('GET', 'auth/jwt/config');
  const cfg = current.status === 200 ? (current.body?.data ?? {}) : {};
  if (cfg.jwks_url || cfg.oidc_discovery_url) {
    throw new Error(
      `auth/jwt/ on ${target.addr} already validates tokens with ${cfg.jwks_url || cfg.oidc_discovery_url}: ` +
        'not overwriting it with a local test key (run the example against the stand-in: unset VAULT_ADDR)',
    );
  }
  await enableJwtAuth(target, { mount: 'jwt', publicKeyPem, boundIssuer: ISSUER });
  await writePolicy(target, 'ci-deploy', POLICY);
  await call(target, 'POST', `auth/jwt/role/${ROLE}`, ROLE_BODY);
  await enableKv2(target, 'kv');
  await putKv2(target, 'kv', 'ci/deploy', {
    deploy_host: 'deploy.example.com',
    deploy_user: 'ci-deployer',
    deploy_password: 'correct horse battery staple',
    npm_scope: 'alpine',
    npm_registry: 'npm.example.com',
    npm_token: 'npm_0123456789abcdefghijklmnopqrstuvwxyz',
  });
}

export interface JobClaims {
  namespace_path?: string;
  project_path?: string;
  ref?: string;
  ref_type?: 'tag' | 'branch';
  ref_protected?: 'true' | 'false';
  user_email?: string;
}

/** A job token shaped like GitLab's id_token (claims as GitLab sends them: strings), signed with `privateKey`. */
export async function signJobJwt(privateKey: KeyObject, c: JobClaims = {}): Promise<string> {
  const namespace = c.namespace_path ?? 'alpine';
  const project = c.project_path ?? `${namespace}/tconfd-app`;
  const ref = c.ref ?? 'v1.2.0';
  const refType = c.ref_type ?? 'tag';
  const now = Math.floor(Date.now() / 1000);
  return signJwt(privateKey, {
    namespace_id: '72',
    namespace_path: namespace,
    project_id: '20',
    project_path: project,
    user_id: '5',
    user_login: 'jdoe',
    user_email: c.user_email ?? 'jdoe@example.com',
    pipeline_id: '1234',
    pipeline_source: 'push',
    job_id: '5678',
    ref,
    ref_type: refType,
    ref_path: `refs/${refType === 'tag' ? 'tags' : 'heads'}/${ref}`,
    ref_protected: c.ref_protected ?? 'true',
    jti: randomUUID(),
    iss: ISSUER,
    iat: now,
    nbf: now - 5,
    exp: now + 3600,
    sub: `project_path:${project}:ref_type:${refType}:ref:${ref}`,
    aud: AUDIENCE,
  }, { kid: 'local-test-key' });
}
