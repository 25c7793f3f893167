import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../support/tconfd.js';

const tmp = mkdtempSync(join(tmpdir(), 'tconfd-build-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs the built CLI saying which scripts it compiled and whether their code cache was accepted. */
function codeCaches(args: string[], env: Record<string, string> = {}): { status: number | null; scripts: Map<string, string>; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { PATH: process.env['PATH'] ?? '', TCONFD_DEBUG_CODE_CACHE: '1', ...env },
    encoding: 'utf8',
  });
  const scripts = new Map<string, string>();
  for (const m of r.stderr.matchAll(/^tconfd: code cache of (\S+) (\w+)$/gm)) scripts.set(m[1]!, m[2]!);
  return { status: r.status, scripts, stderr: r.stderr };
}

describe('the built CLI', () => {
  it("starts from V8's code cache made by the build (a rejected cache costs ~40 ms of every start)", () => {
    const r = codeCaches(['--dir', 'examples/quickstart/tconfd.d', '--check'], { QUICKSTART_OUT: join(tmp, 'qs'), HOME: tmp });
    expect(r.status, r.stderr).toBe(0);
    expect(r.scripts).toEqual(new Map([['tconfd.cjs', 'accepted']]));
    // --version, like --help, is yargs' (a chunk of its own)
    const v = codeCaches(['--version']);
    expect(v.status).toBe(0);
    expect(v.scripts).toEqual(new Map([['tconfd.cjs', 'accepted'], ['chunks/yargs.cjs', 'accepted']]));
  });

  it('reads the large dependencies a run does not need only when it needs them, each from its own code cache', () => {
    // env-only: neither the Vault stack (undici) nor yargs
    const conf = join(tmp, 'env');
    writeFileSync(join(tmp, 'app.jsonnet'), "{ 'a.txt': std.extVar('secrets').g }\n");
    mkdirSync(conf);
    writeFileSync(join(conf, 'app.json'), JSON.stringify({ [join(tmp, 'app.jsonnet')]: { dir: join(tmp, 'out'), secrets: { 'env:str:G': 'g' } } }));
    const env = codeCaches(['--dir', conf, '--once'], { G: 'hello' });
    expect(env.status, env.stderr).toBe(0);
    expect([...env.scripts.keys()]).toEqual(['tconfd.cjs']);

    // --log-format pretty: pino-pretty, from its code cache
    const qs = codeCaches(['--dir', 'examples/quickstart/tconfd.d', '--once', '--log-format', 'pretty'], { QUICKSTART_OUT: join(tmp, 'qs'), HOME: tmp });
    expect(qs.status, qs.stderr).toBe(0);
    expect(qs.scripts).toEqual(
      new Map([
        ['tconfd.cjs', 'accepted'],
        ['chunks/pino-pretty.cjs', 'accepted'],
      ]),
    );
  });
});
