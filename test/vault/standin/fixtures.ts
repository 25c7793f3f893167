/**
 * The recorded real-Vault responses (test/fixtures/vault, copied from a Vault 1.8 dev server) and a comparison
 * of body shapes: same keys in the same order, same JSON types, recursively; error bodies must be equal.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'vault');

export interface FixtureStatus {
  file: string;
  method: string;
  path: string;
  status: number;
}

export function fixtureStatuses(): FixtureStatus[] {
  const lines = readFileSync(join(FIXTURE_DIR, 'STATUS.tsv'), 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [file, method, path, status] = l.split('\t') as [string, string, string, string];
    return { file, method, path, status: Number(status) };
  });
}

export function fixtureStatus(file: string): FixtureStatus {
  const s = fixtureStatuses().find((f) => f.file === file);
  if (!s) throw new Error(`${file} is not in STATUS.tsv`);
  return s;
}

/** The fixture's body: parsed JSON, or null for an empty (204) body. */
export function loadFixture(file: string): unknown {
  const text = readFileSync(join(FIXTURE_DIR, file), 'utf8');
  return text.trim() === '' ? null : (JSON.parse(text) as unknown);
}

export type Shape = string | Shape[] | { [key: string]: Shape };

/**
 * A JSON value's shape: objects keep their key order (as an array of [key, shape] pairs), arrays become the list
 * of their distinct element shapes, primitives their type.
 */
export function shapeOf(v: unknown): Shape {
  if (v === null) return 'null';
  if (Array.isArray(v)) {
    const shapes: Shape[] = [];
    const seen = new Set<string>();
    for (const e of v) {
      const s = shapeOf(e);
      const k = JSON.stringify(s);
      if (!seen.has(k)) {
        seen.add(k);
        shapes.push(s);
      }
    }
    return ['array', ...shapes];
  }
  if (typeof v === 'object') {
    return ['object', ...Object.entries(v as Record<string, unknown>).map(([k, x]): Shape => [k, shapeOf(x)])];
  }
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Human-readable first difference between two shapes, or undefined when equal. */
export function shapeDiff(actual: unknown, expected: unknown, at = '$'): string | undefined {
  const a = shapeOf(actual);
  const e = shapeOf(expected);
  if (JSON.stringify(a) === JSON.stringify(e)) return undefined;
  if (
    typeof actual === 'object' &&
    actual !== null &&
    !Array.isArray(actual) &&
    typeof expected === 'object' &&
    expected !== null &&
    !Array.isArray(expected)
  ) {
    const ak = Object.keys(actual);
    const ek = Object.keys(expected);
    if (JSON.stringify(ak) !== JSON.stringify(ek)) return `${at}: keys ${JSON.stringify(ak)} != expected ${JSON.stringify(ek)}`;
    for (const k of ek) {
      const d = shapeDiff((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${at}.${k}`);
      if (d) return d;
    }
  }
  return `${at}: ${JSON.stringify(a)} != expected ${JSON.stringify(e)}`;
}

export function isErrorBody(v: unknown): v is { errors: string[] } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 1 && 'errors' in v;
}
