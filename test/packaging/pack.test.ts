/**
 * A new user's path, from a clean copy of the repository (the working tree's files, no node_modules, no dist/):
 *   1. `npm ci` (offline: from the npm cache) builds dist/ (the prepare script), so that the Examples table's
 *      `npx tconfd --dir examples/quickstart/tconfd.d --once` works as written;
 *   2. `npm pack` (prepack builds dist/): the tarball's files and contents;
 *   3. the tarball installed as `npm install -g tconfd` would install it, with `--omit=dev --offline` into an empty
 *      prefix, and run from outside the repository: --version, --help, the quickstart with --log-format pretty, and a
 *      KV v2 secret from Vault (the stand-in, or a real `vault server -dev` when `vault` is on PATH).
 * Everything comes from the local npm cache: when npm cannot work offline here, the tests say so and are skipped.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableKv2, putKv2, createToken, writePolicy } from '../vault/setup.js';
import { startProcess } from '../support/tconfd.js';
import { nativeStillLoaded, requiredPackages, runtimePackagesWithInstallScripts } from './runtime-deps.js';
import { startVaultTarget, type VaultTarget } from '../vault/target.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const rootPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Run a program to the end (test/support's processes: PATH and HOME only, so that nothing of an enclosing `npm test`,
 * npm_* variables in particular, reaches npm here).
 */
