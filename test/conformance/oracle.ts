/**
 * The libjsonnet oracle (@hanazuki/node-jsonnet@2.1.0), installed on demand into .cache/oracle by
 * scripts/oracle.mjs (part of `npm test`). Tests that need it skip, saying why, when it is not there.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

export interface OracleJsonnet {
  extString(key: string, value: string): this;
  extCode(key: string, value: string): this;
  tlaString(key: string, value: string): this;
  tlaCode(key: string, value: string): this;
  addJpath(path: string): this;
  nativeCallback(name: string, fun: (...args: unknown[]) => unknown, ...params: string[]): this;
  evaluateFile(filename: string): Promise<string>;
  evaluateSnippet(snippet: string, filename?: string): Promise<string>;
  evaluateFileMulti(filename: string): Promise<Record<string, string>>;
}

export const ORACLE_DIR = resolve('.cache/oracle');

export type Oracle =
  | { readonly available: true; readonly dir: string; readonly suite: string; readonly Jsonnet: new () => OracleJsonnet }
  | { readonly available: false; readonly reason: string };

let cached: Oracle | undefined;

export function oracle(): Oracle {
  if (cached !== undefined) return cached;
  try {
    const req = createRequire(join(ORACLE_DIR, 'package.json'));
    const main = req.resolve('@hanazuki/node-jsonnet'); // lib/index.js (its exports hide package.json)
    const mod = req('@hanazuki/node-jsonnet') as { Jsonnet: new () => OracleJsonnet };
    const dir = dirname(dirname(main));
    cached = { available: true, dir, suite: join(dir, 'third_party/jsonnet/test_suite'), Jsonnet: mod.Jsonnet };
  } catch (err) {
    const file = join(ORACLE_DIR, 'UNAVAILABLE');
    const reason = existsSync(file)
      ? readFileSync(file, 'utf8').trim()
      : `not installed in .cache/oracle (run: node scripts/oracle.mjs): ${(err as Error).message.split('\n')[0]}`;
    cached = { available: false, reason };
  }
  return cached;
}
