import { describe, expect, it } from 'vitest';
import { splitArgv } from '../../src/config/argv.js';
import { parseSecretPath, SecretPathError, type SecretSpec } from '../../src/config/secret-path.js';
import { substitute } from '../../src/config/subst.js';

/** A parsed spec without its raw text (distributes over the union). */
type Parsed = SecretSpec extends infer S ? (S extends SecretSpec ? Omit<S, 'raw'> : never) : never;

/** rconfd's README secret paths, as written there (with ${NAMESPACE}). */
const README_ENV = { NAMESPACE: 'prod' };

describe('parseSecretPath: valid paths', () => {
  const cases: [string, Parsed][] = [
    // the seed's own example
    ['vault:app:database/creds/app', { backend: 'vault', role: 'app', method: 'GET', body: undefined, path: 'database/creds/app' }],
    // rconfd README, after ${NAMESPACE} substitution
    ['vault:${NAMESPACE}-role:kv/data/test/mysecret', { backend: 'vault', role: 'prod-role', method: 'GET', body: undefined, path: 'kv/data/test/mysecret' }],
    ['vault:${NAMESPACE}-role:database/creds/mydb', { backend: 'vault', role: 'prod-role', method: 'GET', body: undefined, path: 'database/creds/mydb' }],
    [
      'vault:${NAMESPACE}-role,POST,common_name=example.com:pki/issue/example.com',
      { backend: 'vault', role: 'prod-role', method: 'POST', body: { common_name: 'example.com' }, path: 'pki/issue/example.com' },
    ],
    [
      'vault:${NAMESPACE}-role,POST,input=password:transit/hmac/mysecret',
      { backend: 'vault', role: 'prod-role', method: 'POST', body: { input: 'password' }, path: 'transit/hmac/mysecret' },
    ],
    ['env:str:NAMESPACE', { backend: 'env', format: 'str', name: 'NAMESPACE' }],
    ['file:js:file.json', { backend: 'file', format: 'js', path: 'file.json' }],
    ['exe:str:/usr/bin/nproc --all', { backend: 'exe', format: 'str', refresh: 'static', command: '/usr/bin/nproc', args: ['--all'] }],
    ['exe:str,dynamic:/usr/bin/date +%s', { backend: 'exe', format: 'str', refresh: 'dynamic', command: '/usr/bin/date', args: ['+%s'] }],
    // more of the syntax
    ['vault:r,list:kv/metadata/app', { backend: 'vault', role: 'r', method: 'LIST', body: undefined, path: 'kv/metadata/app' }],
    ['vault:r,PUT,a=1,b=x=y:sys/tools/random', { backend: 'vault', role: 'r', method: 'PUT', body: { a: '1', b: 'x=y' }, path: 'sys/tools/random' }],
    ['vault:r,ttl=1h:pki/issue/web', { backend: 'vault', role: 'r', method: 'GET', body: { ttl: '1h' }, path: 'pki/issue/web' }],
    ['vault:r:/kv/data/x', { backend: 'vault', role: 'r', method: 'GET', body: undefined, path: 'kv/data/x' }],
    ['env:js:APP_CONFIG', { backend: 'env', format: 'js', name: 'APP_CONFIG' }],
    ['file:str:/etc/ssl/a:b.pem', { backend: 'file', format: 'str', path: '/etc/ssl/a:b.pem' }],
    ['exe:js,static:/bin/echo \'{"a": 1}\'', { backend: 'exe', format: 'js', refresh: 'static', command: '/bin/echo', args: ['{"a": 1}'] }],
    ['exe:str:/bin/echo a=b c,d:e', { backend: 'exe', format: 'str', refresh: 'static', command: '/bin/echo', args: ['a=b', 'c,d:e'] }],
    ['exe:str:/bin/echo x; rm -rf $HOME', { backend: 'exe', format: 'str', refresh: 'static', command: '/bin/echo', args: ['x;', 'rm', '-rf', '$HOME'] }],
  ];

  it.each(cases)('%s', (written, expected) => {
    const raw = substitute(written, README_ENV);
    const spec = parseSecretPath(raw);
    expect(spec).toEqual({ ...expected, raw });
  });

  it('a body is JSON-serialisable as the request body from key=value args', () => {
    const spec = parseSecretPath('vault:web,POST,common_name=example.com,ttl=24h:pki/issue/example.com');
    expect(spec.backend === 'vault' && JSON.stringify(spec.body)).toBe('{"common_name":"example.com","ttl":"24h"}');
  });
});

