/**
 * Conformance with libjsonnet 0.20 on its own test suite (third_party/jsonnet/test_suite of the oracle package, read
 * where it is installed, never copied here), run as its run_tests.sh runs it: each X.jsonnet with ext vars var1="test"
 * and var2={x:1,y:2} (top-level arguments for tla.*), output compared with X.jsonnet.golden (or `true`), errors expected
 * exactly for error.* files. Every case libjsonnet itself passes must pass with tconfd's evaluator, byte for byte;
 * for error cases, an error is required (the exact text is counted, not required).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Evaluation, RuntimeError } from '../../src/render/jsonnet/index.js';
import { oracle } from './oracle.js';

interface Outcome {
  readonly error: boolean;
  /** stdout and stderr as the suite sees them: TRACE lines, then the output or the error */
  readonly text: string;
}

interface Case {
  readonly name: string;
  readonly expectError: boolean;
  readonly golden: string;
}

/** What run_tests.sh compares: $(...) drops trailing newlines; std.jsonnet line numbers are redacted. */
function normalise(text: string): string {
  return text.replace(/\tstd\.jsonnet:[0-9]*:[0-9-]*/g, '\tstd.jsonnet:<stdlib_position_redacted>').replace(/\n+$/, '');
}

function cases(suite: string): Case[] {
  return readdirSync(suite)
    .filter((f) => f.endsWith('.jsonnet'))
    .sort()
    .map((name) => {
      const goldenFile = join(suite, `${name}.golden`);
      return {
        name,
        expectError: name.startsWith('error.'),
        golden: normalise(existsSync(goldenFile) ? readFileSync(goldenFile, 'utf8') : 'true'),
      };
    });
}

function passes(c: Case, o: Outcome, exactErrors: boolean): boolean {
  if (o.error !== c.expectError) return false;
  if (c.expectError && !exactErrors) return true;
  return normalise(o.text) === c.golden;
}

/** The suite through libjsonnet, in a child process: each case's result, with the TRACE lines it wrote to stderr. */
function runLibjsonnet(dir: string, suite: string, names: readonly string[]): Map<string, Outcome> {
  const runner = resolve('test/conformance/oracle-runner.cjs');
  const r = spawnSync(process.execPath, [runner, dir, ...names], { cwd: suite, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`oracle runner exited ${r.status}: ${r.stderr.slice(-2000)}`);
  const traces = new Map<string, string[]>();
  for (const m of r.stderr.matchAll(/@@begin (\S+)@@\n([\s\S]*?)\n@@end \1@@/g)) {
    traces.set(m[1]!, m[2]!.split('\n').filter((l) => l.startsWith('TRACE:')));
  }
  const results = new Map<string, Outcome>();
  for (const line of r.stdout.split('\n').filter((l) => l !== '')) {
    const x = JSON.parse(line) as { name: string; error: boolean; output: string };
    results.set(x.name, { error: x.error, text: [...(traces.get(x.name) ?? []), x.output].join('\n') });
  }
  return results;
}

function runOurs(suite: string, name: string): Outcome {
  const vars = { var1: { kind: 'string' as const, value: 'test' }, var2: { kind: 'code' as const, value: '{x:1,y:2}' } };
  const traces: string[] = [];
  const ev = new Evaluation({
    cwd: suite,
    ...(name.startsWith('tla.') ? { tlas: vars } : { extVars: vars }),
    trace: (message, loc) => traces.push(`TRACE: ${loc === undefined ? '' : `${loc.src.name}:${loc.src.position(loc.s).line}`} ${message}`),
  });
  try {
    const out = ev.run(() => ev.manifest(ev.evaluateFile(name)));
    return { error: false, text: [...traces, out].join('\n') };
  } catch (err) {
    const text = err instanceof RuntimeError ? err.render() : (err as Error).message;
    return { error: true, text: [...traces, text].join('\n') };
  }
}

const o = oracle();

describe('conformance with libjsonnet 0.20 (its own test suite)', () => {
  if (!o.available) {
    console.warn(`conformance tests SKIPPED: the libjsonnet oracle is unavailable: ${o.reason}`);
    it.skip(`SKIPPED: libjsonnet oracle unavailable (${o.reason})`, () => undefined);
    return;
  }

  it('passes every case libjsonnet passes, byte for byte (errors: an error)', () => {
    const all = cases(o.suite);
    expect(all.length).toBeGreaterThan(150);
    const names = all.map((c) => c.name);
    const lib = runLibjsonnet(o.dir, o.suite, names);
    let libPassed = 0;
    let ours = 0;
    let exactErrors = 0;
    let errorCases = 0;
    const failures: string[] = [];
    for (const c of all) {
      const l = lib.get(c.name);
      expect(l, `oracle result for ${c.name}`).toBeDefined();
      const libOutcome = l!;
      const mine = runOurs(o.suite, c.name);
      const libOk = passes(c, libOutcome, true);
      if (libOk) libPassed++;
      const mineOk = passes(c, mine, false);
      if (mineOk) ours++;
      if (c.expectError) {
        errorCases++;
        if (passes(c, mine, true)) exactErrors++;
      }
      if (libOk && !mineOk) failures.push(`${c.name}: ${JSON.stringify(normalise(mine.text).slice(0, 300))}`);
    }
    console.log(
      `conformance: ${ours} / ${libPassed} / ${all.length} (tconfd passed / libjsonnet passed / cases); ` +
        `error cases: ${exactErrors} of ${errorCases} with libjsonnet's exact text`,
    );
    expect(failures, 'cases libjsonnet passes and tconfd does not').toEqual([]);
  }, 120_000);
});
