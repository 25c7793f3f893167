import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommitError, TemplateError } from '../../src/render/index.js';
import { PartialWriteError } from '../../src/runtime/pipeline.js';
import { writeFileAtomic } from '../../src/render/write.js';
import type { Fetched } from '../../src/sources/index.js';
import { tempDirs, wire, type Project } from './helpers.js';

const mkdir = tempDirs('tconfd-files-');
const READER = fileURLToPath(new URL('./fixtures/poll-reader.mjs', import.meta.url));
const isRoot = process.getuid?.() === 0;

const value = (v: unknown): Fetched => ({ value: v, lifetime: { kind: 'static' }, fetchedAt: Date.now() });
const mode = (p: string) => statSync(p).mode & 0o7777;

/** One config file tconfd.d/app.json with the given templates (name -> entry) and template sources. */
function project(entries: Record<string, unknown>, templates: Record<string, string>): string {
  const files: Record<string, string> = { 'tconfd.d/app.json': JSON.stringify(entries) };
  for (const [name, src] of Object.entries(templates)) files[`tconfd.d/${name}`] = src;
  return mkdir(files);
}

/** First rendering as main.ts does it: fetch, plan everything, write. */
async function renderAll(p: Project) {
  await p.pipeline.fetchAll();
  return p.pipeline.write(await p.pipeline.plan(p.pipeline.templates));
}

/** Re-render every template; fails the test if one fails. */
async function rerender(p: Project) {
  const { outcomes, failures } = await p.pipeline.render(p.pipeline.templates);
  expect(failures).toEqual([]);
  return outcomes;
}

