/**
 * `npm run demo` (examples/demo/demo.ts) end to end, non-interactively: the stand-in in-process, the real CLI, the
 * demo app; --duration 25 stops it as Ctrl-C would. Needs `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, killAll, startTs, type Exit, type Proc } from '../support/tconfd.js';
import { createDbRole, enableDatabase } from '../vault/setup.js';
import { freePort, requireStandin, startVaultTarget, vaultApi, type VaultTarget } from '../vault/target.js';

describe('examples/demo (npm run demo)', () => {
  let demo: Proc;
  let exit: Exit;

  beforeAll(async () => {
    assertBuilt();
    // As from a shell, but without VAULT_ADDR: the demo must start the stand-in itself. (It runs 25 s; the deadline
    // and this hook's timeout leave room for a very busy machine.)
    demo = startTs('examples/demo/demo.ts', ['--duration', '25'], { inheritEnv: true, env: { NO_COLOR: '1' } });
    exit = await demo.waitForExit({ timeoutMs: 150_000 });
  });
  afterAll(killAll);

  const out = (): string => demo.output;
  const users = (): string[] => [...out().matchAll(/APP: .*?config #\d+: user (\S+),/g)].map((m) => m[1]!);

  it('exits 0 after --duration, as after Ctrl-C', () => {
    expect(exit, demo.tail(60)).toEqual({ code: 0, signal: null });
  });

  it('says that it started the Vault stand-in', () => {
    expect(out()).toMatch(/VAULT_ADDR is not set: started the Vault stand-in in-process at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('logs in with a JWT, not the admin token', () => {
    expect(out()).toContain('-T DEMO_JWT -l auth/jwt/login');
    expect(out()).toMatch(/VAULT: login at auth\/jwt\/login: token/);
    expect(out()).toMatch(/INFO: logged in to Vault/);
  });

  it("shows the app's first config, with the password masked", () => {
    expect(out()).toMatch(/APP: start: config #1: user v-\S+, password \S{2}\*{6} \(20 chars\), lease 6s expires/);
  });

  it('shows at least one renewal', () => {
    expect(out()).toMatch(/VAULT: lease …\S+ renewed: expires \d\d:\d\d:\d\d \(in [\d.]+s\)\n/);
  });

  it('shows a rotation at max_ttl: a second database user, the app reloaded with it', () => {
    expect(out()).toMatch(/capped by max_ttl 12s/);
    const u = users();
    expect(u.length).toBeGreaterThanOrEqual(2);
    expect(new Set(u).size).toBe(u.length);
    expect(out()).toMatch(/INFO: files changed: signalling the command/);
    expect(out()).toMatch(/APP: SIGHUP, reloaded: config #2: user /);
  });

  it('revokes a replaced lease after the grace, before it expires', () => {
    const beforeStop = out().split(/DEMO: 25s elapsed/)[0]!;
    expect(beforeStop).toMatch(/VAULT: lease …\S+ revoked, [\d.]+s before it would have expired/);
  });

  it('says how every lease ended, in the words its README explains', () => {
    const ends = out().match(/VAULT: lease …\S+ (?:revoked|ran out|expired)\b.*/g) ?? [];
    const issued = Number(/stand-in's view: (\d+) leases? issued/.exec(out())?.[1]);
    expect(ends).toHaveLength(issued);
    for (const e of ends) {
      expect(e).toMatch(
        /: lease …\S+ (revoked, [\d.]+s before it would have expired|ran out: tconfd replaced it and let it expire|expired before tconfd replaced it)$/,
      );
    }
    // A replaced lease left to run out: tconfd said so when it replaced it, or when it found it expired while kept.
    if (ends.some((e) => e.includes('ran out'))) {
      expect(out()).toMatch(/INFO: (previous .* expires within the revoke grace: not revoked, it runs out by itself|replaced lease expired while it was kept: not revoked, it ran out by itself)/);
    }
  });

  it('stops cleanly: the app stops, every lease and the login token are revoked', () => {
    expect(out()).toMatch(/25s elapsed: sending SIGINT to tconfd/);
    expect(out()).toMatch(/APP: SIGINT: stopping/);
    expect(out()).toMatch(/tconfd exited with status 0/);
    expect(out()).toMatch(/stand-in's view: (\d+) leases issued, \1 revoked \(\d+ before they expired\), 0 still active;.* 1 login token issued, 1 revoked/);
    expect(out()).toMatch(/DEMO: all leases revoked, all login tokens revoked/);
  });

  it('never prints a password or the JWT', () => {
    expect(out()).not.toMatch(/eyJ[\w-]{8,}\.eyJ/); // a JWT's header and payload
    expect(out()).not.toMatch(/"password"/);
    for (const line of out().split('\n').filter((l) => l.includes('password'))) {
      expect(line).toMatch(/password \S{2}\*{6} \(\d+ chars\)/);
    }
  });
});

