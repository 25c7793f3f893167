/**
 * A valid command line is parsed by yargs-parser alone (src/cli/parse.ts): the start does not build yargs. These
 * tests hold that path to yargs' own: same parser options, same Settings for valid command lines, and yargs' turn
 * (its messages) for everything else.
 */
import { describe, expect, it } from 'vitest';
import { optionTable, parseCli, toSettings, validArgv, yargsFor } from '../../src/cli/parse.js';

const env = { VAULT_TOKEN: 't', HOME: '/root' };

async function viaYargs(args: string[]): Promise<Record<string, unknown>> {
  let failure: string | undefined;
  const y = (await yargsFor('1.2.3')).exitProcess(false).fail((msg, err) => {
    failure = msg ?? err?.message;
  });
  const argv = y.parseSync(args) as Record<string, unknown>;
  if (failure !== undefined) throw new Error(failure);
  return argv;
}

const VALID: string[][] = [
  [],
  ['--once'],
  ['-d', '/etc/x', '--once'],
  ['--dir=/etc/x', '--check'],
  ['-d', 'conf', '-u', 'http://127.0.0.1:8200', '--auth', 'jwt', '-T', 'CI_JOB_JWT', '--once'],
  ['--url', 'https://vault:8200/v1', '-l', 'auth/jwt/login', '-t', '/run/token', '--', 'myapp', '--flag', '-x'],
  ['-D', '-r', '3', '--log-level', 'debug', '--log-format', 'json'],
  ['-v', '--no-revoke-on-exit', '--revoke-grace', '1m', '--static-refresh', '10m'],
  ['-j', 'lib1,lib2', '--jpath', 'lib3', '-j', 'lib4'],
  ['--env-keep', 'VAULT_TOKEN', '--env-keep', 'VAULT_ADDR', '--', 'app'],
  ['--on-change', 'restart', '--restart', 'on-failure', '--max-restarts', '3', '--restart-window', '1m', '--', 'app'],
  ['--reload-signal', 'usr1', '--kill-signal', 'SIGINT', '--kill-timeout', '5s', '--wait', '1s:5s', '--splay', '2s', '--', 'a'],
  ['--health-listen', '127.0.0.1:9000', '--vault-timeout', '5s', '--vault-retry-min', '100ms', '--vault-retry-max', '5s', '--vault-retry-attempts', '2', '-D'],
  ['--auth', 'approle', '--approle-role-id-file', '/r', '--approle-secret-id-file', '/s', '--once'],
  ['--auth', 'token', '--vault-token-file', '/tok', '--vault-namespace', 'ns1', '-c', '/ca.pem', '--once'],
  ['--confine', '--max-secret-size', '1MiB', '--exe-user', '1000:1000', '--render-timeout', '2s', '--once'],
  ['-D', '--', '--', 'x'],
  ['--no-confine', '--once'],
  ['--vault-retry-attempts=4', '--ready-fd=5', '-D'],
];

