/**
 * run.sh's Vault set-up: configures the Vault at VAULT_ADDR (VAULT_TOKEN: an admin token) like README.md's `vault`
 * commands (with a local key pair instead of GitLab's JWKS) and writes two job tokens, mode 0600, never printed:
 *   OUT/jwt-tag     a job for the protected tag v1.2.0 of alpine/tconfd-app: may log in
 *   OUT/jwt-branch  a job for the unprotected branch feature/x of the same project: refused (ref_protected, ref_type)
 *   node scripts/run-ts.mjs examples/gitlab-ci-jwt/setup.ts OUT
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateRsaKeyPair } from '../../test/vault/setup.js';
import { configureGitlabJwt, ROLE, signJobJwt } from './vault-config.js';

const out = process.argv[2];
const addr = process.env['VAULT_ADDR'];
const rootToken = process.env['VAULT_TOKEN'];
if (!out || !addr || !rootToken) {
  console.error('usage: VAULT_ADDR=... VAULT_TOKEN=... node scripts/run-ts.mjs examples/gitlab-ci-jwt/setup.ts OUT');
  process.exit(2);
}
const { privateKey, publicKeyPem } = generateRsaKeyPair();
await configureGitlabJwt({ addr, rootToken }, publicKeyPem);
writeFileSync(join(out, 'jwt-tag'), await signJobJwt(privateKey), { mode: 0o600 });
writeFileSync(
  join(out, 'jwt-branch'),
  await signJobJwt(privateKey, { ref: 'feature/x', ref_type: 'branch', ref_protected: 'false' }),
  { mode: 0o600 },
);
console.log(`Vault: auth/jwt (issuer https://gitlab.com, a local key), role "${ROLE}" (alpine group, protected tags, token_explicit_max_ttl 60), policy "ci-deploy", secret kv/data/ci/deploy`);
