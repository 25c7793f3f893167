/**
 * Leases and tokens as a client sees them: real expiry, renewals, revocation running the engine's statements,
 * and a token taking its leases and child tokens with it when it expires or is revoked.
 * (Database users live in memory here; test/vault/database-pg.test.ts does the same against PostgreSQL.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireStandin, startVaultTarget, vaultApi, type VaultApi, type VaultTarget } from './target.js';
import { waitFor } from '../support/wait.js';
import { call, createDbRole, createToken, enableDatabase, writePolicy } from './setup.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/;

let target: VaultTarget;
let api: VaultApi;

beforeAll(async () => {
  // Always the stand-in: these tests use in-memory database users (memory://) and its lease inspection.
  // (test/vault/database-pg.test.ts runs the database engine against a real Vault too.)
  target = await startVaultTarget({ kind: 'standin' });
  api = vaultApi(target);
  await enableDatabase(target);
  await createDbRole(target, { name: 'app', defaultTtl: 30, maxTtl: 100 });
  await createDbRole(target, { name: 'blink', defaultTtl: 1, maxTtl: 5 });
  await createDbRole(target, {
    name: 'custom',
    defaultTtl: 30,
    maxTtl: 60,
    revocationStatements: ['REVOKE ALL ON DATABASE app FROM "{{name}}"; DROP ROLE "{{name}}";'],
    renewStatements: [`ALTER ROLE "{{name}}" VALID UNTIL '{{expiration}}'`],
  });
  await writePolicy(target, 'db', 'path "database/creds/*" {\n  capabilities = ["read"]\n}\npath "auth/token/create" {\n  capabilities = ["update"]\n}\n');
});

afterAll(async () => {
  await target?.stop();
});

describe('leases', () => {
  it('expire for real: the revocation runs and renew then answers 400 lease not found', async (ctx) => {
    const standin = requireStandin(target, ctx, 'lease expiry inspection');
    const creds = await call(target, 'GET', 'database/creds/blink');
    expect(creds.body.lease_duration).toBe(1);
    const username: string = creds.body.data.username;
    await sleep(1400);
    const lease = standin.leases().find((l) => l.id === creds.body.lease_id);
    expect(lease?.revoked).toBe(true);
    const user = standin.databaseUsers().find((u) => u.username === username);
    expect(user?.dropped).toBe(true);
    expect(user?.statements.at(-1)).toBe(`DROP ROLE IF EXISTS "${username}";`);
    const renew = await api('PUT', 'sys/leases/renew', { lease_id: creds.body.lease_id });
    expect(renew).toEqual({ status: 400, body: { errors: ['lease not found'] } });
    const lookup = await api('PUT', 'sys/leases/lookup', { lease_id: creds.body.lease_id });
    expect(lookup).toEqual({ status: 400, body: { errors: ['invalid lease'] } });
  });

  it('renew with an increment sets the TTL to it, without one resets it to default_ttl, and moves VALID UNTIL', async (ctx) => {
    const standin = requireStandin(target, ctx, 'database user inspection');
    const creds = await call(target, 'GET', 'database/creds/app');
    const id: string = creds.body.lease_id;
    const before = standin.databaseUsers().find((u) => u.username === creds.body.data.username);
    // VALID UNTIL is the lease's expiry (30 s) + 5 s, give or take the time the request took on a loaded machine.
    expect(before?.validUntil?.getTime()).toBeGreaterThan(Date.now() + 30_000);
    expect(before?.validUntil?.getTime()).toBeLessThan(Date.now() + 36_000);

    const r1 = await call(target, 'PUT', 'sys/leases/renew', { lease_id: id, increment: 50 });
    expect(r1.body).toMatchObject({ lease_id: id, renewable: true, lease_duration: 50, data: null, warnings: null });
    const after = standin.databaseUsers().find((u) => u.username === creds.body.data.username);
    expect(after?.validUntil?.getTime()).toBeGreaterThan(Date.now() + 50_000);
    expect(after?.statements.at(-1)).toMatch(
      new RegExp(`^ALTER ROLE "${creds.body.data.username}" VALID UNTIL '\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\+0000'$`),
    );

    const r2 = await call(target, 'PUT', 'sys/leases/renew', { lease_id: id });
    expect(r2.body.lease_duration).toBe(30);
    const look = await call(target, 'PUT', 'sys/leases/lookup', { lease_id: id });
    expect(look.body.data.last_renewal).toMatch(TIME);
    expect(look.body.data.ttl).toBeGreaterThanOrEqual(25);
    expect(look.body.data.ttl).toBeLessThanOrEqual(30);
    // The URL form answers the same.
    const r3 = await call(target, 'PUT', `sys/leases/renew/${id}`, { increment: '1m' });
    expect(r3.body.lease_duration).toBe(60);
  });

  it('revoke runs the role revocation statements; revoking again or an unknown lease is a 204', async (ctx) => {
    const standin = requireStandin(target, ctx, 'database user inspection');
    const creds = await call(target, 'GET', 'database/creds/custom');
    await call(target, 'PUT', 'sys/leases/renew', { lease_id: creds.body.lease_id, increment: 10 });
    const r = await api('PUT', 'sys/leases/revoke', { lease_id: creds.body.lease_id });
    expect(r).toEqual({ status: 204, body: null });
    const user = standin.databaseUsers().find((u) => u.username === creds.body.data.username);
    const name: string = creds.body.data.username;
    expect(user?.dropped).toBe(true);
    expect(user?.statements.slice(-3)).toEqual([
      expect.stringMatching(new RegExp(`^ALTER ROLE "${name}" VALID UNTIL '.+'$`)),
      `REVOKE ALL ON DATABASE app FROM "${name}"`,
      `DROP ROLE "${name}"`,
    ]);
    expect((await api('PUT', 'sys/leases/revoke', { lease_id: creds.body.lease_id })).status).toBe(204);
    expect((await api('PUT', 'sys/leases/revoke', { lease_id: 'database/creds/app/nope' })).status).toBe(204);
  });

  it('the default policy renews a lease but does not revoke one, even its own: that takes sys/leases/revoke', async () => {
    const a = await createToken(target, { policies: ['db'], ttl: '1h' });
    const creds = await call(target, 'GET', 'database/creds/app', undefined, a.token);
    const id: string = creds.body.lease_id;
    expect((await api('PUT', 'sys/leases/renew', { lease_id: id, increment: 40 }, a.token)).body.lease_duration).toBe(40);
    expect(await api('PUT', 'sys/leases/revoke', { lease_id: id }, a.token)).toEqual({
      status: 403,
      body: { errors: ['1 error occurred:\n\t* permission denied\n\n'] },
    });
    await writePolicy(target, 'revoker', 'path "sys/leases/revoke" {\n  capabilities = ["update"]\n}\n');
    const b = await createToken(target, { policies: ['db', 'revoker'], ttl: '1h' });
    expect((await api('PUT', 'sys/leases/revoke', { lease_id: id }, b.token)).status).toBe(204);
    expect((await api('PUT', 'sys/leases/renew', { lease_id: id }, a.token)).body).toEqual({ errors: ['lease not found'] });
  });
});

describe('tokens', () => {
  it('an expiring token revokes its leases and its child tokens', async (ctx) => {
    const standin = requireStandin(target, ctx, 'lease and token inspection');
    const parent = await createToken(target, { policies: ['db'], ttl: 2 });
    expect(parent.leaseDuration).toBe(2);
    const child = await createToken(target, { policies: ['db'], ttl: 60, parentToken: parent.token });
    const c1 = await call(target, 'GET', 'database/creds/app', undefined, parent.token);
    const c2 = await call(target, 'GET', 'database/creds/app', undefined, child.token);
    const mine = (acc: string) => standin.leases().filter((l) => l.creatingTokenAccessor === acc);
    expect(mine(parent.accessor).map((l) => l.id)).toEqual([c1.body.lease_id]);
    expect(mine(child.accessor).map((l) => l.id)).toEqual([c2.body.lease_id]);

    // The token expires at 2 s; Vault then revokes its leases in the background, moments later.
    await waitFor('the leases of the expired tokens to be revoked', () =>
      [c1.body.lease_id, c2.body.lease_id].every((id) => standin.leases().find((l) => l.id === id)?.revoked),
    );
    for (const t of [parent, child]) {
      expect(await api('GET', 'auth/token/lookup-self', undefined, t.token)).toEqual({
        status: 403,
        body: { errors: ['permission denied'] },
      });
    }
    const tokens = standin.tokens();
    expect(tokens.find((t) => t.accessor === parent.accessor)?.revoked).toBe(true);
    expect(tokens.find((t) => t.accessor === child.accessor)?.revoked).toBe(true);
    for (const id of [c1.body.lease_id, c2.body.lease_id]) {
      expect(standin.leases().find((l) => l.id === id)?.revoked).toBe(true);
      expect((await api('PUT', 'sys/leases/renew', { lease_id: id })).body).toEqual({ errors: ['lease not found'] });
    }
    const users = standin.databaseUsers().filter((u) => [c1.body.data.username, c2.body.data.username].includes(u.username));
    expect(users.map((u) => u.dropped)).toEqual([true, true]);
  });

  it('revoke-self takes the leases along; the token is then refused', async (ctx) => {
    const standin = requireStandin(target, ctx, 'lease inspection');
    const t = await createToken(target, { policies: ['db'], ttl: '1h' });
    const creds = await call(target, 'GET', 'database/creds/app', undefined, t.token);
    expect(await api('POST', 'auth/token/revoke-self', undefined, t.token)).toEqual({ status: 204, body: null });
    // The token is refused at once; its lease is revoked in the background, moments later (as Vault's
    // RevokeByToken: until then sys/leases/lookup still finds it, with no time left).
    expect((await api('GET', 'database/creds/app', undefined, t.token)).status).toBe(403);
    await waitFor('the lease to be revoked', () => standin.leases().find((l) => l.id === creds.body.lease_id)?.revoked);
    expect(await api('PUT', 'sys/leases/lookup', { lease_id: creds.body.lease_id })).toEqual({
      status: 400,
      body: { errors: ['invalid lease'] },
    });
  });
});
