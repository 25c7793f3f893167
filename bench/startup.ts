/**
 * Startup figures (issue: under 150 ms to the command, under 60 MB of RSS, on a 2-core machine):
 *  1. time from spawning tconfd to the supervised command's first instruction, median of N runs (default 20), for
 *     (a) one env-only template, (b) a KV v2 and a database secret from the Vault stand-in (started in this process)
 *     with token auth, (c) the same with a real JWT login (--auth jwt -T VAR); plus, for scale, plain Node spawning
 *     the same command;
 *  2. tconfd's own peak RSS (VmHWM of /proc/PID/status) after ~2 s of supervising, for (a) and (b), with its current
 *     RSS and RssAnon (the private part: most of a Node process's file-backed RSS is the node binary, shared).
 * The command is `/bin/sh -c 'date +%s%N > STAMP; exec sleep 30'`: its first instruction writes the wall-clock time
 * in ns; the spawn time is taken on the same clock (performance.timeOrigin + performance.now(), wall-clock ms).
 * tconfd is stopped with SIGTERM after each run.
 * Usage: npm run build && node bench/run.mjs startup [runs]
 * (TCONFD_BENCH_NODE_FLAGS='--max-semi-space-size=1' runs tconfd with extra Node flags, for experiments.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startVaultStandin } from '../test/vault/standin/index.js';
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

const runs = Number(process.argv[2] ?? 20);
if (!existsSync('dist/cli.js')) throw new Error('dist/cli.js is missing: npm run build first');
// A private copy of the build (inside the project, so that its packages resolve): a rebuild meanwhile cannot break
// the runs, and the code cache stays the one the build made.
mkdirSync('.tmp', { recursive: true });
const distCopy = mkdtempSync(join(resolve('.tmp'), 'bench-dist-'));
cpSync('dist', join(distCopy, 'dist'), { recursive: true });
const CLI = join(distCopy, 'dist', 'cli.js');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Wall-clock time in ns (µs resolution), comparable with `date +%s%N` in another process. */
const wallNs = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1_000)) * 1_000n;

const root = mkdtempSync(join(tmpdir(), 'tconfd-bench-startup-'));
const stamp = join(root, 'stamp');
// The stamp is the command's first instruction; the rename only makes it visible whole.
const COMMAND = ['/bin/sh', '-c', `date +%s%N > ${stamp}.tmp; mv ${stamp}.tmp ${stamp}; exec sleep 30`];

interface Case {
  readonly name: string;
  readonly argv: readonly string[];
  readonly env: Record<string, string>;
}

function write(files: Record<string, unknown>): string {
  const dir = mkdtempSync(join(root, 'conf-'));
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, k), typeof v === 'string' ? v : JSON.stringify(v));
  return dir;
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve() : new Promise((r) => p.once('exit', () => r()));
}

/** Spawn, wait for the command's stamp; returns ms from spawn to the command's first instruction, and the process. */
async function startOnce(c: Case): Promise<{ ms: number; proc: ChildProcess }> {
  rmSync(stamp, { force: true });
  const t0 = wallNs();
  const proc = spawn(c.argv[0]!, c.argv.slice(1), { env: c.env, stdio: ['ignore', 'ignore', 'inherit'] });
  const deadline = Date.now() + 20_000;
  while (!existsSync(stamp)) {
    if (proc.exitCode !== null) throw new Error(`${c.name}: exited ${proc.exitCode} before starting the command`);
    if (Date.now() > deadline) throw new Error(`${c.name}: the command did not start within 20 s`);
    await sleep(2);
  }
  const t1 = BigInt(readFileSync(stamp, 'utf8').trim());
  return { ms: Number(t1 - t0) / 1e6, proc };
}

async function stop(proc: ChildProcess): Promise<void> {
  proc.kill('SIGTERM');
  await exited(proc);
}

function vmKb(pid: number, field: 'VmHWM' | 'VmRSS' | 'RssAnon'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]);
}

async function timeCase(c: Case): Promise<number[]> {
  await stop((await startOnce(c)).proc); // warm-up (page cache, the stand-in's first requests)
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const { ms, proc } = await startOnce(c);
    times.push(ms);
    await stop(proc);
  }
  return times;
}

function report(label: string, xs: number[]): void {
  console.log(
    `${label.padEnd(62)} median ${median(xs).toFixed(1).padStart(6)} ms  (min ${Math.min(...xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)}, ${xs.length} runs)`,
  );
}

// ---------------------------------------------------------------- cases

const baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/' };
// Extra Node flags for tconfd (experiments: TCONFD_BENCH_NODE_FLAGS='--max-semi-space-size=1').
const nodeFlags = (process.env.TCONFD_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
const tconfd = (conf: string, ...more: string[]): string[] => [
  process.execPath, ...nodeFlags, CLI, '--dir', conf, '--log-format', 'json', '--log-level', 'warn', ...more, '--', ...COMMAND,
];

const envConf = write({
  'app.json': { 'app.jsonnet': { dir: join(root, 'out-env'), secrets: { 'env:str:GREETING': 'greeting' } } },
  'app.jsonnet': "local s = std.extVar('secrets');\n{ 'app.conf': 'greeting=' + s.greeting + '\\n' }\n",
});

const vault = await startVaultStandin();
await enableKv2(vault, 'secret');
await putKv2(vault, 'secret', 'bench/app', { api_key: 'k-123', endpoint: 'https://api.example' });
await enableDatabase(vault);
await createDbRole(vault, { name: 'app', defaultTtl: '1h', maxTtl: '24h' });
await writePolicy(vault, 'bench', 'path "secret/data/bench/*" {\n  capabilities = ["read"]\n}\npath "database/creds/*" {\n  capabilities = ["read"]\n}\npath "sys/leases/revoke" {\n  capabilities = ["update"]\n}\n');
const jwtKeys = generateRsaKeyPair();
await enableJwtAuth(vault, { publicKeyPem: jwtKeys.publicKeyPem, boundIssuer: 'https://bench.example' });
await createJwtRole(vault, { name: 'app', boundAudiences: ['vault'], policies: ['bench'], ttl: '1h', maxTtl: '24h' });
const now = Math.floor(Date.now() / 1000);
const jwt = await signJwt(jwtKeys.privateKey, { iss: 'https://bench.example', sub: 'bench', aud: ['vault'], iat: now, exp: now + 3600 });

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

const cases: Case[] = [
  {
    name: '(a) env-only template',
    argv: tconfd(envConf),
    env: { ...baseEnv, GREETING: 'hello' },
  },
  {
    name: '(b) KV v2 + database secret, token auth (stand-in)',
    argv: tconfd(vaultConf, '--vault-addr', vault.addr),
    env: { ...baseEnv, VAULT_TOKEN: vault.rootToken },
  },
  {
    name: '(c) KV v2 + database secret, JWT login -T (stand-in)',
    argv: tconfd(vaultConf, '--vault-addr', vault.addr, '--auth', 'jwt', '-T', 'BENCH_JWT'),
    env: { ...baseEnv, BENCH_JWT: jwt },
  },
];
const baseline: Case = {
  name: 'node -e spawn(command) (baseline: Node itself)',
  argv: [process.execPath, '-e', `require('child_process').spawn(${JSON.stringify(COMMAND[0])}, ${JSON.stringify(COMMAND.slice(1))}, { stdio: 'inherit' }); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1e9)`],
  env: baseEnv,
};

console.log(
  `node ${process.version}, ${cpus().length} CPU(s) (${cpus()[0]?.model ?? 'unknown'}), ${runs} runs per case` +
    (nodeFlags.length > 0 ? `, tconfd run with ${nodeFlags.join(' ')}` : ''),
);
console.log('time from spawning tconfd to the command\'s first instruction:');
for (const c of [...cases, baseline]) report(`  ${c.name}`, await timeCase(c));

console.log('tconfd\'s peak RSS (VmHWM) after ~2 s of supervising, median of 3 (RssAnon: its private part, without');
console.log('the node binary\'s pages shared with every Node process; `node -e` idles at ~40 MB RSS, ~6 MB RssAnon):');
for (const c of cases.slice(0, 2)) {
  const hwm: number[] = [];
  const rss: number[] = [];
  const anon: number[] = [];
  for (let i = 0; i < 3; i++) {
    const { proc } = await startOnce(c);
    await sleep(2_000);
    hwm.push(vmKb(proc.pid!, 'VmHWM') / 1024);
    rss.push(vmKb(proc.pid!, 'VmRSS') / 1024);
    anon.push(vmKb(proc.pid!, 'RssAnon') / 1024);
    await stop(proc);
  }
  console.log(
    `  ${c.name.padEnd(60)} VmHWM ${median(hwm).toFixed(1)} MB (now: VmRSS ${median(rss).toFixed(1)} MB, RssAnon ${median(anon).toFixed(1)} MB)`,
  );
}

await vault.stop();
rmSync(root, { recursive: true, force: true });
rmSync(distCopy, { recursive: true, force: true });
