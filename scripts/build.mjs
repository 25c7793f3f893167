// Build: bundle src/cli.ts and its dependencies into dist/tconfd.cjs (CommonJS), and the large dependencies only some
// runs need into chunks of their own (dist/chunks/*.cjs), started by a small loader, dist/cli.js, which compiles each
// with V8's code cache (FILE.cache, made here by a warm-up run). Startup matters (tconfd starts before the
// application): one bundle instead of hundreds of ES modules, the code cache instead of compiling, and no byte read
// that the command line does not need (bench/startup.ts prints where the time goes). Type-checking is
// `npm run typecheck`.
//
// dist/ is what the npm package ships (package.json "files"): every JavaScript dependency is bundled, so the package
// installs nothing from the registry at run time and needs no compiler. Their licences go with it
// (dist/THIRD-PARTY-LICENSES.txt). The source maps are not shipped: they are written to sourcemap/.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUNDLE_OPTIONS } from './bundle-options.mjs';

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

// V8 flags set by dist/cli.js before anything is compiled. A code cache is only accepted under the flags it was made
// with: the warm-up below runs dist/cli.js itself, so the caches are made under these.
//  --liftoff-only: undici parses HTTP with llhttp compiled to WebAssembly; V8's optimising WebAssembly tier costs
//    ~35 MB of memory and ~40 ms of CPU at the first request, for a parser that reads a few small Vault answers a
//    minute: the baseline compiler (Liftoff) is plenty.
//  --semi-space-growth-factor=1: V8's young generation starts at 2 MB and, by default, doubles under allocation
//    pressure (a start with 1,000 leases, 1,000 templates) up to 32 MB, and stays resident: ~25 MB of RSS for the
//    rest of tconfd's life. At 1 it stays at 2 MB, for no measurable CPU (bench/startup.ts, bench/jsonnet.ts). The
//    heap sizes themselves (--max-semi-space-size...) are only read when the heap is made, before this file runs.
const V8_FLAGS = ['--liftoff-only', '--semi-space-growth-factor=1'];

// Chunks: large dependencies that only some command lines need, each a CommonJS file of its own in dist/chunks/ with
// its own code cache, read and compiled only when first used. Every other start reads less (the start's cost grows
// with the bytes read and the code cache deserialised). The main bundle reaches a chunk through a small module made
// here: `eager` ones load when the module that imports them is first evaluated (it needs them at once: the Vault
// stack, execa, pino-pretty); the others at the first use of one of their exports (std.parseYaml, bcrypt).
const CHUNKS = {
  // undici: only the Agent and its request API (see scripts/shims/undici.cjs): the Vault stack.
  undici: { source: "module.exports = require('./scripts/shims/undici.cjs');", eager: true },
  // execa: exe secrets, hooks and the supervised command.
  execa: { source: "export { execa } from 'execa';", eager: true },
  // --log-format pretty (src/log.ts requires it when asked for).
  'pino-pretty': { source: "module.exports = require('pino-pretty');", eager: true },
  // yargs: --help, --version and the messages about a command line that is not valid (src/cli/parse.ts parses a
  // valid one from the same option table). Its default export is the module the main bundle sees.
  yargs: { source: "export { default } from 'yargs';", eager: true, defaultExport: true },
  // zod: what is wrong with a config file that is not valid (src/config/valid.ts passes a valid one).
  zod: { source: "export { boolean, enum, record, strictObject, string, toJSONSchema } from 'zod';", eager: false },
  // std.parseYaml
  yaml: { source: "export { parseAllDocuments } from 'yaml';", eager: false },
  // std.native('bcrypt'), std.native('htpasswd')
  bcryptjs: { source: "module.exports = require('bcryptjs');", eager: false },
};

const common = {
  ...BUNDLE_OPTIONS,
  legalComments: 'external',
  metafile: true,
  // Not linked from the bundle (no sourceMappingURL comment) and moved out of dist/ below: ~3.5 MB the package does
  // not need. Identifiers are kept, so stack traces stay readable without it.
  sourcemap: 'external',
  logLevel: 'warning',
};

// undici requires node:http2 (which brings tls and crypto: ~20 ms) and node:zlib when it loads, for HTTP/2 and
// fetch's decompression, neither of which tconfd uses: in the undici chunk, both are modules that load the real one at
// the first use of anything but its constants (copied here: client-h2.js destructures them when it loads).
const lazyBuiltinsPlugin = {
  name: 'tconfd-lazy-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:(http2|zlib)$/ }, (a) =>
      /node_modules\/undici\//.test(a.importer) ? { path: a.path, namespace: 'tconfd-lazy-builtin' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'tconfd-lazy-builtin' }, (a) => {
      const real = createRequire(import.meta.url)(a.path);
      const id = JSON.stringify(a.path);
      const lines = [`module.exports = { constants: Object.freeze(${JSON.stringify(real.constants)}) };`];
      for (const k of Object.keys(real)) {
        if (k === 'constants') continue;
        lines.push(`Object.defineProperty(module.exports, ${JSON.stringify(k)}, { enumerable: true, get: () => require(${id})[${JSON.stringify(k)}] });`);
      }
      return { contents: lines.join('\n'), loader: 'js' };
    });
  },
};

