/**
 * Issue 11 figures: tconfd's own Jsonnet evaluator against libjsonnet 0.20 (the oracle in .cache/oracle, when
 * installed: node scripts/oracle.mjs), measured in the same run. Medians of several runs; nothing is asserted.
 *  1. first evaluation in a fresh process (module loaded, then the first evaluate() of the template): the quickstart
 *     template and a template using 50 secrets;
 *  2. 1,000 templates with `tconfd --once`, whole process (libjsonnet: a process evaluating the same 1,000 templates
 *     through the addon, two at a time as tconfd's thread pool did, writing nothing);
 *  3. RSS after 1,000 evaluations of the 50-secret template compared with after the first (gc before each reading).
 * Usage: npm run build && node bench/run.mjs jsonnet [runs]
 * TCONFD_BENCH_BASELINE=/path/to/another/dist measures the CLI figures (1, 2) with that build too, in the same rounds.
 * TCONFD_BENCH_NO_LIBJSONNET=1 leaves libjsonnet out (its 1,000 templates take a minute of CPU).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const self = fileURLToPath(import.meta.url);
const ROOT = resolve(process.cwd());
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Input {
  template: string;
  secrets: unknown;
  leases: unknown;
}

// The inputs the differential tests give the example templates.
const QUICKSTART: Input = {
  template: join(ROOT, 'examples/quickstart/tconfd.d/quickstart.jsonnet'),
  secrets: (JSON.parse(readFileSync(join(ROOT, 'test/fixtures/jsonnet/example-inputs.json'), 'utf8')) as Record<string, { secrets: unknown }>)[
    'examples/quickstart/tconfd.d/quickstart.jsonnet'
  ]!.secrets,
  leases: {},
};

const TEMPLATE_50 = `local s = std.extVar('secrets');
{
  'app.json': { databases: [s[k] for k in std.objectFields(s)] },
  'app.ini': std.join('\\n', ['[%s]\\nuser = %s\\npassword = %s\\nport = %d' % [k, s[k].username, s[k].password, s[k].port] for k in std.objectFields(s)]),
}
`;
function secrets50(): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  for (let i = 0; i < 50; i++) s[`s${i}`] = { username: `user-${i}`, password: `p-${i}-${'x'.repeat(20)}`, port: 5000 + i };
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// child processes

interface Engine {
  evaluate(input: Input): Promise<unknown>;
}

async function engine(name: string): Promise<Engine> {
  if (name === 'tconfd') {
    const { JsonnetEvaluator } = await import('../src/render/jsonnet.js');
    const ev = new JsonnetEvaluator({ jpaths: [] });
    return { evaluate: (i) => ev.evaluate('bench.jsonnet', i.template, { secrets: i.secrets as Record<string, unknown>, leases: {} }) };
  }
  const req = createRequire(join(ROOT, '.cache/oracle/package.json'));
  const { createHash } = await import('node:crypto');
  const { Jsonnet } = req('@hanazuki/node-jsonnet') as { Jsonnet: new () => any };
  return {
    evaluate: (i) => {
      const vm = new Jsonnet();
      vm.addJpath(dirname(i.template));
      vm.extCode('secrets', JSON.stringify(i.secrets));
      vm.extCode('leases', JSON.stringify(i.leases));
      vm.nativeCallback('sha256', (t: unknown) => createHash('sha256').update(String(t)).digest('hex'), 'text');
      return vm.evaluateFileMulti(i.template);
    },
  };
}

async function child(mode: string, args: string[]): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  if (mode === 'first') {
    const input = JSON.parse(args[1]!) as Input;
    const t0 = performance.now();
    const e = await engine(args[0]!);
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    await e.evaluate(input);
    const c2 = process.cpuUsage(c1);
    const t2 = performance.now();
    console.log(JSON.stringify({ load: t1 - t0, first: t2 - t1, cpu: (c2.user + c2.system) / 1000 }));
  } else if (mode === 'rss') {
    const input = JSON.parse(args[1]!) as Input;
    const n = Number(args[2]);
    const e = await engine(args[0]!);
    await e.evaluate(input);
    gc();
    const m1 = process.memoryUsage();
    for (let i = 1; i < n; i++) await e.evaluate(input);
    gc();
    const m2 = process.memoryUsage();
    console.log(JSON.stringify({ first: m1.rss, last: m2.rss, heapFirst: m1.heapUsed, heapLast: m2.heapUsed, totalFirst: m1.heapTotal, totalLast: m2.heapTotal }));
  } else if (mode === 'many') {
    // libjsonnet on 1,000 templates, two at a time (tconfd used a 2-thread pool)
    const dir = args[0]!;
    const n = Number(args[1]);
    const e = await engine('libjsonnet');
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        await e.evaluate({ template: join(dir, `t${i}.jsonnet`), secrets: { name: `app-${i}`, password: `pw-${i}` }, leases: {} });
      }
    };
    await Promise.all([worker(), worker()]);
  }
}

function runChild(mode: string, args: string[]): string {
  const r = spawnSync(process.execPath, ['--expose-gc', self, '--child', mode, ...args], { encoding: 'utf8', cwd: ROOT, maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`bench child ${mode} exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim();
}

// ---------------------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 5);
  const oracle = (() => {
    try {
      createRequire(join(ROOT, '.cache/oracle/package.json')).resolve('@hanazuki/node-jsonnet');
      return true;
    } catch {
      return false;
    }
  })();
  const engines = oracle && process.env.TCONFD_BENCH_NO_LIBJSONNET !== '1' ? ['tconfd', 'libjsonnet'] : ['tconfd'];
  // the CLIs measured: this build, and the baseline build when given
  const clis: [string, string][] = [['', 'dist/cli.js']];
  if (process.env.TCONFD_BENCH_BASELINE !== undefined) clis.push([' (before)', join(resolve(process.env.TCONFD_BENCH_BASELINE), 'cli.js')]);
  if (!oracle) console.log('libjsonnet: not installed in .cache/oracle (node scripts/oracle.mjs): tconfd figures only');

  const work = mkdtempSync(join(tmpdir(), 'tconfd-bench-jsonnet-'));
  const t50 = join(work, 'fifty.jsonnet');
  writeFileSync(t50, TEMPLATE_50);
  const FIFTY: Input = { template: t50, secrets: secrets50(), leases: {} };

  // 1. first evaluation in a fresh process: tconfd's as the CLI does it (its debug log 'template evaluated', with the
  //    V8 code cache of the build), and both engines in a bare process (module loaded first, then timed)
  const cliFirst = (cliPath: string, conf: string, env: Record<string, string>): { ms: number; cpuMs: number } => {
    const p = spawnSync(process.execPath, [cliPath, '--dir', conf, '--check', '--log-level', 'debug', '--log-format', 'json'], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    const line = p.stderr.split('\n').find((l) => l.includes('"template evaluated"'));
    if (line === undefined) throw new Error(`no 'template evaluated' log line: ${p.stderr.slice(-500)}`);
    return JSON.parse(line) as { ms: number; cpuMs: number };
  };
  const qsOut = join(work, 'qs-out');
  const conf50 = join(work, 'conf50');
  mkdirSync(conf50);
  const env50: Record<string, string> = {};
  const secretPaths: Record<string, string> = {};
  for (const [k, v] of Object.entries(secrets50())) {
    env50[`BENCH_${k}`] = JSON.stringify(v);
    secretPaths[`env:js:BENCH_${k}`] = k;
  }
  writeFileSync(join(conf50, 'fifty.json'), JSON.stringify({ [t50]: { dir: join(work, 'out50'), secrets: secretPaths } }));
  for (const [label, input, conf, env] of [
    ['quickstart template', QUICKSTART, join(ROOT, 'examples/quickstart/tconfd.d'), { QUICKSTART_OUT: qsOut }],
    ['50-secret template', FIFTY, conf50, env50],
  ] as const) {
    const firsts = clis.map(() => [] as { ms: number; cpuMs: number }[]);
    for (let r = 0; r < runs; r++) clis.forEach(([, path], i) => firsts[i]!.push(cliFirst(path, conf, env)));
    clis.forEach(([suffix], i) => {
      const cli = firsts[i]!;
      console.log(
        `first evaluation, ${label}, tconfd CLI${suffix} (in-process, --check): median ${median(cli.map((c) => c.ms)).toFixed(1)} ms (CPU ${median(cli.map((c) => c.cpuMs)).toFixed(1)} ms) over ${runs} processes`,
      );
    });
    for (const e of engines) {
      const r = Array.from({ length: runs }, () => JSON.parse(runChild('first', [e, JSON.stringify(input)])) as { load: number; first: number; cpu: number });
      console.log(
        `first evaluation, ${label}, ${e} in a bare process: median ${median(r.map((x) => x.first)).toFixed(1)} ms (CPU ${median(r.map((x) => x.cpu)).toFixed(1)} ms; module load ${median(r.map((x) => x.load)).toFixed(1)} ms) over ${runs} processes`,
      );
    }
  }

  // 2. 1,000 templates, whole process
  const many = join(work, 'many');
  mkdirSync(join(many, 'conf'), { recursive: true });
  const N = 1000;
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  for (let i = 0; i < N; i++) {
    writeFileSync(
      join(many, 'conf', `t${i}.json`),
      JSON.stringify({ [`t${i}.jsonnet`]: { dir: `../out/t${i}`, secrets: { 'env:str:BENCH_NAME': 'name', 'env:str:BENCH_PASSWORD': 'password' } } }),
    );
    writeFileSync(
      join(many, 'conf', `t${i}.jsonnet`),
      `local s = std.extVar('secrets');\n{\n  'app.json': { name: s.name, password: s.password, index: ${i} },\n  'app.env': 'NAME=%s\\nPASSWORD=%s\\n' % [s.name, s.password],\n}\n`,
    );
  }
  env.BENCH_NAME = 'app';
  env.BENCH_PASSWORD = 'pw';
  const wholeRuns = Math.max(1, Math.min(runs, 3));
  // CPU time (user + system) of the whole process, printed by a preloaded module at exit: on a busy machine it says
  // more than the wall clock.
  const preload = join(work, 'cpu.cjs');
  writeFileSync(preload, "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write('BENCH-CPU ' + (u.user + u.system) / 1000 + '\\n'); });\n");
  const whole = (args: string[]): { wall: number; cpu: number } => {
    const t0 = performance.now();
    const p = spawnSync(process.execPath, ['-r', preload, ...args], { env, encoding: 'utf8', maxBuffer: 64 << 20 });
    const wall = performance.now() - t0;
    if (p.status !== 0) throw new Error(`${args.join(' ')} exited ${p.status}: ${p.stderr.slice(-500)}`);
    return { wall, cpu: Number(/BENCH-CPU (\S+)/.exec(p.stderr)![1]) };
  };
  const report = (label: string, rs: { wall: number; cpu: number }[]): void => {
    console.log(`1,000 templates, ${label}: median ${(median(rs.map((r) => r.wall)) / 1000).toFixed(2)} s (CPU ${(median(rs.map((r) => r.cpu)) / 1000).toFixed(2)} s) over ${rs.length} runs`);
  };
  const once = clis.map(() => [] as { wall: number; cpu: number }[]);
  const check = clis.map(() => [] as { wall: number; cpu: number }[]);
  for (let r = 0; r < wholeRuns; r++) {
    clis.forEach(([, path], i) => {
      rmSync(join(many, 'out'), { recursive: true, force: true });
      once[i]!.push(whole([path, '--dir', join(many, 'conf'), '--once', '--log-level', 'warn']));
      check[i]!.push(whole([path, '--dir', join(many, 'conf'), '--check', '--log-level', 'warn']));
    });
  }
  clis.forEach(([suffix], i) => {
    report(`tconfd${suffix} --once (2,000 files written, each fsync'd), whole process`, once[i]!);
    report(`tconfd${suffix} --check (evaluated, nothing written), whole process`, check[i]!);
  });
  if (engines.includes('libjsonnet')) {
    const lt: { wall: number; cpu: number }[] = [];
    // one run: ~1 minute of CPU
    lt.push(whole(['--expose-gc', self, '--child', 'many', join(many, 'conf'), String(N)]));
    report('libjsonnet (evaluation only, 2 at a time), whole process', lt);
  }

  // 3. RSS growth over 1,000 evaluations (with the JS heap: used, and reserved by V8, which sizes its young generation
  //    up under a tight loop)
  for (const e of engines) {
    const r = JSON.parse(runChild('rss', [e, JSON.stringify(FIFTY), '1000'])) as Record<string, number>;
    const mb = (b: number) => (b / 1048576).toFixed(1);
    console.log(
      `RSS, 50-secret template, ${e}: ${mb(r.first!)} MiB after 1 evaluation, ${mb(r.last!)} MiB after 1,000 (+${mb(r.last! - r.first!)} MiB); ` +
        `JS heap used ${mb(r.heapFirst!)} -> ${mb(r.heapLast!)} MiB, reserved ${mb(r.totalFirst!)} -> ${mb(r.totalLast!)} MiB`,
    );
  }
  rmSync(work, { recursive: true, force: true });
}

const i = process.argv.indexOf('--child');
if (i >= 0) await child(process.argv[i + 1]!, process.argv.slice(i + 2));
else await main();
