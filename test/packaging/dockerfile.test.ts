/**
 * The Dockerfile, checked without a Docker engine: a small parser (comments, line continuations, exec/JSON form,
 * --flags) and assertions on the stages, what they install and copy, the entrypoint, the healthcheck and the bin
 * path. COPY sources are checked against the repository and .dockerignore, as `docker build` would see them.
 * hadolint runs too when it is installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeStillLoaded } from './runtime-deps.js';
import { CLI } from '../support/tconfd.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const DOCKERFILE = path.join(ROOT, 'Dockerfile');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  dependencies?: Record<string, string>;
};
/**
 * What the installed package loads from node_modules at run time (the rest is bundled into dist/); the libjsonnet
 * addon, while the code still loads it, is left out: the image is built for the TypeScript Jsonnet evaluator.
 */
const pendingAddon = nativeStillLoaded(ROOT);
if (pendingAddon.length > 0) {
  console.warn(`[packaging] the code still loads ${pendingAddon.join(', ')}: the Dockerfile is checked as for the TypeScript Jsonnet evaluator, without it`);
}
const runtimeDeps = Object.keys(pkg.dependencies ?? {}).filter((d) => !pendingAddon.includes(d));

// ---- a small Dockerfile parser ----------------------------------------------------------------------------

interface Instruction {
  /** Upper-cased keyword (FROM, RUN, COPY...). */
  readonly keyword: string;
  /** --name=value flags before the arguments (FROM, COPY, ADD, RUN, HEALTHCHECK). */
  readonly flags: Record<string, string>;
  /** Arguments after the flags, as written (continuations joined with a space). */
  readonly rest: string;
  /** The arguments in exec (JSON array) form, when they are written that way. */
  readonly json: string[] | undefined;
  /** 1-based line of the keyword. */
  readonly line: number;
}

interface Stage {
  readonly index: number;
  readonly image: string;
  readonly name: string | undefined;
  readonly from: Instruction;
  readonly instructions: Instruction[];
}

interface Parsed {
  readonly instructions: Instruction[];
  readonly stages: Stage[];
  /** Text of every comment line (without the leading #). */
  readonly comments: string[];
}

const FLAGGED = new Set(['FROM', 'COPY', 'ADD', 'RUN', 'HEALTHCHECK']);

function parseDockerfile(text: string): Parsed {
  const lines = text.split(/\r?\n/);
  // Parser directives (# escape=`) come first; only the default backslash is supported here.
  for (const l of lines) {
    const m = /^#\s*escape\s*=\s*(\S)/i.exec(l);
    if (m && m[1] !== '\\') throw new Error(`unsupported escape directive: ${m[1]}`);
    if (!/^#\s*\w+\s*=/.test(l)) break;
  }
  const instructions: Instruction[] = [];
  const comments: string[] = [];
  let buf: string[] = [];
  let startLine = 0;
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    const trimmed = raw.trim();
    // Comment lines are removed, also in the middle of a continued instruction; so are empty lines there.
    if (trimmed.startsWith('#')) {
      comments.push(trimmed.slice(1).trim());
      continue;
    }
    if (trimmed === '' && buf.length === 0) continue;
    if (trimmed === '') continue;
    if (buf.length === 0) startLine = i + 1;
    const cont = /\\\s*$/.test(raw);
    buf.push(cont ? raw.replace(/\\\s*$/, '') : raw);
    if (cont) continue;
    instructions.push(parseInstruction(buf.map((s) => s.trim()).join(' '), startLine));
    buf = [];
  }
  if (buf.length > 0) throw new Error(`line ${startLine}: the last instruction ends with a line continuation`);

  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?\s*$/i.exec(ins.rest);
      if (!m) throw new Error(`line ${ins.line}: cannot parse FROM ${ins.rest}`);
      stages.push({ index: stages.length, image: m[1]!, name: m[2]?.toLowerCase(), from: ins, instructions: [] });
    } else if (ins.keyword !== 'ARG' || stages.length > 0) {
      const cur = stages.at(-1);
      if (cur === undefined) throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
      cur.instructions.push(ins);
    }
  }
  return { instructions, stages, comments };
}

