/**
 * Load every *.json config file of a directory (lexicographic order), substitute `${VAR}`, validate, and turn it into
 * typed template configs plus the set of distinct secrets they need (a secret used by several templates is one
 * entry). Every error names the file and the key at fault.
 */
import { readdirSync, statSync } from 'node:fs';
import { MAX_CONFIG_FILE_BYTES, readRegularFileSync, ReadFileError } from '../read-file.js';
import { isAbsolute, join, resolve } from 'node:path';
import type { z } from 'zod';
import { splitArgv } from './argv.js';
import { JsonTextError, parseJsonConfig } from './json.js';
import { configFileSchema, templateSchema, type ConfigFile, type TemplateEntry } from './schema.js';
import { parseSecretPath, SecretPathError, type SecretSpec } from './secret-path.js';
import { substitute, SubstitutionError } from './subst.js';
import { isValidConfig } from './valid.js';

export type OnChange = 'signal' | 'restart' | 'none';

export interface TemplateSecret {
  /** The name under which the value appears in std.extVar('secrets'). */
  readonly name: string;
  readonly spec: SecretSpec;
}

export interface TemplateConfig {
  /** Unique id: config file + template key. */
  readonly id: string;
  /** The config file, as displayed in messages (e.g. "tconfd.d/app.json"). */
  readonly configFile: string;
  /** The template key as written in the config file. */
  readonly template: string;
  /** Absolute path of the Jsonnet file. */
  readonly templatePath: string;
  /** Absolute base directory for relative outputs, if the config gives one. */
  readonly dir: string | undefined;
  readonly mode: number;
  /** Owner, as written (user name, name:group, uid or uid:gid), resolved when writing. */
  readonly user: string | undefined;
  readonly secrets: readonly TemplateSecret[];
  readonly hooks: { readonly modified?: readonly string[]; readonly ready?: readonly string[] };
  readonly onChange: OnChange | undefined;
  /** "confine": absolute output paths refused (undefined: the --confine default). */
  readonly confine: boolean | undefined;
}

export interface LoadedConfig {
  readonly dir: string;
  readonly files: readonly string[];
  readonly templates: readonly TemplateConfig[];
  /** Distinct secrets by their (substituted) path. */
  readonly secrets: ReadonlyMap<string, SecretSpec>;
}

/** Bad configuration: the message is one line naming the file and key. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadOptions {
  /** The config directory as the user gave it (used in messages). */
  readonly dir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolve relative paths against this (default process.cwd()). */
  readonly cwd?: string;
}

export function loadConfig(opts: LoadOptions): LoadedConfig {
  const cwd = opts.cwd ?? process.cwd();
  const absDir = resolve(cwd, opts.dir);
  let names: string[];
  try {
    if (!statSync(absDir).isDirectory()) throw new ConfigError(`${opts.dir}: not a directory (--dir)`);
    names = readdirSync(absDir);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${opts.dir}: cannot read the config directory (--dir): ${errnoText(err)}`);
  }
  const files = names
    .filter((n) => n.endsWith('.json') && !n.startsWith('.'))
    .filter((n) => {
      try {
        return statSync(join(absDir, n)).isFile();
      } catch {
        return false;
      }
    })
    .sort();
  if (files.length === 0) throw new ConfigError(`${opts.dir}: no *.json config file in the config directory`);

  const templates: TemplateConfig[] = [];
  const secrets = new Map<string, SecretSpec>();
  for (const name of files) {
    const shown = join(opts.dir, name);
    const parsed = parseFile(join(absDir, name), shown);
    for (const [key, entry, secretEntries] of parsed) {
      const tmpl = toTemplate(shown, absDir, key, entry, secretEntries, opts.env);
      const clash = templates.find((t) => t.templatePath === tmpl.templatePath && t.dir === tmpl.dir);
      if (clash) {
        throw new ConfigError(
          `${shown}: "${key}": template is already declared with the same dir in ${clash.configFile}`,
        );
      }
      templates.push(tmpl);
      for (const s of tmpl.secrets) if (!secrets.has(s.spec.raw)) secrets.set(s.spec.raw, s.spec);
    }
  }
  return { dir: absDir, files: files.map((f) => join(opts.dir, f)), templates, secrets };
}

/** A template of a config file: its key, its settings, and its secrets (path, name) in order. */
type ParsedEntry = [key: string, entry: TemplateEntry, secrets: Array<[path: string, name: string]>];

function parseFile(path: string, shown: string): ParsedEntry[] {
  let bytes: Buffer;
  try {
    bytes = readRegularFileSync(path, MAX_CONFIG_FILE_BYTES);
  } catch (err) {
    throw new ConfigError(`${shown}: cannot read: ${err instanceof ReadFileError && err.code !== 'ENOENT' && err.code !== 'EACCES' ? err.reason : errnoText(err)}`);
  }
  let json: unknown;
  try {
    json = parseJsonConfig(bytes);
  } catch (err) {
    if (err instanceof JsonTextError) throw new ConfigError(`${shown}: not valid JSON: ${err.message}`);
    throw err;
  }
  // The JSON Schema check passes a valid file at once; zod (built now) says what is wrong with any other, and decides.
  // A valid file is the parsed JSON itself, where a "__proto__" template or secret is an own key like any other.
  if (isValidConfig(json)) {
    return Object.entries(json as ConfigFile).map(([key, entry]) => [key, entry, Object.entries(entry.secrets ?? {})]);
  }
  const result = configFileSchema().safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`${shown}: ${formatIssue(issue)}`);
  }
  // zod leaves a "__proto__" key out of a record (assigning it would set the result's prototype): such a template or
  // secret is taken from the parsed JSON (where it is an own key) and validated the same way, never dropped silently.
  const raw = json as Record<string, unknown>;
  const templates: Array<[string, TemplateEntry, Record<string, unknown>]> = Object.entries(result.data).map(([k, e]) => [k, e, raw[k] as Record<string, unknown>]);
  if (Object.hasOwn(raw, '__proto__')) {
    const entry = templateSchema().safeParse(raw['__proto__']);
    if (!entry.success) throw new ConfigError(`${shown}: ${formatIssue({ ...entry.error.issues[0]!, path: ['__proto__', ...entry.error.issues[0]!.path] })}`);
    templates.unshift(['__proto__', entry.data, raw['__proto__'] as Record<string, unknown>]);
    templates.sort((a, b) => Object.keys(raw).indexOf(a[0]) - Object.keys(raw).indexOf(b[0]));
  }
  return templates.map(([key, entry, rawEntry]) => {
    const secrets: Array<[string, string]> = Object.entries(entry.secrets ?? {});
    const rawSecrets = rawEntry['secrets'] as Record<string, unknown> | undefined;
    if (rawSecrets !== undefined && Object.hasOwn(rawSecrets, '__proto__')) {
      const name = rawSecrets['__proto__'];
      if (typeof name !== 'string' || name === '') throw new ConfigError(`${shown}: ${JSON.stringify(key)}.secrets."__proto__": must be a non-empty name`);
      secrets.splice(Object.keys(rawSecrets).indexOf('__proto__'), 0, ['__proto__', name]);
    }
    return [key, entry, secrets];
  });
}

function formatIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  const where = keyPath(path);
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const expected = path[path.length - 1] === 'hooks' ? 'modified, ready' : 'dir, mode, user, secrets, confine, hooks, on_change';
    message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')} (expected ${expected})`;
  } else if (issue.code === 'invalid_key') {
    message = `key: ${issue.issues[0]?.message ?? issue.message}`;
  } else if (issue.code === 'invalid_type') {
    message = `must be ${article(issue.expected === 'record' ? 'object' : issue.expected)}`;
  } else if (issue.code === 'invalid_value' && 'values' in issue) {
    message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  }
  return where === '' ? message : `${where}: ${message}`;
}

