/**
 * What Vault needs for examples/htpasswd, through its HTTP API (the `vault` commands of README.md): a KV v2 secret
 * with the users' passwords, a policy reading it, and a token with that policy for tconfd.
 * Used by setup.ts (run.sh) and test/examples/htpasswd.test.ts.
 */
import { call, createToken, enableKv2, putKv2, writePolicy } from '../../test/vault/setup.js';

export const POLICY = `path "secret/data/web/basic-auth" { capabilities = ["read"] }
`;

export interface Target {
  addr: string;
  rootToken: string;
}

export async function configureHtpasswd(target: Target, users: Record<string, string>): Promise<{ token: string }> {
  await enableKv2(target, 'secret');
  await putKv2(target, 'secret', 'web/basic-auth', users);
  await writePolicy(target, 'web-basic-auth', POLICY);
  const { token } = await createToken(target, { policies: ['web-basic-auth'], ttl: '1h', renewable: true });
  return { token };
}

/** Change one user's password (a new KV v2 version; the other users stay). */
export async function setPassword(target: Target, user: string, password: string): Promise<void> {
  const current = await call(target, 'GET', 'secret/data/web/basic-auth');
  await putKv2(target, 'secret', 'web/basic-auth', { ...(current.body.data.data as Record<string, string>), [user]: password });
}
