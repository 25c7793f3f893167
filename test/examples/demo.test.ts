/**
 * `npm run demo` (examples/demo/demo.ts) end to end, non-interactively: the stand-in in-process, the real CLI, the
 * demo app; --duration 25 stops it as Ctrl-C would. Needs `npm run build` first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, killAll, startTs, type Exit, type Proc } from '../support/tconfd.js';

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

  it('revokes the replaced lease after the grace, before it expires', () => {
    expect(out()).toMatch(/VAULT: lease …\S+ revoked, [\d.]+s before it would have expired/);
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
