import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TemplateError, type PlannedFile } from '../../src/render/index.js';
import { JsonnetEvaluator } from '../../src/render/jsonnet.js';
import { tempDirs, wire, type Project } from './helpers.js';

const mkdir = tempDirs('tconfd-jsonnet-');

/** A project with one template tconfd.d/app.jsonnet (dir "out" unless given) and the given extra files. */
function project(template: string, entry: Record<string, unknown> = { dir: 'out' }, files: Record<string, string> = {}): string {
  return mkdir({
    'tconfd.d/app.json': JSON.stringify({ 'app.jsonnet': entry }),
    'tconfd.d/app.jsonnet': template,
    ...files,
  });
}

async function plan(p: Project): Promise<PlannedFile[]> {
  await p.pipeline.fetchAll();
  const plans = await p.pipeline.plan(p.pipeline.templates);
  return [...plans.values()][0]!;
}

/** output path -> content */
async function outputs(p: Project): Promise<Record<string, string>> {
  return Object.fromEntries((await plan(p)).map((f) => [f.path, f.content.toString('utf8')]));
}

async function templateError(p: Project): Promise<TemplateError> {
  const err = await plan(p).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemplateError);
  return err as TemplateError;
}

describe('imports', () => {
  const template = "local lib = import 'lib.libsonnet';\nlocal own = import 'own.libsonnet';\n{ 'a.txt': lib.name + '+' + own.name }\n";

  it('finds libraries in --jpath directories and in the template\'s own directory', async () => {
    const root = project(template, { dir: 'out' }, {
      'tconfd.d/own.libsonnet': "{ name: 'own' }",
      'lib/lib.libsonnet': "{ name: 'jpath' }",
    });
    expect(await outputs(wire(root, { jpaths: [join(root, 'lib')] }))).toEqual({ [join(root, 'tconfd.d/out/a.txt')]: 'jpath+own\n' });
    const err = await templateError(wire(root));
    expect(err.message).toContain('couldn\'t open import "lib.libsonnet"');
  });

  it('an import that is a FIFO or a device is refused, never read (it would block tconfd for ever)', async () => {
    const root = project("{ 'a.txt': importstr 'pipe' }", { dir: 'out' });
    execFileSync('mkfifo', [join(root, 'tconfd.d', 'pipe')]);
    const err = await templateError(wire(root));
    expect(err.message).toContain(`couldn't open import "pipe": ${join(root, 'tconfd.d', 'pipe')} is a FIFO, not a regular file`);
    const dev = await templateError(wire(project("{ 'a.txt': std.length(importbin '/dev/zero') }", { dir: 'out' })));
    expect(dev.message).toContain('couldn\'t open import "/dev/zero": /dev/zero is a character device, not a regular file');
  });

  it('the template\'s own directory comes first, then --jpath in the order given', async () => {
    const root = project("{ 'a.txt': (import 'own.libsonnet').name + '/' + (import 'pick.libsonnet').name }", { dir: 'out' }, {
      'tconfd.d/own.libsonnet': "{ name: 'own-dir' }",
      'one/own.libsonnet': "{ name: 'one' }",
      'one/pick.libsonnet': "{ name: 'one' }",
      'two/pick.libsonnet': "{ name: 'two' }",
    });
    const out = join(root, 'tconfd.d/out/a.txt');
    expect((await outputs(wire(root, { jpaths: [join(root, 'one'), join(root, 'two')] })))[out]).toBe('own-dir/one\n');
    expect((await outputs(wire(root, { jpaths: [join(root, 'two'), join(root, 'one')] })))[out]).toBe('own-dir/two\n');
  });
});

describe('multi-file output', () => {
  it('keys are paths relative to dir, or absolute', async () => {
    const abs = mkdir();
    const root = project(
      "local s = std.extVar('secrets');\n{ 'rel.txt': 'r', 'sub/deeper.txt': 'd', [s.abs + '/abs.txt']: 'a' }",
      { dir: '${OUT}', secrets: { 'env:str:ABS': 'abs' } },
    );
    const got = await outputs(wire(root, { env: { ABS: abs, OUT: join(root, 'rendered') } }));
    expect(got).toEqual({
      [join(root, 'rendered/rel.txt')]: 'r\n',
      [join(root, 'rendered/sub/deeper.txt')]: 'd\n',
      [join(abs, 'abs.txt')]: 'a\n',
    });
  });

  it('a relative dir is relative to --dir', async () => {
    const root = project("{ 'x.txt': 'x' }", { dir: '../out' });
    expect(Object.keys(await outputs(wire(root)))).toEqual([join(root, 'out/x.txt')]);
  });

  it('strings as they are with a final newline added if missing; anything else as pretty JSON', async () => {
    const root = project(
      "{ 'plain.txt': 'one\\ntwo', 'nl.txt': 'kept\\n', 'empty.txt': '', 'obj.json': { b: [1, { c: null }], a: 'é' }, 'n.json': 5, 'arr.json': [true] }",
    );
    const out = (n: string) => join(root, 'tconfd.d/out', n);
    expect(await outputs(wire(root))).toEqual({
      [out('plain.txt')]: 'one\ntwo\n',
      [out('nl.txt')]: 'kept\n',
      [out('empty.txt')]: '\n',
      [out('obj.json')]: '{\n   "a": "é",\n   "b": [\n      1,\n      {\n         "c": null\n      }\n   ]\n}\n',
      [out('n.json')]: '5\n',
      [out('arr.json')]: '[\n   true\n]\n',
    });
  });

  it('a relative output key with no dir is an error', async () => {
    const root = project("{ 'app.conf': 'x' }", {});
    const err = await plan(wire(root)).then(() => undefined, (e: unknown) => e as Error);
    expect(err?.message).toBe('tconfd.d/app.json: template "app.jsonnet": output "app.conf": is a relative path and the template has no "dir"');
  });

  it('a top level that is not an object is an error', async () => {
    const err = await templateError(wire(project("'just text'")));
    expect(err.message).toMatch(/^template "app\.jsonnet": RUNTIME ERROR: multi mode: top-level object was a string/);
  });
});

