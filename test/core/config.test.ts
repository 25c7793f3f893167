import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { substitute, SubstitutionError } from '../../src/config/subst.js';
import { tempDirs } from './helpers.js';

const mkdir = tempDirs('tconfd-config-');
type Env = Record<string, string | undefined>;

/** A project dir with tconfd.d/<name> for each entry (objects as JSON, strings as they are). */
function project(configs: Record<string, unknown>): string {
  const files: Record<string, string> = {};
  for (const [name, c] of Object.entries(configs)) files[`tconfd.d/${name}`] = typeof c === 'string' ? c : JSON.stringify(c, null, 2);
  return mkdir(files);
}

function load(configs: Record<string, unknown>, env: Env = {}): LoadedConfig {
  return loadConfig({ dir: 'tconfd.d', cwd: project(configs), env });
}

/** The ConfigError message of loading these configs. */
function loadError(configs: Record<string, unknown>, env: Env = {}): string {
  try {
    load(configs, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('rconfd compatibility', () => {
  it("loads rconfd's README example config unchanged", () => {
    const readme = {
      'test.jsonnet': {
        dir: '/etc/test/${INSTANCE}',
        mode: '0644',
        user: 'test-user',
        secrets: {
          'vault:${NAMESPACE}-role:kv/data/test/mysecret': 'mysecret',
          'vault:${NAMESPACE}-role:database/creds/mydb': 'mydb',
          'vault:${NAMESPACE}-role,POST,common_name=example.com:pki/issue/example.com': 'cert',
          'vault:${NAMESPACE}-role,POST,input=password:transit/hmac/mysecret': 'mysecret2',
          'env:str:NAMESPACE': 'namespace',
          'file:js:file.json': 'file',
          'exe:str:/usr/bin/nproc --all': 'cpu',
          'exe:str,dynamic:/usr/bin/date +%s': 'timestamp',
        },
        hooks: { modified: '/usr/bin/echo reloading', ready: '/usr/bin/echo all files generated' },
      },
    };
    const root = project({ 'test.json': readme });
    const cfg = loadConfig({ dir: 'tconfd.d', cwd: root, env: { NAMESPACE: 'prod', INSTANCE: 'i1' } });
    expect(cfg.templates).toHaveLength(1);
    const t = cfg.templates[0]!;
    expect(t.templatePath).toBe(join(root, 'tconfd.d', 'test.jsonnet'));
    expect(t.dir).toBe('/etc/test/i1');
    expect(t.mode).toBe(0o644);
    expect(t.user).toBe('test-user');
    expect(t.hooks).toEqual({
      modified: ['/usr/bin/echo', 'reloading'],
      ready: ['/usr/bin/echo', 'all', 'files', 'generated'],
    });
    expect(Object.fromEntries(t.secrets.map((s) => [s.name, s.spec.raw]))).toEqual({
      mysecret: 'vault:prod-role:kv/data/test/mysecret',
      mydb: 'vault:prod-role:database/creds/mydb',
      cert: 'vault:prod-role,POST,common_name=example.com:pki/issue/example.com',
      mysecret2: 'vault:prod-role,POST,input=password:transit/hmac/mysecret',
      namespace: 'env:str:NAMESPACE',
      file: 'file:js:file.json',
      cpu: 'exe:str:/usr/bin/nproc --all',
      timestamp: 'exe:str,dynamic:/usr/bin/date +%s',
    });
    const file = t.secrets.find((s) => s.name === 'file')!.spec;
    expect(file.backend === 'file' && file.path).toBe(join(root, 'tconfd.d', 'file.json'));
    expect(cfg.secrets.size).toBe(8);
  });
});

describe('validation errors: one line naming the file and the key', () => {
  it('a bad secret path', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'vault:app': 'db' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: "vault:app" is not a secret path (expected BACKEND:ARGS:PATH)',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'exe:str:nproc': 'cpus' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: "exe:str:nproc" runs "nproc", which is not an absolute path (exe commands must start with /)',
    );
  });

  it('shows the secret path after substitution', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'env:${FMT}:X': 'x' } } } }, { FMT: 'yaml' })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: "env:yaml:X" has format "yaml" (expected env:str:... or env:js:...)',
    );
  });

  it('unknown keys, in a template and in hooks', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { secret: {} } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet": unknown key "secret" (expected dir, mode, user, secrets, confine, hooks, on_change)',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { owner: 'x', group: 'y' } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet": unknown keys "owner", "group" (expected dir, mode, user, secrets, confine, hooks, on_change)',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { hooks: { reload: '/bin/true' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".hooks: unknown key "reload" (expected modified, ready)',
    );
  });

  it('wrong types', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { mode: 644 } } })).toBe('tconfd.d/app.json: "app.jsonnet".mode: must be a string');
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'env:str:HOME': 5 } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets."env:str:HOME": must be a string',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { hooks: { ready: ['/bin/true'] } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".hooks.ready: must be a string',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': 'x' } })).toBe('tconfd.d/app.json: "app.jsonnet": must be an object');
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: ['env:str:HOME'] } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: must be an object',
    );
    expect(loadError({ 'app.json': [] })).toBe('tconfd.d/app.json: must be an object');
  });

  it('a bad mode, an empty secret name, a bad on_change', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { mode: 'rw-r-----' } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".mode: must be an octal file mode such as "0640"',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { mode: '0999' } } })).toContain('"app.jsonnet".mode: must be an octal');
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'env:str:HOME': '' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets."env:str:HOME": must be a non-empty name',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { on_change: 'reload' } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".on_change: must be one of "signal", "restart", "none"',
    );
  });

  it('invalid JSON, with line and column', () => {
    const text = '{\n  "app.jsonnet": {\n    "mode": "0640",\n  }\n}\n';
    expect(loadError({ 'app.json': text })).toBe(
      'tconfd.d/app.json: not valid JSON: line 4, column 3: a trailing comma is not allowed in JSON (found "}" after ",")',
    );
  });

  it.each([
    ['a trailing comma in an array', '{\n  "a.jsonnet": {\n    "hooks": {},\n    "x": [1, 2,]\n  }\n}', 'line 4, column 16: a trailing comma is not allowed in JSON (found "]" after ",")'],
    ['a single-quoted value', '{\n  "a.jsonnet": {\n    "mode": \'0640\'\n  }\n}', 'line 3, column 13: expected a value, found "\'" (JSON strings and keys take double quotes)'],
    ['a comment', '{\n  // rendered by tconfd\n  "a.jsonnet": {}\n}', 'line 2, column 3: expected a key in double quotes or "}", found "/" (JSON has no comments)'],
    ['a bare word', '{"a.jsonnet": {"mode": undefined}}', 'line 1, column 24: expected a value, found "undefined" (strings take double quotes; the literals are true, false and null)'],
    ['garbage after the object', '{"a.jsonnet": {}}\n}', 'line 2, column 1: expected the end of the file, found "}"'],
    ['a missing colon', '{"a.jsonnet": {"dir" "out"}}', 'line 1, column 22: expected ":" after the key, found a string'],
    ['a missing comma', '{"a.jsonnet": {"dir": "out"\n "mode": "0600"}}', 'line 2, column 2: expected "," or "}", found a string'],
    ['an unclosed object', '{"a.jsonnet": {"dir": "out"}\n', 'line 1, column 29: expected "," or "}", found the end of the file'],
  ])('invalid JSON (%s): line, column, what was expected and what was found', (_what, text, message) => {
    expect(loadError({ 'app.json': text })).toBe(`tconfd.d/app.json: not valid JSON: ${message}`);
  });

  it('an empty file', () => {
    expect(loadError({ 'app.json': '' })).toBe('tconfd.d/app.json: not valid JSON: line 1, column 1: expected a value, found the end of the file');
  });

  it('an empty or missing config directory', () => {
    const root = mkdir();
    mkdirSync(join(root, 'tconfd.d'));
    expect(() => loadConfig({ dir: 'tconfd.d', cwd: root, env: {} })).toThrow(
      new ConfigError('tconfd.d: no *.json config file in the config directory'),
    );
    expect(() => loadConfig({ dir: 'nope.d', cwd: root, env: {} })).toThrow(
      new ConfigError('nope.d: cannot read the config directory (--dir): no such file or directory'),
    );
    const file = project({ 'a.json': {} });
    expect(() => loadConfig({ dir: 'tconfd.d/a.json', cwd: file, env: {} })).toThrow(
      new ConfigError('tconfd.d/a.json: not a directory (--dir)'),
    );
  });

  it('a relative hook command', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { hooks: { modified: 'systemctl reload nginx' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".hooks.modified: "systemctl" is not an absolute path (hook commands must start with /)',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { hooks: { ready: '/bin/echo "oops' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".hooks.ready: "/bin/echo "oops" does not parse: unterminated double quote',
    );
  });

  it('two secret paths with the same name', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'env:str:A': 'x', 'env:str:B': 'x' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: "env:str:B" and "env:str:A" are both named "x"',
    );
  });

  it('the same template with the same dir in two files', () => {
    expect(loadError({ 'a.json': { 'app.jsonnet': { dir: 'out' } }, 'b.json': { 'app.jsonnet': { dir: 'out' } } })).toBe(
      'tconfd.d/b.json: "app.jsonnet": template is already declared with the same dir in tconfd.d/a.json',
    );
  });
});

