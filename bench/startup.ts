/**
 * Startup and memory figures (issue 12), every tconfd figure next to a bare `node -e 0` measured in the same run:
 *
 *  1. First rendering, whole process, `--once`: the quickstart (examples/quickstart) and a JWT login with two Vault
 *     secrets (a KV v2 secret and a database lease) from the Vault stand-in, a separate process here as Vault is.
 *     Printed per phase (tconfd's debug line "first rendering: time per phase", src/runtime/startup-times.ts):
 *     exec (spawn -> the process exists), node (Node's own start), load (the bundle), config (command line, logger,
 *     config files), secrets (Vault: client loaded, login, reads), evaluate, write; then spawn -> files written and
 *     spawn -> exit, and the ratio of spawn -> exit to `node -e 0`'s. Rounds interleave the cases (a busy machine
 *     slows all of them alike); medians over the rounds, after one warm-up round.
 *  2. Memory while supervising a command (a shell that writes the time, then `exec sleep`), for env-only, Vault (the
 *     same two secrets) and 1,000 leases (-D, 10 templates x 100 database leases, 60 s TTL: renewed every ~40 s): RSS
 *     and private dirty memory (Private_Dirty of /proc/PID/smaps_rollup: what the process does not share with other
 *     processes of the same image), sampled every 25 ms from the spawn; "settled" is the median of the samples of the
 *     second half of the settling time after the first rendering, "peak" is VmHWM (RSS) and the largest sample
 *     (private dirty). Also the time from spawn to the files written and to the command's first instruction.
 *
 * Usage: npm run build && node bench/run.mjs startup [rounds=10] [lease-seconds=60] [memory-runs=3]
 * TCONFD_BENCH_NODE_FLAGS='--max-semi-space-size=1' runs tconfd with extra Node flags (experiments).
 * TCONFD_BENCH_BASELINE=/path/to/another/dist runs every tconfd case with that build too, in the same rounds
 * ("before" figures; phases and CPU only from builds that log the phase line, spawn -> written from any build).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../test/vault/target.js';
import {
  createDbRole,
  createJwtRole,
  enableDatabase,
  enableJwtAuth,
  enableKv2,
  generateRsaKeyPair,
  putKv2,
  signJwt,
  writePolicy,
} from '../test/vault/setup.js';

const ROUNDS = Number(process.argv[2] ?? 10);
const LEASE_SECONDS = Number(process.argv[3] ?? 60);
const MEMORY_RUNS = Number(process.argv[4] ?? 3);
if (!existsSync('dist/cli.js')) throw new Error('dist/cli.js is missing: npm run build first');

// A private copy of the build (inside the project, as an installed package would be): a rebuild meanwhile cannot
// break the runs.
mkdirSync('.tmp', { recursive: true });
const distCopy = mkdtempSync(join(resolve('.tmp'), 'bench-dist-'));
cpSync('dist', join(distCopy, 'dist'), { recursive: true });
const CLI = join(distCopy, 'dist', 'cli.js');
const BASELINE = process.env.TCONFD_BENCH_BASELINE === undefined ? undefined : join(resolve(process.env.TCONFD_BENCH_BASELINE), 'cli.js');
const root = mkdtempSync(join(tmpdir(), 'tconfd-bench-startup-'));

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock ms (sub-ms resolution), comparable with another process's Date.now(). */
const wallMs = (): number => performance.timeOrigin + performance.now();
const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ');

function write(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(root, 'conf-'));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, k), typeof v === 'string' ? v : JSON.stringify(v));
  return dir;
}

// ---------------------------------------------------------------- Vault (the stand-in, as a program)

