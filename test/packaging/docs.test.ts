/**
 * docs/golden-image.md and alpine/README.md cannot drift from what they describe: config examples pass the config
 * schema, s6-overlay v3 scripts shown are the files in alpine/, v2 scripts are well formed, every tconfd option in a
 * command line is one `tconfd --help` lists, and relative links resolve.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { splitArgv } from '../../src/config/argv.js';
import { configFileSchema } from '../../src/config/schema.js';
import { parseSecretPath } from '../../src/config/secret-path.js';
import { CLI } from '../support/tconfd.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const S6 = path.join(ROOT, 'alpine/s6-overlay/s6-rc.d');
const DOCS = ['docs/golden-image.md', 'alpine/README.md'];

interface Block {
  readonly doc: string;
  readonly lang: string;
  readonly text: string;
  readonly line: number;
}

function codeBlocks(doc: string): Block[] {
  const lines = fs.readFileSync(path.join(ROOT, doc), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    while (++i < lines.length && lines[i] !== '```') body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`${doc}:${start + 1}: unterminated code block`);
    blocks.push({ doc, lang: open[1]!, text: `${body.join('\n')}\n`, line: start + 1 });
  }
  return blocks;
}

const blocks = DOCS.flatMap(codeBlocks);

function helpOptions(): Set<string> {
  const help = execFileSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  const opts = new Set<string>();
  for (const line of help.split('\n')) {
    if (!/^\s+-/.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[\s,])(--?[A-Za-z][\w-]*)/g)) opts.add(m[1]!);
  }
  return opts;
}

function isKnownOption(opts: ReadonlySet<string>, arg: string): boolean {
  const name = arg.split('=')[0]!;
  if (opts.has(name)) return true;
  if (name.startsWith('--no-') && opts.has(`--${name.slice(5)}`)) return true;
  return /^-[A-Za-z]./.test(name) && opts.has(name.slice(0, 2));
}

/** tconfd itself: the command, its installed paths, or the image (tconfd, tconfd:TAG). */
const TCONFD = /^(?:\/usr(?:\/local)?\/bin\/tconfd|tconfd(?::[\w.-]+)?)$/;
const END = new Set(['--', '}', '&&', '||', '|', ';', '\\']);

/** Arguments given to tconfd in shell-like lines of a code block (continuations joined), and in CMD arrays. */
function tconfdArgLists(block: Block): string[][] {
  const out: string[][] = [];
  const text = block.text.replace(/\\\n/g, ' ');
  for (const line of text.split('\n')) {
    const code = line.replace(/(^|\s)#.*$/, '');
    const cmd = /^\s*CMD\s+(\[.*\])\s*$/.exec(code);
    if (cmd && block.lang === 'dockerfile') {
      const argv = JSON.parse(cmd[1]!) as string[];
      const end = argv.indexOf('--');
      out.push(end < 0 ? argv : argv.slice(0, end));
      continue;
    }
    const words = code.trim().split(/\s+/).filter(Boolean);
    words.forEach((w, i) => {
      if (!TCONFD.test(w)) return;
      const args: string[] = [];
      for (const a of words.slice(i + 1)) {
        if (END.has(a) || a.endsWith(';')) break;
        args.push(a);
      }
      out.push(args);
    });
  }
  return out;
}

const haveCli = fs.existsSync(CLI);
if (!haveCli) console.warn('[packaging] dist/cli.js is missing (run npm run build): option checks of the docs skipped');

describe('golden image documentation', () => {
  it('has code blocks to check', () => {
    expect(blocks.filter((b) => b.doc === 'docs/golden-image.md').length).toBeGreaterThan(5);
  });

  it('shows config files that the config schema accepts, with valid secret paths and absolute hooks', () => {
    const json = blocks.filter((b) => b.lang === 'json');
    expect(json.length).toBeGreaterThan(0);
    for (const b of json) {
      const where = `${b.doc}:${b.line}`;
      const config = configFileSchema().parse(JSON.parse(b.text));
      for (const t of Object.values(config)) {
        for (const raw of Object.keys(t.secrets ?? {})) expect(() => parseSecretPath(raw), `${where}: ${raw}`).not.toThrow();
        for (const hook of Object.values(t.hooks ?? {})) {
          if (hook === undefined) continue;
          expect(splitArgv(hook)[0], `${where}: hooks run without a shell, by absolute path`).toMatch(/^\//);
        }
      }
    }
  });

  it('shows the s6-overlay v3 run scripts exactly as alpine/ has them', () => {
    const files = fs
      .readdirSync(S6)
      .filter((s) => fs.existsSync(path.join(S6, s, 'run')))
      .map((s) => fs.readFileSync(path.join(S6, s, 'run'), 'utf8'));
    const shown = blocks.filter((b) => b.text.startsWith('#!/command/execlineb'));
    expect(shown.length).toBeGreaterThanOrEqual(2);
    for (const b of shown) expect(files, `${b.doc}:${b.line}`).toContain(b.text);
  });

  it('shows s6-overlay v2 scripts with v2 paths and the same readiness contract', () => {
    const v2 = blocks.filter((b) => b.text.startsWith('#!/usr/bin/execlineb -P'));
    expect(v2.length).toBeGreaterThanOrEqual(2);
    for (const b of v2) {
      const where = `${b.doc}:${b.line}`;
      expect((b.text.match(/\{/g) ?? []).length, `${where}: balanced blocks`).toBe((b.text.match(/\}/g) ?? []).length);
      expect(b.text, where).not.toMatch(/\/run\/service\//);
      if (/\btconfd -D\b/.test(b.text)) expect(b.text, where).toMatch(/ -r 3\b/);
      if (/s6-svwait/.test(b.text)) expect(b.text, where).toMatch(/s6-svwait -U \/var\/run\/s6\/services\/tconfd\b/);
    }
  });

  it.skipIf(!haveCli)('passes tconfd only options that `tconfd --help` lists', () => {
    const opts = helpOptions();
    let checked = 0;
    for (const b of blocks) {
      for (const args of tconfdArgLists(b)) {
        for (const a of args) {
          if (!a.startsWith('-')) continue;
          expect(isKnownOption(opts, a), `${b.doc}:${b.line}: tconfd ${a}`).toBe(true);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });

  it('links only to files that exist', () => {
    for (const doc of DOCS) {
      const text = fs.readFileSync(path.join(ROOT, doc), 'utf8');
      for (const m of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        const target = m[1]!;
        if (/^[a-z]+:/i.test(target)) continue;
        expect(fs.existsSync(path.resolve(ROOT, path.dirname(doc), target)), `${doc}: link ${target}`).toBe(true);
      }
    }
  });
});
