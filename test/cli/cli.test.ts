import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { assertBuilt, ROOT, runTconfd as run, type RunResult } from '../support/tconfd.js';

const tmp = tempDirs('tconfd-cli-');
beforeAll(assertBuilt);
afterAll(tmp.cleanup);

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A project: conf/ holds the given config files (objects as JSON) and templates; returns its root. */
const project = (files: Record<string, unknown>): string => tmp.make(files);

/** A bad-input run: exit 2, exactly one line on stderr, nothing on stdout. */
function expectUsageError(r: RunResult, line: string | RegExp): void {
  const stderr = typeof line === 'string' ? `tconfd: ${line}\n` : expect.stringMatching(new RegExp(`^tconfd: ${line.source}\n$`));
  expect({ code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ code: 2, stderr, stdout: '' });
}

const ENV_SECRET = 'ENVSECRET-4f1a2c9d';
const FILE_SECRET = 'FILESECRET-7b3d9e01';
const EXE_SECRET = 'EXESECRET-0c5e8a';
const CONTENT = 'CONTENT-MARKER-5512';

/** A project whose files hold an env:, a file: and an exe: secret, and a recognisable non-secret line. */
function secretProject(): { root: string; env: Record<string, string> } {
  const root = project({
    'conf/app.json': {
      'app.jsonnet': {
        dir: '${OUT}',
        secrets: { 'env:str:DB_PASSWORD': 'db', 'file:str:../secret.txt': 'key', 'exe:js:/bin/sh -c \'echo "\\"$EXE_VALUE\\""\'': 'exe' },
      },
    },
    'conf/app.jsonnet': `local s = std.extVar('secrets');
{
  'db.conf': 'password = ' + s.db + '\\n# ${CONTENT}',
  'app.json': { key: s.key, exe: s.exe, marker: '${CONTENT}' },
}
`,
    'secret.txt': FILE_SECRET,
  });
  return { root, env: { DB_PASSWORD: ENV_SECRET, EXE_VALUE: EXE_SECRET } };
}

function expectNoSecrets(text: string): void {
  for (const s of [ENV_SECRET, FILE_SECRET, EXE_SECRET]) expect(text).not.toContain(s);
}