const port = await freePort();
const vaultProc = spawn(process.execPath, ['scripts/run-ts.mjs', 'test/vault/standin/serve.ts', '--port', String(port)], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
await new Promise<void>((ok, fail) => {
  let out = '';
  vaultProc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.includes('VAULT_TOKEN=')) ok();
  });
  vaultProc.once('exit', (c) => fail(new Error(`the Vault stand-in exited (${c})`)));
});
const vault = { addr: `http://127.0.0.1:${port}`, rootToken: 'root', kind: 'standin' as const };
await enableKv2(vault, 'secret');
await putKv2(vault, 'secret', 'bench/app', { api_key: 'k-123', endpoint: 'https://api.example' });
await enableDatabase(vault);
await createDbRole(vault, { name: 'app', defaultTtl: '1h', maxTtl: '24h' });
const LEASES = 1000;
for (let i = 0; i < LEASES; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, LEASES - i) }, (_, k) => createDbRole(vault, { name: `r${i + k}`, defaultTtl: 60, maxTtl: '24h' })),
  );
}
await writePolicy(
  vault,
  'bench',
  'path "secret/data/bench/*" {\n  capabilities = ["read"]\n}\npath "database/creds/*" {\n  capabilities = ["read"]\n}\npath "sys/leases/revoke" {\n  capabilities = ["update"]\n}\n',
);
const jwtKeys = generateRsaKeyPair();
await enableJwtAuth(vault, { publicKeyPem: jwtKeys.publicKeyPem, boundIssuer: 'https://bench.example' });
await createJwtRole(vault, { name: 'app', boundAudiences: ['vault'], policies: ['bench'], ttl: '1h', maxTtl: '24h' });
const now = Math.floor(Date.now() / 1000);
const jwt = await signJwt(jwtKeys.privateKey, { iss: 'https://bench.example', sub: 'bench', aud: ['vault'], iat: now, exp: now + 24 * 3600 });

// ---------------------------------------------------------------- configurations

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
const nodeFlags = (process.env.TCONFD_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
const tconfdWith = (cli: string, ...args: string[]): string[] => [process.execPath, ...nodeFlags, cli, '--log-format', 'json', ...args];
const tconfd = (...args: string[]): string[] => tconfdWith(CLI, ...args);
/** The case, and the same with the baseline build (TCONFD_BENCH_BASELINE) when there is one. */
function withBaseline<C extends { name: string; argv: readonly string[] }>(c: C): C[] {
  if (BASELINE === undefined) return [c];
  return [c, { ...c, name: `${c.name} (before)`, argv: c.argv.map((a) => (a === CLI ? BASELINE : a)) }];
}

const envConf = write({
  'app.json': { 'app.jsonnet': { dir: join(root, 'out-env'), secrets: { 'env:str:GREETING': 'greeting' } } },
  'app.jsonnet': "local s = std.extVar('secrets');\n{ 'app.conf': 'greeting=' + s.greeting + '\\n' }\n",
});
const vaultConf = write({
  'app.json': {
    'app.jsonnet': {
      dir: join(root, 'out-vault'),
      secrets: { 'vault:app:secret/data/bench/app': 'kv', 'vault:app:database/creds/app': 'db' },
    },
  },
  'app.jsonnet': `local s = std.extVar('secrets');
{
  'app.json': { api_key: s.kv.data.api_key, endpoint: s.kv.data.endpoint, db_user: s.db.username, db_password: s.db.password },
}
`,
});
const leasesConf = mkdtempSync(join(root, 'conf-leases-'));
for (let t = 0; t < 10; t++) {
  const secrets: Record<string, string> = {};
  for (let i = t * 100; i < (t + 1) * 100; i++) secrets[`vault:app:database/creds/r${i}`] = `db${i}`;
  writeFileSync(join(leasesConf, `app${t}.json`), JSON.stringify({ [`app${t}.jsonnet`]: { dir: join(root, 'out-leases'), secrets } }));
  writeFileSync(
    join(leasesConf, `app${t}.jsonnet`),
    `local s = std.extVar('secrets');\n{ 'app${t}.json': { [k]: { user: s[k].username, password: s[k].password } for k in std.objectFields(s) } }\n`,
  );
}
const vaultArgs = ['-u', vault.addr, '--auth', 'jwt', '-T', 'BENCH_JWT'];
const vaultEnv = { ...baseEnv, BENCH_JWT: jwt };

// ---------------------------------------------------------------- 1. first rendering

interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env: Record<string, string>;
  readonly tconfd: boolean;
}
interface Run {
  exit: number;
  /** CPU ms of the whole process (node -e) or to the files written (tconfd). */
  cpu: number;
  written?: number;
  phases?: Record<string, number>;
  cpuPhases?: Record<string, number>;
}

