// Writes schema/tconfd.schema.json and README.md's config reference from the zod schema in src/config/schema.ts
// (the single source of truth).
// test/core/schema.test.ts fails when the file is not current: run `npm run schema`.
import { build } from 'esbuild';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = mkdtempSync(join(tmpdir(), 'tconfd-schema-'));
try {
  const out = join(dir, 'schema.mjs');
  await build({ entryPoints: ['src/config/schema.ts'], outfile: out, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
  const { configJsonSchema, configReferenceMarkdown } = await import(pathToFileURL(out).href);
  mkdirSync('schema', { recursive: true });
  writeFileSync('schema/tconfd.schema.json', JSON.stringify(configJsonSchema(), null, 2) + '\n');
  console.log('wrote schema/tconfd.schema.json');
  // The README's config reference, between its markers.
  const start = '<!-- config-reference:start -->';
  const end = '<!-- config-reference:end -->';
  const readme = readFileSync('README.md', 'utf8');
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error('README.md has no config-reference markers');
  writeFileSync('README.md', readme.slice(0, a + start.length) + '\n' + configReferenceMarkdown() + '\n' + readme.slice(b));
  console.log('updated the config reference in README.md');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
