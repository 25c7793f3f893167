/**
 * What Vault needs for examples/pki-tls, through its HTTP API (the same calls as the `vault` commands in README.md):
 * a PKI engine with a root CA, a role `web` that issues certificates for localhost, and a policy allowing
 * pki/issue/web. Used by setup.ts (run.sh) and by test/examples/pki-tls.test.ts.
 */
import { createPkiRole, createToken, enablePki, writePolicy } from '../../test/vault/setup.js';
import { vaultApi } from '../../test/vault/target.js';

export const POLICY = `path "pki/issue/web" { capabilities = ["create", "update"] }
`;

export interface PkiTarget {
  addr: string;
  rootToken: string;
}

/**
 * Configure PKI; returns the CA certificate (PEM) and a token with only the `web-tls` policy, for tconfd. A pki/ mount
 * that already has a CA (a real Vault) keeps it: only the role and the policy are written.
 */
export async function configurePki(target: PkiTarget): Promise<{ caPem: string; token: string }> {
  const existing = await vaultApi(target)('GET', 'pki/cert/ca');
  const existingCa = existing.status === 200 ? String(existing.body?.data?.certificate ?? '') : '';
  const caPem = existingCa.includes('BEGIN CERTIFICATE')
    ? existingCa
    : (await enablePki(target, { commonName: 'tconfd example CA', ttl: '87600h' })).certificate;
  // Certificates for localhost, at most 72h; the TTL itself is chosen per request (ttl= in the secret path).
  await createPkiRole(target, { name: 'web', allowedDomains: ['localhost'], allowBareDomains: true, allowLocalhost: true, maxTtl: '72h' });
  await writePolicy(target, 'web-tls', POLICY);
  const { token } = await createToken(target, { policies: ['web-tls'], ttl: '1h', renewable: true });
  return { caPem, token };
}