function parseInstruction(text: string, line: number): Instruction {
  const m = /^(\S+)\s*(.*)$/s.exec(text);
  if (!m) throw new Error(`line ${line}: empty instruction`);
  const keyword = m[1]!.toUpperCase();
  let rest = m[2]!.trim();
  const flags: Record<string, string> = {};
  if (FLAGGED.has(keyword)) {
    for (;;) {
      const f = /^--([a-z][a-z0-9-]*)(?:=(\S*))?\s*/i.exec(rest);
      if (!f) break;
      flags[f[1]!.toLowerCase()] = f[2] ?? 'true';
      rest = rest.slice(f[0].length);
    }
  }
  let json: string[] | undefined;
  if (rest.startsWith('[')) {
    try {
      const v: unknown = JSON.parse(rest);
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) json = v as string[];
    } catch {
      // shell form that happens to start with [
    }
  }
  return { keyword, flags, rest, json, line };
}

/** Source and destination paths of a COPY/ADD, in either form. */
function copyArgs(ins: Instruction): { sources: string[]; dest: string } {
  const words = ins.json ?? ins.rest.split(/\s+/).filter(Boolean);
  if (words.length < 2) throw new Error(`line ${ins.line}: ${ins.keyword} needs a source and a destination`);
  return { sources: words.slice(0, -1), dest: words.at(-1)! };
}

/** The shell commands of a stage's RUN instructions. */
function runs(stage: Stage): string[] {
  return stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => (i.json ? i.json.join(' ') : i.rest));
}

/** Packages named by `apk add` in a stage's RUN instructions. */
function apkAdded(stage: Stage): Set<string> {
  const out = new Set<string>();
  for (const cmd of runs(stage)) {
    for (const part of cmd.split(/&&|;|\|\|/)) {
      const words = part.trim().split(/\s+/);
      const at = words.indexOf('apk');
      if (at < 0 || words[at + 1] !== 'add') continue;
      for (const w of words.slice(at + 2)) if (!w.startsWith('-')) out.add(w.replace(/[<>=~].*$/, ''));
    }
  }
  return out;
}

/** WORKDIR-aware resolution of a container path used in a stage (the path in effect at instruction `upTo`). */
function workdirAt(stage: Stage, upTo: Instruction): string {
  let wd = '/';
  for (const i of stage.instructions) {
    if (i === upTo) break;
    if (i.keyword === 'WORKDIR') wd = path.posix.resolve(wd, i.rest.trim());
  }
  return wd;
}

function containerPath(stage: Stage, ins: Instruction, p: string): string {
  return path.posix.resolve(workdirAt(stage, ins), p);
}

// ---- .dockerignore, with Docker's matching rules ------------------------------------------------------------