const metafiles = [];
mkdirSync('dist/chunks', { recursive: true });
const exportsOf = {};
for (const [name, chunk] of Object.entries(CHUNKS)) {
  const { metafile } = await build({
    ...common,
    stdin: { contents: chunk.source, resolveDir: '.', sourcefile: `chunk-${name}.js`, loader: 'js' },
    outfile: `dist/chunks/${name}.cjs`,
    define: { 'import.meta.url': '__tconfd_import_meta_url' },
    banner: { js: "const __tconfd_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
    // yargs/cliui's string-width, replaced by a small one (see scripts/shims/string-width.mjs).
    alias: { 'string-width': './scripts/shims/string-width.mjs' },
    plugins: [lazyBuiltinsPlugin],
  });
  metafiles.push(metafile);
  // What the chunk exports: the lazy modules below define one getter per export.
  exportsOf[name] = Object.keys(createRequire(import.meta.url)(join(process.cwd(), 'dist', 'chunks', `${name}.cjs`)));
}

/** The module the main bundle sees for a chunk's package. */
function chunkModule(name) {
  const file = JSON.stringify(`./chunks/${name}.cjs`);
  if (CHUNKS[name].defaultExport) return `module.exports = require(${file}).default;`;
  if (CHUNKS[name].eager) return `module.exports = require(${file});`;
  return [
    'let m;',
    `const load = () => (m ??= require(${file}));`,
    ...exportsOf[name].map((k) => `Object.defineProperty(exports, ${JSON.stringify(k)}, { enumerable: true, get: () => load()[${JSON.stringify(k)}] });`),
  ].join('\n');
}

const chunkNames = new RegExp(`^(${Object.keys(CHUNKS).map((n) => n.replace(/[-/]/g, '\\$&')).join('|')})$`);
const chunksPlugin = {
  name: 'tconfd-chunks',
  setup(b) {
    b.onResolve({ filter: chunkNames }, (a) => ({ path: a.path, namespace: 'tconfd-chunk' }));
    b.onResolve({ filter: /^\.\/chunks\//, namespace: 'tconfd-chunk' }, (a) => ({ path: a.path, external: true }));
    b.onLoad({ filter: /.*/, namespace: 'tconfd-chunk' }, (a) => ({ contents: chunkModule(a.path), loader: 'js' }));
  },
};

// pino's and sonic-boom's requires of worker_threads and assert (see the shim): theirs only.
const pinoNodePlugin = {
  name: 'tconfd-pino-node',
  setup(b) {
    b.onResolve({ filter: /^(worker_threads|assert)$/ }, (a) =>
      /node_modules\/(pino|sonic-boom)\//.test(a.importer) ? { path: a.path, namespace: 'tconfd-pino-node' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'tconfd-pino-node' }, (a) => ({
      contents: `module.exports = require(${JSON.stringify(join(process.cwd(), 'scripts/shims/pino-node.cjs'))})[${JSON.stringify(a.path)}];`,
      loader: 'js',
      resolveDir: process.cwd(),
    }));
  },
};

const { metafile } = await build({
  ...common,
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/tconfd.cjs',
  plugins: [chunksPlugin, pinoNodePlugin],
  // pino-pretty: src/log.ts requires it through __TCONFD_BUNDLE_REQUIRE__, which becomes the bundle's own require
  // here (its chunk is read at --log-format pretty only).
  define: { 'import.meta.url': '__tconfd_import_meta_url', __TCONFD_BUNDLE_REQUIRE__: 'require' },
  banner: { js: "const __tconfd_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  // pino's worker-thread transports, which tconfd does not use (see the shim).
  alias: { 'thread-stream': './scripts/shims/thread-stream.cjs' },
});
metafiles.push(metafile);

// Source maps: same depth under sourcemap/, so that their relative source paths still hold.
mkdirSync('sourcemap/chunks', { recursive: true });
renameSync('dist/tconfd.cjs.map', 'sourcemap/tconfd.cjs.map');
for (const name of Object.keys(CHUNKS)) renameSync(`dist/chunks/${name}.cjs.map`, `sourcemap/chunks/${name}.cjs.map`);
writeFileSync('dist/THIRD-PARTY-LICENSES.txt', thirdPartyLicenses(metafiles));

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
globalThis.__tconfdLoaderStart = process.hrtime.bigint(); // the start's phases (src/runtime/startup-times.ts)
// 1. libuv's thread pool runs the Jsonnet evaluations and file I/O: 2 threads keep two cores busy, and each thread the
//    pool never starts is a malloc arena that never holds on to memory (the default 4: ~25 MB more resident memory).
//    Read at the pool's first use, which is still to come here; a value set by the user is kept (and passed on).
if (process.env.UV_THREADPOOL_SIZE === undefined) {
  process.env.UV_THREADPOOL_SIZE = '2';
  globalThis.__tconfdAddedEnv = ['UV_THREADPOOL_SIZE']; // not passed on to the command and hooks
}
// 2. V8 flags (scripts/build.mjs says why), set before anything is compiled: V8's code cache is only accepted under
//    the flags it was made with.
require('node:v8').setFlagsFromString(${JSON.stringify(V8_FLAGS.join(' '))});
// 3. dist/tconfd.cjs, and the chunks of dist/chunks/ it requires when it needs them, run through V8's code cache
//    (FILE.cache) when it is there and matches this Node.
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { dirname, join } = require('node:path');
const vm = require('node:vm');

const debug = process.env.TCONFD_DEBUG_CODE_CACHE === '1';
/** Scripts whose cache was missing or made by another Node: written at exit, if we may. */
const stale = [];
const loaded = new Map();
function load(name) {
  let exports = loaded.get(name);
  if (exports !== undefined) return exports;
  const file = join(__dirname, name);
  let cachedData;
  try {
    cachedData = readFileSync(file + '.cache');
  } catch {}
  // The script's name is the same wherever the package is installed: V8 keeps the name a code cache was made under
  // (in the cache and in stack traces), and this cache is made by the build, in the build's directory.
  const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: 'tconfd/dist/' + name, cachedData });
  if (debug) process.stderr.write('tconfd: code cache of ' + name + ' ' + (cachedData === undefined ? 'missing' : script.cachedDataRejected ? 'rejected' : 'accepted') + '\\n');
  if (cachedData === undefined || script.cachedDataRejected) stale.push([script, file + '.cache']);
  const mod = new Module(file, module);
  mod.filename = file;
  mod.paths = Module._nodeModulePaths(dirname(file));
  const nodeRequire = Module.createRequire(file);
  const require = (id) => (id.startsWith('./chunks/') ? load(id.slice(2)) : nodeRequire(id));
  loaded.set(name, mod.exports);
  script.runInThisContext().call(mod.exports, mod.exports, require, mod, file, dirname(file));
  loaded.set(name, mod.exports);
  return mod.exports;
}
process.once('beforeExit', () => {
  // The build's warm-up (scripts/build.mjs) makes the cache of every chunk, those its run did not need too.
  if (process.env.TCONFD_BUILD_WARMUP === '1') for (const c of ${JSON.stringify(Object.keys(CHUNKS))}) load('chunks/' + c + '.cjs');
  for (const [script, cacheFile] of stale) {
    try {
      writeFileSync(cacheFile, script.createCachedData());
    } catch {} // a read-only image just compiles as usual
  }
});
load('tconfd.cjs');
`,
);
chmodSync('dist/cli.js', 0o755);

// Warm-up: one rendering of the quickstart and of scripts/warmup/warmup.jsonnet (which uses the Jsonnet features and
// std functions templates use most), supervising a command that exits at once, writes the code caches with the
// functions a run compiles: a template's first evaluation and the command's start then run precompiled code.
const out = mkdtempSync(join(tmpdir(), 'tconfd-build-'));
const secrets = {
  dbs: { app: { user: 'app', password: 'pw', port: 5432 }, audit: { user: 'audit', password: 'pw2', port: 5433 } },
  flags: { debug: false, extra: [0] },
  hosts: ['db-2.internal', 'db-1.internal', 'db-2.internal'],
};
try {
  execFileSync(process.execPath, ['dist/cli.js', '--dir', 'scripts/warmup', '--log-level', 'silent', '--', process.execPath, '-e', '0'], {
    env: { ...process.env, WARMUP_OUT: out, WARMUP_SECRETS: JSON.stringify(secrets), TCONFD_BUILD_WARMUP: '1' },
    stdio: 'inherit',
  });
} finally {
  rmSync(out, { recursive: true, force: true });
}

/**
 * The licence of every package bundled into dist/tconfd.cjs and dist/chunks/ (the bundle is a copy of them: MIT, ISC and the like ask
 * for their notice to go with every copy). Found from esbuild's metafile: each input under node_modules/, its package
 * root, that package's name, version, licence and LICENSE file.
 */
function thirdPartyLicenses(metas) {
  const roots = new Set();
  for (const input of metas.flatMap((m) => Object.keys(m.inputs))) {
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