describe('${VAR} substitution', () => {
  it('an unset ${VAR} names the variable, in a secret path and in dir', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { secrets: { 'vault:${NAMESPACE}-role:kv/x': 'x' } } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".secrets: "vault:${NAMESPACE}-role:kv/x" uses ${NAMESPACE}, which is not set in the environment (use ${NAMESPACE:-default} for a default)',
    );
    expect(loadError({ 'app.json': { 'app.jsonnet': { dir: '/etc/${INSTANCE}' } } })).toBe(
      'tconfd.d/app.json: "app.jsonnet".dir: "/etc/${INSTANCE}" uses ${INSTANCE}, which is not set in the environment (use ${INSTANCE:-default} for a default)',
    );
  });

  it('a malformed reference is an error', () => {
    expect(loadError({ 'app.json': { 'app.jsonnet': { dir: '/etc/${}' } } })).toContain(
      '"app.jsonnet".dir: "/etc/${}" "${}" is not a variable reference',
    );
  });

  it('${VAR:-default} uses the default when VAR is unset or empty, VAR otherwise', () => {
    const cfg = (env: Env) => load({ 'app.json': { 'app.jsonnet': { dir: '/srv/${INSTANCE:-main}', secrets: { 'env:str:${V:-HOME}': 'v' } } } }, env);
    for (const env of [{}, { INSTANCE: '', V: '' }]) {
      const t = cfg(env).templates[0]!;
      expect(t.dir).toBe('/srv/main');
      expect(t.secrets[0]!.spec.raw).toBe('env:str:HOME');
    }
    const t = cfg({ INSTANCE: 'blue', V: 'USER' }).templates[0]!;
    expect(t.dir).toBe('/srv/blue');
    expect(t.secrets[0]!.spec.raw).toBe('env:str:USER');
  });

  it('$$ is a literal $ (and what follows is not substituted)', () => {
    const t = load({ 'app.json': { 'app.jsonnet': { secrets: { 'exe:str:/bin/echo $${HOME} $$x': 'v' } } } }).templates[0]!;
    const spec = t.secrets[0]!.spec;
    expect(spec.raw).toBe('exe:str:/bin/echo ${HOME} $x');
    expect(spec.backend === 'exe' && spec.args).toEqual(['${HOME}', '$x']);
  });

  it('substitute() on its own', () => {
    expect(substitute('a-${X}-${Y:-d}-${Z:-}-$$-$', { X: '1' })).toBe('a-1-d--$-$');
    expect(substitute('${X:-a:-b}', {})).toBe('a:-b');
    expect(() => substitute('${MISSING}', {})).toThrow(SubstitutionError);
    expect(() => substitute('x ${MISSING} y', {})).toThrow(expect.objectContaining({ variable: 'MISSING' }));
    // an empty but set variable is a value, not an error
    expect(substitute('[${EMPTY}]', { EMPTY: '' })).toBe('[]');
  });
});