function runOnce(c: Case): Promise<Run> {
  const t0 = wallMs();
  const p = spawn(c.argv[0]!, c.argv.slice(1), { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((ok, fail) => {
    p.once('exit', (code) => {
      const exit = wallMs() - t0;
      if (code !== 0) return fail(new Error(`${c.name}: exited ${code}: ${err.slice(-1500)}`));
      if (!c.tconfd) return ok({ exit, cpu: Number(/^cpu (\S+)$/m.exec(err)?.[1] ?? NaN) });
      const line = err.split('\n').find((l) => l.includes('"first rendering: time per phase"'));
      if (line === undefined) {
        // a build that does not log its phases (main before this work): spawn -> files written from its last
        // "template rendered" line (logged once the files are written)
        const rendered = err.split('\n').filter((l) => l.includes('"template rendered"')).at(-1);
        if (rendered === undefined) return fail(new Error(`${c.name}: no phase line and no "template rendered" line in the log: ${err.slice(-1500)}`));
        return ok({ exit, cpu: NaN, written: (JSON.parse(rendered) as { time: number }).time - t0, phases: {}, cpuPhases: {} });
      }
      const l = JSON.parse(line) as { time: number; ms: Record<string, number>; cpuMs: Record<string, number> };
      // exec: spawn -> the process's time origin (the phase line's wall-clock time minus its own total)
      const written = l.time - t0;
      ok({ exit, cpu: l.cpuMs?.total ?? NaN, written, phases: { exec: written - l.ms.total!, ...l.ms }, cpuPhases: l.cpuMs ?? {} });
    });
  });
}

const qsOut = join(root, 'out-quickstart');
// `node -e 0`, saying its CPU time at exit
const NODE_E = "process.on('exit', () => { const u = process.cpuUsage(); process.stderr.write('cpu ' + (u.user + u.system) / 1000 + '\\n'); })";
const timed: Case[] = [
  { name: 'node -e 0', argv: [process.execPath, '-e', NODE_E], env: baseEnv, tconfd: false },
  ...withBaseline({
    name: 'quickstart --once',
    argv: tconfd('--dir', 'examples/quickstart/tconfd.d', '--once', '--log-level', 'debug'),
    env: { ...baseEnv, QUICKSTART_OUT: qsOut },
    tconfd: true,
  }),
  ...withBaseline({
    name: 'JWT login, KV v2 + database lease, --once',
    argv: tconfd('--dir', vaultConf, '--once', '--log-level', 'debug', ...vaultArgs),
    env: vaultEnv,
    tconfd: true,
  }),
];

console.log(
  `node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), load average ${load()}` +
    (nodeFlags.length > 0 ? `, tconfd run with ${nodeFlags.join(' ')}` : ''),
);
console.log(`1. first rendering, whole process: ${ROUNDS} rounds (+1 warm-up), the cases interleaved; medians, ms`);
const results = new Map<string, Run[]>(timed.map((c) => [c.name, []]));
for (let r = 0; r <= ROUNDS; r++) {
  for (const c of timed) {
    const run = await runOnce(c);
    if (r > 0) results.get(c.name)!.push(run);
  }
}
const PHASES = ['exec', 'node', 'load', 'config', 'secrets', 'evaluate', 'write'];
const base = median(results.get('node -e 0')!.map((r) => r.exit));
console.log(`  wall clock, ms: spawn -> the process (exec), its phases, spawn -> files written, spawn -> exit`);
console.log(`  ${'case'.padEnd(52)}${PHASES.map((p) => p.padStart(9)).join('')}  ${'written'.padStart(8)} ${'exit'.padStart(7)}  x node`);
for (const c of timed) {
  const rs = results.get(c.name)!;
  const exit = median(rs.map((r) => r.exit));
  const cols = PHASES.map((p) => (c.tconfd ? median(rs.map((r) => r.phases![p] ?? NaN)).toFixed(1) : '').padStart(9)).join('');
  const written = c.tconfd ? median(rs.map((r) => r.written!)).toFixed(1) : '';
  console.log(`  ${c.name.padEnd(52)}${cols}  ${written.padStart(8)} ${exit.toFixed(1).padStart(7)}  ${(exit / base).toFixed(2)}`);
}
const CPU_PHASES = ['node+load', 'config', 'secrets', 'evaluate', 'write'];
const baseCpu = median(results.get('node -e 0')!.map((r) => r.cpu));
console.log(`  CPU, ms (user + system): node -e 0 to its exit; tconfd from its start to the files written, by phase`);
console.log(`  ${'case'.padEnd(52)}${CPU_PHASES.map((p) => p.padStart(10)).join('')}  ${'total'.padStart(8)}  x node`);
for (const c of timed) {
  const rs = results.get(c.name)!;
  const cpu = median(rs.map((r) => r.cpu));
  const cols = CPU_PHASES.map((p) => (c.tconfd ? median(rs.map((r) => r.cpuPhases![p] ?? NaN)).toFixed(1) : '').padStart(10)).join('');
  console.log(`  ${c.name.padEnd(52)}${cols}  ${cpu.toFixed(1).padStart(8)}  ${(cpu / baseCpu).toFixed(2)}`);
}
console.log(`  (load average now ${load()})`);

// ---------------------------------------------------------------- 2. memory

interface Sample {
  at: number;
  rss: number;
  privateDirty: number;
}

function smaps(pid: number): { rss: number; privateDirty: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (f: string): number => Number(new RegExp(`^${f}:\\s+(\\d+) kB$`, 'm').exec(text)?.[1] ?? NaN);
    return { rss: kb('Rss'), privateDirty: kb('Private_Dirty') };
  } catch {
    return undefined;
  }
}
function hwmKb(pid: number): number {
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}

interface MemoryCase {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env: Record<string, string>;
  readonly templates: number;
  readonly settleMs: number;
  readonly runs: number;
}
interface MemoryRun {
  settledRss: number;
  settledDirty: number;
  peakRss: number;
  peakDirty: number;
  readyMs: number;
  /** spawn -> the supervised command's first instruction (NaN without a command) */
  commandMs: number;
}

async function memoryOnce(c: MemoryCase): Promise<MemoryRun> {
  rmSync(STAMP, { force: true });
  const t0 = Date.now();
  const t0Ns = BigInt(Math.round(wallMs() * 1000)) * 1000n;
  const p: ChildProcess = spawn(c.argv[0]!, c.argv.slice(1), { env: c.env, stdio: ['ignore', 'ignore', 'pipe'] });
  let rendered = 0;
  let readyAt = 0;
  let err = '';
  let partial = '';
  p.stderr!.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"template rendered"') && ++rendered === c.templates) readyAt = Date.now();
      else if (!line.startsWith('{') || /"level":[56]0/.test(line)) err += line + '\n';
    }
  });
  const samples: Sample[] = [];
  let peakRss = 0;
  try {
    for (;;) {
      if (p.exitCode !== null) throw new Error(`${c.name}: exited ${p.exitCode}: ${err.slice(-1500)}`);
      const s = smaps(p.pid!);
      if (s !== undefined) samples.push({ at: Date.now(), ...s });
      if (readyAt === 0 && Date.now() - t0 > 180_000) throw new Error(`${c.name}: no first rendering in 180 s: ${err.slice(-1500)}`);
      if (readyAt !== 0 && Date.now() - readyAt >= c.settleMs) break;
      await sleep(25);
    }
    peakRss = hwmKb(p.pid!);
  } finally {
    p.kill('SIGTERM');
    if (p.exitCode === null) await new Promise((r) => p.once('exit', r));
  }
  const settled = samples.filter((s) => s.at >= readyAt + c.settleMs / 2);
  let commandMs = NaN;
  try {
    commandMs = Number(BigInt(readFileSync(STAMP, 'utf8').trim()) - t0Ns) / 1e6;
  } catch {
    // no command
  }
  return {
    commandMs,
    settledRss: median(settled.map((s) => s.rss)) / 1024,
    settledDirty: median(settled.map((s) => s.privateDirty)) / 1024,
    peakRss: peakRss / 1024,
    peakDirty: Math.max(...samples.map((s) => s.privateDirty)) / 1024,
    readyMs: readyAt - t0,
  };
}

