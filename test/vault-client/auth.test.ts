import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AppRoleAuth,
  JwtAuth,
  TokenAuth,
  VaultClient,
  VaultLoginError,
  createAuthMethod,
  isPermissionDenied,
} from '../../src/vault/index.js';
import { captureLogger, FakeClock, startServer, type TestServer } from './support.js';

let server: TestServer;
let client: VaultClient;
let clock: FakeClock;
let dir: string;

beforeAll(async () => {
  server = await startServer(() => ({ fixture: 'k8s-login.json' }));
  clock = new FakeClock();
  client = new VaultClient({ addr: `${server.url}/v1`, clock, logger: captureLogger().logger, retry: { maxAttempts: 2 } });
  dir = mkdtempSync(join(tmpdir(), 'tconfd-vault-auth-'));
});
afterAll(async () => {
  await client.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => {
  server.requests.length = 0;
  server.handler = () => ({ fixture: 'k8s-login.json' });
});

function file(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

describe('kubernetes auth', () => {
  it('POSTs {role, jwt} to auth/kubernetes/login and returns the grant from the auth block', async () => {
    const auth = new JwtAuth({ client, tokenFile: file('sa-token', 'eyJ.first.jwt\n') });
    const grant = await auth.login('peer');
    expect(grant).toEqual({
      token: 's.H5PSlTrQYD76m3EDnVMy8JYK',
      accessor: 'FaECEtzIZN3oOI5dgBQ4HCQa',
      renewable: true,
      durationSec: 3600,
      obtainedAt: clock.now(),
      byLogin: true,
    });
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      path: 'auth/kubernetes/login',
      json: { role: 'peer', jwt: 'eyJ.first.jwt' },
    });
    expect(server.requests[0]!.headers['x-vault-token']).toBeUndefined();
  });

  it('reads the token file again at every login (projected tokens rotate)', async () => {
    const path = file('rotating', 'jwt-one');
    const auth = new JwtAuth({ client, tokenFile: path });
    await auth.login('peer');
    writeFileSync(path, 'jwt-two');
    await auth.login('peer');
    expect(server.requests.map((r) => (r.json as { jwt: string }).jwt)).toEqual(['jwt-one', 'jwt-two']);
  });

  it("accepts rconfd's -l login path with a leading slash", async () => {
    const auth = new JwtAuth({ client, loginPath: '/auth/k8s-prod/login', tokenFile: file('t', 'x') });
    await auth.login('app');
    expect(server.requests[0]!.url).toBe('/v1/auth/k8s-prod/login');
  });

  it('defaults to auth/jwt/login for jwt auth', async () => {
    server.handler = () => ({ fixture: 'jwt-login.json' });
    const auth = createAuthMethod(client, { kind: 'jwt', tokenFile: file('jwt', 'x') });
    expect(auth.kind).toBe('jwt');
    expect((await auth.login('peer')).token).toBe('s.4PLf5n5VUPdWOlhH2Op4XDnm');
    expect(server.requests[0]!.path).toBe('auth/jwt/login');
  });

  it('-T names an environment variable holding the JWT, read at every login', async () => {
    const env: Record<string, string | undefined> = { MY_JWT: 'jwt-from-env' };
    const auth = new JwtAuth({ client, token: 'MY_JWT', env, tokenFile: join(dir, 'does-not-exist') });
    await auth.login('peer');
    env['MY_JWT'] = 'jwt-from-env-2';
    await auth.login('peer');
    expect(server.requests.map((r) => (r.json as { jwt: string }).jwt)).toEqual(['jwt-from-env', 'jwt-from-env-2']);
    expect(auth.describeSource()).toBe('environment variable MY_JWT');
  });

  it('-T is the JWT itself when no variable has that name', async () => {
    const auth = new JwtAuth({ client, token: 'eyJhbGciOi.literal.jwt', env: {} });
    await auth.login('peer');
    expect((server.requests[0]!.json as { jwt: string }).jwt).toBe('eyJhbGciOi.literal.jwt');
  });

  it('names a missing or empty token file (and does not call Vault)', async () => {
    const missing = join(dir, 'nope', 'token');
    const e1 = await new JwtAuth({ client, tokenFile: missing }).login('peer').catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(VaultLoginError);
    expect((e1 as Error).message).toBe(`cannot read the service-account token file ${missing}: it does not exist`);
    const empty = file('empty', '  \n');
    await expect(new JwtAuth({ client, tokenFile: empty }).login('peer')).rejects.toThrow(
      `the service-account token file ${empty} is empty`,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('a token file that is a FIFO, a device or oversized is refused at once, naming the file (no wait for a writer)', async () => {
    const fifo = join(dir, 'token-fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(new JwtAuth({ client, tokenFile: fifo }).login('peer')).rejects.toThrow(
      `cannot read the service-account token file ${fifo}: is a FIFO, not a regular file`,
    );
    await expect(new TokenAuth({ client, tokenFile: '/dev/zero' }).login('peer')).rejects.toThrow(
      'cannot read the Vault token file /dev/zero: is a character device, not a regular file',
    );
    const big = file('big-token', 'x'.repeat(65 * 1024));
    await expect(new JwtAuth({ client, kind: 'jwt', tokenFile: big }).login('peer')).rejects.toThrow(
      `cannot read the JWT file ${big}: is larger than the limit of 64 KiB`,
    );
    expect(server.requests).toHaveLength(0);
  });

  it('a projected service-account token is a chain of symbolic links (token -> ..data/token): it is read', async () => {
    const sa = join(dir, 'serviceaccount');
    mkdirSync(join(sa, '..2025_06_01_00_00_00.1'), { recursive: true });
    writeFileSync(join(sa, '..2025_06_01_00_00_00.1', 'token'), 'projected-jwt\n');
    symlinkSync('..2025_06_01_00_00_00.1', join(sa, '..data'));
    symlinkSync('..data/token', join(sa, 'token'));
    await new JwtAuth({ client, tokenFile: join(sa, 'token') }).login('peer');
    expect((server.requests[0]!.json as { jwt: string }).jwt).toBe('projected-jwt');
  });

  it('a refused login names the role and the login path, never the JWT', async () => {
    server.handler = () => ({ status: 403, fixture: 'error-k8s-login-tokenreview-rejects.json' });
    const err = await new JwtAuth({ client, tokenFile: file('t2', 'secret-jwt-value') })
      .login('app')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VaultLoginError);
    expect((err as Error).message).toBe(
      'Vault refused the kubernetes login as role "app" at auth/kubernetes/login ' +
        '(Vault answered 403 to POST auth/kubernetes/login: permission denied)',
    );
    expect(isPermissionDenied(err)).toBe(true);
    expect(JSON.stringify(err) + String(err)).not.toContain('secret-jwt-value');
    expect(server.requests).toHaveLength(1);
  });

  it('reports a 500 such as an unauthorized namespace, after retrying', async () => {
    server.handler = () => ({ status: 500, fixture: 'error-k8s-login-unbound-namespace.json' });
    await expect(new JwtAuth({ client, tokenFile: file('t3', 'x') }).login('app')).rejects.toThrow(
      /kubernetes login as role "app" at auth\/kubernetes\/login failed: Vault answered 500 to POST auth\/kubernetes\/login: namespace not authorized/,
    );
  });
});

describe('approle auth', () => {
  it('POSTs role_id and secret_id read from files at each login; {role} in file names', async () => {
    server.handler = () => ({ fixture: 'jwt-login.json' });
    file('app.role-id', 'rid-1\n');
    const secretPath = file('app.secret-id', 'sid-1\n');
    const auth = new AppRoleAuth({
      client,
      mount: '/auth/approle-prod',
      roleIdFile: join(dir, '{role}.role-id'),
      secretIdFile: join(dir, '{role}.secret-id'),
    });
    await auth.login('app');
    writeFileSync(secretPath, 'sid-2');
    await auth.login('app');
    expect(server.requests.map((r) => [r.path, r.json])).toEqual([
      ['auth/approle-prod/login', { role_id: 'rid-1', secret_id: 'sid-1' }],
      ['auth/approle-prod/login', { role_id: 'rid-1', secret_id: 'sid-2' }],
    ]);
  });

  it('defaults to auth/approle and names a missing secret_id file', async () => {
    const auth = new AppRoleAuth({ client, roleIdFile: file('rid', 'r'), secretIdFile: join(dir, 'no-secret-id') });
    await expect(auth.login('app')).rejects.toThrow(/AppRole secret_id file .*no-secret-id: it does not exist/);
    server.handler = () => ({ fixture: 'jwt-login.json' });
    await new AppRoleAuth({ client, roleIdFile: file('rid2', 'r') }).login('app');
    expect(server.requests[0]).toMatchObject({ path: 'auth/approle/login', json: { role_id: 'r' } });
  });
});

describe('token auth', () => {
  it('learns TTL and renewability from lookup-self; never revoked (byLogin false); role ignored', async () => {
    server.handler = () => ({ fixture: 'token-lookup-self.json' });
    const auth = new TokenAuth({ client, token: 's.given-token' });
    const grant = await auth.login('whatever');
    expect(grant).toEqual({
      token: 's.given-token',
      accessor: 'uehWK9WcQbExJ7EvjmKjTHeN',
      renewable: true,
      durationSec: 3599,
      obtainedAt: clock.now(),
      byLogin: false,
    });
    expect(server.requests[0]).toMatchObject({ method: 'GET', path: 'auth/token/lookup-self' });
    expect(server.requests[0]!.headers['x-vault-token']).toBe('s.given-token');
  });

  it('a root token never expires: durationSec 0, not renewable', async () => {
    server.handler = () => ({ fixture: 'token-lookup-self-root.json' });
    const grant = await createAuthMethod(client, { kind: 'token', tokenFile: file('vault-token', 'root\n') }).login('x');
    expect(grant).toMatchObject({ token: 'root', durationSec: 0, renewable: false, byLogin: false });
  });

  it('a revoked token is a clear error without the token', async () => {
    server.handler = () => ({ status: 403, fixture: 'error-403-bad-token.json' });
    const err = await new TokenAuth({ client, token: 's.revoked-token-value' }).login('x').catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      'Vault refused the Vault token (VAULT_TOKEN): it is invalid, expired or revoked ' +
        '(Vault answered 403 to GET auth/token/lookup-self: permission denied)',
    );
    expect(JSON.stringify(err) + String(err)).not.toContain('s.revoked-token-value');
  });

  it('needs a token or a file', () => {
    expect(() => new TokenAuth({ client, token: '' })).toThrow(/needs a token/);
  });
});
