/**
 * Does a V8 startup snapshot (node --build-snapshot, Node 20) start tconfd faster than the code cache dist/cli.js
 * uses? Builds a snapshot of tconfd with every start-up module evaluated (bench/snapshot-entry.ts), then times, in
 * interleaved rounds (medians), from spawn to exit:
 *   - `node -e 0`;
 *   - the code cache: `node dist/cli.js ARGS` (what the `tconfd` bin runs);
 *   - the snapshot, started directly: `node --snapshot-blob tconfd.blob dist/cli.js ARGS` (a launcher that controls
 *     node's command line: a shell script, a container's ENTRYPOINT);
 *   - the snapshot through a re-exec: what the `#!/usr/bin/env node` bin would have to do, a Node process (the
 *     loader: node:child_process only) spawning the line above, passing stdio, signals and the exit status on
 *     (Node 20 has no execve);
 * for an env-only template and the quickstart, both with --once; and prints the snapshot's size and when each variant
 * reaches its first JavaScript instruction (performance.nodeTiming).
 * Usage: npm run build && node bench/run.mjs snapshot [rounds=10]
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
// @ts-expect-error: a plain .mjs module without types
import { BUNDLE_OPTIONS } from '../scripts/bundle-options.mjs';

const rounds = Number(process.argv[2] ?? 10);
const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

mkdirSync('.tmp', { recursive: true });
const work = mkdtempSync(join(resolve('.tmp'), 'bench-snapshot-'));
const bundle = join(work, 'snapshot-entry.cjs');
const blob = join(work, 'tconfd.blob');
await build({
  ...BUNDLE_OPTIONS,
  entryPoints: ['bench/snapshot-entry.ts'],
  outfile: bundle,
  define: { 'import.meta.url': '__tconfd_import_meta_url', __TCONFD_BUNDLE_REQUIRE__: 'require' },
  banner: { js: `const __tconfd_import_meta_url = ${JSON.stringify(`file://${resolve('dist/tconfd.cjs')}`)};` },
  alias: { 'string-width': './scripts/shims/string-width.mjs', 'thread-stream': './scripts/shims/thread-stream.cjs', undici: './scripts/shims/undici.cjs' },
  logLevel: 'error',
});
execFileSync(process.execPath, ['--snapshot-blob', blob, '--build-snapshot', bundle], { cwd: work, stdio: ['ignore', 'ignore', 'ignore'] });

// The re-exec a `#!/usr/bin/env node` bin would need.
const reexec = join(work, 'reexec.cjs');
writeFileSync(
  reexec,
  `'use strict';
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, ['--snapshot-blob', ${JSON.stringify(blob)}, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT']) process.on(s, () => child.kill(s));
child.on('exit', (code, signal) => { process.exitCode = code ?? 128; });
`,
);

const out = mkdtempSync(join(tmpdir(), 'tconfd-bench-snapshot-'));
const envConf = join(out, 'conf');
mkdirSync(envConf);
writeFileSync(join(envConf, 'app.json'), JSON.stringify({ 'app.jsonnet': { dir: join(out, 'env-out'), secrets: { 'env:str:GREETING': 'greeting' } } }));
writeFileSync(join(envConf, 'app.jsonnet'), "local s = std.extVar('secrets');\n{ 'app.conf': 'greeting=' + s.greeting + '\\n' }\n");
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/', GREETING: 'hello', QUICKSTART_OUT: join(out, 'qs-out') };
const CLI = resolve('dist/cli.js');
const templates = {
  'env-only': ['--dir', envConf, '--once', '--log-level', 'warn'],
  quickstart: ['--dir', 'examples/quickstart/tconfd.d', '--once', '--log-level', 'warn'],
};

interface Variant {
  readonly name: string;
  readonly argv: (args: string[]) => string[];
}
const variants: Variant[] = [
  { name: 'node -e 0', argv: () => ['-e', '0'] },
  { name: 'code cache: node dist/cli.js', argv: (a) => [CLI, ...a] },
  { name: 'snapshot: node --snapshot-blob B dist/cli.js', argv: (a) => ['--snapshot-blob', blob, CLI, ...a] },
  { name: 'snapshot through a re-exec from the bin', argv: (a) => [reexec, CLI, ...a] },
];

function time(argv: string[]): Promise<number> {
  const t0 = performance.now();
  const p = spawn(process.execPath, argv, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((ok, fail) =>
    p.on('exit', (code) => (code === 0 ? ok(performance.now() - t0) : fail(new Error(`${argv.join(' ')}: exit ${code}: ${err}`)))),
  );
}

console.log(`node ${process.version}, ${cpus().length} CPU(s), load average ${load()}; snapshot ${(statSync(blob).size / 1048576).toFixed(1)} MB; ${rounds} rounds`);
for (const [label, args] of Object.entries(templates)) {
  const results = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r <= rounds; r++) {
    for (const v of variants) {
      const ms = await time(v.argv(args));
      if (r > 0) results.get(v.name)!.push(ms);
    }
  }
  const base = median(results.get('node -e 0')!);
  console.log(`${label} --once, spawn -> exit, median ms:`);
  for (const v of variants) {
    const m = median(results.get(v.name)!);
    console.log(`  ${v.name.padEnd(48)} ${m.toFixed(1).padStart(7)}  x${(m / base).toFixed(2)}`);
  }
}
// When JavaScript first runs: Node's own snapshot against the one with tconfd in it.
const timing = (argv: string[]): { environment: number; bootstrapComplete: number } =>
  JSON.parse(execFileSync(process.execPath, argv, { env: { ...env, TCONFD_BENCH_TIMING: '1' }, encoding: 'utf8' }).trim()) as {
    environment: number;
    bootstrapComplete: number;
  };
const trivialEntry = join(work, 'trivial.cjs');
const trivialBlob = join(work, 'trivial.blob');
writeFileSync(trivialEntry, "require('node:v8').startupSnapshot.setDeserializeMainFunction(() => console.log(JSON.stringify(performance.nodeTiming)));\n");
execFileSync(process.execPath, ['--snapshot-blob', trivialBlob, '--build-snapshot', trivialEntry], { cwd: work, stdio: 'ignore' });
const t = { default: [] as number[], trivial: [] as number[] };
for (let r = 0; r < rounds; r++) {
  t.default.push(timing(['-e', 'console.log(JSON.stringify(performance.nodeTiming))']).bootstrapComplete);
  t.trivial.push(timing(['--snapshot-blob', trivialBlob]).bootstrapComplete);
}
console.log(
  `first JavaScript instruction (bootstrapComplete), median: Node's own snapshot ${median(t.default).toFixed(1)} ms; an empty user snapshot (${(statSync(trivialBlob).size / 1048576).toFixed(1)} MB) ${median(t.trivial).toFixed(1)} ms`,
);
console.log(`(load average now ${load()})`);
rmSync(work, { recursive: true, force: true });
rmSync(out, { recursive: true, force: true });
