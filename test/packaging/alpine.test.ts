/**
 * alpine/: the APKBUILD (shell syntax, metadata that must follow package.json, what package() and the tconfd-s6
 * split function install) and the s6-overlay service files (modes, shebangs, readiness, the options they pass to
 * tconfd, checked against `node dist/cli.js --help` so the scripts cannot drift from the CLI). execlineb parses
 * the run scripts too when it is installed (Debian package `execline`).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI } from '../support/tconfd.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ALPINE = path.join(ROOT, 'alpine');
const APKBUILD = path.join(ALPINE, 'APKBUILD');
const S6 = path.join(ALPINE, 's6-overlay/s6-rc.d');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
};

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-alpine-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const haveCli = fs.existsSync(CLI);
if (!haveCli) console.warn('[packaging] dist/cli.js is missing (run npm run build): checks against --help skipped');

/** Every option name `tconfd --help` lists (-d, --dir, ...). */
function helpOptions(): Set<string> {
  const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  const opts = new Set<string>();
  for (const line of help.split('\n')) {
    if (!/^\s+-/.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[\s,])(--?[A-Za-z][\w-]*)/g)) opts.add(m[1]!);
  }
  return opts;
}

/** Whether `arg` (an option as written: -D, --ready-fd=3, --no-revoke-on-exit) names a real option. */
function isKnownOption(opts: ReadonlySet<string>, arg: string): boolean {
  const name = arg.split('=')[0]!;
  if (opts.has(name)) return true;
  if (name.startsWith('--no-') && opts.has(`--${name.slice(5)}`)) return true;
  // -r3: a short option with its value attached.
  return /^-[A-Za-z]./.test(name) && opts.has(name.slice(0, 2));
}

// ---- APKBUILD ----------------------------------------------------------------------------------------------

const VARS = [
  'pkgname',
  'pkgver',
  'pkgrel',
  'pkgdesc',
  'url',
  'arch',
  'license',
  'depends',
  'makedepends',
  'subpackages',
  'options',
  'source',
  'builddir',
] as const;
type Vars = Record<(typeof VARS)[number], string>;

/** Source the APKBUILD in bash, as abuild does, and read its variables. */
function apkbuildVars(env: Record<string, string> = {}): Vars {
  const script = `srcdir=/SRCDIR; . "$1"; shift; for v in "$@"; do eval "printf '%s\\0' \\"\\$$v\\""; done`;
  const out = execFileSync('bash', ['-c', script, 'bash', APKBUILD, ...VARS], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
  });
  const values = out.split('\0');
  return Object.fromEntries(VARS.map((v, i) => [v, values[i] ?? ''])) as Vars;
}

/** A function's body as bash prints it (normalised: one command per line). */
function functionBody(name: string): string {
  return execFileSync('bash', ['-c', `srcdir=/SRCDIR; . "$1"; declare -f ${name}`, 'bash', APKBUILD], {
    encoding: 'utf8',
  });
}