interface IgnoreRule {
  readonly negate: boolean;
  readonly re: RegExp;
  readonly pattern: string;
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/** Docker (moby/patternmatcher) glob: * and ? stop at /, ** spans directories, [...] classes, \ escapes. */
function globToRegExp(pattern: string): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        let cls = pattern.slice(i + 1, end);
        if (cls.startsWith('^') || cls.startsWith('!')) cls = `^${cls.slice(1)}`;
        re += `[${cls.replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (c === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]!);
    else re += escapeRe(c);
  }
  return new RegExp(`${re}$`);
}

function loadDockerignore(): IgnoreRule[] {
  const file = path.join(ROOT, '.dockerignore');
  if (!fs.existsSync(file)) return [];
  const rules: IgnoreRule[] = [];
  for (const raw of fs.readFileSync(file, 'utf8').split(/\r?\n/)) {
    let p = raw.trim();
    if (p === '' || p.startsWith('#')) continue;
    const negate = p.startsWith('!');
    if (negate) p = p.slice(1).trim();
    p = path.posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
    if (p === '' || p === '.') continue;
    rules.push({ negate, re: globToRegExp(p), pattern: raw.trim() });
  }
  return rules;
}

/** The rule that decides whether a context path is excluded (the last matching one), if any excludes it. */
function ignoredBy(rules: readonly IgnoreRule[], rel: string): string | undefined {
  const clean = path.posix.normalize(rel).replace(/^\.\//, '').replace(/\/+$/, '');
  if (clean === '.' || clean === '') return undefined;
  const parts = clean.split('/');
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let verdict: IgnoreRule | undefined;
  for (const r of rules) {
    // A pattern that matches a directory excludes everything below it.
    if (candidates.some((c) => r.re.test(c))) verdict = r.negate ? undefined : r;
  }
  return verdict?.pattern;
}

/** Context paths a COPY source names (a * or ? in the last component is expanded). */
function expandSource(src: string): string[] {
  const rel = path.posix.normalize(src).replace(/^\/+/, '');
  const dir = path.posix.dirname(rel);
  const base = path.posix.basename(rel);
  if (!/[*?[]/.test(base)) return [rel];
  if (/[*?[]/.test(dir)) throw new Error(`wildcards in directories are not supported by this test: ${src}`);
  const re = globToRegExp(base);
  const full = path.join(ROOT, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full)
    .filter((n) => re.test(n))
    .map((n) => path.posix.join(dir, n));
}

// ---- help output of the CLI (for option names) ------------------------------------------------------------

function helpOptions(): Set<string> | undefined {
  if (!fs.existsSync(CLI)) return undefined;
  const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  const opts = new Set<string>();
  for (const line of help.split('\n')) {
    if (!/^\s+-/.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[\s,])(--?[A-Za-z][\w-]*)/g)) opts.add(m[1]!);
  }
  return opts;
}

// ---- the tests ------------------------------------------------------------------------------------------

const df = parseDockerfile(fs.readFileSync(DOCKERFILE, 'utf8'));
const finalStage = df.stages.at(-1)!;
const buildStage = df.stages.find((s) => runs(s).some((c) => /\bnpm run build\b/.test(c)));

describe('Dockerfile parser', () => {
  it('joins continuations, drops comments inside them and reads exec form and flags', () => {
    const p = parseDockerfile(
      [
        '# a comment',
        'FROM node:24-alpine AS one',
        'RUN a \\',
        '# inside',
        '',
        ' && b',
        'COPY --from=one --chown=1:1 /x /y',
        'ENTRYPOINT ["/sbin/tini", "--", "x"]',
        'FROM scratch',
      ].join('\n'),
    );
    expect(p.stages.map((s) => [s.image, s.name])).toEqual([
      ['node:24-alpine', 'one'],
      ['scratch', undefined],
    ]);
    const [run, copy, ep] = p.stages[0]!.instructions;
    expect(run!.rest).toBe('a && b');
    expect(copy!.flags).toEqual({ from: 'one', chown: '1:1' });
    expect(copyArgs(copy!)).toEqual({ sources: ['/x'], dest: '/y' });
    expect(ep!.json).toEqual(['/sbin/tini', '--', 'x']);
    expect(p.comments).toEqual(['a comment', 'inside']);
  });

  it('applies .dockerignore rules as Docker does', () => {
    const rules = ['node_modules', '**/*.log', 'test', '!test/keep', 'docs/*.md'].map((p) => ({
      negate: p.startsWith('!'),
      re: globToRegExp(p.replace(/^!/, '')),
      pattern: p,
    }));
    expect(ignoredBy(rules, 'node_modules/x/y.js')).toBe('node_modules');
    expect(ignoredBy(rules, 'src/node_modules')).toBeUndefined();
    expect(ignoredBy(rules, 'a/b/c.log')).toBe('**/*.log');
    expect(ignoredBy(rules, 'x.log')).toBe('**/*.log');
    expect(ignoredBy(rules, 'test/a.ts')).toBe('test');
    expect(ignoredBy(rules, 'test/keep')).toBeUndefined();
    expect(ignoredBy(rules, 'docs/a.md')).toBe('docs/*.md');
    expect(ignoredBy(rules, 'docs/sub/a.md')).toBeUndefined();
    expect(ignoredBy(rules, 'src/cli.ts')).toBeUndefined();
  });
});

describe('Dockerfile', () => {
  it('has at least two stages, each named', () => {
    expect(df.stages.length).toBeGreaterThanOrEqual(2);
    for (const s of df.stages) expect(s.name, `FROM ${s.image} (line ${s.from.line}) needs AS <name>`).toBeTruthy();
    expect(new Set(df.stages.map((s) => s.name)).size).toBe(df.stages.length);
  });

  it('bases every stage, and the final one in particular, on an official Node Alpine image pinned by tag', () => {
    const nodeAlpine = /^(?:(?:docker\.io\/)?library\/)?node:(\d+)[\w.-]*-alpine[\w.]*(?:@sha256:[0-9a-f]{64})?$/;
    expect(finalStage.image).toMatch(nodeAlpine);
    for (const s of df.stages) expect(s.image, `stage ${s.name}`).toMatch(nodeAlpine);
    // V8's code cache is made by the build stage's Node and only accepted by the same one.
    expect(new Set(df.stages.map((s) => nodeAlpine.exec(s.image)![1])).size).toBe(1);
    const major = Number(nodeAlpine.exec(finalStage.image)![1]);
    expect(major).toBeGreaterThanOrEqual(20);
    expect(major % 2, 'an LTS (even) Node major').toBe(0);
  });

  it('has a build stage that runs npm ci and the build, without a compiler toolchain', () => {
    expect(buildStage, 'a stage that runs `npm run build`').toBeDefined();
    expect(buildStage).not.toBe(finalStage);
    // Every dependency is JavaScript: nothing to compile, in any stage.
    for (const s of df.stages) {
      const added = apkAdded(s);
      for (const p of ['build-base', 'cmake', 'python3', 'linux-headers', 'g++', 'gcc', 'make', 'musl-dev']) {
        expect(added, `stage ${s.name} installs ${p}`).not.toContain(p);
      }
    }
    const cmds = runs(buildStage!).join('\n');
    const ci = cmds.search(/\bnpm ci\b(?![^\n&;]*--omit=dev)/);
    const build = cmds.search(/\bnpm run build\b/);
    expect(ci, 'npm ci').toBeGreaterThanOrEqual(0);
    expect(build).toBeGreaterThan(ci);
    if (runtimeDeps.length > 0) {
      const prune = cmds.search(/\bnpm prune\b[^\n&;]*--omit=dev|\bnpm ci\b[^\n&;]*--omit=dev/);
      expect(prune, `npm prune --omit=dev (or npm ci --omit=dev) for ${runtimeDeps.join(', ')}`).toBeGreaterThan(build);
    }
  });

  it('copies into the build stage everything `npm run build` needs', () => {
    const copied = buildStage!.instructions
      .filter((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && i.flags.from === undefined)
      .flatMap((i) => copyArgs(i).sources.map((s) => path.posix.normalize(s).replace(/\/+$/, '')));
    for (const need of ['package.json', 'package-lock.json', 'scripts', 'src', 'schema']) expect(copied).toContain(need);
  });

  it('has a runtime stage with tini, a non-root user and tini as the entrypoint', () => {
    expect(apkAdded(finalStage)).toContain('tini');
    const users = finalStage.instructions.filter((i) => i.keyword === 'USER');
    expect(users.length, 'a USER instruction in the final stage').toBeGreaterThan(0);
    const user = users.at(-1)!.rest.trim();
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
    // The user must exist: created in this stage (adduser/useradd) unless it is numeric.
    if (!/^\d+(:\d+)?$/.test(user)) {
      const name = user.split(':')[0]!;
      expect(runs(finalStage).join('\n')).toMatch(new RegExp(`\\b(adduser|useradd)\\b[^\\n]*\\b${name}\\s*($|&&|\\n)`, 'm'));
    }
    const entrypoints = finalStage.instructions.filter((i) => i.keyword === 'ENTRYPOINT');
    expect(entrypoints).toHaveLength(1);
    expect(entrypoints[0]!.json, 'ENTRYPOINT in exec (JSON) form').toEqual(['/sbin/tini', '--', 'tconfd']);
    const cmds = finalStage.instructions.filter((i) => i.keyword === 'CMD');
    for (const c of cmds) expect(c.json, 'CMD in exec (JSON) form (it is appended to the ENTRYPOINT)').toBeDefined();
  });

  it('sets TCONFD_DIR to /etc/tconfd, a variable the CLI reads', () => {
    const env = finalStage.instructions.filter((i) => i.keyword === 'ENV').map((i) => i.rest);
    expect(env.some((e) => /(^|\s)TCONFD_DIR[= ]\/etc\/tconfd(\s|$)/.test(e))).toBe(true);
    expect(runs(finalStage).join('\n')).toMatch(/mkdir -p[^\n&]*\/etc\/tconfd/);
    if (!fs.existsSync(CLI)) return;
    expect(execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' })).toContain('[env TCONFD_DIR]');
  });

  it('has a HEALTHCHECK on /healthz whose port is the one documented for --health-listen', () => {
    const hc = finalStage.instructions.filter((i) => i.keyword === 'HEALTHCHECK');
    expect(hc).toHaveLength(1);
    const text = hc[0]!.rest;
    expect(text).not.toMatch(/^NONE\b/i);
    expect(text).toMatch(/^CMD\s/);
    const url = /https?:\/\/127\.0\.0\.1:(\d+)\/healthz\b/.exec(text);
    expect(url, 'the check asks http://127.0.0.1:PORT/healthz').not.toBeNull();
    const documented = df.comments.join('\n').match(/--health-listen 127\.0\.0\.1:(\d+)/g) ?? [];
    expect(documented.length, 'a comment tells which --health-listen the check needs').toBeGreaterThan(0);
    for (const d of documented) expect(d.endsWith(`:${url![1]}`)).toBe(true);
    if (!fs.existsSync(CLI)) return;
    expect(helpOptions()).toContain('--health-listen');
  });

  it('copies only files that exist in the build context and are not excluded by .dockerignore', () => {
    const rules = loadDockerignore();
    let count = 0;
    for (const s of df.stages) {
      for (const ins of s.instructions) {
        if ((ins.keyword !== 'COPY' && ins.keyword !== 'ADD') || ins.flags.from !== undefined) continue;
        for (const src of copyArgs(ins).sources) {
          const where = `line ${ins.line}: ${ins.keyword} ${src}`;
          expect(/^[a-z][a-z0-9+.-]*:\/\//i.test(src), `${where}: a URL is not a context path`).toBe(false);
          const rel = path.posix.normalize(src).replace(/^\/+/, '');
          expect(rel === '..' || rel.startsWith('../'), `${where}: outside the build context`).toBe(false);
          const paths = expandSource(src);
          expect(paths.length, `${where}: no such file in the repository`).toBeGreaterThan(0);
          for (const p of paths) {
            expect(fs.existsSync(path.join(ROOT, p)), `${where}: ${p} does not exist`).toBe(true);
            expect(ignoredBy(rules, p), `${where}: ${p} is excluded by .dockerignore`).toBeUndefined();
            count++;
          }
        }
      }
    }
    expect(count).toBeGreaterThan(0);
  });

  it('keeps .dockerignore excluding host builds, VCS data and test artefacts', () => {
    const rules = loadDockerignore();
    for (const p of ['node_modules/x', 'dist/cli.js', '.git/HEAD', '.tmp/x', 'coverage/index.html', 'test/a.test.ts'])
      expect(ignoredBy(rules, p), p).toBeDefined();
  });

  it('copies --from earlier stages only', () => {
    for (const s of df.stages) {
      for (const ins of s.instructions) {
        const from = ins.flags.from;
        if (from === undefined) continue;
        const earlier = df.stages.slice(0, s.index);
        const ok = earlier.some((e) => e.name === from.toLowerCase() || String(e.index) === from);
        expect(ok, `line ${ins.line}: --from=${from} is not an earlier stage of ${s.name}`).toBe(true);
      }
    }
  });

  it('installs the package where it was built, and links the bin path of package.json', () => {
    expect(Object.keys(pkg.bin)).toEqual(['tconfd']);
    const bin = path.posix.normalize(pkg.bin.tconfd!);
    const copies = finalStage.instructions
      .filter((i) => i.keyword === 'COPY' && i.flags.from !== undefined)
      .map((i) => {
        const { sources, dest } = copyArgs(i);
        const stage = df.stages.find((s) => s.name === i.flags.from!.toLowerCase())!;
        return { ins: i, stage, sources, dest: containerPath(finalStage, i, dest) };
      });
    // dist/ (and node_modules, when package.json has runtime dependencies) come from the build stage's work
    // directory to the same place: installed exactly where the build stage tested them.
    const buildDir = workdirAt(buildStage!, buildStage!.instructions.find((i) => /\bnpm run build\b/.test(i.rest))!);
    const copiesModules = copies.some((x) => x.sources.some((src) => path.posix.basename(src) === 'node_modules'));
    expect(copiesModules, `node_modules copied to the image, for the runtime dependencies [${runtimeDeps.join(', ')}]`).toBe(
      runtimeDeps.length > 0,
    );
    for (const what of ['dist', 'package.json', ...(runtimeDeps.length > 0 ? ['node_modules'] : [])]) {
      const c = copies.find((x) => x.sources.some((src) => path.posix.basename(src) === what));
      expect(c, `COPY --from=${buildStage!.name} .../${what}`).toBeDefined();
      expect(c!.stage).toBe(buildStage);
      expect(c!.sources).toEqual([path.posix.join(buildDir, what)]);
      expect([path.posix.join(buildDir, what), `${buildDir}/`]).toContain(c!.dest);
    }
    // /usr/local/bin/tconfd (the name the ENTRYPOINT runs) points at <install dir>/<package.json bin>.
    const link = runs(finalStage)
      .join('\n')
      .match(/\bln -s(?:f)? (\S+) \/usr\/local\/bin\/tconfd\b/);
    expect(link, 'ln -s <target> /usr/local/bin/tconfd').not.toBeNull();
    expect(link![1]).toBe(path.posix.join(buildDir, bin));
  });
});

describe('Dockerfile build stage, replayed on the host', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-docker-ctx-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const haveDeps = fs.existsSync(path.join(ROOT, 'node_modules/esbuild'));
  if (!haveDeps) console.warn('[packaging] node_modules/esbuild is missing (run npm ci): build replay skipped');

  it.skipIf(!haveDeps)('bundles dist/cli.js from the copied files alone', () => {
    // Copy what the build stage copies (honouring .dockerignore), borrow the host's node_modules, build.
    const rules = loadDockerignore();
    for (const ins of buildStage!.instructions) {
      if (ins.keyword !== 'COPY' || ins.flags.from !== undefined) continue;
      for (const src of copyArgs(ins).sources.flatMap(expandSource)) {
        fs.cpSync(path.join(ROOT, src), path.join(tmp, src), {
          recursive: true,
          filter: (from) => ignoredBy(rules, path.relative(ROOT, from).split(path.sep).join('/') || '.') === undefined,
        });
      }
    }
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(tmp, 'node_modules'), 'dir');
    const r = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: tmp, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // The bin of package.json is what the image links to /usr/local/bin/tconfd: executable, with a shebang.
    const bin = path.join(tmp, pkg.bin.tconfd!);
    expect(fs.readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(fs.statSync(bin).mode & 0o111).toBe(0o111);
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    expect(out.trim()).toBe(pkg.version);
  });
});

describe('hadolint', () => {
  const found = spawnSync('hadolint', ['--version'], { encoding: 'utf8' });
  const have = found.status === 0;
  if (!have) console.warn('[packaging] hadolint is not installed: the Dockerfile lint is skipped');

  it.skipIf(!have)('finds no error in the Dockerfile', () => {
    const r = spawnSync('hadolint', ['--failure-threshold', 'error', DOCKERFILE], { encoding: 'utf8' });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });
});
