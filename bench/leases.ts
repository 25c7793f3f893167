/**
 * Issue 4 figures: tconfd (the real CLI, -D) holding 1,000 leased database secrets with a 60 s TTL against the Vault
 * stand-in (in this process, memory:// database) for N minutes.
 *
 * Distinct secrets: tconfd keeps one holding per distinct secret path (and Vault caches nothing), so
 * `vault:app:database/creds/app` written 1,000 times would be ONE lease. The bench creates 1,000 database roles
 * r0..r999 (default_ttl 60 s, max_ttl 24 h: renewed, never replaced) and the config names
 * `vault:app:database/creds/r<i>`: 1,000 distinct paths, 1,000 leases, as 1,000 applications' credentials would be.
 * Ten templates use 100 secrets each. JWT login (token TTL 1 h: one login, no token renewal within the run).
 *
 * Every 5 s: tconfd's RSS (/proc/PID/status VmRSS) and CPU seconds (/proc/PID/stat utime+stime). Vault requests are
 * counted by kind from the stand-in's request log. Expected: each lease renewed at 60-73 % of its remaining 60 s,
 * i.e. every ~40 s, ~1.5 renewals per lease per minute, ~1,500 per minute in all, spread evenly (jitter).
 *
 * Usage: npm run build && node bench/run.mjs leases [minutes]   (default 5)
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startVaultStandin, type RequestRecord } from '../test/vault/standin/index.js';
import { freePort } from '../test/vault/target.js';
import { createDbRole, createJwtRole, enableDatabase, enableJwtAuth, generateRsaKeyPair, signJwt, writePolicy } from '../test/vault/setup.js';

const minutes = Number(process.argv[2] ?? 5);
if (!(minutes > 0)) {
  console.error('usage: node bench/run.mjs leases [minutes]');
  process.exit(2);
}
const LEASES = 1000;
const TEMPLATES = 10;
const TTL = 60;
const SAMPLE_MS = 5000;
const CLI = join(process.cwd(), 'dist', 'cli.js');

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mib = (kb: number): string => (kb / 1024).toFixed(1);

// ---- Vault
const standin = await startVaultStandin();
const target = { addr: standin.addr, rootToken: standin.rootToken, kind: 'standin' as const };
await enableDatabase(target);
for (let i = 0; i < LEASES; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, LEASES - i) }, (_, k) => createDbRole(target, { name: `r${i + k}`, defaultTtl: TTL, maxTtl: '24h' })),
  );
}
await writePolicy(target, 'bench', 'path "database/creds/*" {\n  capabilities = ["read"]\n}\npath "sys/leases/revoke" {\n  capabilities = ["update"]\n}\n');
const { privateKey, publicKeyPem } = generateRsaKeyPair();
await enableJwtAuth(target, { publicKeyPem });
await createJwtRole(target, { name: 'app', policies: ['bench'], ttl: '1h', maxTtl: '2h', boundAudiences: ['tconfd'], userClaim: 'sub' });
const now = Math.floor(Date.now() / 1000);
const jwt = await signJwt(privateKey, { sub: 'bench', aud: ['tconfd'], iat: now, exp: now + 24 * 3600 });

// ---- config: 10 templates x 100 distinct lease paths
const root = mkdtempSync(join(tmpdir(), 'tconfd-bench-leases-'));
mkdirSync(join(root, 'conf'));
for (let t = 0; t < TEMPLATES; t++) {
  const secrets: Record<string, string> = {};
  for (let i = t * (LEASES / TEMPLATES); i < (t + 1) * (LEASES / TEMPLATES); i++) secrets[`vault:app:database/creds/r${i}`] = `db${i}`;
  writeFileSync(join(root, 'conf', `app${t}.json`), JSON.stringify({ [`app${t}.jsonnet`]: { dir: '../out', secrets } }));
  writeFileSync(
    join(root, 'conf', `app${t}.jsonnet`),
    `local s = std.extVar('secrets');\n{ 'app${t}.json': { [k]: { user: s[k].username, password: s[k].password } for k in std.objectFields(s) } }\n`,
  );
}

// ---- tconfd
const startedAt = Date.now();
const healthPort = await freePort();
const child = spawn(process.execPath, [...(process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean), CLI, '-d', join(root, 'conf'), '-D', '-u', standin.addr, '--auth', 'jwt', '-T', 'BENCH_JWT', '--log-format', 'json', '--log-level', 'info', '--health-listen', `127.0.0.1:${healthPort}`], {
  env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', BENCH_JWT: jwt, ...(process.env['BENCH_MALLOC_ARENA_MAX'] ? { MALLOC_ARENA_MAX: process.env['BENCH_MALLOC_ARENA_MAX'] } : {}), ...(process.env['BENCH_NODE_OPTIONS'] ? { NODE_OPTIONS: process.env['BENCH_NODE_OPTIONS'] } : {}), ...(process.env['BENCH_UV_THREADPOOL_SIZE'] ? { UV_THREADPOOL_SIZE: process.env['BENCH_UV_THREADPOOL_SIZE'] } : {}) },
  stdio: ['ignore', 'ignore', 'pipe'],
});
const pid = child.pid!;
let stderr = '';
let levels = { warn: 0, error: 0 };
let rendered = 0;
let readyAt = 0;
let partial = '';
child.stderr!.setEncoding('utf8').on('data', (d: string) => {
  const parts = (partial + d).split('\n');
  partial = parts.pop()!;
  for (const line of parts) {
    if (!line.startsWith('{')) {
      stderr += line + '\n';
      continue;
    }
    const l = JSON.parse(line) as { level: number; msg: string };
    if (l.level >= 50) levels.error++;
    else if (l.level >= 40) levels.warn++;
    if (l.msg === 'template rendered' && ++rendered === TEMPLATES) readyAt = Date.now();
    if (l.level >= 40 && levels.warn + levels.error <= 5) stderr += line + '\n';
  }
});
let exited: number | null | undefined;
child.on('exit', (code) => (exited = code));

while (readyAt === 0) {
  if (exited !== undefined) throw new Error(`tconfd exited (${exited}) before its first rendering:\n${stderr}`);
  if (Date.now() - startedAt > 120_000) throw new Error(`tconfd not ready after 120 s:\n${stderr}`);
  await sleep(50);
}
const startup = (readyAt - startedAt) / 1000;
levels = { warn: 0, error: 0 };

// ---- sampling
const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const rssKb = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
const cpuSec = (): number => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / ticks; // utime, stime (fields 14 and 15)
};
const t0 = Date.now();
const cpu0 = cpuSec();
const rss: number[] = [rssKb()];
const cpu: number[] = [cpu0];
const reqStart = standin.requests.length;
console.log(`tconfd -D, ${LEASES} database leases (default_ttl ${TTL}s) in ${TEMPLATES} templates, against the Vault stand-in: ${minutes} min, a sample every ${SAMPLE_MS / 1000} s`);
console.log(`startup: ${LEASES} leases obtained and ${TEMPLATES} templates rendered in ${startup.toFixed(2)} s; RSS then ${mib(rss[0]!)} MiB`);
const end = t0 + minutes * 60_000;
while (Date.now() < end) {
  await sleep(Math.min(SAMPLE_MS, end - Date.now()));
  if (exited !== undefined) throw new Error(`tconfd exited (${exited}) during the run:\n${stderr}`);
  rss.push(rssKb());
  cpu.push(cpuSec());
  const m = (Date.now() - t0) / 60_000;
  if (rss.length % 12 === 1) {
    console.log(`  ${m.toFixed(1)} min: RSS ${mib(rss.at(-1)!)} MiB, CPU ${(cpu.at(-1)! - cpu0).toFixed(2)} s`);
  }
}
const elapsedMin = (Date.now() - t0) / 60_000;

// ---- Vault requests by kind
const kindOf = (r: RequestRecord): string => {
  if (r.path === 'sys/leases/renew') return 'renew';
  if (r.path.startsWith('database/creds/')) return 'creds';
  if (/^auth\/.+\/login$/.test(r.path)) return 'login';
  if (r.path === 'sys/leases/revoke' || r.path === 'auth/token/revoke-self') return 'revoke';
  return 'other';
};
const reqs = standin.requests.slice(reqStart).filter((r) => r.at >= t0);
const byKind: Record<string, number> = { renew: 0, creds: 0, login: 0, revoke: 0, other: 0 };
for (const r of reqs) byKind[kindOf(r)]!++;
const failed = reqs.filter((r) => r.status >= 300).length;
const renewals = reqs.filter((r) => kindOf(r) === 'renew');
const bucketsFrom = (from: number): number[] => {
  const n = Math.floor((t0 + elapsedMin * 60_000 - from) / SAMPLE_MS);
  const b = new Array<number>(Math.max(0, n)).fill(0);
  for (const r of renewals) {
    const i = Math.floor((r.at - from) / SAMPLE_MS);
    if (i >= 0 && i < n) b[i]!++;
  }
  return b;
};
const spread = (b: number[]): string => (b.length === 0 ? 'n/a' : `min ${Math.min(...b)} / median ${median(b)} / max ${Math.max(...b)}`);

const perMin = (n: number): string => (n / elapsedMin).toFixed(0);
const cpuPerMin = (cpu.at(-1)! - cpu0) / elapsedMin;
console.log(`RSS: median ${mib(median(rss))} MiB, max ${mib(Math.max(...rss))} MiB (${rss.length} samples)`);
console.log(`CPU: ${cpuPerMin.toFixed(2)} s per minute (${((cpuPerMin / 60) * 100).toFixed(2)} % of one core); ${(cpu.at(-1)! - cpu0).toFixed(1)} s in ${elapsedMin.toFixed(1)} min`);
console.log(
  `Vault requests per minute: renew ${perMin(byKind['renew']!)}, creds ${perMin(byKind['creds']!)}, login ${perMin(byKind['login']!)}, revoke ${perMin(byKind['revoke']!)}, other ${perMin(byKind['other']!)}  (${reqs.length} in all, ${failed} not 2xx)`,
);
console.log(
  `renewals: ${(byKind['renew']! / elapsedMin).toFixed(0)} per minute, ${(byKind['renew']! / elapsedMin / LEASES).toFixed(2)} per lease per minute (expected ~1.5: every ~40 s for a 60 s TTL)`,
);
console.log(`renewals per 5 s bucket, whole run: ${spread(bucketsFrom(t0))} (even spread: ${((byKind['renew']! / elapsedMin / 12) | 0)})`);
if (elapsedMin > 2) console.log(`renewals per 5 s bucket, after the first 2 min: ${spread(bucketsFrom(t0 + 120_000))}`);
console.log(`tconfd log during the run: ${levels.warn} warnings, ${levels.error} errors`);
const live = standin.leases().filter((l) => l.path.startsWith('database/creds/') && !l.revoked).length;
console.log(`leases alive at the end: ${live}/${LEASES}`);

// tconfd's own view of its memory (its /metrics): how much of the RSS is JavaScript heap.
const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
const gauge = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
console.log(
  `at the end, from /metrics: RSS ${(gauge('tconfd_process_resident_memory_bytes') / 1048576).toFixed(1)} MiB, JavaScript heap in use ${(gauge('tconfd_process_heap_used_bytes') / 1048576).toFixed(1)} MiB`,
);

// ---- shutdown: revoke everything
const stopAt = Date.now();
child.kill('SIGTERM');
while (exited === undefined && Date.now() - stopAt < 60_000) await sleep(20);
const revoked = standin.leases().filter((l) => l.path.startsWith('database/creds/') && l.revoked).length;
console.log(`shutdown (SIGTERM): exit ${exited} after ${((Date.now() - stopAt) / 1000).toFixed(2)} s; ${revoked}/${LEASES} leases revoked`);
if (stderr.trim() !== '') console.log(`first warnings/errors:\n${stderr.trim()}`);

await standin.stop();
rmSync(root, { recursive: true, force: true });
