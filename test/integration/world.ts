/**
 * The Vault side of the integration tests: a target (the stand-in, or a real `vault server -dev` when a `vault`
 * binary is on PATH), configured only through the HTTP API (test/vault/setup.ts) so that both behave the same, plus
 * config-directory helpers for tconfd. Database roles use the stand-in's memory:// connection, or a throwaway
 * PostgreSQL cluster against a real Vault.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'vitest';
import { LEVEL, type Tconfd } from '../support/tconfd.js';
import { PgUnavailableError, startPgCluster, type PgCluster } from '../support/pg-cluster.js';
import { sleep } from '../support/wait.js';
import {
  call,
  createDbRole,
  createJwtRole,
  createToken,
  enableDatabase,
  enableJwtAuth,
  enableKv2,
  generateRsaKeyPair,
  putKv2,
  signJwt,
  writePolicy,
} from '../vault/setup.js';
import { findOnPath, startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from '../vault/target.js';
import type { VaultStandin } from '../vault/standin/index.js';

const forced = process.env['TCONFD_VAULT_TARGET'];
export const REAL_VAULT_AVAILABLE = forced !== 'standin' && findOnPath('vault') !== undefined;
if (forced === 'opaque' && !REAL_VAULT_AVAILABLE) {
  console.warn('[integration] TCONFD_VAULT_TARGET=opaque: the stand-in seen as a real Vault (no inside view, PostgreSQL roles)');
} else if (!REAL_VAULT_AVAILABLE) {
  // Visible in every integration test file's output: the same tests would also run against a real Vault.
  console.warn(
    forced === 'standin'
      ? '[integration] TCONFD_VAULT_TARGET=standin: running against the Vault stand-in only (real-Vault run skipped)'
      : '[integration] no `vault` binary on PATH: running against the Vault stand-in only (real-Vault run skipped)',
  );
}

export interface World {
  readonly target: VaultTarget;
  readonly addr: string;
  /** Present only for the stand-in. */
  readonly standin: VaultStandin | undefined;
  readonly api: VaultApi;
  stop(): Promise<void>;
}

let pg: PgCluster | undefined;

export async function startWorld(): Promise<World> {
  const target = await startVaultTarget();
  return {
    target,
    addr: target.addr,
    standin: target.standin,
    api: vaultApi(target),
    async stop() {
      await target.stop();
      await pg?.stop();
      pg = undefined;
    },
  };
}

/** A random marker, recognisable in files and greppable in logs. */
export function marker(prefix: string): string {
  return `${prefix}-${randomBytes(9).toString('base64url')}`;
}

// ---------------------------------------------------------------- engines

export async function kv(world: World, path: string, data: Record<string, unknown>): Promise<number> {
  await enableKv2(world.target);
  return (await putKv2(world.target, 'secret', path, data)).version;
}

/**
 * Mount the database engine (memory:// in the stand-in, PostgreSQL against a real Vault) and create roles.
 * Fails, saying why, when a real Vault is the target and PostgreSQL cannot be started.
 */
export async function database(world: World, roles: Array<{ name: string; defaultTtl: number | string; maxTtl: number | string }>): Promise<void> {
  if (world.target.kind === 'real') {
    try {
      pg ??= await startPgCluster();
    } catch (err) {
      if (!(err instanceof PgUnavailableError)) throw err;
      const msg = `the database engine of a real Vault needs PostgreSQL, which cannot be started here (${err.message}); set TCONFD_VAULT_TARGET=standin to use the stand-in`;
      console.warn(`[integration] ${msg}`);
      throw new Error(msg);
    }
    await enableDatabase(world.target, { pgConnectionUrl: pg.superuserUrl });
  } else {
    await enableDatabase(world.target);
  }
  for (const r of roles) await createDbRole(world.target, r);
}


/**
 * An ACL policy from path -> capabilities, plus update on sys/leases/revoke: as in Vault, revoking a lease (even one's
 * own) takes a policy that allows it, and README's policy for tconfd grants it.
 */
/**
 * The set-up of tests that read one database lease with a token: role "app" (`defaultTtl`, max 1 h), a policy "app"
 * reading its creds, and a 1 h token with that policy. Returns the token.
 */
export async function appDatabaseToken(world: World, defaultTtl: number): Promise<string> {
  await database(world, [{ name: 'app', defaultTtl, maxTtl: 3600 }]);
  await policy(world, 'app', { 'database/creds/app': ['read'] });
  return (await createToken(world.target, { policies: ['app'], ttl: '1h' })).token;
}

export async function policy(world: World, name: string, paths: Record<string, string[]>): Promise<void> {
  paths = { 'sys/leases/revoke': ['update'], ...paths };
  const hcl = Object.entries(paths)
    .map(([p, caps]) => `path "${p}" {\n  capabilities = ${JSON.stringify(caps)}\n}\n`)
    .join('\n');
  await writePolicy(world.target, name, hcl);
}

export interface JwtIssuer {
  readonly privateKey: KeyObject;
  readonly publicKeyPem: string;
  /** A JWT for the role's bound audience, valid for an hour. */
  sign(sub?: string): Promise<string>;
}

/** Enable JWT auth at auth/jwt with a fresh key pair; roles bind the audience "tconfd". */
export async function jwtAuth(world: World): Promise<JwtIssuer> {
  const { privateKey, publicKeyPem } = generateRsaKeyPair();
  await enableJwtAuth(world.target, { publicKeyPem });
  return {
    privateKey,
    publicKeyPem,
    sign: (sub = 'ci-job-42') => {
      const now = Math.floor(Date.now() / 1000);
      return signJwt(privateKey, { sub, aud: ['tconfd'], iat: now, nbf: now - 5, exp: now + 3600, jti: marker('jti') });
    },
  };
}