describe('the fast path of the command line', () => {
  it('reads options by the names, types, defaults and choices yargs is given', async () => {
    const y = (await yargsFor('1.2.3')) as unknown as { getOptions(): Record<string, any> };
    const theirs = y.getOptions();
    const table = optionTable();
    const names = Object.keys(theirs.key as Record<string, boolean>).filter((k) => k !== 'help' && k !== 'version');
    expect([...table.keys()].sort()).toEqual(names.sort());
    for (const [name, o] of table) {
      const type = (['boolean', 'string', 'number'] as const).find((t) => (theirs[t] as string[]).includes(name));
      expect(o.type, name).toBe(type);
      expect(o.array, name).toBe((theirs.array as string[]).includes(name));
      if (name === o.key) {
        expect(o.choices, name).toEqual(theirs.choices[name]);
        if (o.type !== 'boolean') expect(theirs.narg[name], name).toBeNaN(); // every option taking a value requires it
      }
    }
    for (const [key, value] of Object.entries(theirs.default as Record<string, unknown>)) expect(validArgv([])![key], key).toEqual(value);
  });

  it('gives the Settings yargs gives, for valid command lines', async () => {
    for (const args of VALID) {
      const fast = validArgv(args);
      expect(fast, args.join(' ')).toBeDefined();
      expect(toSettings(fast!, env, false), args.join(' ')).toEqual(toSettings(await viaYargs(args), env, false));
    }
  });

  it('gives the Settings (or the refusal) yargs gives for odd but valid-looking command lines', async () => {
    const outcome = (argv: Record<string, unknown>): unknown => {
      try {
        return toSettings(argv, env, false);
      } catch (err) {
        return (err as Error).message;
      }
    };
    for (const args of [
      ['--dir', ''], ['--dir='], ['-T', ''], ['--token='], ['--exe-user', ''], ['--exe-user='], ['--jpath', ''], ['--env-keep', ''],
      ['--ready-fd', '007'], ['--ready-fd', '0'], ['--ready-fd', '99999999999999999999999'], ['--vault-retry-attempts', '00'], ['--max-restarts', '1000001'],
      ['--dir', '1e3'], ['--dir', '0x1'], ['-T', '00123'], ['--exe-user', '0'], ['--token', 'true'], ['--dir', 'null'],
      ['--dir', '__proto__'], ['--dir', 'constructor'], ['--dir=a=b'], ['--dir', 'x=y'], ['--dir', ' '], ['--render-timeout', ' 5s'],
      ['--no-verbose'], ['--no-daemon', '--once'], ['--no-once', '--check'], ['--no-revoke-on-exit', '-D'], ['--daemon', '--no-verbose'],
      ['--url=http://x', '--once'], ['-u', 'http://x/v1'], ['--jpath=a,b', '-j', 'c'], ['--once', '--', '--help'], ['-D', '--', '--', '--x'],
      ['--once', '--', ''], ['--health-listen', '[::1]:9000'], ['--reload-signal', 'kill'], ['--static-refresh', '1.5m'],
    ]) {
      const fast = validArgv(args);
      expect(fast, args.join(' ')).toBeDefined();
      expect(outcome(fast!), args.join(' ')).toEqual(outcome(await viaYargs(args)));
    }
  });

  it('gives what yargs gives for 300 generated command lines (any option, by any of its names, = or not, in range or not)', async () => {
    const VALUES: Record<string, string[]> = {
      auth: ['jwt', 'token', 'kubernetes'],
      'on-change': ['signal', 'restart', 'none'],
      restart: ['never', 'always'],
      'log-level': ['warn', 'debug'],
      'log-format': ['json', 'pretty'],
      'vault-addr': ['http://127.0.0.1:8200', 'https://v:8200/v1'],
      'vault-retry-attempts': ['1', '3', '101'],
      'max-restarts': ['0', '2', '1000001'],
      'ready-fd': ['3', '7', '2'],
      wait: ['1s:2s', '2d'],
      'reload-signal': ['HUP', 'SIGUSR2'],
      'kill-signal': ['TERM'],
      'max-secret-size': ['1KiB', '2MiB', '2GiB'],
      'exe-user': ['nobody', '65534'],
      'health-listen': [':9000', '127.0.0.1:0', ':65536'],
    };
    const DURATIONS = ['render-timeout', 'vault-timeout', 'vault-retry-min', 'vault-retry-max', 'static-refresh', 'revoke-grace', 'reload-grace', 'kill-timeout', 'splay', 'restart-window'];
    const table = optionTable();
    const keys = [...new Set([...table.values()].map((o) => o.key))];
    const names = (key: string): string[] => [...table].filter(([, o]) => o.key === key).map(([n]) => n);
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const pick = <T,>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
    let twice = 0;
    for (let i = 0; i < 300; i++) {
      const args: string[] = [];
      for (let n = 1 + rnd(5); n > 0; n--) {
        const key = pick(keys);
        const name = pick(names(key));
        const flag = name.length === 1 ? `-${name}` : `--${name}`;
        if (table.get(key)!.type === 'boolean') {
          args.push(name.length > 1 && rnd(4) === 0 ? `--no-${name}` : flag);
          continue;
        }
        const value = VALUES[key] ? pick(VALUES[key]!) : DURATIONS.includes(key) ? pick(['5s', '1m', '250ms', '0', '30d']) : pick(['a', 'conf/x', '/etc/y,z']);
        if (name.length > 1 && rnd(2) === 0) args.push(`${flag}=${value}`);
        else args.push(flag, value);
      }
      if (rnd(3) === 0) args.push('--', 'app', '--flag');
      const fast = validArgv(args);
      // what the fast path leaves to yargs: an option given twice (yargs has its own ways with those)
      const counts = new Map<string, number>();
      for (const a of args) {
        if (a === '--') break;
        const name = a.replace(/^--?(no-)?/, '').split('=')[0]!;
        const o = table.get(name);
        if (o !== undefined && !o.array) counts.set(o.key, (counts.get(o.key) ?? 0) + 1);
      }
      if ([...counts.values()].some((n) => n > 1)) {
        expect(fast, args.join(' ')).toBeUndefined();
        twice++;
        continue;
      }
      expect(fast, args.join(' ')).toBeDefined();
      const outcome = (argv: Record<string, unknown>): unknown => {
        try {
          return toSettings(argv, env, false);
        } catch (err) {
          return (err as Error).message;
        }
      };
      expect(outcome(fast!), args.join(' ')).toEqual(outcome(await viaYargs(args)));
    }
    expect(twice).toBeLessThan(100); // most lines were read by both
  });

  it('leaves to yargs --help, --version and whatever it has something to say about', () => {
    for (const args of [
      ['--help'],
      ['-h'],
      ['--version'],
      ['--once', '--help'],
      ['--dri', 'x'],
      ['--once', 'extra'],
      ['-d'],
      ['--dir'],
      ['--auth', 'ldap'],
      ['--log-level', 'loud'],
      ['--restart', 'sometimes'],
      ['--no-such-thing'],
      ['-Z'],
      ['--renderTimeoutt', '1s'],
      ['--vault-addr'],
      ['--dir', '--once'],
      ['--log-level', 'info', '--log-level', 'warn', '--once'],
      ['-Dv'],
      ['--once=true'],
      ['-j', 'a', 'b'],
      ['--dir', '-'],
      ['--vault-retry-attempts', '2.5'],
      ['--ready-fd', '1e3'],
      ['--ready-fd', '0x3'],
      ['--ready-fd', ''],
      ['--no-D'],
      ['--no-'],
      ['--no-dir', 'x'],
      ['--no-verbose=true'],
      ['--once='],
      ['---dir', 'x'],
      ['--=x'],
      ['-d=x'],
      ['-r3'],
      ['-'],
      [''],
      ['--__proto__', 'x'],
      ['--constructor'],
      ['--dir', '--', 'x'],
      ['-T', '--', 'x'],
      ['--verbose', '--no-verbose'],
      ['-u', 'http://a', '--url', 'http://b'],
      ['--Dir', 'x'],
      ['--dir', 'x', 'extra', '--', 'app'],
    ]) {
      expect(validArgv(args), args.join(' ')).toBeUndefined();
    }
  });

  it('passes the command after -- as typed whichever path reads the command line (yargs would make 0x10 16, 1e3 1000)', async () => {
    const command = ['/usr/bin/app', '--port', '0x10', '1e3', '1.50', '007', '-1', 'true', '', '--', '--x=1'];
    for (const args of [
      ['-D', '--', ...command], // the fast path
      ['-vD', '--', ...command], // grouped short flags: yargs
      ['--log-level', 'info', '--log-level', 'warn', '--', ...command], // an option given twice: yargs
      ['--renderTimeout', '5s', '--', ...command], // camelCase: yargs
    ]) {
      const r = await parseCli(args, env, '1.2.3');
      expect(r, args.join(' ')).toMatchObject({ kind: 'run', settings: { command } });
    }
  });

  it('gives the same answers through parseCli whichever path it takes', async () => {
    expect(await parseCli(['--version'], env, '1.2.3')).toEqual({ kind: 'print', text: '1.2.3' });
    expect(await parseCli(['--dri', 'x'], env, '1.2.3')).toEqual({ kind: 'usage-error', message: 'unknown option: --dri (did you mean --dir?)' });
    expect(await parseCli(['--auth', 'ldap'], env, '1.2.3')).toMatchObject({ kind: 'usage-error', message: expect.stringContaining('--auth: "ldap" is not one of') });
    expect(await parseCli(['--dir'], env, '1.2.3')).toEqual({ kind: 'usage-error', message: '--dir needs a value' });
    expect(await parseCli(['--once', '--check'], env, '1.2.3')).toMatchObject({ kind: 'usage-error', message: expect.stringContaining('cannot be used together') });
    // an option in camelCase, which yargs knows: its path, the same Settings
    expect(validArgv(['--renderTimeout', '5s', '--once'])).toBeUndefined();
    expect(await parseCli(['--renderTimeout', '5s', '--once'], env, '1.2.3')).toEqual(await parseCli(['--render-timeout', '5s', '--once'], env, '1.2.3'));
    const run = await parseCli(['-d', 'x', '--once'], env, '1.2.3');
    expect(run).toMatchObject({ kind: 'run', settings: { dir: 'x', once: true } });
  });
});
