import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { JwtAuth, TokenAuth, VaultClient, VaultSession, remainingSec, type AuthGrant, type AuthMethod } from '../../src/vault/index.js';
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

const session = (auth: AuthMethod, clock: FakeClock = new FakeClock()): VaultSession =>
  new VaultSession({ client: undefined as unknown as VaultClient, auth, clock, logger: captureLogger().logger });

describe('VaultSession logins', () => {
  it('logs in once per role, however many concurrent callers', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = session(auth, clock);
    const got = await Promise.all([
      ...Array.from({ length: 10 }, () => tokens.token('app')),
      ...Array.from({ length: 5 }, () => tokens.token('other')),
    ]);
    expect(auth.calls.sort()).toEqual(['app', 'other']);
    expect(new Set(got.slice(0, 10)).size).toBe(1);
    expect(await tokens.token('app')).toBe(got[0]);
    expect(auth.calls).toHaveLength(2);
    expect(tokens.currentGrant('app')?.token).toBe(got[0]);
  });

  it('replaceToken logs in once for a token; asked again for the same old token, it answers the new one', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = session(auth, clock);
    const t1 = await tokens.token('app');
    const [t2, t2b] = await Promise.all([tokens.replaceToken('app', t1), tokens.replaceToken('app', t1)]);
    expect(t2.token).not.toBe(t1);
    expect(t2b.token).toBe(t2.token);
    expect((await tokens.replaceToken('app', t1)).token).toBe(t2.token);
    expect(await tokens.token('app')).toBe(t2.token);
    expect(auth.calls).toEqual(['app', 'app']);
  });

  it('a failed login is reported to every waiter and retried at the next request', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    auth.fail = true;
    const tokens = session(auth, clock);
    const results = await Promise.allSettled([tokens.token('app'), tokens.token('app')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(auth.calls).toHaveLength(1);
    auth.fail = false;
    expect(await tokens.token('app')).toBe('tok-app-2');
  });

  it('a grant past its TTL is not handed out', async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = session(auth, clock);
    expect(await tokens.token('app')).toBe('tok-app-1');
    clock.t += 61_000;
    expect(await tokens.token('app')).toBe('tok-app-2');
  });

  it("a caller's abort stops its wait, not the shared login", async () => {
    const clock = new FakeClock();
    const auth = new CountingAuth(clock);
    const tokens = session(auth, clock);
    const ac = new AbortController();
    const aborted = tokens.token('app', ac.signal);
    const other = tokens.token('app');
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
      const tokens = new VaultSession({ client, auth: new JwtAuth({ client, tokenFile }), clock: new FakeClock(), logger: captureLogger().logger });
      await Promise.all(['a', 'a', 'a', 'b', 'b', 'a'].map((r) => tokens.token(r)));
      const logins = server.requests.filter((r) => r.path === 'auth/kubernetes/login');
      expect(logins.map((r) => (r.json as { role: string }).role).sort()).toEqual(['a', 'b']);
    });

    it('with token auth every role shares the one token (one lookup-self)', async () => {
      const tokens = new VaultSession({ client, auth: new TokenAuth({ client, token: 's.shared' }), clock: new FakeClock(), logger: captureLogger().logger });
      const got = await Promise.all([tokens.token('a'), tokens.token('b'), tokens.token('c')]);
      expect(got).toEqual(['s.shared', 's.shared', 's.shared']);
      expect(server.requests).toHaveLength(1);
      expect(tokens.ledger.liveTokens()).toHaveLength(1);
      expect(tokens.currentGrant('zzz')?.byLogin).toBe(false);
    });

    it('a token whose lookup-self says ttl 0 with an expire_time is expiring, not a root token (null expire_time)', async () => {
      const lookup = async (fixture: string): Promise<AuthGrant> => {
        server.handler = () => ({ fixture });
        return new TokenAuth({ client, token: 's.given' }).login('app');
      };
      const expiring = await lookup('token-lookup-self-last-second.json');
      expect(expiring.durationSec).toBeGreaterThan(0);
      expect(expiring.durationSec).toBeLessThanOrEqual(1);
      expect(expiring.renewable).toBe(true);
      const root = await lookup('token-lookup-self-root.json');
      expect(root.durationSec).toBe(0);
    });
  });
});

describe('remainingSec (lookup-self rounds the TTL down)', () => {
  it('ttl > 0: the ttl; ttl 0 and expire_time null: 0 (never expires); ttl 0 with an expire_time: under a second', () => {
    const now = Date.UTC(2026, 10, 29, 16, 16, 20, 700);
    expect(remainingSec({ ttlSec: 42, expireTime: '2026-11-29T16:17:02Z' }, now)).toBe(42);
    expect(remainingSec({ ttlSec: 0, expireTime: null }, now)).toBe(0);
    expect(remainingSec({ ttlSec: 0, expireTime: '2026-11-29T16:16:21.464991141Z' }, now)).toBeCloseTo(0.765, 2);
    // Clock skew never turns it into "never expires" nor into more than the second Vault rounded away.
    expect(remainingSec({ ttlSec: 0, expireTime: '2026-11-29T16:16:21Z' }, now + 60_000)).toBe(0.1);
    expect(remainingSec({ ttlSec: 0, expireTime: '2026-11-29T16:16:21Z' }, now - 60_000)).toBe(1);
  });
});
