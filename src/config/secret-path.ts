/**
 * Secret paths, in rconfd's syntax: `BACKEND:ARGS:PATH`.
 *
 * ARGS is a comma-separated list; an arg of the form `key=value` goes into a JSON body (vault only), the others are
 * plain args. PATH is everything after the second `:` (rconfd's parser refuses `:`, `,` and `=` in PATH; tconfd
 * accepts them, so `exe:str:/bin/echo a=b` works). Pure: no I/O.
 */
import { splitArgv } from './argv.js';

export type Backend = 'vault' | 'env' | 'file' | 'exe';
export const BACKENDS: readonly Backend[] = ['vault', 'env', 'file', 'exe'];

/**
 * How a value becomes a Jsonnet value: `str` keeps the text, `js` parses it as JSON (both refuse bytes that are not
 * UTF-8), `b64` gives the raw bytes as base64 (file and exe only: keystores, DER files, anything binary).
 */
export type Format = 'str' | 'js' | 'b64';

export type VaultMethod = 'GET' | 'POST' | 'PUT' | 'LIST';
export const VAULT_METHODS: readonly VaultMethod[] = ['GET', 'POST', 'PUT', 'LIST'];

interface SpecBase {
  /** The secret path exactly as written in the config (after `${VAR}` substitution): the secret's identity. */
  readonly raw: string;
}

export interface EnvSecretSpec extends SpecBase {
  readonly backend: 'env';
  readonly format: Format;
  /** Name of the environment variable. */
  readonly name: string;
}

export interface FileSecretSpec extends SpecBase {
  readonly backend: 'file';
  readonly format: Format;
  /** Path of the file (relative paths are resolved against the config directory by the loader). */
  readonly path: string;
}

export interface ExeSecretSpec extends SpecBase {
  readonly backend: 'exe';
  readonly format: Format;
  /** static: run once; dynamic: run again at every rendering of a template that uses it. */
  readonly refresh: 'static' | 'dynamic';
  /** Absolute path of the command. */
  readonly command: string;
  readonly args: readonly string[];
}

export interface VaultSecretSpec extends SpecBase {
  readonly backend: 'vault';
  /** The Vault role used to log in (ignored with token auth). */
  readonly role: string;
  readonly method: VaultMethod;
  /** key=value args, sent as the JSON request body; undefined when there were none. */
  readonly body: Readonly<Record<string, string>> | undefined;
  /** API path after /v1/, without a leading slash. */
  readonly path: string;
}

export type SecretSpec = EnvSecretSpec | FileSecretSpec | ExeSecretSpec | VaultSecretSpec;

/** A secret path that does not parse. `message` says why, without the path itself (the caller names it). */
export class SecretPathError extends Error {
  override readonly name = 'SecretPathError';
}

const FORMATS: readonly Format[] = ['str', 'js', 'b64'];

/**
 * Parse one secret path. Throws SecretPathError with a message meant to follow the quoted path, e.g.
 * `"vault:app" is not a secret path (expected BACKEND:ARGS:PATH)`.
 */
export function parseSecretPath(raw: string): SecretSpec {
  const first = raw.indexOf(':');
  const second = first < 0 ? -1 : raw.indexOf(':', first + 1);
  if (first < 0 || second < 0) {
    throw new SecretPathError('is not a secret path (expected BACKEND:ARGS:PATH)');
  }
  const backend = raw.slice(0, first);
  const argText = raw.slice(first + 1, second);
  const path = raw.slice(second + 1);
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new SecretPathError(
      `has an unknown backend "${backend}" (expected one of ${BACKENDS.join(', ')})`,
    );
  }
  if (argText === '') throw new SecretPathError('has no ARGS (expected BACKEND:ARGS:PATH)');
  if (path === '') throw new SecretPathError('has an empty PATH (expected BACKEND:ARGS:PATH)');

  const args: string[] = [];
  const kwargs: [string, string][] = [];
  for (const arg of argText.split(',')) {
    if (arg === '') throw new SecretPathError('has an empty argument in ARGS');
    const eq = arg.indexOf('=');
    if (eq < 0) {
      args.push(arg);
    } else {
      const key = arg.slice(0, eq);
      const value = arg.slice(eq + 1);
      if (key === '' || value === '') {
        throw new SecretPathError(`has a malformed key=value argument "${arg}"`);
      }
      kwargs.push([key, value]);
    }
  }

  switch (backend as Backend) {
    case 'vault':
      return parseVault(raw, args, kwargs, path);
    case 'env':
    case 'file': {
      noKwargs(backend, kwargs);
      const format = onlyFormat(backend, args);
      if (backend === 'env') {
        if (format === 'b64') {
          throw new SecretPathError('has format "b64", which only file and exe take (an environment variable is text)');
        }
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(path)) {
          throw new SecretPathError(`names "${path}", which is not an environment variable name`);
        }
        return { backend: 'env', raw, format, name: path };
      }
      return { backend: 'file', raw, format, path };
    }
    case 'exe':
      return parseExe(raw, args, kwargs, path);
  }
}

