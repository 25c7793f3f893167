/**
 * Differential tests against libjsonnet (the oracle, see oracle.ts):
 *  - every template of examples/ and test/fixtures/jsonnet/ gives the same files with both engines (same inputs, the
 *    same native functions);
 *  - generated programs (a seeded grammar, TCONFD_DIFF_SEED / TCONFD_DIFF_PROGRAMS to change) give the same output, or
 *    both fail.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonnetEvaluator } from '../../src/render/jsonnet.js';
import { bcryptHash } from '../../src/render/native.js';
import { Evaluation } from '../../src/render/jsonnet/index.js';
import { ProgramGenerator, rng } from './generator.js';
import { oracle, type OracleJsonnet } from './oracle.js';

const o = oracle();

/** Inputs of each example template: what its secrets look like (from the example's own tests and README). */
const EXAMPLE_INPUTS = JSON.parse(readFileSync('test/fixtures/jsonnet/example-inputs.json', 'utf8')) as Record<string, { secrets: unknown; leases?: unknown }>;

function templates(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) {
        if (f !== 'node_modules') walk(p);
      } else if (f.endsWith('.jsonnet')) {
        out.push(relative(resolve('.'), p));
      }
    }
  };
  walk(resolve('examples'));
  walk(resolve('test'));
  return out.sort();
}

const FIXTURE_INPUTS = {
  secrets: JSON.parse(readFileSync('test/fixtures/jsonnet/secrets.json', 'utf8')) as unknown,
  leases: JSON.parse(readFileSync('test/fixtures/jsonnet/leases.json', 'utf8')) as unknown,
};

/** libjsonnet with the same native functions as tconfd (bcrypt hashes shared through the same cache). */
function libjsonnetVm(Jsonnet: new () => OracleJsonnet): OracleJsonnet {
  const vm = new Jsonnet();
  vm.nativeCallback('sha256', (text) => createHash('sha256').update(String(text ?? '')).digest('hex'), 'text');
  vm.nativeCallback('bcrypt', (password, cost) => bcryptHash(password as string, cost as number | null), 'password', 'cost');
  vm.nativeCallback('htpasswd', (user, password, cost) => `${String(user)}:${bcryptHash(password as string, cost as number | null)}`, 'user', 'password', 'cost');
  return vm;
}

/** tconfd's file content for libjsonnet's multi-mode output (a JSON text per file). */
function asFile(json: string): string {
  const v = JSON.parse(json) as unknown;
  if (typeof v === 'string') return v.endsWith('\n') ? v : v + '\n';
  return json.endsWith('\n') ? json : json + '\n';
}

describe('differential: templates of examples/ and test/ with libjsonnet', () => {
  if (!o.available) {
    console.warn(`differential tests SKIPPED: the libjsonnet oracle is unavailable: ${o.reason}`);
    it.skip(`SKIPPED: libjsonnet oracle unavailable (${o.reason})`, () => undefined);
    return;
  }
  const list = templates();

  it('finds the templates', () => {
    expect(list.filter((t) => t.startsWith('examples/')).length).toBe(Object.keys(EXAMPLE_INPUTS).length);
    expect(list.filter((t) => t.startsWith('test/')).length).toBeGreaterThanOrEqual(4);
  });

  for (const t of list) {
    it(`${t}: the same files`, async () => {
      const inputs = EXAMPLE_INPUTS[t] ?? FIXTURE_INPUTS;
      const vm = libjsonnetVm(o.Jsonnet);
      vm.addJpath(dirname(resolve(t)));
      vm.extCode('secrets', JSON.stringify(inputs.secrets));
      vm.extCode('leases', JSON.stringify(inputs.leases ?? {}));
      const theirs = await vm.evaluateFileMulti(resolve(t));
      const mine = await new JsonnetEvaluator({ jpaths: [] }).evaluate(t, resolve(t), {
        secrets: inputs.secrets as Record<string, unknown>,
        leases: (inputs.leases ?? {}) as Record<string, never>,
      });
      expect([...mine.keys()].sort()).toEqual(Object.keys(theirs).sort());
      for (const [key, json] of Object.entries(theirs)) {
        expect(mine.get(key)!.toString('utf8'), `${t}: ${key}`).toBe(asFile(json));
      }
    });
  }
});

describe('differential: generated programs with libjsonnet', () => {
  if (!o.available) {
    it.skip(`SKIPPED: libjsonnet oracle unavailable (${o.reason})`, () => undefined);
    return;
  }
  const seed = Number(process.env.TCONFD_DIFF_SEED ?? 20261129);
  const count = Number(process.env.TCONFD_DIFF_PROGRAMS ?? 300);

  it(`${count} programs (seed ${seed}): the same output, or both fail`, async () => {
    const gen = new ProgramGenerator(rng(seed));
    const mismatches: string[] = [];
    let same = 0;
    let bothFail = 0;
    for (let i = 0; i < count; i++) {
      const program = gen.program();
      let theirs: { ok: boolean; text: string };
      try {
        theirs = { ok: true, text: await new o.Jsonnet().evaluateSnippet(program, 'gen.jsonnet') };
      } catch (err) {
        theirs = { ok: false, text: (err as Error).message };
      }
      let mine: { ok: boolean; text: string };
      const ev = new Evaluation({ timeoutMs: 5000 });
      try {
        mine = { ok: true, text: ev.run(() => ev.manifest(ev.evaluateSnippet('gen.jsonnet', program))) + '\n' };
      } catch (err) {
        mine = { ok: false, text: (err as Error).message };
      }
      if (theirs.ok !== mine.ok || (theirs.ok && theirs.text !== mine.text)) {
        mismatches.push(`#${i} ${program}\n  libjsonnet: ${theirs.text.slice(0, 300)}\n  tconfd:     ${mine.text.slice(0, 300)}`);
      } else if (theirs.ok) {
        same++;
      } else {
        bothFail++;
      }
    }
    console.log(`differential: ${count} generated programs (seed ${seed}): ${same} same output, ${bothFail} both fail, ${mismatches.length} differ`);
    expect(mismatches).toEqual([]);
    expect(same).toBeGreaterThan(count / 3);
  }, 300_000);
});
