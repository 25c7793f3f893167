/**
 * The start checks a config file against the generated JSON Schema (src/config/valid.ts) and builds the zod schema
 * only for a file that is not valid: both must give the same answer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFileSchema } from '../../src/config/schema.js';
import { isValidConfig } from '../../src/config/valid.js';
import { ROOT } from '../support/tconfd.js';

let seed = 4242;
const rnd = (n: number): number => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};
const pick = <T,>(xs: readonly T[]): T => xs[rnd(xs.length)]!;

const TEXT = ['x', '/etc/app', '${HOME}/out', '', 'a\0b', 'üñí', '0640'];
const OTHER = [null, 1, true, [], ['x'], {}, { a: 'b' }];
const VALUES: Record<string, readonly unknown[]> = {
  dir: [...TEXT, ...OTHER],
  mode: ['0640', '640', '0600', '755', '4755', '0888', 'rw', '', '06400', 640, null],
  user: [...TEXT, 1000, null],
  confine: [true, false, 'true', 0, null],
  on_change: ['signal', 'restart', 'none', 'reload', '', null, ['signal']],
};

function secrets(): unknown {
  if (rnd(8) === 0) return pick(OTHER);
  const s: Record<string, unknown> = {};
  for (let n = rnd(4); n > 0; n--) s[pick(['env:str:A', 'vault:app:secret/data/x', '', 'a\0b', 'file:js:/f'])] = pick(['name', 'n2', '', 'a\0', 1, null, {}]);
  return s;
}

function hooks(): unknown {
  if (rnd(8) === 0) return pick(OTHER);
  const h: Record<string, unknown> = {};
  for (let n = rnd(3); n > 0; n--) h[pick(['modified', 'ready', 'changed'])] = pick(['/bin/true', '', 'x\0y', 1, null]);
  return h;
}

function template(): unknown {
  if (rnd(10) === 0) return pick(OTHER);
  const t: Record<string, unknown> = {};
  for (let n = rnd(5); n > 0; n--) {
    const key = pick(['dir', 'mode', 'user', 'secrets', 'confine', 'hooks', 'on_change', 'onChange', 'extra']);
    if (key === 'secrets') t[key] = secrets();
    else if (key === 'hooks') t[key] = hooks();
    else t[key] = pick(VALUES[key] ?? ['x', 1]);
  }
  return t;
}

function configFile(): unknown {
  if (rnd(20) === 0) return pick([...OTHER, 'x']);
  const c: Record<string, unknown> = {};
  for (let n = rnd(3); n > 0; n--) c[pick(['app.jsonnet', '/abs/t.jsonnet', '', 'a\0.jsonnet', 'ü.jsonnet'])] = template();
  return c;
}

describe('the JSON Schema check of config files', () => {
  it('agrees with zod on 3,000 generated config files, valid and not', () => {
    let valid = 0;
    for (let i = 0; i < 3000; i++) {
      const c = configFile();
      const zod = configFileSchema().safeParse(c).success;
      expect(isValidConfig(c), JSON.stringify(c)).toBe(zod);
      if (zod) valid++;
    }
    // both kinds were tried
    expect(valid).toBeGreaterThan(300);
    expect(valid).toBeLessThan(2700);
  });

  it('passes the config files of the examples', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.name.endsWith('.json') && dir.endsWith('tconfd.d')) files.push(join(dir, e.name));
      }
    };
    walk(join(ROOT, 'examples'));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const json = JSON.parse(readFileSync(f, 'utf8')) as unknown;
      expect(isValidConfig(json), f).toBe(true);
    }
  });
});
