import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JwtAuth, TokenAuth, TokenProvider, VaultClient, type AuthGrant, type AuthMethod } from '../../src/vault/index.js';
import { captureLogger, FakeClock, startServer, type TestServer } from './support.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** An AuthMethod that counts logins and hands out numbered tokens, optionally slowly. */
class CountingAuth implements AuthMethod {
  readonly kind = 'kubernetes' as const;
  calls: string[] = [];
  fail = false;
  constructor(private readonly clock: FakeClock) {}
  async login(role: string): Promise<AuthGrant> {
    this.calls.push(role);
    const n = this.calls.length;
    await new Promise((r) => setTimeout(r, 10));
    if (this.fail) throw new Error(`login ${role} failed`);
    return { token: `tok-${role}-${n}`, renewable: true, durationSec: 60, obtainedAt: this.clock.now(), byLogin: true };
  }
}

describe('TokenProvider', () => {
  it('logs in once per role, however many concurrent gets', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = new TokenProvider(auth);
    const got = await Promise.all([
      ...Array.from({ length: 10 }, () => tokens.get('app')),
      ...Array.from({ length: 5 }, () => tokens.get('other')),
    ]);
    expect(auth.calls.sort()).toEqual(['app', 'other']);
    expect(new Set(got.slice(0, 10)).size).toBe(1);
    expect(await tokens.get('app')).toBe(got[0]);
    expect(auth.calls).toHaveLength(2);
    expect(tokens.grant('app')?.token).toBe(got[0]);
  });

  it('invalidate forces one fresh login; a stale token does not drop the new one', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = new TokenProvider(auth);
    const t1 = await tokens.get('app');
    tokens.invalidate('app', t1);
    const [t2, t2b] = await Promise.all([tokens.get('app'), tokens.get('app')]);
    expect(t2).not.toBe(t1);
    expect(t2b).toBe(t2);
    tokens.invalidate('app', t1); // stale: ignored
    expect(await tokens.get('app')).toBe(t2);
    expect(auth.calls).toEqual(['app', 'app']);
  });

  it('grant() and setGrant() let a scheduler replace the token', async () => {
    const clock = new FakeClock();
    const tokens = new TokenProvider(new CountingAuth(clock));
    await tokens.get('app');
    const renewed: AuthGrant = { ...tokens.grant('app')!, durationSec: 120, token: 'tok-renewed' };
    tokens.setGrant('app', renewed);
    expect(await tokens.get('app')).toBe('tok-renewed');
    expect(tokens.grants()).toEqual([['app', renewed]]);
  });

  it('a failed login is reported to every waiter and retried at the next get', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    auth.fail = true;
    const tokens = new TokenProvider(auth);
    const results = await Promise.allSettled([tokens.get('app'), tokens.get('app')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(auth.calls).toHaveLength(1);
    auth.fail = false;
    expect(await tokens.get('app')).toBe('tok-app-2');
  });

  it('with a clock, a grant past its TTL is not handed out', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = new TokenProvider(auth, { clock });
    expect(await tokens.get('app')).toBe('tok-app-1');
    clock.t += 61_000;
    expect(await tokens.get('app')).toBe('tok-app-2');
  });

  it("a caller's abort stops its wait, not the shared login", async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = new TokenProvider(auth);
    const ac = new AbortController();
    const aborted = tokens.get('app', ac.signal);
    const other = tokens.get('app');
    ac.abort(new Error('stop'));
    await expect(aborted).rejects.toThrow('stop');
    expect(await other).toBe('tok-app-1');
  });

  describe('over HTTP', () => {
    let server: TestServer;
    let client: VaultClient;
    let dir: string;
    beforeAll(async () => {
      server = await startServer((r) => ({
        fixture: r.path === 'auth/token/lookup-self' ? 'token-lookup-self.json' : 'k8s-login.json',
      }));
      client = new VaultClient({ addr: server.url, clock: new FakeClock(), logger: captureLogger().logger });
      dir = mkdtempSync(join(tmpdir(), 'tconfd-tp-'));
    });
    afterAll(async () => {
      await client.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    });
    afterEach(() => {
      server.requests.length = 0;
    });

    it('sends one kubernetes login per role for many concurrent secrets', async () => {
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, 'jwt');
      const tokens = new TokenProvider(new JwtAuth({ client, tokenFile }));
      await Promise.all(['a', 'a', 'a', 'b', 'b', 'a'].map((r) => tokens.get(r)));
      const logins = server.requests.filter((r) => r.path === 'auth/kubernetes/login');
      expect(logins.map((r) => (r.json as { role: string }).role).sort()).toEqual(['a', 'b']);
    });

    it('with token auth every role shares the one token (one lookup-self)', async () => {
      const tokens = new TokenProvider(new TokenAuth({ client, token: 's.shared' }));
      const got = await Promise.all([tokens.get('a'), tokens.get('b'), tokens.get('c')]);
      expect(got).toEqual(['s.shared', 's.shared', 's.shared']);
      expect(server.requests).toHaveLength(1);
      expect(tokens.grants()).toHaveLength(1);
      expect(tokens.grant('zzz')?.byLogin).toBe(false);
    });
  });
});