export async function jwtRole(
  world: World,
  name: string,
  policies: string[],
  ttl: number | string = '1h',
  maxTtl: number | string = '2h',
): Promise<void> {
  await createJwtRole(world.target, { name, policies, ttl, maxTtl, boundAudiences: ['tconfd'], userClaim: 'sub' });
}

// ---------------------------------------------------------------- leases, as a client with the root token sees them

/** Ids of the live leases under a prefix (e.g. database/creds/app), through LIST sys/leases/lookup. */
export async function liveLeases(world: World, prefix: string): Promise<string[]> {
  const p = prefix.replace(/\/+$/, '');
  const res = await world.api('LIST', `sys/leases/lookup/${p}/`);
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`LIST sys/leases/lookup/${p}/ answered ${res.status}`);
  return ((res.body?.data?.keys ?? []) as string[]).map((k) => `${p}/${k}`);
}

/** Whether a token is still valid (lookup-self with it answers 200). */
export async function tokenAlive(world: World, token: string): Promise<boolean> {
  const res = await world.api('GET', 'auth/token/lookup-self', undefined, token);
  return res.status === 200;
}

/** sys/leases/lookup with the root token: issue and expiry times (ms), or undefined once the lease is gone. */
export async function leaseLookup(world: World, leaseId: string): Promise<{ issuedAt: number; expiresAt: number } | undefined> {
  const res = await world.api('PUT', 'sys/leases/lookup', { lease_id: leaseId });
  if (res.status !== 200) return undefined;
  return { issuedAt: Date.parse(res.body.data.issue_time), expiresAt: Date.parse(res.body.data.expire_time) };
}

export async function leaseAlive(world: World, leaseId: string): Promise<boolean> {
  const res = await world.api('PUT', 'sys/leases/lookup', { lease_id: leaseId });
  return res.status === 200;
}

/**
 * How long to wait for Vault to revoke the leases of a revoked token. Vault revokes the token at once but hands its
 * leases to the expiration manager, which revokes them in the background moments later (test/vault/README.md): until
 * then sys/leases/lookup still finds them. A bound on a hang, not a claim about speed.
 */
const LEASES_GONE_TIMEOUT_MS = 20_000;

/**
 * The live leases under `prefix` that are not in `before`, once they are gone or after a deadline: what a test
 * expects to be [] after tconfd's exit or a token's revocation.
 */
export async function leasesLeft(world: World, prefix: string, before: ReadonlySet<string> = new Set()): Promise<string[]> {
  let left: string[] = [];
  const deadline = Date.now() + LEASES_GONE_TIMEOUT_MS;
  for (;;) {
    left = (await liveLeases(world, prefix)).filter((id) => !before.has(id));
    if (left.length === 0 || Date.now() > deadline) return left;
    await sleep(50);
  }
}

/** Whether the lease is gone (sys/leases/lookup no longer finds it) within the deadline of leasesLeft. */
export async function leaseGone(world: World, leaseId: string): Promise<boolean> {
  const deadline = Date.now() + LEASES_GONE_TIMEOUT_MS;
  for (;;) {
    if (!(await leaseAlive(world, leaseId))) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

// ---------------------------------------------------------------- tconfd projects

/**
 * A template that writes its inputs as JSON: out/<file> = {secrets: std.extVar('secrets'), leases: std.extVar('leases')}
 * (plus extra top-level files from `more`, a Jsonnet object body using `s` (secrets) and `l` (leases)).
 */
export function jsonTemplate(file = 'out.json', more = ''): string {
  return `local s = std.extVar('secrets');
local l = std.extVar('leases');
{
  '${file}': { secrets: s, leases: l },
  ${more}
}
`;
}

/** Files of a project: conf/app.json naming one template (conf/app.jsonnet) with these secrets, output in out/. */
export function projectFiles(
  secrets: Record<string, string>,
  template = jsonTemplate(),
): Record<string, unknown> {
  return {
    'conf/app.json': { 'app.jsonnet': { dir: '../out', secrets } },
    'conf/app.jsonnet': template,
  };
}

export function paths(root: string): { conf: string; out: string; file: (name?: string) => string } {
  return { conf: join(root, 'conf'), out: join(root, 'out'), file: (name = 'out.json') => join(root, 'out', name) };
}

/** Fail clearly instead of skipping silently: every Vault call in setup goes through call() and throws. */
export { call };

/**
 * Accessors of the live tokens created by a login at `loginPath` (e.g. auth/jwt/login), through LIST
 * auth/token/accessors and lookup-accessor with the root token: the tokens tconfd logged in with, even those it never
 * rendered.
 */
export async function liveLoginTokens(world: World, loginPath: string): Promise<string[]> {
  const list = await world.api('LIST', 'auth/token/accessors');
  if (list.status !== 200) throw new Error(`LIST auth/token/accessors answered ${list.status}`);
  const out: string[] = [];
  for (const accessor of (list.body?.data?.keys ?? []) as string[]) {
    const res = await world.api('POST', 'auth/token/lookup-accessor', { accessor });
    if (res.status === 200 && res.body?.data?.path === loginPath) out.push(accessor);
  }
  return out;
}

/**
 * The exit log of a run that revoked everything it obtained says so, and only that: one `leases and tokens revoked`
 * with these counts, no `NOT revoked`, no failed release.
 */
export function expectAllRevoked(t: Tconfd, counts: { leases: number; tokens: number }): void {
  const exitLog = t.logs('leases and tokens revoked');
  expect(exitLog, t.tail()).toHaveLength(1);
  expect(exitLog[0]).toMatchObject(counts);
  expect(t.logs('NOT revoked')).toEqual([]);
  expect(t.logs(/release of .* failed/, LEVEL.warn)).toEqual([]);
}