async function exec(argv: readonly string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<Result> {
  const p = startProcess(argv, { cwd: opts.cwd, env: { NO_UPDATE_NOTIFIER: '1', ...opts.env } });
  const exit = await p.waitForExit(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {});
  return { code: exit.code, stdout: p.stdout, stderr: p.stderr };
}

/** The files a clean clone has: git's tracked and untracked-but-not-ignored files, or the tree minus build output. */
function cleanCloneFiles(): string[] {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    return out.split('\0').filter((f) => f !== '' && fs.existsSync(path.join(ROOT, f)));
  } catch {
    const skip = new Set(['node_modules', 'dist', 'sourcemap', '.git', '.tmp', 'coverage']);
    const files: string[] = [];
    const walk = (rel: string): void => {
      for (const e of fs.readdirSync(path.join(ROOT, rel), { withFileTypes: true })) {
        const p = rel === '' ? e.name : `${rel}/${e.name}`;
        if (skip.has(p) || e.name === 'node_modules') continue;
        if (e.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk('');
    return files;
  }
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

const scripted = runtimePackagesWithInstallScripts(ROOT);
/** Native packages the code still loads: no compiler-free package can be made until they are gone (see below). */
const pending = nativeStillLoaded(ROOT);

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-pack-'));
const clone = path.join(tmp, 'clone');
const unpacked = path.join(tmp, 'unpacked');
const prefix = path.join(tmp, 'prefix');
/** Somewhere outside the repository, so that nothing resolves from its node_modules. */
const elsewhere = path.join(tmp, 'elsewhere');
let tarball = '';
let packedFiles: { path: string; mode: number }[] = [];
let packedPkg: { version: string; dependencies?: Record<string, string>; bin?: Record<string, string> } = { version: '' };
let bin = '';

/** Why the clean-copy tests cannot run here (npm cannot work offline...), or undefined. */
let cannotRun: string | undefined;

function skipVisibly(why: string): void {
  cannotRun ??= why;
  console.warn(`[packaging] ${why}: the package tests are skipped`);
}

/** npm failed because something is not in the npm cache (offline). */
const notCached = (r: Result): boolean => /ENOTCACHED|only-if-cached/.test(r.stderr);

beforeAll(async () => {
  if (pending.length > 0) {
    // The code still loads a native addon: npm ci and the install would compile it for minutes.
    return skipVisibly(`the code still loads ${pending.join(', ')}, a native addon (Jsonnet is not evaluated in TypeScript yet)`);
  }
  for (const f of cleanCloneFiles()) {
    fs.mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(clone, f));
    fs.chmodSync(path.join(clone, f), fs.statSync(path.join(ROOT, f)).mode & 0o777);
  }
  const ci = await exec(['npm', 'ci', '--offline', '--no-audit', '--no-fund'], { cwd: clone, timeoutMs: 300_000 });
  if (ci.code !== 0 && notCached(ci)) return skipVisibly('npm ci cannot install the lockfile offline (not in the npm cache)');
  expect(ci.code, `npm ci failed:\n${ci.stderr.slice(-3000)}`).toBe(0);

  const pack = await exec(['npm', 'pack', '--json', '--pack-destination', tmp], { cwd: clone, timeoutMs: 180_000 });
  expect(pack.code, `npm pack failed:\n${pack.stderr.slice(-3000)}`).toBe(0);
  const info = (JSON.parse(pack.stdout) as { filename: string; files: { path: string; mode: number }[] }[])[0]!;
  tarball = path.join(tmp, info.filename);
  packedFiles = info.files;
  fs.mkdirSync(unpacked);
  execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
  packedPkg = JSON.parse(fs.readFileSync(path.join(unpacked, 'package', 'package.json'), 'utf8')) as typeof packedPkg;

  fs.mkdirSync(elsewhere);
  const install = await exec(['npm', 'install', '--global', '--prefix', prefix, '--omit=dev', '--offline', '--no-audit', '--no-fund', tarball], {
    cwd: elsewhere,
    timeoutMs: 180_000,
  });
  if (install.code !== 0 && notCached(install)) return skipVisibly('npm cannot install the tarball offline (a dependency is not in the npm cache)');
  expect(install.code, `npm install of the tarball failed:\n${install.stderr.slice(-3000)}`).toBe(0);
  bin = path.join(prefix, 'bin', 'tconfd');
}, 600_000);

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('a clean clone after npm ci', () => {
  it('has dist/ built by npm ci (the prepare script)', (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    for (const f of ['dist/cli.js', 'dist/tconfd.cjs']) expect(fs.existsSync(path.join(clone, f)), f).toBe(true);
    expect(fs.existsSync(path.join(clone, 'dist/tconfd.cjs.map')), 'no source map in dist/').toBe(false);
  });

  it('runs the Examples table\'s `npx tconfd --dir examples/quickstart/tconfd.d --once` as written', async (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    // As written in the README; offline, as everything here (npx runs the package's own bin: nothing to fetch).
    const r = await exec(['npx', 'tconfd', '--dir', 'examples/quickstart/tconfd.d', '--once'], { cwd: clone, env: { npm_config_offline: 'true' } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/"msg":"template rendered"/);
    expect(fs.readFileSync(path.join(clone, 'examples/quickstart/out/nginx.conf'), 'utf8')).toMatch(/upstream /);
  });
});

describe('the npm package (npm pack from a clean clone)', () => {
  it('contains the built CLI, the licence and the README, and no sources, tests or source map', (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const names = packedFiles.map((f) => f.path);
    for (const need of ['package.json', 'LICENSE', 'README.md', 'dist/cli.js', 'dist/tconfd.cjs', 'dist/THIRD-PARTY-LICENSES.txt']) {
      expect(names, need).toContain(need);
    }
    expect(names.filter((n) => n.endsWith('.map')), 'source maps').toEqual([]);
    expect(names.filter((n) => /^(src|test|bench|scripts|examples|sourcemap|node_modules)\//.test(n)), 'sources, tests').toEqual([]);
    expect(names.filter((n) => n.endsWith('.ts') && !n.endsWith('.d.ts')), 'TypeScript sources').toEqual([]);
    // The bin of package.json: in the package, executable, with a shebang.
    expect(packedPkg.bin).toEqual({ tconfd: 'dist/cli.js' });
    expect(packedFiles.find((f) => f.path === 'dist/cli.js')!.mode & 0o111).toBe(0o111);
    expect(fs.readFileSync(path.join(unpacked, 'package/dist/cli.js'), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
    expect(fs.readFileSync(path.join(unpacked, 'package/LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} the tconfd authors\n/);
  });

  it('contains no path of the machine that packed it (no build directory in the code cache or the bundle)', (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    for (const file of filesUnder(path.join(unpacked, 'package'))) {
      const bytes = fs.readFileSync(file);
      for (const p of [clone, ROOT.replace(/\/+$/, '')]) {
        expect(bytes.includes(Buffer.from(p)), `${path.relative(unpacked, file)} contains ${p}`).toBe(false);
      }
    }
  });

  it('lists as dependencies exactly the packages the bundle loads from node_modules', (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const dist = path.join(unpacked, 'package', 'dist');
    const loaded = [...new Set(filesUnder(dist).filter((f) => /\.c?js$/.test(f)).flatMap((f) => requiredPackages(fs.readFileSync(f, 'utf8'))))].sort();
    expect(Object.keys(packedPkg.dependencies ?? {}).sort()).toEqual(loaded);
  });

  it("ships the licences of the packages it bundles", (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const text = fs.readFileSync(path.join(unpacked, 'package/dist/THIRD-PARTY-LICENSES.txt'), 'utf8');
    // The dependencies the project chose (README "Dependencies"), all bundled.
    for (const name of ['undici', 'execa', 'pino', 'pino-pretty', 'yargs', 'zod']) {
      expect(text, name).toMatch(new RegExp(`^${name} \\d+\\.\\d+\\.\\d+\\S* \\([^)]+\\)\\n\\n\\S`, 'm'));
    }
  });
});

describe('the package installed with npm install -g --omit=dev, offline', () => {
  it('needs no compiler: no runtime dependency runs an install script', (ctx) => {
    // A native addon the code still loads is reported as pending (skipped); one it does not load is a plain error.
    if (pending.length > 0 && scripted.every((p) => pending.includes(p))) return ctx.skip(cannotRun);
    expect(scripted).toEqual([]);
  });

  it('installs no package that runs an install script (nothing to compile)', (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const scripted: string[] = [];
    for (const file of filesUnder(path.join(prefix, 'lib', 'node_modules')).filter((f) => path.basename(f) === 'package.json')) {
      const p = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; scripts?: Record<string, string> };
      if (p.name === undefined) continue;
      const dir = path.dirname(file);
      if (['preinstall', 'install', 'postinstall'].some((s) => p.scripts?.[s]) || fs.existsSync(path.join(dir, 'binding.gyp'))) {
        scripted.push(p.name);
      }
    }
    expect(scripted).toEqual([]);
  });

  it('prints its version and its help', async (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const v = await exec([bin, '--version'], { cwd: elsewhere, env: { TCONFD_DEBUG_CODE_CACHE: '1' } });
    expect(v).toMatchObject({ code: 0, stdout: `${rootPkg.version}\n` });
    // The code cache in the package was made by the same Node as this one: accepted where it is installed.
    expect(v.stderr).toContain('tconfd: code cache of tconfd.cjs accepted');
    const h = await exec([bin, '--help'], { cwd: elsewhere });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^\s+-d, --dir\s/m);
  });

  it('renders the quickstart, logging with --log-format pretty', async (ctx) => {
    if (cannotRun !== undefined) return ctx.skip(cannotRun);
    const out = path.join(tmp, 'quickstart-out');
    const r = await exec([bin, '--dir', path.join(ROOT, 'examples/quickstart/tconfd.d'), '--once', '--log-format', 'pretty'], {
      cwd: elsewhere,
      env: { QUICKSTART_OUT: out },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/INFO: template rendered\n\s+template: "quickstart\.jsonnet"/);
    expect(fs.readFileSync(path.join(out, 'nginx.conf'), 'utf8')).toMatch(/upstream /);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'app.json'), 'utf8'))).toBeTypeOf('object');
  });

  describe('with Vault', () => {
    let target: VaultTarget | undefined;
    beforeAll(async () => {
      if (cannotRun === undefined) target = await startVaultTarget();
    }, 60_000);
    afterAll(async () => target?.stop());

    it('renders a KV v2 secret read with a Vault token', async (ctx) => {
      if (cannotRun !== undefined || target === undefined) return ctx.skip(cannotRun);
      await enableKv2(target, 'secret');
      await putKv2(target, 'secret', 'packaged', { password: 'pw-from-vault-4821' });
      await writePolicy(target, 'packaged', 'path "secret/data/packaged" { capabilities = ["read"] }\n');
      const { token } = await createToken(target, { policies: ['packaged'], ttl: '10m' });
      const conf = path.join(tmp, 'vault-conf');
      const out = path.join(tmp, 'vault-out');
      fs.mkdirSync(conf);
      fs.writeFileSync(
        path.join(conf, 'app.json'),
        JSON.stringify({ 'app.jsonnet': { dir: out, secrets: { 'vault:app:secret/data/packaged': 'kv' } } }),
      );
      fs.writeFileSync(path.join(conf, 'app.jsonnet'), "{ 'db.conf': 'password=' + std.extVar('secrets').kv.data.password }\n");
      const r = await exec([bin, '--dir', conf, '--once', '--vault-addr', target.addr], { cwd: elsewhere, env: { VAULT_TOKEN: token } });
      expect(r.code, r.stderr).toBe(0);
      expect(fs.readFileSync(path.join(out, 'db.conf'), 'utf8')).toBe('password=pw-from-vault-4821\n');
    });
  });
});
