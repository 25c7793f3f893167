/**
 * The range of every numeric and duration option (src/cli/parse.ts): a value tconfd cannot work with is a one-line
 * usage error naming the option, before anything is fetched or written (exit 2), never a crash or a request storm
 * later. Pure parsing, plus the CLI for the cases the review found.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli/parse.js';
import { assertBuilt, runTconfd } from '../support/tconfd.js';
import { tempDirs } from '../support/files.js';

const parse = (...args: string[]) => parseCli(args, {}, '0.0.0');
const usage = (...args: string[]): string => {
  const r = parse(...args);
  if (r.kind !== 'usage-error') throw new Error(`accepted: ${args.join(' ')}`);
  return r.message;
};

describe('duration options: minimums and maximums', () => {
  it.each([
    ['--static-refresh', '0', '--static-refresh: "0" is less than the minimum of 100ms'],
    ['--static-refresh', '50ms', '--static-refresh: "50ms" is less than the minimum of 100ms'],
    ['--vault-timeout', '0', '--vault-timeout: "0" is less than the minimum of 100ms'],
    ['--vault-timeout', '30d', '--vault-timeout: "30d" is more than the maximum of 24h'],
    ['--vault-retry-min', '0s', '--vault-retry-min: "0s" must be more than 0'],
    ['--vault-retry-max', '0', '--vault-retry-max: "0" must be more than 0'],
    ['--render-timeout', '0', '--render-timeout: "0" must be more than 0'],
    ['--render-timeout', '2h', '--render-timeout: "2h" is more than the maximum of 1h'],
    ['--restart-window', '0', '--restart-window: "0" is less than the minimum of 1s'],
    ['--revoke-grace', '30d', '--revoke-grace: "30d" is more than the maximum of 480h'],
    ['--kill-timeout', '-1s', '--kill-timeout: invalid duration "-1s": must not be negative (examples: "500ms", "2s", "1m30s", or a number of seconds)'],
    ['--splay', '2d', '--splay: "2d" is more than the maximum of 24h'],
    ['--wait', '1s:2d', '--wait: "1s:2d" is more than the maximum of 24h'],
    ['--reload-grace', '2h', '--reload-grace: "2h" is more than the maximum of 1h'],
    ['--reload-grace', 'soon', '--reload-grace: invalid duration "soon": expected numbers with units ns, us, ms, s, m, h or d (examples: "500ms", "2s", "1m30s", or a number of seconds)'],
  ])('%s %s', (flag, value, message) => {
    expect(usage(flag, value)).toBe(message);
  });

  it('--reload-grace: 5 s by default, 0 sends reload signals at once', () => {
    const grace = (...args: string[]): number | undefined => {
      const r = parse(...args);
      return r.kind === 'run' ? r.settings.supervisor.reloadGraceMs : undefined;
    };
    expect(grace()).toBe(5_000);
    expect(grace('--reload-grace', '0')).toBe(0);
    expect(grace('--reload-grace', '30s')).toBe(30_000);
    expect(grace('--reload-grace', '1h')).toBe(3_600_000);
  });

  it('--vault-retry-max shorter than --vault-retry-min', () => {
    expect(usage('--vault-retry-min', '10s', '--vault-retry-max', '1s')).toBe('--vault-retry-max: "1s" is shorter than --vault-retry-min "10s"');
  });

  it('the defaults, zero where zero means something (no grace, no splay, no wait), and the bounds themselves are accepted', () => {
    for (const args of [[], ['--revoke-grace', '0'], ['--splay', '0s'], ['--wait', '0'], ['--kill-timeout', '0'], ['--static-refresh', '100ms'], ['--vault-timeout', '24h']]) {
      expect(parse(...args).kind, args.join(' ')).toBe('run');
    }
  });
});

describe('whole-number and size options', () => {
  it.each([
    ['--vault-retry-attempts', '0', '--vault-retry-attempts: "0" is not a whole number from 1 to 100'],
    ['--vault-retry-attempts', '1000', '--vault-retry-attempts: "1000" is not a whole number from 1 to 100'],
    ['--max-restarts', '-1', '--max-restarts: "-1" is not a whole number from 0 to 1000000'],
    ['--ready-fd', '2', '--ready-fd: "2" is not a whole number >= 3'],
    ['--max-secret-size', '0', '--max-secret-size: "0" is less than one byte'],
    ['--max-secret-size', '2GiB', '--max-secret-size: "2GiB" is more than the maximum of 1 GiB'],
    ['--health-listen', '127.0.0.1:99999', '--health-listen: "127.0.0.1:99999" is not HOST:PORT (port 0 to 65535)'],
  ])('%s %s', (flag, value, message) => {
    expect(usage(flag, value)).toBe(message);
  });
});

describe('through the CLI', () => {
  const tmp = tempDirs('tconfd-options-');
  beforeAll(assertBuilt);
  afterAll(tmp.cleanup);

  it.each([['--static-refresh'], ['--vault-timeout']])('%s 0 is a usage error (exit 2) before anything is fetched or written', async (flag) => {
    const root = tmp.make({
      'conf/app.json': JSON.stringify({ 'app.jsonnet': { dir: '../out', secrets: { 'env:str:PLAIN': 'x' } } }),
      'conf/app.jsonnet': "{ 'x.txt': std.extVar('secrets').x }",
    });
    const r = await runTconfd(['-d', 'conf', '-D', flag, '0'], { cwd: root, env: { PLAIN: 'v' } });
    expect({ code: r.code, written: existsSync(join(root, 'out', 'x.txt')), stderr: r.stderr }).toEqual({
      code: 2,
      written: false,
      stderr: expect.stringMatching(new RegExp(`^tconfd: ${flag}: "0" is less than the minimum of \\d+m?s\\n$`)),
    });
  });
});
