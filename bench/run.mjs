// Runs a TypeScript benchmark: bundles bench/<name>.ts with esbuild into a temp file and imports it.
// Usage: node bench/run.mjs <name> [args...]   (e.g. node bench/run.mjs core)
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const name = process.argv[2];
if (!name) {
  console.error('usage: node bench/run.mjs <name> [args...]');
  process.exit(2);
}
// Inside the project so that external packages resolve from its node_modules.
mkdirSync('.tmp', { recursive: true });
const dir = mkdtempSync(join(process.cwd(), '.tmp', 'bench-'));
const out = join(dir, `${name}.mjs`);
await build({
  entryPoints: [`bench/${name}.ts`],
  outfile: out,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@hanazuki/node-jsonnet', 'pino-pretty', 'pg', 'jose', '@peculiar/x509', 'undici', 'execa', 'pino', 'yargs', 'zod'],
  logLevel: 'warning',
});
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
process.argv.splice(2, 1);
await import(pathToFileURL(out).href);
