/**
 * While the secrets are fetched, templates are read and compiled ahead of their evaluation (src/runtime/pipeline.ts,
 * JsonnetEvaluator.prepare): best effort, and never a way to read what the evaluation would not.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, precompile } from '../../src/render/jsonnet/index.js';
import { JsonnetEvaluator } from '../../src/render/jsonnet.js';

const dir = mkdtempSync(join(tmpdir(), 'tconfd-prepare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('precompile', () => {
  it('compiles a template and what it imports (its directory first, then the library paths), as the evaluation finds them', () => {
    mkdirSync(join(dir, 'lib'));
    writeFileSync(join(dir, 'app.jsonnet'), "local a = import 'a.libsonnet'; local b = import 'b.libsonnet'; { x: a.v + b.v, s: importstr 'notes.txt' }\n");
    writeFileSync(join(dir, 'a.libsonnet'), "{ v: (import 'lib/c.libsonnet').v }\n");
    writeFileSync(join(dir, 'lib', 'b.libsonnet'), '{ v: 2 }\n');
    writeFileSync(join(dir, 'lib', 'c.libsonnet'), '{ v: 1 }\n');
    writeFileSync(join(dir, 'notes.txt'), 'not Jsonnet {\n');
    const engine = new Engine();
    const texts = precompile(join(dir, 'app.jsonnet'), [join(dir, 'lib')], engine);
    expect(texts).toHaveLength(4); // app, a, lib/c (from a's directory), lib/b (from the library path); not notes.txt
    const compiled = engine.compile(join(dir, 'a.libsonnet'), readFileSync(join(dir, 'a.libsonnet'), 'utf8'));
    expect(engine.compile(join(dir, 'a.libsonnet'), readFileSync(join(dir, 'a.libsonnet'), 'utf8'))).toBe(compiled);
    expect(engine.imports(join(dir, 'app.jsonnet'))).toEqual(['a.libsonnet', 'b.libsonnet']);
  });

  it('reads no FIFO (it would wait for a writer), and leaves missing files and syntax errors to the evaluation', () => {
    execFileSync('mkfifo', [join(dir, 'fifo.libsonnet')]);
    writeFileSync(join(dir, 'odd.jsonnet'), "local f = import 'fifo.libsonnet'; local m = import 'missing.libsonnet'; { }\n");
    writeFileSync(join(dir, 'bad.jsonnet'), '{ x: }\n');
    expect(precompile(join(dir, 'odd.jsonnet'), [], new Engine())).toHaveLength(1);
    expect(precompile(join(dir, 'bad.jsonnet'), [], new Engine())).toHaveLength(1);
    expect(precompile(join(dir, 'none.jsonnet'), [], new Engine())).toEqual([]);
    const ev = new JsonnetEvaluator({ jpaths: [] });
    expect(() => ev.prepare(join(dir, 'bad.jsonnet'))).not.toThrow();
  });

  it('an evaluation after prepare gives what it gives without', async () => {
    const ev = new JsonnetEvaluator({ jpaths: [join(dir, 'lib')] });
    const input = { secrets: {}, leases: {} };
    writeFileSync(join(dir, 'multi.jsonnet'), "{ 'a.json': (import 'a.libsonnet'), 'b.txt': std.md5('x') }\n");
    const before = await ev.evaluate('multi.jsonnet', join(dir, 'multi.jsonnet'), input);
    ev.prepare(join(dir, 'multi.jsonnet'));
    expect(await ev.evaluate('multi.jsonnet', join(dir, 'multi.jsonnet'), input)).toEqual(before);
  });
});