describe('template inputs', () => {
  it("std.extVar('secrets') is name -> value, exactly as rconfd", async () => {
    const root = project("{ 'secrets.json': std.extVar('secrets'), 'leases.json': std.extVar('leases') }", {
      dir: 'out',
      secrets: { 'env:js:CONF': 'conf', 'env:str:USER_NAME': 'user', 'file:str:../key.txt': 'key', 'exe:js:/bin/echo [1, 2]': 'list' },
    }, { 'key.txt': 'k-1\n' });
    const got = await outputs(wire(root, { env: { CONF: '{"pool": {"max": 5}, "on": true}', USER_NAME: 'ann' } }));
    expect(JSON.parse(got[join(root, 'tconfd.d/out/secrets.json')]!)).toEqual({
      conf: { pool: { max: 5 }, on: true },
      user: 'ann',
      key: 'k-1\n',
      list: [1, 2],
    });
    expect(JSON.parse(got[join(root, 'tconfd.d/out/leases.json')]!)).toEqual({});
  });

  it("std.native('sha256') is the hex SHA-256 of the UTF-8 text", async () => {
    const root = project("{ 'h.txt': std.native('sha256')('abc') + ' ' + std.native('sha256')('héllo') }");
    const hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
    expect(Object.values(await outputs(wire(root)))).toEqual([
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ' + hex('héllo') + '\n',
    ]);
  });
});

describe('errors', () => {
  it('a runtime error names the template and the file:line:column', async () => {
    const root = project("local s = std.extVar('secrets');\n{\n  'a.txt': error 'boom',\n}\n");
    const err = await templateError(wire(root));
    expect(err.template).toBe('app.jsonnet');
    expect(err.message).toMatch(/^template "app\.jsonnet": output "a\.txt": RUNTIME ERROR: boom \(at .*\/tconfd\.d\/app\.jsonnet:3:12-24\)$/);
    expect(err.message).not.toContain('\n');
  });

  it('a syntax error names the template and the file:line:column', async () => {
    const root = project("{\n  'a.txt': ,\n}\n");
    const err = await templateError(wire(root));
    expect(err.message).toMatch(/^template "app\.jsonnet": STATIC ERROR: .*\/tconfd\.d\/app\.jsonnet:2:12: /);
  });

  it('an error in an imported library points into the library', async () => {
    const root = project("{ 'a.txt': (import 'bad.libsonnet').f(1) }", { dir: 'out' }, { 'tconfd.d/bad.libsonnet': '{\n  f(x):: x + "1" + error "nope",\n}\n' });
    const err = await templateError(wire(root));
    expect(err.message).toMatch(/RUNTIME ERROR: nope \(at .*\/tconfd\.d\/bad\.libsonnet:2:\d+/);
  });

  it('a missing template file is an error naming it', async () => {
    const root = mkdir({ 'tconfd.d/app.json': JSON.stringify({ 'missing.jsonnet': { dir: 'out' } }) });
    const err = await templateError(wire(root));
    expect(err.message).toMatch(/^template "missing\.jsonnet": .*missing\.jsonnet/);
  });

  it('nothing of a failing template is written', async () => {
    const root = project("{ 'good.txt': 'fine', 'bad.txt': error 'boom' }");
    const p = wire(root);
    await templateError(p);
    expect(existsSync(join(root, 'tconfd.d/out'))).toBe(false);
  });

  it('evaluator on its own: one VM per evaluation, inputs do not leak between templates', async () => {
    const root = mkdir({ 't.jsonnet': "{ 'x': std.extVar('secrets') }" });
    const ev = new JsonnetEvaluator({ jpaths: [] });
    const a = await ev.evaluate('t.jsonnet', join(root, 't.jsonnet'), { secrets: { a: 1 }, leases: {} });
    const b = await ev.evaluate('t.jsonnet', join(root, 't.jsonnet'), { secrets: { b: 2 }, leases: {} });
    expect(JSON.parse(a.get('x')!.toString())).toEqual({ a: 1 });
    expect(JSON.parse(b.get('x')!.toString())).toEqual({ b: 2 });
  });
});