describe('npm run demo with VAULT_ADDR', () => {
  afterAll(killAll);

  it('says in one line that it cannot reach a Vault on a closed port, naming the address', async () => {
    const addr = `http://127.0.0.1:${await freePort()}`;
    const demo = startTs('examples/demo/demo.ts', [], { inheritEnv: true, env: { NO_COLOR: '1', VAULT_ADDR: addr, VAULT_TOKEN: 'root' } });
    expect(await demo.waitForExit({ timeoutMs: 60_000 })).toEqual({ code: 1, signal: null });
    const lines = demo.output.trimEnd().split('\n');
    expect(lines).toHaveLength(2); // the banner, then the error
    expect(lines[1]).toMatch(new RegExp(`^\\[[\\d:.]+\\] ERROR: cannot reach Vault at ${addr} \\(VAULT_ADDR\\): connection refused$`));
    expect(demo.output).not.toMatch(/TypeError|fetch failed|    at /);
  });

  describe('a reachable Vault', () => {
    let target: VaultTarget;
    beforeAll(async () => {
      target = await startVaultTarget();
    }, 60_000);
    afterAll(async () => target?.stop());

    it('is not configured without --configure-vault: the demo says what it would change and leave, and changes nothing', async () => {
      const api = vaultApi(target);
      const authBefore = (await api('GET', 'sys/auth')).body?.data as Record<string, unknown>;
      const demo = startTs('examples/demo/demo.ts', [], {
        inheritEnv: true,
        // A database connection it would configure (never used here).
        env: { NO_COLOR: '1', VAULT_ADDR: target.addr, VAULT_TOKEN: target.rootToken, DEMO_PG_URL: 'postgres://admin:pw@127.0.0.1:5432/db' },
      });
      expect(await demo.waitForExit({ timeoutMs: 60_000 })).toEqual({ code: 2, signal: null });
      const out = demo.output;
      expect(out).toContain(`VAULT_ADDR is set: the demo configures the Vault at ${target.addr} with VAULT_TOKEN, and leaves it configured:`);
      for (const what of ['secret/data/demo written', 'policy tconfd-demo: created', 'JWT auth at auth/jwt/: enabled', 'database/roles/demo written']) {
        expect(out).toContain(what);
      }
      expect(out).toContain('Removed at the end: the database leases and the login token tconfd obtains');
      expect(out).toMatch(/vault auth disable jwt; vault policy delete tconfd-demo/);
      expect(out).toMatch(/DEMO: nothing was changed\. Run again with --configure-vault to go ahead/);
      expect(out).not.toMatch(/starting tconfd|configuring Vault/);
      expect(Object.keys((await api('GET', 'sys/auth')).body?.data as Record<string, unknown>)).toEqual(Object.keys(authBefore));
      expect((await api('GET', 'sys/policies/acl/tconfd-demo')).status).toBe(404);
      expect((await api('GET', 'secret/data/demo')).status).toBe(404);
    });

    it('with --configure-vault: configures it, runs, revokes what tconfd obtained and leaves the set-up in place', async (ctx) => {
      requireStandin(target, ctx, 'the demo against a Vault (a memory:// database connection)');
      await enableDatabase(target, { name: 'demo-db' });
      await createDbRole(target, { name: 'demo', dbName: 'demo-db', defaultTtl: '6s', maxTtl: '12s' });
      const demo = startTs('examples/demo/demo.ts', ['--configure-vault', '--duration', '8'], {
        inheritEnv: true,
        env: { NO_COLOR: '1', VAULT_ADDR: target.addr, VAULT_TOKEN: target.rootToken },
      });
      expect(await demo.waitForExit({ timeoutMs: 60_000 }), demo.tail(40)).toEqual({ code: 0, signal: null });
      expect(demo.output).toContain('database: the existing role database/roles/demo is used as it is');
      expect(demo.output).toMatch(/DEMO: all leases revoked, all login tokens revoked: nothing left behind in Vault/);
      const api = vaultApi(target);
      expect((await api('GET', 'sys/policies/acl/tconfd-demo')).status).toBe(200);
      expect((await api('GET', 'auth/jwt/role/demo')).status).toBe(200);
      expect((await api('GET', 'secret/data/demo')).body?.data?.data).toEqual({ greeting: 'hello from Vault KV v2' });
    });
  });
});