describe('alpine/APKBUILD', () => {
  it('is valid shell', () => {
    const r = spawnSync('bash', ['-n', APKBUILD], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
  });

  it('follows package.json and declares what the build and the package need', () => {
    const v = apkbuildVars();
    expect(v.pkgname).toBe(pkg.name);
    expect(v.pkgver).toBe(pkg.version);
    expect(v.pkgrel).toMatch(/^\d+$/);
    expect(v.pkgdesc.length).toBeGreaterThan(0);
    expect(v.pkgdesc.length, 'abuild limits pkgdesc to 128 characters').toBeLessThanOrEqual(128);
    expect(v.url).not.toBe('');
    expect(v.license).not.toBe('');
    // V8's code cache in dist/ is made by the build machine's Node.js: not noarch.
    expect(v.arch).not.toBe('noarch');
    const depends = v.depends.split(/\s+/);
    expect(depends).toContain('nodejs');
    expect(depends).toContain('tini');
    const makedepends = v.makedepends.split(/\s+/);
    expect(makedepends).toContain('npm');
    // Nothing to compile: every dependency is JavaScript, bundled into dist/.
    for (const p of ['build-base', 'cmake', 'python3', 'linux-headers', 'g++', 'gcc', 'make']) expect(makedepends, p).not.toContain(p);
    expect(v.subpackages.split(/\s+/)).toContain(`${pkg.name}-s6:_s6:noarch`);
    expect(v.builddir).toBe(`/SRCDIR/${pkg.name}-${pkg.version}`);
  });

  it('takes the source tarball from beside it, or from TCONFD_SOURCE_URL', () => {
    expect(apkbuildVars().source).toBe(`${pkg.name}-${pkg.version}.tar.gz`);
    const url = 'https://downloads.example/tconfd/v1.tar.gz';
    expect(apkbuildVars({ TCONFD_SOURCE_URL: url }).source).toBe(`${pkg.name}-${pkg.version}.tar.gz::${url}`);
  });

  it('builds with npm ci, npm run build, then npm prune --omit=dev, and smoke-tests the result', () => {
    const build = functionBody('build');
    const ci = build.indexOf('npm ci');
    const run = build.indexOf('npm run build');
    const prune = build.search(/npm prune[^\n;]*--omit=dev/);
    expect(ci).toBeGreaterThanOrEqual(0);
    expect(run).toBeGreaterThan(ci);
    expect(prune).toBeGreaterThan(run);
    const options = apkbuildVars().options.split(/\s+/);
    if (!options.includes('!check')) expect(functionBody('check')).toMatch(/node dist\/cli\.js --version/);
  });

  /** Runs package() and _s6() on a stand-in for the unpacked, built source tree; returns the package directories. */
  function packageTree(name: string, withModules: boolean): { pkgdir: string; subpkgdir: string } {
    const srcdir = path.join(tmp, name, 'src');
    const builddir = path.join(srcdir, `${pkg.name}-${pkg.version}`);
    fs.mkdirSync(path.join(builddir, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(builddir, pkg.bin.tconfd!), '#!/usr/bin/env node\n', { mode: 0o755 });
    if (withModules) {
      fs.mkdirSync(path.join(builddir, 'node_modules/some-dep'), { recursive: true });
      fs.writeFileSync(path.join(builddir, 'node_modules/some-dep/index.js'), '');
    }
    fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(builddir, 'package.json'));
    fs.symlinkSync(ALPINE, path.join(builddir, 'alpine'));
    const pkgdir = path.join(tmp, name, 'pkg', pkg.name);
    const subpkgdir = path.join(tmp, name, 'pkg', `${pkg.name}-s6`);
    const script = 'set -e; srcdir="$1"; . "$2"; cd "$builddir"; pkgdir="$3" package; subpkgdir="$4" _s6';
    const r = spawnSync('bash', ['-c', script, 'bash', srcdir, APKBUILD, pkgdir, subpkgdir], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return { pkgdir, subpkgdir };
  }

  it('installs no node_modules when npm prune left none (no runtime dependency)', () => {
    const { pkgdir } = packageTree('bare', false);
    const lib = path.join(pkgdir, 'usr/lib', pkg.name);
    expect(fs.readdirSync(lib).sort()).toEqual(['dist', 'package.json']);
  });

  it('installs /usr/lib/tconfd, a /usr/bin/tconfd launcher, /etc/tconfd and the s6 service (tconfd-s6)', () => {
    const { pkgdir, subpkgdir } = packageTree('full', true);
    const lib = path.join(pkgdir, 'usr/lib', pkg.name);
    expect(fs.existsSync(path.join(lib, pkg.bin.tconfd!))).toBe(true);
    expect(fs.existsSync(path.join(lib, 'node_modules/some-dep/index.js'))).toBe(true);
    expect(fs.existsSync(path.join(lib, 'package.json'))).toBe(true);
    expect(fs.statSync(path.join(pkgdir, 'etc', pkg.name)).isDirectory()).toBe(true);

    const launcher = path.join(pkgdir, 'usr/bin', pkg.name);
    expect(fs.statSync(launcher).mode & 0o777).toBe(0o755);
    const text = fs.readFileSync(launcher, 'utf8');
    expect(text).toBe(`#!/bin/sh\nexec /usr/bin/node /usr/lib/${pkg.name}/${path.posix.normalize(pkg.bin.tconfd!)} "$@"\n`);

    const svc = path.join(subpkgdir, 'etc/s6-overlay/s6-rc.d');
    for (const f of ['tconfd/type', 'tconfd/run', 'tconfd/notification-fd']) {
      expect(fs.readFileSync(path.join(svc, f), 'utf8'), f).toBe(fs.readFileSync(path.join(S6, f), 'utf8'));
    }
    expect(fs.statSync(path.join(svc, 'tconfd/run')).mode & 0o777).toBe(0o755);
    expect(fs.statSync(path.join(svc, 'tconfd/type')).mode & 0o777).toBe(0o644);
    expect(fs.existsSync(path.join(svc, 'tconfd/dependencies.d/base'))).toBe(true);
    expect(fs.existsSync(path.join(svc, 'user/contents.d/tconfd'))).toBe(true);
    // The example application service is documentation, not part of the package.
    expect(fs.existsSync(path.join(svc, 'myapp'))).toBe(false);
    expect(fs.existsSync(path.join(pkgdir, 'etc/s6-overlay'))).toBe(false);
  });

  it.skipIf(!haveCli)('has a launcher that runs dist/cli.js with every argument', () => {
    // The installed launcher with its two absolute paths pointed at this checkout.
    const text = fs
      .readFileSync(path.join(tmp, 'full', 'pkg', pkg.name, 'usr/bin', pkg.name), 'utf8')
      .replace('/usr/bin/node', process.execPath)
      .replace(`/usr/lib/${pkg.name}/`, `${ROOT}/`);
    const launcher = path.join(tmp, 'launcher');
    fs.writeFileSync(launcher, text, { mode: 0o755 });
    expect(execFileSync(launcher, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    const r = spawnSync(launcher, ['--dir', path.join(tmp, 'no such dir'), '--check'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('no such dir');
  });
});

// ---- s6-overlay service files ------------------------------------------------------------------------------

/**
 * execline words: # comments, "quoted strings" with backslash escapes, { and } as block delimiters (whole words).
 * Enough for these scripts; execlineb itself checks them below when it is installed.
 */
function execlineWords(text: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else {
      let w = '';
      while (i < text.length && !/\s/.test(text[i]!)) {
        if (text[i] === '"') {
          i++;
          while (i < text.length && text[i] !== '"') {
            if (text[i] === '\\' && i + 1 < text.length) i++;
            w += text[i++];
          }
          if (i >= text.length) throw new Error('unterminated "');
          i++;
        } else w += text[i++];
      }
      words.push(w);
    }
  }
  let depth = 0;
  for (const w of words) {
    if (w === '{') depth++;
    if (w === '}' && --depth < 0) throw new Error('unmatched }');
  }
  if (depth !== 0) throw new Error('unmatched {');
  return words;
}

/** The argv execlineb -P makes of those words: block contents prefixed with one space per level, "" ends a block. */
function execlinebArgv(words: readonly string[]): string[] {
  const out: string[] = [];
  let depth = 0;
  for (const w of words) {
    if (w === '{') depth++;
    else if (w === '}') out.push(' '.repeat(--depth));
    else out.push(' '.repeat(depth) + w);
  }
  return out;
}

const TCONFD_EXE = /^(?:\/usr(?:\/local)?\/bin\/)?tconfd$/;

/** The arguments a script passes to tconfd (up to the end of the enclosing block). */
function tconfdArgs(words: readonly string[]): string[] {
  const at = words.findIndex((w) => TCONFD_EXE.test(w));
  if (at < 0) return [];
  const end = words.indexOf('}', at);
  return words.slice(at + 1, end < 0 ? undefined : end);
}

/** Value of an option in an argument list: -r 3, -r3, --ready-fd 3, --ready-fd=3. */
function optionValue(args: readonly string[], short: string, long: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === short || a === long) return args[i + 1];
    if (a.startsWith(`${long}=`)) return a.slice(long.length + 1);
    if (a.startsWith(short) && a.length > short.length && !a.startsWith('--')) return a.slice(short.length);
  }
  return undefined;
}

function services(): string[] {
  return fs
    .readdirSync(S6, { withFileTypes: true })
    .filter((d) => d.isDirectory() && fs.existsSync(path.join(S6, d.name, 'type')))
    .map((d) => d.name)
    .sort();
}

function readService(name: string, file: string): string {
  return fs.readFileSync(path.join(S6, name, file), 'utf8');
}

function runWords(name: string): string[] {
  return execlineWords(readService(name, 'run'));
}

const SHEBANGS = ['#!/command/execlineb -P', '#!/usr/bin/execlineb -P'];

describe('alpine/s6-overlay (s6-rc.d, s6-overlay v3)', () => {
  it('has the tconfd service, an example dependent service and the user bundle entries', () => {
    expect(services()).toEqual(expect.arrayContaining(['tconfd', 'myapp']));
    for (const s of ['tconfd', 'myapp']) expect(fs.existsSync(path.join(S6, 'user/contents.d', s)), s).toBe(true);
    expect(fs.existsSync(path.join(S6, 'myapp/dependencies.d/tconfd'))).toBe(true);
  });

  it('has a valid type for each service, and a run script for each longrun', () => {
    for (const s of services()) {
      const type = readService(s, 'type');
      expect(['longrun\n', 'oneshot\n', 'bundle\n'], `${s}/type`).toContain(type);
      if (type === 'longrun\n') expect(fs.existsSync(path.join(S6, s, 'run')), `${s}/run`).toBe(true);
    }
  });

  it('names only existing services (or s6-overlay base) in dependencies.d and user/contents.d', () => {
    const known = new Set([...services(), 'base']);
    for (const s of services()) {
      const deps = path.join(S6, s, 'dependencies.d');
      if (!fs.existsSync(deps)) continue;
      for (const d of fs.readdirSync(deps)) expect(known.has(d), `${s}/dependencies.d/${d}`).toBe(true);
    }
    for (const s of fs.readdirSync(path.join(S6, 'user/contents.d'))) expect(services(), `user/contents.d/${s}`).toContain(s);
  });

  it('has executable run scripts (on disk and in git) with an execlineb -P shebang', () => {
    for (const s of services()) {
      const run = path.join(S6, s, 'run');
      if (!fs.existsSync(run)) continue;
      expect(fs.statSync(run).mode & 0o111, `${s}/run must be executable (chmod +x)`).toBe(0o111);
      expect(SHEBANGS, `${s}/run shebang`).toContain(readService(s, 'run').split('\n')[0]);
      const staged = spawnSync('git', ['ls-files', '-s', '--', path.relative(ROOT, run)], { cwd: ROOT, encoding: 'utf8' });
      if (staged.status === 0 && staged.stdout.trim() !== '') {
        expect(staged.stdout.split(/\s/)[0], `${s}/run git mode (git update-index --chmod=+x)`).toBe('100755');
      }
    }
  });

  it('runs tconfd in daemon mode with readiness on the notification fd, and stays up when it exits 0', () => {
    expect(readService('tconfd', 'notification-fd')).toBe('3\n');
    const words = runWords('tconfd');
    expect(words).toContain('with-contenv');
    const args = tconfdArgs(words);
    expect(args.length, 'the run script starts tconfd').toBeGreaterThan(0);
    expect(args.includes('-D') || args.includes('--daemon'), 'daemon mode (-D)').toBe(true);
    expect(optionValue(args, '-r', '--ready-fd'), 'readiness fd (-r)').toBe(readService('tconfd', 'notification-fd').trim());
    expect(args, 'no command: the application is a service of its own').not.toContain('--');
    // foreground { tconfd ... } then, on exit status 0, s6-pause.
    const at = words.findIndex((w) => TCONFD_EXE.test(w));
    expect(words.slice(at - 2, at)).toEqual(['foreground', '{']);
    const after = words.slice(words.indexOf('}', at) + 1);
    expect(after.slice(0, 4)).toEqual(['importas', '-u', '?', '?']);
    expect(after).toContain('s6-pause');
    expect(after.join(' ')).toMatch(/if \{ (eltest|s6-test|test) \$\{\?\} = 0 \}/);
  });

  it('makes the example service wait for tconfd to be up and ready', () => {
    const words = runWords('myapp');
    const at = words.indexOf('s6-svwait');
    expect(at, 's6-svwait').toBeGreaterThanOrEqual(0);
    const block = words.slice(at, words.indexOf('}', at));
    expect(block).toContain('-U');
    const v3 = readService('myapp', 'run').startsWith('#!/command/');
    expect(block.at(-1)).toBe(v3 ? '/run/service/tconfd' : '/var/run/s6/services/tconfd');
    // The application does not get tconfd's Vault credentials.
    expect(words.join(' ')).toMatch(/unexport VAULT_TOKEN/);
  });

  it.skipIf(!haveCli)('passes tconfd only options that `tconfd --help` lists', () => {
    const opts = helpOptions();
    expect(opts).toContain('--ready-fd');
    let checked = 0;
    for (const s of services()) {
      if (!fs.existsSync(path.join(S6, s, 'run'))) continue;
      for (const a of tconfdArgs(runWords(s))) {
        if (!a.startsWith('-')) continue;
        expect(isKnownOption(opts, a), `${s}/run passes ${a} to tconfd`).toBe(true);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });

  it('tokenises execline as execlineb does (self-test of this file)', () => {
    const w = execlineWords('#!/command/execlineb -P\n# c\nforeground { a "b c" { d } } # e\nf\n');
    expect(w).toEqual(['foreground', '{', 'a', 'b c', '{', 'd', '}', '}', 'f']);
    expect(execlinebArgv(w)).toEqual(['foreground', ' a', ' b c', '  d', ' ', '', 'f']);
    expect(() => execlineWords('foreground { a\n')).toThrow(/unmatched/);
  });
});

describe('execlineb', () => {
  const which = spawnSync('sh', ['-c', 'command -v execlineb'], { encoding: 'utf8' });
  const execlineb = which.status === 0 ? which.stdout.trim() : undefined;
  if (execlineb === undefined) console.warn('[packaging] execlineb is not installed (Debian: execline): run script parse skipped');

  it.skipIf(execlineb === undefined)('parses each run script into the words this test reads', () => {
    // execlineb -P parses the script and execs its first word: put a program first that prints its argv.
    const dump = path.join(tmp, 'argv.cjs');
    fs.writeFileSync(dump, 'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n');
    for (const s of services()) {
      if (!fs.existsSync(path.join(S6, s, 'run'))) continue;
      const script = path.join(tmp, `${s}.run`);
      fs.writeFileSync(script, `"${process.execPath}" "${dump}"\n${readService(s, 'run')}`);
      const r = spawnSync(execlineb!, ['-P', script], { encoding: 'utf8' });
      expect(r.status, `${s}/run: ${r.stderr}`).toBe(0);
      expect(JSON.parse(r.stdout), `${s}/run`).toEqual(execlinebArgv(runWords(s)));
    }
  });
});
