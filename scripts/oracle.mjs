// The conformance oracle: libjsonnet 0.20 through @hanazuki/node-jsonnet@2.1.0, installed on demand into .cache/oracle
// (gitignored) by the test command, never by `npm ci`: it compiles libjsonnet with cmake and g++ (1-4 minutes, once).
// When it cannot be had (no compiler, no network), .cache/oracle/UNAVAILABLE says why and the conformance and
// differential tests skip, saying so. Usage: node scripts/oracle.mjs [--force]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const ORACLE = '@hanazuki/node-jsonnet';
export const ORACLE_VERSION = '2.1.0';
const dir = join(process.cwd(), '.cache', 'oracle');
const unavailable = join(dir, 'UNAVAILABLE');
const force = process.argv.includes('--force');

function loads() {
  try {
    const req = createRequire(join(dir, 'package.json'));
    // the package's exports hide its package.json: find it from the main module (lib/index.js)
    const pkg = JSON.parse(readFileSync(join(dirname(dirname(req.resolve(ORACLE))), 'package.json'), 'utf8'));
    if (pkg.version !== ORACLE_VERSION) return `version ${pkg.version}, not ${ORACLE_VERSION}`;
    req(ORACLE);
    return true;
  } catch (err) {
    return err.message.split('\n')[0];
  }
}

if (!force && loads() === true) {
  rmSync(unavailable, { force: true });
  console.log(`oracle: ${ORACLE}@${ORACLE_VERSION} ready in .cache/oracle`);
  process.exit(0);
}
if (!force && existsSync(unavailable) && process.env.CI !== 'true') {
  // A failed attempt is not retried at every `npm test` on a laptop (delete the file, or --force, to retry).
  console.log(`oracle: unavailable (${readFileSync(unavailable, 'utf8').trim()}); conformance tests will be skipped`);
  process.exit(0);
}

const missing = ['cmake', 'g++', 'make'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
mkdirSync(dir, { recursive: true });
rmSync(unavailable, { force: true });
if (missing.length > 0) {
  const why = `${missing.join(', ')} not installed (the oracle compiles libjsonnet)`;
  writeFileSync(unavailable, why + '\n');
  console.log(`oracle: ${why}; conformance tests will be skipped`);
  process.exit(0);
}

writeFileSync(
  join(dir, 'package.json'),
  JSON.stringify({ private: true, description: 'tconfd test oracle (libjsonnet)', dependencies: { [ORACLE]: ORACLE_VERSION } }, null, 2) + '\n',
);
console.log(`oracle: installing ${ORACLE}@${ORACLE_VERSION} into .cache/oracle (compiles libjsonnet: 1-4 minutes, once)`);
const started = Date.now();
const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', '--loglevel=error'], {
  cwd: dir,
  stdio: ['ignore', 'inherit', 'inherit'],
  env: { ...process.env, CMAKE_BUILD_PARALLEL_LEVEL: process.env.CMAKE_BUILD_PARALLEL_LEVEL ?? '2', npm_config_ignore_scripts: 'false' },
});
const ok = r.status === 0 ? loads() : `npm install exited ${r.status}`;
if (ok !== true) {
  writeFileSync(unavailable, `${ok}\n`);
  console.log(`oracle: could not be installed (${ok}); conformance tests will be skipped`);
  process.exit(0);
}
console.log(`oracle: ready after ${Math.round((Date.now() - started) / 1000)} s`);