describe('files and paths', () => {
  it('reads *.json files in lexicographic order and ignores the others', () => {
    const root = project({
      'b.json': { 'b.jsonnet': {} },
      'a.json': { 'a.jsonnet': {} },
      '9.json': { '9.jsonnet': {} },
      '10.json': { '10.jsonnet': {} },
      'README.md': 'not json {',
      'old.json.bak': 'not json {',
      'app.jsonnet': '{}',
      '.hidden.json': 'not json {',
      'sub.json/x.json': 'not json {',
    });
    const cfg = loadConfig({ dir: 'tconfd.d', cwd: root, env: {} });
    expect(cfg.files).toEqual(['tconfd.d/10.json', 'tconfd.d/9.json', 'tconfd.d/a.json', 'tconfd.d/b.json']);
    expect(cfg.templates.map((t) => t.template)).toEqual(['10.jsonnet', '9.jsonnet', 'a.jsonnet', 'b.jsonnet']);
    expect(cfg.templates.map((t) => t.configFile)).toEqual(cfg.files);
  });

  it('resolves relative template paths, dir and file: paths against --dir, not the working directory', () => {
    const root = project({
      'app.json': {
        'app.jsonnet': { dir: 'out', secrets: { 'file:str:../data/key.txt': 'key', 'file:js:/etc/abs.json': 'abs' } },
        '/opt/templates/abs.jsonnet': { dir: '/var/lib/app' },
      },
    });
    const cfg = loadConfig({ dir: 'tconfd.d', cwd: root, env: {} });
    const [rel, abs] = cfg.templates;
    expect(cfg.dir).toBe(join(root, 'tconfd.d'));
    expect(rel!.templatePath).toBe(join(root, 'tconfd.d', 'app.jsonnet'));
    expect(rel!.dir).toBe(join(root, 'tconfd.d', 'out'));
    const paths = rel!.secrets.map((s) => (s.spec.backend === 'file' ? s.spec.path : undefined));
    expect(paths).toEqual([join(root, 'data', 'key.txt'), '/etc/abs.json']);
    expect(abs!.templatePath).toBe('/opt/templates/abs.jsonnet');
    expect(abs!.dir).toBe('/var/lib/app');
  });

  it('defaults: mode 0600, no dir, no user, no hooks', () => {
    const t = load({ 'app.json': { 'app.jsonnet': {} } }).templates[0]!;
    expect(t).toMatchObject({ mode: 0o600, dir: undefined, user: undefined, hooks: {}, onChange: undefined, secrets: [] });
    expect(load({ 'app.json': { 'app.jsonnet': { mode: '640' } } }).templates[0]!.mode).toBe(0o640);
  });

  it('a secret used by two templates is fetched once', () => {
    const cfg = load({
      'a.json': { 'a.jsonnet': { secrets: { 'env:str:HOME': 'home', 'env:str:USER': 'user' } } },
      'b.json': { 'b.jsonnet': { secrets: { 'env:str:HOME': 'h' } } },
    });
    expect([...cfg.secrets.keys()]).toEqual(['env:str:HOME', 'env:str:USER']);
  });

  it('splits hook commands like a shell splits words', () => {
    const t = load({ 'app.json': { 'app.jsonnet': { hooks: { ready: '/bin/sh -c "echo ran >> \'/tmp/x y\'"' } } } }).templates[0]!;
    expect(t.hooks.ready).toEqual(['/bin/sh', '-c', "echo ran >> '/tmp/x y'"]);
  });
});

