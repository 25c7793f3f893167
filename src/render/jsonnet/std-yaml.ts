/**
 * std.parseYaml: YAML 1.2 (core schema) to a JSON value, with the `yaml` package (bundled).
 *
 * libjsonnet 0.20 converts YAML through rapidyaml's JSON emitter, which aborts the process on block scalars (| and >),
 * anchors, tags and a second document without a leading "---", reads null and ~ as "", and quoted numbers as numbers.
 * tconfd reads YAML as YAML 1.2 says (as go-jsonnet does); what libjsonnet reads correctly reads the same here,
 * including its one stream rule: a text starting with "---" gives an array of its documents.
 */
import { parseAllDocuments } from 'yaml';
import { RuntimeError, type Loc } from './errors.js';

/** Loads the yaml package now (in the bundle, a chunk read at its first use): a template is about to need it. */
export function preloadYaml(): void {
  void parseAllDocuments;
}

export function parseYaml(text: string, loc: Loc | undefined): unknown {
  const docs = parseAllDocuments(text, { version: '1.2', schema: 'core', uniqueKeys: false, merge: true });
  if (!Array.isArray(docs)) {
    // an empty stream
    return null;
  }
  const values: unknown[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const line = err.linePos?.[0]?.line;
      throw new RuntimeError(`std.parseYaml: invalid YAML${line !== undefined ? ` at line ${line}` : ''}`, loc);
    }
    values.push(check(doc.toJS({ maxAliasCount: 10_000 }), loc));
  }
  const stream = /^(?:\s*#[^\n]*\n|\s*\n)*---(?:[ \t\r\n]|$)/.test(text);
  if (stream || values.length > 1) return values;
  return values[0] ?? null;
}

/** Non-finite numbers (.inf, .nan) have no Jsonnet value; Maps become objects. */
function check(v: unknown, loc: Loc | undefined): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw new RuntimeError('std.parseYaml: .inf and .nan have no Jsonnet value', loc);
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map((x) => check(x, loc));
  if (v instanceof Map) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v) o[String(k)] = check(x, loc);
    return o;
  }
  if (v instanceof Set) return [...v].map((x) => check(x, loc));
  if (v !== null && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) o[k] = check(x, loc);
    return o;
  }
  return v;
}
