/**
 * Shared by the end-to-end tests of the database examples (examples/postgres-dynamic-roles,
 * examples/mysql-dynamic-credentials): the lines of the example's application, the
 * example's Vault requests (vault/requests.json) applied through the HTTP API, a psql-script runner for the example's
 * SQL files, and a check that vault/setup.sh (the vault CLI version) says the same as requests.json.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import type { Proc } from '../support/tconfd.js';
import { waitFor, type WaitOptions } from '../support/wait.js';
import { call } from '../vault/setup.js';
import type { VaultHttpMethod, VaultTarget } from '../vault/target.js';

// ---------------------------------------------------------------- the supervised application

/** Lines of the supervised application (tconfd's stdout, which it inherits) that start with `app: `. */
export function appLines(t: Proc): string[] {
  return t.stdout
    .split('\n')
    .filter((l) => l.startsWith('app: '))
    .map((l) => l.slice(5));
}

/** Wait for an application line matching re; fails early if tconfd exits. */
export function waitForApp(t: Proc, re: RegExp, opts: WaitOptions = {}): Promise<RegExpExecArray> {
  return waitFor(
    `the application to print ${re}`,
    () => {
      for (const l of appLines(t)) {
        const m = re.exec(l);
        if (m) return m;
      }
      if (!t.running) throw new Error(`tconfd exited before the application printed ${re}\n${t.tail()}`);
      return undefined;
    },
    { detail: () => t.tail(), ...opts },
  );
}

// ---------------------------------------------------------------- Vault requests of an example

interface ExampleRequest {
  method: VaultHttpMethod;
  path: string;
  body?: Record<string, unknown>;
}

/** `${NAME}` / `${NAME:-default}` in every string of value, from vars (as the example's apply.mjs does from env). */
export function substituteVars<T>(value: T, vars: Record<string, string>): T {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name: string, dflt: string | undefined) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (dflt !== undefined) return dflt;
      throw new Error(`\${${name}} has no value and no default`);
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v) => substituteVars(v, vars)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substituteVars(v, vars)])) as T;
  }
  return value;
}

export function readRequests(file: string): ExampleRequest[] {
  return (JSON.parse(readFileSync(file, 'utf8')) as { requests: ExampleRequest[] }).requests;
}

/** Apply the example's vault/requests.json through the HTTP API with the root token; any refusal throws. */
export async function applyRequests(target: VaultTarget, file: string, vars: Record<string, string>): Promise<void> {
  for (const r of readRequests(file)) await call(target, r.method, r.path, substituteVars(r.body ?? {}, vars));
}

/** The body of the request to `path` in requests.json (unsubstituted). */
export function requestBody(file: string, path: string): Record<string, unknown> {
  const r = readRequests(file).find((x) => x.path === path);
  if (!r) throw new Error(`${file} has no request to ${path}`);
  return r.body ?? {};
}

// ---------------------------------------------------------------- vault/setup.sh

/**
 * The `vault write PATH k=v ...` commands of a setup.sh, as path -> fields (continuations joined, quotes removed,
 * `\"` unescaped, `-force` ignored), plus the heredoc bodies of `vault policy write NAME - <<TAG`, as policy name ->
 * text. Shell variables are expanded from vars and the script's own plain assignments (`namespace=public`).
 */