function article(expected: string): string {
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** `"app.jsonnet".secrets."vault:x"` style: the first key (template) and map keys quoted, field names bare. */
function keyPath(path: string[]): string {
  return path
    .map((p, i) => (i === 0 || (i === 2 && path[1] === 'secrets') ? JSON.stringify(p) : p))
    .join('.');
}

function toTemplate(
  shown: string,
  absDir: string,
  key: string,
  entry: TemplateEntry,
  secretEntries: ReadonlyArray<readonly [string, string]>,
  env: Readonly<Record<string, string | undefined>>,
): TemplateConfig {
  const at = (k: string): string => `${shown}: "${key}"${k === '' ? '' : '.' + k}`;
  const templatePath = isAbsolute(key) ? key : resolve(absDir, key);

  let dir: string | undefined;
  if (entry.dir !== undefined && entry.dir !== '') {
    try {
      dir = substitute(entry.dir, env);
    } catch (err) {
      if (err instanceof SubstitutionError) throw new ConfigError(`${at('dir')}: "${entry.dir}" ${err.message}`);
      throw err;
    }
    dir = resolve(absDir, dir);
  }

  const secrets: TemplateSecret[] = [];
  const byName = new Map<string, string>();
  for (const [rawKey, name] of secretEntries) {
    let raw: string;
    try {
      raw = substitute(rawKey, env);
    } catch (err) {
      if (err instanceof SubstitutionError) throw new ConfigError(`${at('secrets')}: "${rawKey}" ${err.message}`);
      throw err;
    }
    let spec: SecretSpec;
    try {
      spec = parseSecretPath(raw);
    } catch (err) {
      if (err instanceof SecretPathError) throw new ConfigError(`${at('secrets')}: "${raw}" ${err.message}`);
      throw err;
    }
    if (spec.backend === 'file' && !isAbsolute(spec.path)) {
      spec = { ...spec, path: resolve(absDir, spec.path) };
    }
    const other = byName.get(name);
    if (other !== undefined) {
      throw new ConfigError(`${at('secrets')}: "${raw}" and "${other}" are both named "${name}"`);
    }
    byName.set(name, raw);
    secrets.push({ name, spec });
  }

  const hooks: { modified?: readonly string[]; ready?: readonly string[] } = {};
  for (const kind of ['modified', 'ready'] as const) {
    const cmd = entry.hooks?.[kind];
    if (cmd === undefined || cmd.trim() === '') continue;
    let argv: string[];
    try {
      argv = splitArgv(cmd);
    } catch (err) {
      throw new ConfigError(`${at(`hooks.${kind}`)}: "${cmd}" does not parse: ${(err as Error).message}`);
    }
    if (!argv[0]!.startsWith('/')) {
      throw new ConfigError(
        `${at(`hooks.${kind}`)}: "${argv[0]}" is not an absolute path (hook commands must start with /)`,
      );
    }
    hooks[kind] = argv;
  }

  return {
    id: `${shown}#${key}`,
    configFile: shown,
    template: key,
    templatePath,
    dir,
    mode: entry.mode === undefined ? 0o600 : parseInt(entry.mode, 8),
    user: entry.user === undefined || entry.user === '' ? undefined : entry.user,
    secrets,
    hooks,
    onChange: entry.on_change,
    confine: entry.confine,
  };
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ENOENT') return 'no such file or directory';
  if (e?.code === 'EACCES') return 'permission denied';
  if (e?.code === 'ENOTDIR') return 'not a directory';
  return e?.code ?? String((err as Error)?.message ?? err);
}