describe('"__proto__" as a key (JSON.parse keeps it; an object built by assignment would drop it)', () => {
  it('a template named "__proto__" is a template like any other, in its place', () => {
    const c = load({ 'app.json': '{"a.jsonnet": {"dir": "out"}, "__proto__": {"dir": "out2", "mode": "0640"}, "z.jsonnet": {}}' });
    expect(c.templates.map((t) => [t.template, t.mode])).toEqual([
      ['a.jsonnet', 0o600],
      ['__proto__', 0o640],
      ['z.jsonnet', 0o600],
    ]);
    expect(loadError({ 'app.json': '{"__proto__": {"mode": "0777x"}}' })).toMatch(/^tconfd\.d\/app\.json: "__proto__"\.mode: must be an octal file mode/);
  });

  it('a secret path "__proto__" is refused like any bad secret path, naming it; a secret named "__proto__" is kept', () => {
    expect(loadError({ 'app.json': '{"a.jsonnet": {"secrets": {"env:str:A": "a", "__proto__": "p"}}}' })).toMatch(/^tconfd\.d\/app\.json: "a\.jsonnet"\.secrets: "__proto__" /);
    const c = load({ 'app.json': '{"a.jsonnet": {"secrets": {"env:str:A": "__proto__"}}}' });
    expect(c.templates[0]!.secrets.map((s) => [s.spec.raw, s.name])).toEqual([['env:str:A', '__proto__']]);
  });
});