describe('parseSecretPath: malformed paths', () => {
  const cases: [string, string][] = [
    ['vault:app', 'is not a secret path (expected BACKEND:ARGS:PATH)'],
    ['HOME', 'is not a secret path (expected BACKEND:ARGS:PATH)'],
    ['vault::kv/data/x', 'has no ARGS (expected BACKEND:ARGS:PATH)'],
    ['env:str:', 'has an empty PATH (expected BACKEND:ARGS:PATH)'],
    ['consul:r:kv/x', 'has an unknown backend "consul" (expected one of vault, env, file, exe)'],
    ['env:xml:HOME', 'has format "xml" (expected env:str:... or env:js:...)'],
    ['file:json:/etc/x.json', 'has format "json" (expected file:str:..., file:js:... or file:b64:...)'],
    ['exe:dynamic:/bin/date', 'has format "dynamic" (expected exe:str:..., exe:js:... or exe:b64:...)'],
    ['exe:str:date +%s', 'runs "date", which is not an absolute path (exe commands must start with /)'],
    ['exe:str:./bin/secret', 'runs "./bin/secret", which is not an absolute path (exe commands must start with /)'],
    ["exe:str:/bin/echo 'oops", 'has a command that does not parse: unterminated single quote'],
    ['exe:str:/bin/echo "oops', 'has a command that does not parse: unterminated double quote'],
    ['exe:str:/bin/echo oops\\', 'has a command that does not parse: trailing backslash'],
    ['exe:str:   ', 'has an empty command'],
    ['exe:str,sometimes:/bin/date', 'has "sometimes" where static or dynamic was expected'],
    ['exe:str,static,x:/bin/date', 'has unexpected arguments "x"'],
    ['exe:str,a=b:/bin/true', 'has key=value arguments, which only the vault backend takes'],
    ['vault:r,FETCH:kv/x', 'has method "FETCH" (expected one of GET, POST, PUT, LIST)'],
    ['vault:r,POST,extra:kv/x', 'has unexpected arguments "extra" (expected vault:ROLE[,METHOD][,k=v]*:PATH)'],
    ['vault:r,=x:kv/x', 'has a malformed key=value argument "=x"'],
    ['vault:r,k=:kv/x', 'has a malformed key=value argument "k="'],
    ['vault:r,,POST:kv/x', 'has an empty argument in ARGS'],
    ['vault:a=b:kv/x', 'has no Vault role (expected vault:ROLE[,METHOD][,k=v]*:PATH)'],
    ['vault:r:/', 'has an empty Vault API path'],
    ['env:str,a=b:HOME', 'has key=value arguments, which only the vault backend takes'],
    ['env:str,x:HOME', 'has unexpected arguments "x" after the format'],
    ['env:str:MY-VAR', 'names "MY-VAR", which is not an environment variable name'],
    ['file:js,x:/etc/x.json', 'has unexpected arguments "x" after the format'],
  ];

  it.each(cases)('%s', (raw, message) => {
    let caught: unknown;
    try {
      parseSecretPath(raw);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(SecretPathError);
    expect((caught as Error).message).toBe(message);
  });
});

describe('splitArgv: POSIX word splitting without expansion', () => {
  const cases: [string, string[]][] = [
    ['', []],
    [' \t ', []],
    ['/bin/echo a  b\tc ', ['/bin/echo', 'a', 'b', 'c']],
    ["'a b' c", ['a b', 'c']],
    ['"a b" c', ['a b', 'c']],
    ['"a \\"q\\" \\\\ \\$HOME \\`x\\`"', ['a "q" \\ $HOME `x`']],
    ['"a\\nb"', ['a\\nb']],
    ["'a\\b'", ['a\\b']],
    ["'it''s'", ['its']],
    ['a\'b\'"c"d', ['abcd']],
    ['a\\ b', ['a b']],
    ["\\'", ["'"]],
    ['$HOME ${X} ~ *.txt ;|& $(id) `id`', ['$HOME', '${X}', '~', '*.txt', ';|&', '$(id)', '`id`']],
    ["''", ['']],
    ['a "" b', ['a', '', 'b']],
    ['/bin/sh -c "echo ran >> /tmp/f"', ['/bin/sh', '-c', 'echo ran >> /tmp/f']],
    ['a \\\n b', ['a', 'b']],
    ['a\\\nb', ['ab']],
    ['"a\\\nb"', ['ab']],
  ];

  it.each(cases)('%j', (line, words) => {
    expect(splitArgv(line)).toEqual(words);
  });

  it.each([
    ["echo 'x", 'unterminated single quote'],
    ['echo "x', 'unterminated double quote'],
    ['echo "x\\"', 'unterminated double quote'],
    ['echo x\\', 'trailing backslash'],
  ])('%j is an error: %s', (line, message) => {
    expect(() => splitArgv(line)).toThrow(message);
  });
});