describe.concurrent('rendering', () => {
  it('renders the quickstart: exit 0 and both files written', async () => {
    const out = tmp.make();
    const r = await run(['--dir', 'examples/quickstart/tconfd.d', '--once'], { env: { QUICKSTART_OUT: out, HOME: '/home/qs-user' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('');
    expect(readdirSync(out).sort()).toEqual(['app.json', 'nginx.conf']);
    const nginx = readFileSync(join(out, 'nginx.conf'), 'utf8');
    const nproc = Number(execFileSync('/usr/bin/nproc', ['--all'], { encoding: 'utf8' }));
    expect(nginx).toMatch(new RegExp(`^worker_processes ${nproc};\\n`));
    expect(nginx).toContain('    server 10.0.0.12:3000 backup;\n');
    expect(nginx.endsWith('}\n')).toBe(true);
    const app = JSON.parse(readFileSync(join(out, 'app.json'), 'utf8')) as Record<string, unknown>;
    const key = readFileSync(join(ROOT, 'examples/quickstart/data/api-key.txt'), 'utf8').trim();
    expect(app).toMatchObject({ home: '/home/qs-user', workers: nproc, upstreams: ['10.0.0.11:3000', '10.0.0.12:3000'], api_key_sha256: sha(key) });
    expect(app.rendered_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(statSync(join(out, 'app.json')).mode & 0o777).toBe(0o640);
    expect(r.lines.filter((l) => l.msg === 'template rendered')).toMatchObject([{ template: 'quickstart.jsonnet', files: 2, changed: 2 }]);
  });

  it('--check writes nothing and prints each path with "new" and its size, never a secret', async () => {
    const { root, env } = secretProject();
    const out = tmp.make();
    const check = await run(['--dir', 'conf', '--check'], { cwd: root, env: { ...env, OUT: out } });
    expect(check.code, check.stderr).toBe(0);
    expect(readdirSync(out)).toEqual([]);

    // what --once then writes is what --check described
    const once = await run(['--dir', 'conf', '--once'], { cwd: root, env: { ...env, OUT: out } });
    expect(once.code, once.stderr).toBe(0);
    const expected = ['app.json', 'db.conf'].map((n) => {
      const bytes = readFileSync(join(out, n));
      return `${join(out, n)}\tnew\t${bytes.length} bytes\t(app.jsonnet)`;
    });
    expect(check.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(expected);
    expect(readFileSync(join(out, 'db.conf'), 'utf8')).toBe(`password = ${ENV_SECRET}\n# ${CONTENT}\n`);
    expectNoSecrets(check.stdout + check.stderr);
    expect(check.stderr).not.toContain(CONTENT);
  });

  it.each([['-v'], ['--log-level', 'debug'], ['--log-level', 'trace'], ['--verbose', '--log-format', 'pretty']].map((f) => [f.join(' '), f] as const))(
    '--check %s shows no secret value either',
    async (_name, flags) => {
      const { root, env } = secretProject();
      const out = tmp.make();
      const r = await run(['--dir', 'conf', '--check', ...flags], { cwd: root, env: { ...env, OUT: out } });
      expect(r.code, r.stderr).toBe(0);
      expect(readdirSync(out)).toEqual([]);
      expect(r.stdout.trim().split('\n')).toHaveLength(2);
      expect(r.stderr).toContain('secret fetched');
      expectNoSecrets(r.stdout + r.stderr);
      expect(r.stderr).not.toContain(CONTENT);
    },
  );

  it('logs never contain secret values or file contents (--log-level trace)', async () => {
    const { root, env } = secretProject();
    const out = tmp.make();
    const r = await run(['--dir', 'conf', '--once', '--log-level', 'trace'], { cwd: root, env: { ...env, OUT: out } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(out, 'app.json'), 'utf8')).toContain(EXE_SECRET);
    const lines = r.lines;
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['config loaded', 'secret fetched', 'file written', 'template rendered']));
    expect(lines.filter((l) => l.msg === 'secret fetched').map((l) => l.secret)).toHaveLength(3);
    expectNoSecrets(r.stderr);
    expect(r.stderr).not.toContain(CONTENT);
    expect(r.stdout).toBe('');
  });

  it('TCONFD_DIR is used when --dir is absent, and --dir wins over it', async () => {
    const root = project({ 'conf/a.json': { 'a.jsonnet': { dir: '../out' } }, 'conf/a.jsonnet': "{ 'a.txt': 'from conf' }" });
    const r = await run(['--once'], { cwd: root, env: { TCONFD_DIR: 'conf' } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'out/a.txt'), 'utf8')).toBe('from conf\n');
    const both = await run(['--once', '--dir', 'conf'], { cwd: root, env: { TCONFD_DIR: 'nowhere' } });
    expect(both.code, both.stderr).toBe(0);
  });

  it("rconfd's short flags -d -j -v", async () => {
    const root = project({
      'conf/a.json': { 'a.jsonnet': { dir: '../out' } },
      'conf/a.jsonnet': "{ 'a.txt': (import 'one.libsonnet') + (import 'two.libsonnet') }",
      'lib1/one.libsonnet': "'one+'",
      'lib2/two.libsonnet': "'two'",
    });
    const r = await run(['-d', 'conf', '-j', 'lib1,lib2', '-v', '--once'], { cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'out/a.txt'), 'utf8')).toBe('one+two\n');
    expect(r.lines.some((l) => l.level === 20)).toBe(true); // -v is debug
    const quiet = await run(['-d', 'conf', '-j', 'lib1', '-j', 'lib2', '--once'], { cwd: root });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(quiet.lines.some((l) => l.level === 20)).toBe(false);
  });
});

describe.concurrent('hooks', () => {
  it('hooks.ready runs once, after the first complete rendering of every template', async () => {
    // the hook, in a.json (read first), only logs if b.jsonnet's file is there too
    const work = tmp.make();
    const out = join(work, 'out');
    const log = join(work, 'hook.log');
    const ready = `/bin/sh -c "test -f '${out}/a.txt' && test -f '${out}/b.txt' && echo ran >> '${log}'"`;
    const root = project({
      'conf/a.json': { 'a.jsonnet': { dir: out, hooks: { ready } } },
      'conf/b.json': { 'b.jsonnet': { dir: out } },
      'conf/a.jsonnet': "{ 'a.txt': 'a' }",
      'conf/b.jsonnet': "{ 'b.txt': 'b' }",
    });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(log, 'utf8')).toBe('ran\n');
    expect(r.lines.filter((l) => l.msg === 'hook ran')).toMatchObject([{ hook: 'ready', template: 'a.jsonnet', exitCode: 0 }]);
  });

  it('a failing or missing hook does not change the exit code', async () => {
    const root = project({
      'conf/a.json': {
        'a.jsonnet': { dir: '../out', hooks: { ready: '/bin/sh -c "exit 7"' } },
        'b.jsonnet': { dir: '../out', hooks: { ready: '/no/such/hook' } },
      },
      'conf/a.jsonnet': "{ 'a.txt': 'a' }",
      'conf/b.jsonnet': "{ 'b.txt': 'b' }",
    });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(root, 'out')).sort()).toEqual(['a.txt', 'b.txt']);
    const hookLogs = r.lines.filter((l) => typeof l.hook === 'string');
    expect(hookLogs).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 40, msg: 'hook failed', exitCode: 7, template: 'a.jsonnet' }),
        expect.objectContaining({ level: 50, template: 'b.jsonnet', msg: expect.stringContaining('command not found') }),
      ]),
    );
  });

  it('--check runs no hook', async () => {
    const root = tmp.make();
    const log = join(root, 'hook.log');
    const conf = project({
      'conf/a.json': { 'a.jsonnet': { dir: join(root, 'out'), hooks: { ready: `/bin/sh -c "echo ran >> '${log}'"` } } },
      'conf/a.jsonnet': "{ 'a.txt': 'a' }",
    });
    const r = await run(['--dir', join(conf, 'conf'), '--check']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(log)).toBe(false);
  });
});

