/**
 * What a new user meets in the first hour, through the built CLI: mistyped options get a suggestion, contradictory
 * modes are refused, and a command that cannot be found is reported once, in one line, without a stack trace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { assertBuilt, runTconfd as run, type RunResult } from '../support/tconfd.js';

const tmp = tempDirs('tconfd-first-hour-');
beforeAll(assertBuilt);
afterAll(tmp.cleanup);

/** Bad usage: exit 2, exactly this one line on stderr, nothing on stdout, nothing started. */
function expectUsageError(r: RunResult, line: string): void {
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: '', stderr: `tconfd: ${line}\n` });
}

/** A config directory with one template using an env secret (nothing to fetch from Vault). */
function envProject(): string {
  return tmp.make({
    'conf/app.json': { 'app.jsonnet': { dir: '../out', secrets: { 'env:str:GREETING': 'greeting' } } },
    'conf/app.jsonnet': "{ 'app.txt': std.extVar('secrets').greeting }\n",
  });
}

describe('command line mistakes', () => {
  it('suggests the option a mistyped one was meant to be: --dri -> --dir', async () => {
    expectUsageError(await run(['--dri', 'conf', '--once']), 'unknown option: --dri (did you mean --dir?)');
  });

  it('suggests for several mistyped options, for --no-X forms, and says --help when nothing is close', async () => {
    expectUsageError(
      await run(['--onec', '--vault-adr', 'http://127.0.0.1:8200']),
      'unknown options: --onec (did you mean --once?), --vault-adr (did you mean --vault-addr?)',
    );
    expectUsageError(await run(['--no-revoke-on-exti']), 'unknown option: --no-revoke-on-exti (did you mean --no-revoke-on-exit?)');
    expectUsageError(await run(['--frobnicate']), 'unknown option: --frobnicate (see --help)');
  });

  it('refuses --once together with --check before reading anything', async () => {
    const root = envProject();
    const r = await run(['--dir', 'conf', '--once', '--check'], { cwd: root, env: { GREETING: 'hi' } });
    expectUsageError(r, '--once and --check cannot be used together: --once writes the files, --check writes nothing (give one)');
  });
});

describe('a command that cannot be started', () => {
  it('is logged once, in one line naming it, with the shell status, without a stack trace', async () => {
    const root = envProject();
    const r = await run(['--dir', 'conf'], { cwd: root, env: { GREETING: 'hi' }, command: ['tconfd-no-such-app', '--flag'] });
    expect(r.code).toBe(127);
    expect(r.plain).toEqual([]);
    expect(r.lines.map((l) => l.msg)).toEqual(['template rendered', 'command not found: tconfd-no-such-app (exit 127)']);
    expect(r.lines[1]).toMatchObject({ level: 50, command: 'tconfd-no-such-app', status: 127 });
    expect(r.stderr).not.toMatch(/stack|    at |ENOENT/);
  });

  it('reads the same with pretty logs', async () => {
    const root = envProject();
    const r = await run(['--dir', 'conf', '--log-format', 'pretty'], { cwd: root, env: { GREETING: 'hi' }, command: ['tconfd-no-such-app'] });
    expect(r.code).toBe(127);
    expect(r.stderr.match(/ERROR: .*/g)).toEqual(['ERROR: command not found: tconfd-no-such-app (exit 127)']);
    expect(r.stderr).not.toMatch(/stack|    at |ENOENT/);
  });
});