// The supervised command's first instruction writes the wall-clock time in ns (the rename makes it visible whole).
const STAMP = join(root, 'stamp');
const SUPERVISED = ['--', '/bin/sh', '-c', `date +%s%N > ${STAMP}.tmp; mv ${STAMP}.tmp ${STAMP}; exec sleep 3600`];
const memoryCases: MemoryCase[] = ([
  {
    name: 'env-only, supervising a command',
    argv: tconfd('--dir', envConf, '--log-level', 'info', ...SUPERVISED),
    env: { ...baseEnv, GREETING: 'hello' },
    templates: 1,
    settleMs: 6_000,
    runs: MEMORY_RUNS,
  },
  {
    name: 'Vault (JWT, KV v2 + lease), supervising',
    argv: tconfd('--dir', vaultConf, '--log-level', 'info', ...vaultArgs, ...SUPERVISED),
    env: vaultEnv,
    templates: 1,
    settleMs: 6_000,
    runs: MEMORY_RUNS,
  },
  {
    name: `1,000 leases (-D, 60 s TTL), ${LEASE_SECONDS} s`,
    argv: tconfd('--dir', leasesConf, '--log-level', 'info', '-D', ...vaultArgs),
    env: vaultEnv,
    templates: 10,
    settleMs: LEASE_SECONDS * 1000,
    runs: 1,
  },
] as MemoryCase[]).flatMap(withBaseline);
const nodeIdle: MemoryCase = {
  name: 'node -e (idle), for scale',
  argv: [process.execPath, '-e', "process.stderr.write('{\"msg\":\"template rendered\"}\\n'); setInterval(() => {}, 1e9)"],
  env: baseEnv,
  templates: 1,
  settleMs: 2_000,
  runs: 1,
};

