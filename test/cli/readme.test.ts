import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/tconfd.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.split('## Command line')[1]?.split('\n## ')[0] ?? '';

describe("README's command line reference", () => {
  it('lists every option of --help, with its environment variable where it has one', () => {
    const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    // Option lines only (not the examples): "  -d, --dir ..." or "  --once ..."
    const options = [...new Set([...help.matchAll(/^\s+(?:-\w, )?--([a-z][a-z0-9-]+)/gm)].map((m) => m[1]!))];
    expect(options.length).toBeGreaterThan(30);
    const missing = options.filter((o) => !section.includes(`--${o}`));
    expect(missing, 'options missing from README.md "Command line"').toEqual([]);
    for (const env of [...help.matchAll(/\[env ([A-Z_]+)\]/g)].map((m) => m[1]!)) {
      expect(section, `${env} is not in README.md "Command line"`).toContain(env);
    }
  });
});
