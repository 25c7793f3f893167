/**
 * Issue 2 figures:
 *  1. whole-process time of `tconfd --dir examples/quickstart/tconfd.d --once` (median of 10 runs, after 1 warm-up);
 *  2. in-process renders per second of one template that uses 50 secrets (evaluate + atomic write of 2 files).
 * Usage: npm run build && node bench/run.mjs core [runs]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../src/config/load.js';
import { Pipeline } from '../src/runtime/pipeline.js';
import { Renderer } from '../src/render/index.js';
import { EnvSource, ExeSource, FileSource } from '../src/sources/index.js';
import { systemClock } from '../src/clock.js';

const runs = Number(process.argv[2] ?? 10);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// 1. Whole process.
const out = mkdtempSync(join(tmpdir(), 'tconfd-bench-once-'));
const env = { ...process.env, QUICKSTART_OUT: out };
const once = (): number => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['dist/cli.js', '--dir', 'examples/quickstart/tconfd.d', '--once', '--log-level', 'warn'], { env, stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`tconfd --once exited ${r.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
};
once();
const times = Array.from({ length: runs }, once);
console.log(`tconfd --once (quickstart), whole process: median ${median(times).toFixed(0)} ms over ${runs} runs (min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)})`);
rmSync(out, { recursive: true, force: true });

// 2. In-process renders of a template with 50 secrets.
const dir = mkdtempSync(join(tmpdir(), 'tconfd-bench-render-'));
mkdirSync(join(dir, 'conf'));
const secrets: Record<string, string> = {};
const benchEnv: Record<string, string> = {};
for (let i = 0; i < 50; i++) {
  benchEnv[`BENCH_SECRET_${i}`] = JSON.stringify({ username: `user-${i}`, password: `p-${i}-${'x'.repeat(20)}`, port: 5000 + i });
  secrets[`env:js:BENCH_SECRET_${i}`] = `s${i}`;
}
writeFileSync(join(dir, 'conf', 'bench.json'), JSON.stringify({ 'bench.jsonnet': { dir: join(dir, 'out'), secrets } }));
writeFileSync(
  join(dir, 'conf', 'bench.jsonnet'),
  `local s = std.extVar('secrets');
{
  'app.json': { databases: [s[k] for k in std.objectFields(s)] },
  'app.ini': std.join('\\n', ['[' + k + ']\\nuser = ' + s[k].username + '\\npassword = ' + s[k].password + '\\nport = ' + s[k].port for k in std.objectFields(s)]),
}
`,
);
const logger = pino({ level: 'warn' });
const config = loadConfig({ dir: join(dir, 'conf'), env: benchEnv });
const pipeline = new Pipeline({
  config,
  sources: { env: new EnvSource(benchEnv, systemClock), file: new FileSource(systemClock), exe: new ExeSource({ clock: systemClock, env: benchEnv }) },
  renderer: new Renderer({ jpaths: [], logger }),
  logger,
  clock: systemClock,
});
await pipeline.fetchAll();
const tmpl = pipeline.templates[0]!;
for (let i = 0; i < 5; i++) await pipeline.render([tmpl]);
const rates: number[] = [];
for (let round = 0; round < 5; round++) {
  const t0 = performance.now();
  let n = 0;
  while (performance.now() - t0 < 2000) {
    const r = await pipeline.render([tmpl]);
    if (r.failures.length) throw r.failures[0]!.error;
    n++;
  }
  rates.push(n / ((performance.now() - t0) / 1000));
}
console.log(`in-process renders of a 50-secret template (2 files): median ${median(rates).toFixed(1)} renders/s over 5 rounds of 2 s`);
rmSync(dir, { recursive: true, force: true });