console.log(`2. memory (MB = MiB): settled = median of the second half of the settling time after the first rendering; peak = VmHWM / largest sample`);
console.log(`  ${'case'.padEnd(52)}${'RSS settled'.padStart(12)}${'peak'.padStart(8)}${'priv.dirty'.padStart(12)}${'peak'.padStart(8)}  spawn -> files written; -> the command's first instruction`);
for (const c of MEMORY_RUNS > 0 ? [nodeIdle, ...memoryCases] : []) {
  const rs: MemoryRun[] = [];
  for (let i = 0; i < c.runs; i++) rs.push(await memoryOnce(c));
  const m = (f: keyof MemoryRun): string => median(rs.map((r) => r[f])).toFixed(1);
  console.log(
    `  ${c.name.padEnd(52)}${m('settledRss').padStart(12)}${m('peakRss').padStart(8)}${m('settledDirty').padStart(12)}${m('peakDirty').padStart(8)}  ${m('readyMs')} ms${Number.isNaN(median(rs.map((r) => r.commandMs))) ? '' : `; ${m('commandMs')} ms`} (${rs.length} run${rs.length > 1 ? 's' : ''})`,
  );
}
console.log(`  (load average now ${load()})`);

vaultProc.kill('SIGTERM');
rmSync(root, { recursive: true, force: true });
rmSync(distCopy, { recursive: true, force: true });