describe('atomic replacement', () => {
  it('a reader polling the file during 200 re-renders only ever sees complete versions', async () => {
    const line = (c: string) => c.repeat(99) + '\n';
    const versions = [line('A').repeat(2048), line('B').repeat(2150)]; // 200 KB and 210 KB
    const hashes = versions.map((v) => createHash('sha256').update(v).digest('hex'));
    const root = project({ 'big.jsonnet': { dir: 'out', secrets: { 'env:str:BODY': 'body' } } }, {
      'big.jsonnet': "{ 'big.txt': std.extVar('secrets').body }",
    });
    const p = wire(root, { env: { BODY: versions[0] } });
    await renderAll(p);
    const target = join(root, 'tconfd.d/out/big.txt');
    expect(readFileSync(target, 'utf8')).toBe(versions[0]);

    const stop = join(root, 'stop');
    const reader = spawn(process.execPath, [READER, target, stop, ...hashes], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines = createInterface({ input: reader.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('ready');

    // Each version is evaluated once; the 200 re-renders replay the write
    // stage of a rendering, which is what a reader races against.
    const [tmpl] = p.pipeline.templates;
    const plans = [];
    for (const v of versions) {
      p.pipeline.update('env:str:BODY', value(v));
      plans.push([...(await p.pipeline.plan([tmpl!])).values()][0]!);
    }
    let changed = 0;
    for (let i = 1; i <= 200; i++) {
      const results = await p.renderer.write(tmpl!, plans[i % 2]!);
      changed += results.filter((r) => r.outcome === 'updated').length;
    }
    writeFileSync(stop, '');
    const report = JSON.parse((await lines.next()).value as string) as {
      reads: number;
      other: number;
      missing: number;
      seen: Record<string, number>;
      otherSizes: number[];
    };
    await once(reader, 'exit');

    expect(changed).toBe(200);
    expect(report.other, `partial reads, sizes ${report.otherSizes.join(', ')}`).toBe(0);
    expect(report.missing).toBe(0);
    expect(report.reads).toBeGreaterThan(10);
    // the reader did see the file change under it
    expect(report.seen[hashes[0]!]).toBeGreaterThan(0);
    expect(report.seen[hashes[1]!]).toBeGreaterThan(0);
    expect(readFileSync(target, 'utf8')).toBe(versions[0]);
    // no temporary file left behind
    expect(readdirSync(join(root, 'tconfd.d/out'))).toEqual(['big.txt']);
  });
});

describe('modes', () => {
  let saved: number;
  beforeEach(() => {
    saved = process.umask();
  });
  afterEach(() => {
    process.umask(saved);
  });

  for (const umask of [0o077, 0o000, 0o022]) {
    it(`default 0600 and configured 0640, with umask ${umask.toString(8).padStart(3, '0')}`, async () => {
      process.umask(umask);
      const root = project(
        { 'default.jsonnet': { dir: 'out' }, 'group.jsonnet': { dir: 'out', mode: '0640' }, 'public.jsonnet': { dir: 'out', mode: '644' } },
        { 'default.jsonnet': "{ 'd.txt': 'd' }", 'group.jsonnet': "{ 'g.txt': 'g', 'sub/g2.txt': 'g2' }", 'public.jsonnet': "{ 'p.txt': 'p' }" },
      );
      await renderAll(wire(root));
      const out = join(root, 'tconfd.d/out');
      expect(mode(join(out, 'd.txt'))).toBe(0o600);
      expect(mode(join(out, 'g.txt'))).toBe(0o640);
      expect(mode(join(out, 'sub/g2.txt'))).toBe(0o640);
      expect(mode(join(out, 'p.txt'))).toBe(0o644);
    });
  }

  it('the mode of an unchanged file is put back', async () => {
    const root = project({ 'app.jsonnet': { dir: 'out', mode: '0640' } }, { 'app.jsonnet': "{ 'a.txt': 'a' }" });
    const p = wire(root);
    await renderAll(p);
    const file = join(root, 'tconfd.d/out/a.txt');
    chmodSync(file, 0o666);
    const [outcome] = await rerender(p);
    expect(outcome!.changed).toEqual([]);
    expect(mode(file)).toBe(0o640);
  });
});

describe('unchanged and changed files', () => {
  it('an unchanged file keeps its mtime and inode; a changed one is replaced', async () => {
    const root = project({ 'app.jsonnet': { dir: 'out', secrets: { 'env:str:V': 'v' } } }, {
      'app.jsonnet': "{ 'same.txt': 'constant', 'changing.txt': std.extVar('secrets').v }",
    });
    const p = wire(root, { env: { V: 'one' } });
    const [first] = await renderAll(p);
    expect(first!.files.map((f) => [f.path, f.outcome])).toEqual([
      [join(root, 'tconfd.d/out/changing.txt'), 'created'],
      [join(root, 'tconfd.d/out/same.txt'), 'created'],
    ]);
    const same = join(root, 'tconfd.d/out/same.txt');
    const changing = join(root, 'tconfd.d/out/changing.txt');
    const past = new Date('2020-01-01T00:00:00Z');
    utimesSync(same, past, past);
    utimesSync(changing, past, past);
    const before = { same: statSync(same), changing: statSync(changing) };

    p.pipeline.update('env:str:V', value('two'));
    const [outcome] = await rerender(p);
    expect(outcome!.changed).toEqual([changing]);
    expect(outcome!.files.map((f) => f.outcome)).toEqual(['updated', 'unchanged']);

    const after = { same: statSync(same), changing: statSync(changing) };
    expect(after.same.mtimeMs).toBe(past.getTime());
    expect(after.same.ino).toBe(before.same.ino);
    expect(after.changing.mtimeMs).toBeGreaterThan(past.getTime());
    expect(after.changing.ino).not.toBe(before.changing.ino);
    expect(readFileSync(changing, 'utf8')).toBe('two\n');

    // a third rendering with nothing new changes nothing
    const [third] = await rerender(p);
    expect(third!.changed).toEqual([]);
    expect(statSync(changing).mtimeMs).toBe(after.changing.mtimeMs);
  });

  it('creates missing directories', async () => {
    const root = project({ 'app.jsonnet': { dir: 'deep/er' } }, { 'app.jsonnet': "{ 'a/b/c/file.txt': 'x' }" });
    await renderAll(wire(root));
    expect(readFileSync(join(root, 'tconfd.d/deep/er/a/b/c/file.txt'), 'utf8')).toBe('x\n');
  });

  it('writeFileAtomic replaces a file whose bytes differ and reports the outcome', async () => {
    const dir = mkdir();
    const path = join(dir, 'x');
    expect(await writeFileAtomic({ path, content: Buffer.from('1'), mode: 0o600 })).toBe('created');
    expect(await writeFileAtomic({ path, content: Buffer.from('1'), mode: 0o600 })).toBe('unchanged');
    expect(await writeFileAtomic({ path, content: Buffer.from('12'), mode: 0o600 })).toBe('updated');
    expect(readFileSync(path, 'utf8')).toBe('12');
    expect(readdirSync(dir)).toEqual(['x']);
  });
});

describe('failures', () => {
  it('a Jsonnet error leaves the previous files byte-identical, and other templates still render', async () => {
    const root = project(
      { 'app.jsonnet': { dir: 'out', secrets: { 'env:str:MODE': 'mode', 'env:str:V': 'v' } }, 'other.jsonnet': { dir: 'out', secrets: { 'env:str:V': 'v' } } },
      {
        'app.jsonnet': "local s = std.extVar('secrets');\n{ 'a.txt': 'a=' + s.v, 'b.txt': if s.mode == 'fail' then error 'refusing' else 'b' }",
        'other.jsonnet': "{ 'o.txt': std.extVar('secrets').v }",
      },
    );
    const p = wire(root, { env: { MODE: 'ok', V: 'one' } });
    await renderAll(p);
    const out = (n: string) => join(root, 'tconfd.d/out', n);
    const before = { a: readFileSync(out('a.txt')), b: readFileSync(out('b.txt')), aStat: statSync(out('a.txt')) };

    p.pipeline.update('env:str:MODE', value('fail'));
    p.pipeline.update('env:str:V', value('two'));
    const { outcomes, failures } = await p.pipeline.render(p.pipeline.templates);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.template.template).toBe('app.jsonnet');
    expect(failures[0]!.error).toBeInstanceOf(TemplateError);
    expect(failures[0]!.error.message).toMatch(/^template "app\.jsonnet": (output "[^"]+": )?RUNTIME ERROR: refusing \(at .*app\.jsonnet:2:\d+/);
    expect(readFileSync(out('a.txt')).equals(before.a)).toBe(true);
    expect(readFileSync(out('b.txt')).equals(before.b)).toBe(true);
    expect(statSync(out('a.txt')).ino).toBe(before.aStat.ino);
    expect(outcomes.map((o) => o.changed)).toEqual([[out('o.txt')]]);
    expect(readFileSync(out('o.txt'), 'utf8')).toBe('two\n');
  });

  it('the first rendering prepares every file of every template before renaming any: a file that cannot be written leaves every previous file', async () => {
    const root = project(
      { 'a.jsonnet': { dir: 'outA', secrets: { 'env:str:V': 'v' } }, 'b.jsonnet': { dir: 'outB', secrets: { 'env:str:V': 'v' } } },
      { 'a.jsonnet': "{ 'a.txt': std.extVar('secrets').v }", 'b.jsonnet': "{ 'b.txt': std.extVar('secrets').v }" },
    );
    writeFileSync(join(root, 'tconfd.d/outB'), 'not a directory');
    const p = wire(root, { env: { V: 'new' } });
    const dirA = join(root, 'tconfd.d/outA');
    mkdirSync(dirA);
    writeFileSync(join(dirA, 'a.txt'), 'previous\n');
    await expect(renderAll(p)).rejects.toThrow(/template "b\.jsonnet".*exists and is not a directory/);
    expect(readFileSync(join(dirA, 'a.txt'), 'utf8')).toBe('previous\n');
    expect(readdirSync(dirA)).toEqual(['a.txt']); // no temporary file left
  });

  it('renames failing half-way: a PartialWriteError names what is in place; the other temporary files are removed', async () => {
    const root = project(
      { 'a.jsonnet': { dir: 'out' }, 'b.jsonnet': { dir: 'out' } },
      { 'a.jsonnet': "{ 'a.txt': 'new a' }", 'b.jsonnet': "{ 'b1.txt': 'new b1', 'b2.txt': 'new b2' }" },
    );
    const p = wire(root);
    const out = join(root, 'tconfd.d/out');
    mkdirSync(out);
    for (const f of ['a.txt', 'b1.txt', 'b2.txt']) writeFileSync(join(out, f), 'previous\n');
    const commit = p.renderer.commit.bind(p.renderer);
    p.renderer.commit = async (prepared, dirs) => {
      if (prepared.template.template !== 'b.jsonnet') return commit(prepared, dirs);
      await prepared.files[0]!.prepared.commit(); // b1.txt is put in place, then the file system fails
      await prepared.files[1]!.prepared.abort();
      throw new CommitError(new Error('replacing b2.txt: input/output error (EIO)'), [{ path: join(out, 'b1.txt'), shown: join(out, 'b1.txt'), outcome: 'updated', bytes: 7 }]);
    };
    await p.pipeline.fetchAll();
    const err = await p.pipeline.write(await p.pipeline.plan(p.pipeline.templates)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PartialWriteError);
    expect((err as PartialWriteError).committed.map((o) => [o.template.template, o.changed])).toEqual([
      ['a.jsonnet', [join(out, 'a.txt')]],
      ['b.jsonnet', [join(out, 'b1.txt')]],
    ]);
    expect(readdirSync(out).sort()).toEqual(['a.txt', 'b1.txt', 'b2.txt']);
    expect(readFileSync(join(out, 'b2.txt'), 'utf8')).toBe('previous\n');
  });

  it('two templates writing the same file is an error naming both, and nothing is written', async () => {
    const root = mkdir({
      'tconfd.d/a.json': JSON.stringify({ 'one.jsonnet': { dir: 'out' } }),
      'tconfd.d/b.json': JSON.stringify({ 'two.jsonnet': { dir: '/unused' } }),
      'tconfd.d/one.jsonnet': "{ 'shared.conf': 'one', 'own.txt': 'x' }",
      'tconfd.d/two.jsonnet': "{ [std.extVar('secrets').out + '/shared.conf']: 'two' }",
    });
    writeFileSync(join(root, 'tconfd.d/b.json'), JSON.stringify({ 'two.jsonnet': { secrets: { 'env:str:OUT': 'out' } } }));
    const p = wire(root, { env: { OUT: join(root, 'tconfd.d/out') } });
    await p.pipeline.fetchAll();
    const err = await p.pipeline.plan(p.pipeline.templates).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeInstanceOf(TemplateError);
    expect(err!.message).toBe(
      // two.jsonnet computed the path from a secret: named as such, never quoted
      `template "two.jsonnet": writes [a name derived from a secret], which template "one.jsonnet" (tconfd.d/a.json) also writes`,
    );
    expect(existsSync(join(root, 'tconfd.d/out'))).toBe(false);
  });
});

describe('owner', () => {
  it('"user" while not root: a warning, once, and the file is still written with our own owner', async () => {
    const root = project({ 'app.jsonnet': { dir: 'out', user: 'www-data' } }, { 'app.jsonnet': "{ 'a.txt': 'a' }" });
    const p = wire(root, { isRoot: false });
    await renderAll(p);
    await rerender(p);
    const file = join(root, 'tconfd.d/out/a.txt');
    expect(readFileSync(file, 'utf8')).toBe('a\n');
    expect(statSync(file).uid).toBe(process.getuid!());
    const warnings = p.logs.records().filter((r) => r.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ template: 'app.jsonnet', config: 'tconfd.d/app.json', user: 'www-data' });
    expect(String(warnings[0]!.msg)).toContain('not running as root');
  });

  it.runIf(isRoot)('as root, "user" uid:gid is applied, to new and to unchanged files', async () => {
    const root = project(
      { 'app.jsonnet': { dir: 'out', user: '65534:65534' }, 'byname.jsonnet': { dir: 'out', user: 'root:65534' } },
      { 'app.jsonnet': "{ 'a.txt': 'a' }", 'byname.jsonnet': "{ 'n.txt': 'n' }" },
    );
    const p = wire(root, { isRoot: true });
    await renderAll(p);
    const file = join(root, 'tconfd.d/out/a.txt');
    expect([statSync(file).uid, statSync(file).gid]).toEqual([65534, 65534]);
    const named = statSync(join(root, 'tconfd.d/out/n.txt'));
    expect([named.uid, named.gid]).toEqual([0, 65534]);
    chownSync(file, 0, 0);
    const outcomes = await rerender(p);
    expect(outcomes.flatMap((o) => o.changed)).toEqual([]);
    expect([statSync(file).uid, statSync(file).gid]).toEqual([65534, 65534]);
    expect(p.logs.records().filter((r) => r.level === 40)).toEqual([]);
  });

  it.runIf(isRoot)('as root, an unknown user is an error naming the template and the user', async () => {
    const root = project({ 'app.jsonnet': { dir: 'out', user: 'no-such-user-xyz' } }, { 'app.jsonnet': "{ 'a.txt': 'a' }" });
    const p = wire(root, { isRoot: true });
    await expect(renderAll(p)).rejects.toThrow('template "app.jsonnet": "user": user "no-such-user-xyz" does not exist (not in /etc/passwd)');
    expect(existsSync(join(root, 'tconfd.d/out'))).toBe(false);
  });
});
