/**
 * User-facing text: it describes scenarios, never the project's internal "seed" names; the README's Examples table
 * says what each example needs besides Node.js and `npm ci`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

/** Text files under these paths (relative to the repository), recursively. */
function textFiles(...rels: string[]): string[] {
  const out: string[] = [];
  for (const rel of rels) {
    const abs = path.join(ROOT, rel);
    if (!fs.existsSync(abs)) continue;
    if (fs.statSync(abs).isFile()) {
      out.push(rel);
      continue;
    }
    for (const e of fs.readdirSync(abs, { recursive: true, withFileTypes: true })) {
      if (!e.isFile() || /node_modules|\/out\//.test(e.parentPath)) continue;
      const file = path.relative(ROOT, path.join(e.parentPath, e.name));
      if (/\.(md|ts|mjs|js|cjs|json|jsonnet|libsonnet|sh|sql|ya?ml|hcl|txt)$|(^|\/)(Dockerfile|APKBUILD|Makefile|run)$/.test(file)) out.push(file);
    }
  }
  return out;
}

describe('user-facing text', () => {
  it('speaks of scenarios, not of seeds', () => {
    const files = textFiles('README.md', 'docs', 'examples', 'alpine', 'src', 'scripts', 'schema', 'Dockerfile');
    expect(files.length).toBeGreaterThan(50);
    const found: string[] = [];
    for (const f of files) {
      fs.readFileSync(path.join(ROOT, f), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          // "seed 001", "seeds 000/004", "the seed's ...", "as in the seed" (not a method called seed()).
          if (/\bseeds?[ :]+\d|\bseed's\b|\bthe seeds?\b/i.test(line)) found.push(`${f}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });

  it("has a row per example in the README's Examples table, saying what it needs", () => {
    const section = readme.split('\n## Examples')[1]!.split('\n## ')[0]!;
    const rows = [...section.matchAll(/^\| \[examples\/([\w-]+)\]\(examples\/[\w-]+\) \| ([^|]+) \| (.+) \|$/gm)];
    const dirs = fs.readdirSync(path.join(ROOT, 'examples'), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    expect(rows.map((r) => r[1]).sort()).toEqual(dirs.sort());
    for (const r of rows) expect(r[2]!.trim().length, `examples/${r[1]}: what it needs`).toBeGreaterThan(0);
    // The database examples name the server they start.
    expect(rows.find((r) => r[1] === 'mysql-dynamic-credentials')![2]).toMatch(/MariaDB/);
    expect(rows.find((r) => r[1] === 'postgres-dynamic-roles')![2]).toMatch(/PostgreSQL/);
  });
});
