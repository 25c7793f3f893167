// Runs a benchmark: node bench/run.mjs <name> [args...] runs bench/<name>.ts (see scripts/run-ts.mjs).
import { spawnSync } from 'node:child_process';

const [name, ...args] = process.argv.slice(2);
if (!name) {
  console.error('usage: node bench/run.mjs <core|startup|leases> [args...]');
  process.exit(2);
}
const r = spawnSync(process.execPath, ['scripts/run-ts.mjs', `bench/${name}.ts`, ...args], { stdio: 'inherit' });
process.exit(r.status ?? 1);
