// Build: bundle src/cli.ts and its dependencies into one CommonJS file, dist/tconfd.cjs, started by a small loader,
// dist/cli.js, which compiles it with V8's code cache (dist/tconfd.cjs.cache, made here by a warm-up run).
// Startup matters (tconfd starts before the application): one bundle instead of hundreds of ES modules saves ~40%,
// and the code cache another ~50 ms of compilation. Type-checking is `npm run typecheck`.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli.ts'],
  outfile: 'dist/tconfd.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'linked',
  // Whitespace and comments out, identifiers kept (readable stack traces); ASCII only, so that V8 keeps the source
  // as a one-byte string (half the memory of a two-byte one).
  minifyWhitespace: true,
  minifySyntax: true,
  charset: 'ascii',
  legalComments: 'external',
  // pino-pretty is only loaded for --log-format pretty.
  external: ['pino-pretty'],
  define: { 'import.meta.url': '__tconfd_import_meta_url' },
  banner: { js: "const __tconfd_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  // yargs/cliui's string-width, replaced by a small one (see scripts/shims/string-width.mjs).
  // undici: only the Agent and its request API (see scripts/shims/undici.cjs).
  alias: { 'string-width': './scripts/shims/string-width.mjs', undici: './scripts/shims/undici.cjs' },
  logLevel: 'warning',
});

// dist/ is CommonJS (dist/package.json): the entry point loads synchronously, so it runs before anything uses
// libuv's thread pool and can still size it.
writeFileSync('dist/package.json', JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
writeFileSync(
  'dist/cli.js',
  `#!/usr/bin/env node
'use strict';
// tconfd's entry point.
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
const script = new vm.Script(Module.wrap(readFileSync(file, 'utf8')), { filename: file, cachedData });
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