export function parseSetupSh(text: string, vars: Record<string, string>): {
  writes: Map<string, Record<string, string>>;
  policies: Map<string, string>;
  enabled: string[];
} {
  const env: Record<string, string> = { ...vars };
  const expand = (s: string): string =>
    s.replace(/\$\{([A-Za-z_]\w*)(?::-([^}]*))?\}|\$([A-Za-z_]\w*)/g, (_, a: string, dflt: string, b: string) => {
      const name = a ?? b;
      return env[name] !== undefined && env[name] !== '' ? env[name]! : (dflt ?? '');
    });
  const writes = new Map<string, Record<string, string>>();
  const policies = new Map<string, string>();
  const enabled: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (/^\s*#/.test(line) || line.trim() === '') continue;
    // heredoc: vault policy write NAME - <<TAG
    const here = /^vault policy write\s+("?)(\S+?)\1\s+-\s+<<-?\s*'?(\w+)'?\s*$/.exec(line.trim());
    if (here) {
      const body: string[] = [];
      while (++i < lines.length && lines[i]!.trim() !== here[3]) body.push(lines[i]!);
      policies.set(expand(here[2]!), expand(body.join('\n') + '\n'));
      continue;
    }
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trimStart();
    const assign = /^([A-Za-z_]\w*)=\$\{\1:-([^}]*)\}$/.exec(line.trim()) ?? /^([A-Za-z_]\w*)=(\S+)$/.exec(line.trim());
    if (assign) {
      if (env[assign[1]!] === undefined || env[assign[1]!] === '') env[assign[1]!] = assign[2]!;
      continue;
    }
    const words = shellWords(line.trim()).map(expand);
    if (words[0] !== 'vault') continue;
    if ((words[1] === 'auth' || words[1] === 'secrets') && words[2] === 'enable') {
      enabled.push(`${words[1]}:${words[words.length - 1]}`);
      continue;
    }
    if (words[1] !== 'write') continue;
    const rest = words.slice(2).filter((w) => w !== '-force' && w !== '-f');
    const fields: Record<string, string> = {};
    for (const w of rest.slice(1)) {
      const eq = w.indexOf('=');
      if (eq > 0) fields[w.slice(0, eq)] = w.slice(eq + 1);
    }
    writes.set(rest[0]!, fields);
  }
  return { writes, policies, enabled };
}

/** Words of a shell line: single and double quotes (with \" \$ \\ in double quotes), no expansion. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === '\\' && /["\\$`]/.test(line[i + 1] ?? '')) cur += line[++i];
        else cur += line[i];
      }
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** Statements as the database plugins split them: on `;`, trimmed, whitespace collapsed. */
export function statements(v: unknown): string[] {
  const list = Array.isArray(v) ? v.map(String) : [String(v ?? '')];
  return list
    .flatMap((s) => s.split(';'))
    .map((s) => s.replace(/\s+/g, ' ').trim())
    .filter((s) => s !== '');
}

// ---------------------------------------------------------------- SQL scripts (PostgreSQL)

/**
 * Run a psql script as psql -v ON_ERROR_STOP=1 -f would, for what the examples use: `\connect DB` switches the
 * database, statements end with `;` at the end of a line (outside $$ bodies), and each runs on its own (CREATE
 * DATABASE cannot run in a multi-statement query).
 */
export async function runPsqlScript(connectionUrl: (db: string) => string, file: string, db = 'postgres'): Promise<void> {
  const segments: Array<{ db: string; stmts: string[] }> = [{ db, stmts: [] }];
  let buf: string[] = [];
  let inDollar = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const meta = /^\\c(?:onnect)?\s+(\S+)\s*$/.exec(line.trim());
    if (meta && !inDollar) {
      segments.push({ db: meta[1]!, stmts: [] });
      continue;
    }
    if (!inDollar && (line.trim() === '' || line.trim().startsWith('--'))) continue;
    buf.push(line);
    if ((line.match(/\$\$/g) ?? []).length % 2 === 1) inDollar = !inDollar;
    if (!inDollar && /;\s*(--.*)?$/.test(line)) {
      segments[segments.length - 1]!.stmts.push(buf.join('\n'));
      buf = [];
    }
  }
  if (buf.join('').trim() !== '') throw new Error(`${file}: unterminated statement: ${buf.join('\n')}`);
  for (const seg of segments) {
    if (seg.stmts.length === 0) continue;
    const client = new pg.Client({ connectionString: connectionUrl(seg.db) });
    await client.connect();
    try {
      for (const s of seg.stmts) {
        try {
          await client.query(s);
        } catch (err) {
          throw new Error(`${file} (database ${seg.db}): ${(err as Error).message}\n${s}`);
        }
      }
    } finally {
      await client.end();
    }
  }
}
