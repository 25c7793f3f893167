import { X509Certificate } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSecretPath, type VaultSecretSpec } from '../../src/config/secret-path.js';
import { VaultSource } from '../../src/sources/vault.js';
import { SecretFetchError } from '../../src/sources/types.js';
import { VaultClient, VaultError, VaultLoginError, VaultSession, isPermissionDenied, type AuthGrant, type AuthMethod } from '../../src/vault/index.js';
import { captureLogger, FakeClock, fixtureJson, startServer, type Handler, type TestServer } from './support.js';

let server: TestServer;
let client: VaultClient;
let clock: FakeClock;

beforeAll(async () => {
  server = await startServer(() => ({ fixture: 'kv2-read.json' }));
  clock = new FakeClock();
  client = new VaultClient({ addr: server.url, clock, logger: captureLogger().logger, retry: { maxAttempts: 2 } });
});
afterAll(async () => {
  await client.close();
  await server.close();
});
afterEach(() => {
  server.requests.length = 0;
});

/** An auth method that counts logins: role → `s.tok-ROLE-N`. */
class CountingAuth implements AuthMethod {
  readonly kind = 'jwt' as const;
  logins = 0;
  async login(role: string): Promise<AuthGrant> {
    this.logins++;
    return { token: `s.tok-${role}-${this.logins}`, renewable: true, durationSec: 3600, obtainedAt: clock.now(), byLogin: true };
  }
}

function setup(handler: Handler): { source: VaultSource; tokens: CountingAuth } {
  server.handler = handler;
  const tokens = new CountingAuth();
  const session = new VaultSession({ client, auth: tokens, clock, logger: captureLogger().logger });
  return { source: new VaultSource({ session, clock }), tokens };
}

function spec(raw: string): VaultSecretSpec {
  return parseSecretPath(raw) as VaultSecretSpec;
}

