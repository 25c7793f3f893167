// Writes schema/tconfd.schema.json from the zod schema in src/config/schema.ts (the single source of truth).
// test/core/schema.test.ts fails when the file is not current: run `npm run schema`.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = mkdtempSync(join(tmpdir(), 'tconfd-schema-'));
try {
  const out = join(dir, 'schema.mjs');
  await build({ entryPoints: ['src/config/schema.ts'], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
  const { configJsonSchema } = await import(pathToFileURL(out).href);
  mkdirSync('schema', { recursive: true });
  writeFileSync('schema/tconfd.schema.json', JSON.stringify(configJsonSchema(), null, 2) + '\n');
  console.log('wrote schema/tconfd.schema.json');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