describe.concurrent('runtime failures: exit 1 naming the secret or the template', () => {
  it('a missing environment variable', async () => {
    const root = project({ 'conf/a.json': { 'a.jsonnet': { dir: '../out', secrets: { 'env:str:TCONFD_TEST_MISSING': 'x' } } }, 'conf/a.jsonnet': "{ 'a.txt': 'a' }" });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('tconfd: secret "env:str:TCONFD_TEST_MISSING": environment variable TCONFD_TEST_MISSING is not set\n');
    expect(existsSync(join(root, 'out'))).toBe(false);
  });

  it('a failing exe command: its status, never its stderr', async () => {
    const path = "exe:str:/bin/sh -c 'echo connecting >&2; echo no route to db >&2; exit 4'";
    const root = project({ 'conf/a.json': { 'a.jsonnet': { dir: '../out', secrets: { [path]: 'x' } } }, 'conf/a.jsonnet': "{ 'a.txt': 'a' }" });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tconfd: secret ".*": command exited with status 4 \(.*2 lines on stderr, not shown.*\)\n$/);
    expect(r.stderr.slice(r.stderr.indexOf('": command'))).not.toContain('no route to db');
  });

  it('a Jsonnet error names the template and file:line, and nothing is written', async () => {
    const root = project({
      'conf/a.json': { 'a.jsonnet': { dir: '../out' }, 'b.jsonnet': { dir: '../out' } },
      'conf/a.jsonnet': "{ 'a.txt': 'fine' }",
      'conf/b.jsonnet': "{\n  'b.txt': std.extVar('secrets').nope,\n}\n",
    });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tconfd: template "b\.jsonnet": output "b\.txt": RUNTIME ERROR: field does not exist: nope \(at \S*\/conf\/b\.jsonnet:2:\d+(-\d+)?\)\n$/);
    expect(existsSync(join(root, 'out'))).toBe(false);
  });

  it('two templates writing the same file', async () => {
    const root = project({
      'conf/a.json': { 'a.jsonnet': { dir: '../out' } },
      'conf/b.json': { 'b.jsonnet': { dir: '../out' } },
      'conf/a.jsonnet': "{ 'same.txt': 'a' }",
      'conf/b.jsonnet': "{ 'same.txt': 'b' }",
    });
    const r = await run(['--dir', 'conf', '--once'], { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tconfd: template "b.jsonnet": writes ${join(root, 'out/same.txt')}, which template "a.jsonnet" (conf/a.json) also writes\n`);
    expect(existsSync(join(root, 'out'))).toBe(false);
  });
});

describe.concurrent('bad usage and bad configuration: exit 2 and one line', () => {
  it.each([
    [['--frobnicate'], 'unknown option: --frobnicate (see --help)'],
    [['-x', '--once'], 'unknown option: -x (see --help)'],
    [['--log-level', 'loud'], '--log-level: "loud" is not one of "trace", "debug", "info", "warn", "error", "fatal", "silent"'],
    [['--wait', '3x'], /--wait: [^\n]*"3x"[^\n]*/],
    [['--ready-fd', '1'], '--ready-fd: "1" is not a whole number >= 3'],
    [['--dir'], '--dir needs a value'],
    [['--once', 'myapp'], 'unexpected argument "myapp" (put the command to run after --)'],
    [['--once', '--', '/usr/bin/myapp', '--flag'], '--once renders and exits: it takes no command after --'],
    [['--check', '--', '/usr/bin/myapp'], '--check renders and exits: it takes no command after --'],
  ] as [string[], string | RegExp][])('%j', async (args, line) => {
    expectUsageError(await run(args), line);
  });

  it('a missing config directory', async () => {
    const root = tmp.make();
    expectUsageError(await run(['--dir', 'nope.d', '--once'], { cwd: root }), 'nope.d: cannot read the config directory (--dir): no such file or directory');
  });

  it.skipIf(existsSync('/etc/tconfd'))('no --dir and no TCONFD_DIR: /etc/tconfd', async () => {
    expectUsageError(await run(['--once']), '/etc/tconfd: cannot read the config directory (--dir): no such file or directory');
  });

  it('an empty config directory', async () => {
    const root = project({ 'conf/README.md': 'no config here' });
    expectUsageError(await run(['--dir', 'conf', '--once'], { cwd: root }), 'conf: no *.json config file in the config directory');
  });

  it('invalid config JSON', async () => {
    const root = project({ 'conf/app.json': '{\n  "app.jsonnet": {\n    "dir": "out",\n  }\n}\n' });
    expectUsageError(await run(['--dir', 'conf', '--once'], { cwd: root }), 'conf/app.json: not valid JSON: line 4, column 3: a trailing comma is not allowed in JSON (found "}" after ",")');
  });

  it('a schema violation', async () => {
    const root = project({ 'conf/app.json': { 'app.jsonnet': { mode: 'rw-r-----' } } });
    expectUsageError(await run(['--dir', 'conf', '--once'], { cwd: root }), 'conf/app.json: "app.jsonnet".mode: must be an octal file mode such as "0640"');
    const unknown = project({ 'conf/app.json': { 'app.jsonnet': { owner: 'www-data' } } });
    expectUsageError(
      await run(['--dir', 'conf', '--once'], { cwd: unknown }),
      'conf/app.json: "app.jsonnet": unknown key "owner" (expected dir, mode, user, secrets, confine, hooks, on_change)',
    );
  });

  it('a bad secret path', async () => {
    const root = project({ 'conf/app.json': { 'app.jsonnet': { secrets: { 'vault:app': 'db' } } } });
    expectUsageError(
      await run(['--dir', 'conf', '--once'], { cwd: root }),
      'conf/app.json: "app.jsonnet".secrets: "vault:app" is not a secret path (expected BACKEND:ARGS:PATH)',
    );
  });

  it('an unset ${VAR}', async () => {
    const root = project({ 'conf/app.json': { 'app.jsonnet': { dir: '/srv/${TCONFD_TEST_UNSET}' } } });
    expectUsageError(
      await run(['--dir', 'conf', '--once'], { cwd: root }),
      'conf/app.json: "app.jsonnet".dir: "/srv/${TCONFD_TEST_UNSET}" uses ${TCONFD_TEST_UNSET}, which is not set in the environment (use ${TCONFD_TEST_UNSET:-default} for a default)',
    );
  });

  it('a relative hook command', async () => {
    const root = project({ 'conf/app.json': { 'app.jsonnet': { hooks: { ready: 'echo done' } } } });
    expectUsageError(
      await run(['--dir', 'conf', '--once'], { cwd: root }),
      'conf/app.json: "app.jsonnet".hooks.ready: "echo" is not an absolute path (hook commands must start with /)',
    );
  });
});

describe.concurrent('help and version', () => {
  it('--help exits 0 and shows the options and examples', async () => {
    for (const flag of ['--help', '-h']) {
      const r = await run([flag]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toContain('Examples:');
      expect(r.stdout).toContain('tconfd -d examples/quickstart/tconfd.d --once');
      for (const opt of ['--dir', '--jpath', '--once', '--check', '--log-level']) expect(r.stdout).toContain(opt);
    }
  });

  it("--version prints package.json's version", async () => {
    const r = await run(['--version']);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 0, stdout: `${VERSION}\n`, stderr: '' });
  });
});