describe('VaultSource', () => {
  it('KV v2: value is the response data ({data, metadata}, as rconfd), unleased', async () => {
    const { source } = setup(() => ({ fixture: 'kv2-read.json' }));
    const f = await source.fetch(spec('vault:app:secret/data/foo'));
    expect(f.value).toEqual(fixtureJson<{ data: unknown }>('kv2-read.json').data);
    expect(f.value).toMatchObject({ data: { a: '1', b: 'two' }, metadata: { version: 3 } });
    expect(f.lifetime).toEqual({ kind: 'unleased' });
    expect(f.fetchedAt).toBe(clock.now());
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: 'secret/data/foo' });
    expect(server.requests[0]!.headers['x-vault-token']).toBe('s.tok-app-1');
  });

  it('database credentials: lease lifetime from lease_id, renewable, lease_duration', async () => {
    const { source } = setup(() => ({ fixture: 'db-creds.json' }));
    const f = await source.fetch(spec('vault:app:database/creds/app'));
    expect(f.value).toEqual({ password: 'gZvH1hwbT4FEP-vSy7gm', username: 'v-token-app-ZqwQ7JMnC3VOwCNtiRG0-1795336853' });
    expect(f.lifetime).toEqual({
      kind: 'lease',
      leaseId: 'database/creds/app/1T92oT8ulJA1powr7AMEc3Ai',
      renewable: true,
      durationSec: 60,
    });
  });

  it('PKI: certificate lifetime read from the certificate (not the expiration field)', async () => {
    const body = fixtureJson<{ data: Record<string, unknown> }>('pki-issue.json');
    body.data['expiration'] = 42; // wrong on purpose: the certificate is the truth
    const { source } = setup(() => ({ body }));
    const f = await source.fetch(spec('vault:app,POST,common_name=svc.peer.test,ttl=1h:pki/issue/peer'));
    const cert = new X509Certificate(body.data['certificate'] as string);
    expect(f.lifetime).toEqual({
      kind: 'certificate',
      notBefore: Date.parse(cert.validFrom),
      notAfter: Date.parse(cert.validTo),
      requestedTtlSec: 3600,
    });
    // Recorded on Vault 1.8: NotBefore is back-dated by 30 s, so a 1 h certificate is valid 3630 s.
    expect(f.lifetime).toEqual({ kind: 'certificate', notBefore: Date.UTC(2026, 10, 22, 8, 40, 48), notAfter: Date.UTC(2026, 10, 22, 9, 41, 18), requestedTtlSec: 3600 });
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      path: 'pki/issue/peer',
      json: { common_name: 'svc.peer.test', ttl: '1h' },
    });
  });

  it('PKI: the ttl asked for is known as Vault reads it (seconds or a duration), and absent when none was asked for', async () => {
    const body = fixtureJson<{ data: Record<string, unknown> }>('pki-issue.json');
    const { source } = setup(() => ({ body }));
    const ttlOf = async (raw: string): Promise<unknown> => ((await source.fetch(spec(raw))).lifetime as { requestedTtlSec?: number }).requestedTtlSec;
    expect(await ttlOf('vault:app,POST,common_name=a.test,ttl=90:pki/issue/peer')).toBe(90);
    expect(await ttlOf('vault:app,POST,common_name=a.test,ttl=72h:pki/issue/peer')).toBe(72 * 3600);
    expect(await ttlOf('vault:app,POST,common_name=a.test:pki/issue/peer')).toBeUndefined();
    expect(await ttlOf('vault:app,POST,common_name=a.test,ttl=soon:pki/issue/peer')).toBeUndefined();
  });

  it('a leased certificate (generate_lease) is a lease', async () => {
    const body = { ...fixtureJson('pki-issue.json'), lease_id: 'pki/issue/peer/abc', lease_duration: 3600, renewable: false };
    const { source } = setup(() => ({ body }));
    const f = await source.fetch(spec('vault:app,POST:pki/issue/peer'));
    expect(f.lifetime).toMatchObject({ kind: 'lease', leaseId: 'pki/issue/peer/abc', renewable: false });
  });

  it('GET key=value args go in the query string, not a body', async () => {
    const { source } = setup(() => ({ fixture: 'kv2-read.json' }));
    await source.fetch(spec('vault:app,version=1:secret/data/foo'));
    expect(server.requests[0]!.query.get('version')).toBe('1');
    expect(server.requests[0]!.body).toBe('');
  });

  it('LIST and transit (POST) answers are unleased', async () => {
    const { source } = setup((r) => ({ fixture: r.method === 'GET' ? 'kv2-list.json' : 'transit-hmac.json' }));
    const list = await source.fetch(spec('vault:app,LIST:secret/metadata/'));
    expect(list.value).toEqual({ keys: ['foo'] });
    expect(server.requests[0]!.query.get('list')).toBe('true');
    const hmac = await source.fetch(spec('vault:app,post,input=aGVsbG8=:transit/hmac/peer-key'));
    expect(hmac.lifetime).toEqual({ kind: 'unleased' });
    expect(server.requests[1]!.json).toEqual({ input: 'aGVsbG8=' });
  });

  it('a 403 on a token that lookup-self also refuses: one more login, and the read is retried once with the new token', async () => {
    const { source, tokens } = setup((r) =>
      r.headers['x-vault-token'] === 's.tok-app-1'
        ? { status: 403, fixture: 'error-403-revoked-token.json' }
        : { fixture: 'db-creds.json' },
    );
    const f = await source.fetch(spec('vault:app:database/creds/app'));
    expect(f.lifetime.kind).toBe('lease');
    expect(tokens.logins).toBe(2);
    expect(server.requests.map((r) => `${r.path} ${String(r.headers['x-vault-token'])}`)).toEqual([
      'database/creds/app s.tok-app-1',
      'auth/token/lookup-self s.tok-app-1',
      'database/creds/app s.tok-app-2',
    ]);
  });

  it('a 403 from the policy (lookup-self answers 200) is an error naming the path and the role, without a login', async () => {
    const { source, tokens } = setup((r) =>
      r.path === 'auth/token/lookup-self' ? { fixture: 'token-lookup-self.json' } : { status: 403, fixture: 'error-403-policy.json' },
    );
    const err = await source.fetch(spec('vault:app:database/creds/app')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretFetchError);
    expect((err as Error).message).toBe(
      'secret "vault:app:database/creds/app": permission denied reading database/creds/app as role "app" ' +
        '(Vault answered 403 to GET database/creds/app: permission denied)',
    );
    expect((err as Error).cause).toBeInstanceOf(VaultError);
    expect(isPermissionDenied(err)).toBe(true);
    expect(tokens.logins).toBe(1);
    expect(server.requests.map((r) => r.path)).toEqual(['database/creds/app', 'auth/token/lookup-self']);
  });

  it('a second 403 after a new login is an error, without retrying further', async () => {
    const { source, tokens } = setup(() => ({ status: 403, fixture: 'error-403-bad-token.json' }));
    const err = await source.fetch(spec('vault:app:database/creds/app')).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/^secret "vault:app:database\/creds\/app": permission denied reading database\/creds\/app as role "app"/);
    expect(tokens.logins).toBe(2);
    expect(server.requests.map((r) => r.path)).toEqual(['database/creds/app', 'auth/token/lookup-self', 'database/creds/app']);
  });

  it('KV v2 soft-deleted: an error naming the path and "deleted"', async () => {
    const { source } = setup(() => ({ status: 404, fixture: 'error-404-kv2-deleted-version.json' }));
    const err = await source.fetch(spec('vault:app:secret/data/foo')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretFetchError);
    expect((err as SecretFetchError).secretPath).toBe('vault:app:secret/data/foo');
    expect((err as Error).message).toBe(
      'secret "vault:app:secret/data/foo": secret/data/foo is deleted in Vault (KV v2 version 3); undelete it or write a new version',
    );
  });

  it('KV v2 missing path, unknown role: SecretFetchError naming the secret, with the VaultError as cause', async () => {
    const { source } = setup((r) =>
      r.path === 'secret/data/nope'
        ? { status: 404, fixture: 'error-404-kv2-missing.json' }
        : { status: 400, fixture: 'error-400-db-unknown-role.json' },
    );
    const e1 = (await source.fetch(spec('vault:app:secret/data/nope')).catch((e: unknown) => e)) as SecretFetchError;
    expect(e1.message).toBe('secret "vault:app:secret/data/nope": Vault answered 404 to GET secret/data/nope: 404 Not Found');
    expect(e1.cause).toBeInstanceOf(VaultError);
    const e2 = (await source.fetch(spec('vault:app:database/creds/nope')).catch((e: unknown) => e)) as SecretFetchError;
    expect(e2.message).toBe('secret "vault:app:database/creds/nope": Vault answered 400 to GET database/creds/nope: unknown role');
  });

  it('a login failure names the secret and the role', async () => {
    server.handler = () => ({ fixture: 'kv2-read.json' });
    const auth: AuthMethod = {
      kind: 'kubernetes',
      login: () => Promise.reject(new VaultLoginError('kubernetes', 'app', 'cannot read the service-account token file /x: it does not exist')),
    };
    const source = new VaultSource({ session: new VaultSession({ client, auth, clock, logger: captureLogger().logger }), clock });
    await expect(source.fetch(spec('vault:app:secret/data/foo'))).rejects.toThrow(
      'secret "vault:app:secret/data/foo": cannot log in to Vault as role "app": cannot read the service-account token file /x: it does not exist',
    );
  });

  it('errors never carry response data or the token', async () => {
    const { source } = setup(() => ({ status: 500, body: { errors: ['boom'], data: { password: 'resp-secret-xyz' } } }));
    const err = await source.fetch(spec('vault:app,POST,password=hunter2-body-secret:database/static-creds/x')).catch((e: unknown) => e);
    const all = [String(err), JSON.stringify(err), (err as Error).message, String((err as Error).cause)].join('\n');
    expect(all).not.toContain('resp-secret-xyz');
    expect(all).not.toContain('s.tok-app-1');
    expect(all).toContain('after 2 attempts');
    // The body value is part of the secret path as configured (which names the secret), but nothing else carries it.
    const cause = (err as Error).cause as VaultError;
    expect([String(cause), JSON.stringify(cause), cause.stack].join('\n')).not.toContain('hunter2-body-secret');
    expect(all.split('vault:app,POST,password=hunter2-body-secret:database/static-creds/x').join('')).not.toContain(
      'hunter2-body-secret',
    );
  });
});
