/** "Did you mean": the edit distance, the choice of a suggestion, and every option of the table being found again. */
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli/parse.js';
import { closestName, editDistance } from '../../src/cli/suggest.js';

describe('editDistance', () => {
  it('counts insertions, deletions, substitutions and swapped neighbours as one edit each', () => {
    expect(editDistance('dir', 'dir')).toBe(0);
    expect(editDistance('dri', 'dir')).toBe(1);
    expect(editDistance('onec', 'once')).toBe(1);
    expect(editDistance('vault-adr', 'vault-addr')).toBe(1);
    expect(editDistance('chek', 'check')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });
});

describe('closestName', () => {
  const names = ['dir', 'once', 'check', 'vault-retry-min', 'vault-retry-max', 'vault-token-file', 'revoke-on-exit', 'revoke-grace'];
  it('suggests the one close name, or the one name the text begins', () => {
    expect(closestName('dri', names)).toBe('dir');
    expect(closestName('vault-tok', names)).toBe('vault-token-file');
  });
  it('suggests nothing when nothing is close, when two names are as close, or for one letter', () => {
    expect(closestName('frobnicate', names)).toBeUndefined();
    expect(closestName('vault-retry-m', names)).toBeUndefined();
    expect(closestName('revoke', names)).toBeUndefined();
    expect(closestName('d', names)).toBeUndefined();
  });
});

describe('parseCli suggestions, over the whole option table', () => {
  it('finds every long option of --help again from a typo (two neighbouring letters swapped)', async () => {
    const help = await parseCli(['--help'], {}, '0.0.0');
    const options = help.kind === 'print' ? [...new Set([...help.text.matchAll(/^\s+(?:-\w, )?--([a-z][a-z0-9-]+)/gm)].map((m) => m[1]!))] : [];
    expect(options.length).toBeGreaterThan(30);
    for (const o of options) {
      const i = Math.floor(o.length / 2);
      const typo = o.slice(0, i - 1) + o[i] + o[i - 1] + o.slice(i + 1);
      if (typo === o) continue;
      const r = await parseCli([`--${typo}`], {}, '0.0.0');
      expect(r, typo).toEqual({ kind: 'usage-error', message: `unknown option: --${typo} (did you mean --${o}?)` });
    }
  });
});
