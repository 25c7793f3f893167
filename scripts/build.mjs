// Build: bundle src/cli.ts and its dependencies into one CommonJS file, dist/tconfd.cjs, started by a small loader,
// dist/cli.js, which compiles it with V8's code cache (dist/tconfd.cjs.cache, made here by a warm-up run).
// Startup matters (tconfd starts before the application): one bundle instead of hundreds of ES modules saves ~40%,
// and the code cache another ~50 ms of compilation. Type-checking is `npm run typecheck`.
//
// dist/ is what the npm package ships (package.json "files"): every JavaScript dependency is bundled, so the package
// installs nothing from the registry at run time and needs no compiler. Their licences go with it
// (dist/THIRD-PARTY-LICENSES.txt). The source map is not shipped: it is written to sourcemap/tconfd.cjs.map.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// `--prepare`: npm's prepare script, so that `npm ci` in a clone builds dist/ (and `npx tconfd` works at once).
// `npm pack` and `npm publish` run prepack (which builds) and then prepare: build once.
if (process.argv.includes('--prepare') && ['pack', 'publish'].includes(process.env.npm_command ?? '')) process.exit(0);

let build;
try {
  ({ build } = await import('esbuild'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  process.stderr.write('tconfd build: esbuild is not installed (a devDependency: run `npm ci`, not `npm ci --omit=dev`)\n');
  process.exit(1);
}

rmSync('dist', { recursive: true, force: true });
rmSync('sourcemap', { recursive: true, force: true });
const { metafile } = await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/tconfd.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Not linked from the bundle (no sourceMappingURL comment) and moved out of dist/ below: ~3.5 MB the package does
  // not need. Identifiers are kept, so stack traces stay readable without it.
  sourcemap: 'external',
  metafile: true,
  // Whitespace and comments out, identifiers kept (readable stack traces); ASCII only, so that V8 keeps the source
  // as a one-byte string (half the memory of a two-byte one).
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'external',
  // Everything is bundled (no native code: tconfd evaluates Jsonnet itself), pino-pretty included: src/log.ts requires it through
  // __TCONFD_BUNDLE_REQUIRE__, which becomes the bundle's own require here, so that esbuild bundles it as a module
  // evaluated at its first require (--log-format pretty), not at start.
  external: [],
  define: { 'import.meta.url': '__tconfd_import_meta_url', __TCONFD_BUNDLE_REQUIRE__: 'require' },
  banner: { js: "const __tconfd_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  // yargs/cliui's string-width, replaced by a small one (see scripts/shims/string-width.mjs).
  // undici: only the Agent and its request API (see scripts/shims/undici.cjs).
  alias: { 'string-width': './scripts/shims/string-width.mjs', undici: './scripts/shims/undici.cjs' },
  logLevel: 'warning',
});

mkdirSync('sourcemap');
renameSync('dist/tconfd.cjs.map', 'sourcemap/tconfd.cjs.map'); // same depth: its relative source paths still hold
writeFileSync('dist/THIRD-PARTY-LICENSES.txt', thirdPartyLicenses(metafile));

// dist/ is CommonJS (dist/package.json): the entry point loads synchronously, so it runs before anything uses
// libuv's thread pool and can still size it.
writeFileSync('dist/package.json', JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
writeFileSync(
  'dist/cli.js',
  `#!/usr/bin/env node
'use strict';
// tconfd's entry point.
// 0. Signals, from the first instruction: until src/runtime/lifecycle.ts takes over (after the bundle below is read and
//    compiled, ~100 ms), SIGUSR1 would open Node's inspector and SIGTERM, SIGINT or SIGHUP would end tconfd before it
//    can revoke anything. These placeholders keep every such signal from Node's defaults and record it; the lifecycle
//    removes them and replays what they recorded. (Self-contained: keep it first.)
{
  const early = { signals: [], handlers: {} };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH']) {
    early.handlers[sig] = () => early.signals.push(sig);
    process.on(sig, early.handlers[sig]);
  }
  globalThis.__tconfdEarlySignals = early;
}
// 1. libuv's thread pool runs the Jsonnet evaluations and file I/O: 2 threads keep two cores busy, and each thread the
//    pool never starts is a malloc arena that never holds on to memory (the default 4: ~25 MB more resident memory).
//    Read at the pool's first use, which is still to come here; a value set by the user is kept (and passed on).
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  process.env.UV_THREADPOOL_SIZE = '2';
  globalThis.__tconfdAddedEnv = ['UV_THREADPOOL_SIZE']; // not passed on to the command and hooks
}
// 2. undici parses HTTP with llhttp compiled to WebAssembly; V8's optimising WebAssembly tier costs ~35 MB of memory
//    and ~40 ms of CPU at the first request, for a parser that reads a few small Vault answers a minute: the baseline
//    compiler (Liftoff) is plenty. Set before the bundle is compiled: V8's code cache is only accepted under the flags
//    it was made with.
require('node:v8').setFlagsFromString('--liftoff-only');
// 3. dist/tconfd.cjs runs through V8's code cache when it is there and matches this Node.
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

const file = join(__dirname, 'tconfd.cjs');
const cacheFile = file + '.cache';
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {}
// The script's name is the same wherever the package is installed: V8 keeps the name a code cache was made under
// (in the cache and in stack traces), and this cache is made by the build, in the build's directory.
const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: 'tconfd/dist/tconfd.cjs', cachedData });
const mod = new Module(file, module);
mod.filename = file;
mod.paths = Module._nodeModulePaths(__dirname);
if (process.env.TCONFD_DEBUG_CODE_CACHE === '1') {
  process.stderr.write('tconfd: code cache ' + (cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted') + '\\n');
}
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, __dirname);
if (cachedData === undefined || script.cachedDataRejected) {
  // Made for another Node version: refresh it if we may (a read-only image just compiles as usual).
  process.once('beforeExit', () => {
    try {
      writeFileSync(cacheFile, script.createCachedData());
    } catch {}
  });
}
`,
);
chmodSync('dist/cli.js', 0o755);

// Warm-up: one rendering of the quickstart and of scripts/warmup/warmup.jsonnet (which uses the Jsonnet features and
// std functions templates use most) writes the code cache with the functions a run compiles: a template's first
// evaluation then runs precompiled code.
const out = mkdtempSync(join(tmpdir(), 'tconfd-build-'));
const secrets = {
  dbs: { app: { user: 'app', password: 'pw', port: 5432 }, audit: { user: 'audit', password: 'pw2', port: 5433 } },
  flags: { debug: false, extra: [0] },
  hosts: ['db-2.internal', 'db-1.internal', 'db-2.internal'],
};
try {
  execFileSync(process.execPath, ['dist/cli.js', '--dir', 'scripts/warmup', '--once', '--log-level', 'silent'], {
    env: { ...process.env, WARMUP_OUT: out, WARMUP_SECRETS: JSON.stringify(secrets) },
    stdio: 'inherit',
  });
} finally {
  rmSync(out, { recursive: true, force: true });
}

/**
 * The licence of every package bundled into dist/tconfd.cjs (the bundle is a copy of them: MIT, ISC and the like ask
 * for their notice to go with every copy). Found from esbuild's metafile: each input under node_modules/, its package
 * root, that package's name, version, licence and LICENSE file.
 */
function thirdPartyLicenses(meta) {
  const roots = new Set();
  for (const input of Object.keys(meta.inputs)) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) roots.add(m[1]);
  }
  const sections = new Map(); // "name version" -> text (a package nested twice in node_modules is listed once)
  for (const root of roots) {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const licenseFile = readdirSync(root).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
    const text = licenseFile ? readFileSync(join(root, licenseFile), 'utf8').trim() : `${pkg.license} (no licence file in the package)`;
    sections.set(`${pkg.name} ${pkg.version}`, `${pkg.name} ${pkg.version} (${pkg.license})\n\n${text}\n`);
  }
  const sorted = [...sections.keys()].sort().map((k) => sections.get(k));
  const sep = `\n${'-'.repeat(79)}\n\n`;
  return `Packages bundled into tconfd.cjs, with their licences (${sorted.length}).\n${sep}${sorted.join(sep)}`;
}