function noKwargs(backend: string, kwargs: [string, string][]): void {
  if (kwargs.length > 0) {
    throw new SecretPathError(`has key=value arguments, which only the vault backend takes`);
  }
}

function parseFormat(backend: string, arg: string | undefined): Format {
  if (arg === undefined || !(FORMATS as readonly string[]).includes(arg)) {
    throw new SecretPathError(
      backend === 'env'
        ? `has format "${arg ?? ''}" (expected env:str:... or env:js:...)`
        : `has format "${arg ?? ''}" (expected ${backend}:str:..., ${backend}:js:... or ${backend}:b64:...)`,
    );
  }
  return arg as Format;
}

function onlyFormat(backend: string, args: string[]): Format {
  const format = parseFormat(backend, args[0]);
  if (args.length > 1) {
    throw new SecretPathError(`has unexpected arguments "${args.slice(1).join(',')}" after the format`);
  }
  return format;
}

function parseExe(raw: string, args: string[], kwargs: [string, string][], path: string): ExeSecretSpec {
  noKwargs('exe', kwargs);
  const format = parseFormat('exe', args[0]);
  let refresh: 'static' | 'dynamic' = 'static';
  if (args.length > 2) {
    throw new SecretPathError(`has unexpected arguments "${args.slice(2).join(',')}"`);
  }
  if (args[1] !== undefined) {
    if (args[1] !== 'static' && args[1] !== 'dynamic') {
      throw new SecretPathError(`has "${args[1]}" where static or dynamic was expected`);
    }
    refresh = args[1];
  }
  let argv: string[];
  try {
    argv = splitArgv(path);
  } catch (err) {
    throw new SecretPathError(`has a command that does not parse: ${(err as Error).message}`);
  }
  const [command, ...rest] = argv;
  if (command === undefined) throw new SecretPathError('has an empty command');
  if (!command.startsWith('/')) {
    throw new SecretPathError(`runs "${command}", which is not an absolute path (exe commands must start with /)`);
  }
  return { backend: 'exe', raw, format, refresh, command, args: rest };
}

function parseVault(
  raw: string,
  args: string[],
  kwargs: [string, string][],
  path: string,
): VaultSecretSpec {
  const [role, method, ...extra] = args;
  if (role === undefined) throw new SecretPathError('has no Vault role (expected vault:ROLE[,METHOD][,k=v]*:PATH)');
  if (extra.length > 0) {
    throw new SecretPathError(`has unexpected arguments "${extra.join(',')}" (expected vault:ROLE[,METHOD][,k=v]*:PATH)`);
  }
  let m: VaultMethod = 'GET';
  if (method !== undefined) {
    const upper = method.toUpperCase();
    if (!(VAULT_METHODS as readonly string[]).includes(upper)) {
      throw new SecretPathError(`has method "${method}" (expected one of ${VAULT_METHODS.join(', ')})`);
    }
    m = upper as VaultMethod;
  }
  const apiPath = path.replace(/^\/+/, '');
  if (apiPath === '') throw new SecretPathError('has an empty Vault API path');
  let body: Record<string, string> | undefined;
  if (kwargs.length > 0) {
    body = {};
    for (const [k, v] of kwargs) body[k] = v;
  }
  return { backend: 'vault', raw, role, method: m, body, path: apiPath };
}
