/**
 * The evaluator's safety: time and depth limits, errors that never carry a secret (taint tracking of values derived
 * from std.extVar('secrets')), and a runaway template that does not stop the others.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonnetEvaluator, TemplateError } from '../../src/render/jsonnet.js';
import { Renderer } from '../../src/render/index.js';
import { tempDirs, memoryLogger } from './helpers.js';

const mkdir = tempDirs('tconfd-jsonnet-safety-');

async function evaluate(code: string, secrets: Record<string, unknown> = {}, timeoutMs?: number): Promise<Map<string, string>> {
  const dir = mkdir({ 'app.jsonnet': code });
  const ev = new JsonnetEvaluator({ jpaths: [], ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
  const files = await ev.evaluate('app.jsonnet', join(dir, 'app.jsonnet'), { secrets, leases: {} });
  return new Map([...files].map(([k, v]) => [k, v.toString('utf8')]));
}

async function failure(code: string, secrets: Record<string, unknown> = {}, timeoutMs?: number): Promise<TemplateError> {
  const err = await evaluate(code, secrets, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(TemplateError);
  expect((err as Error).message).not.toContain('\n');
  return err as TemplateError;
}

describe('limits', () => {
  it('a runaway evaluation stops at the time limit with an error naming the template', async () => {
    const started = Date.now();
    const err = await failure("{ 'sum.txt': std.toString(std.foldl(function(a, b) a + b, std.range(0, 1e9), 0)) }", {}, 300);
    expect(err.message).toMatch(/^template "app\.jsonnet": output "sum\.txt": RUNTIME ERROR: evaluation stopped after 300ms \(--render-timeout\)/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('an evaluation stops between two of its files once its signal is aborted (shutdown): at most one slice more', async () => {
    const dir = mkdir({ 'app.jsonnet': `{ ['f%d.txt' % i]: std.trace('file ' + i, 'x') for i in std.range(1, 50) }` });
    const ac = new AbortController();
    const traced: string[] = [];
    const ev = new JsonnetEvaluator({
      jpaths: [],
      trace: (_t, message) => {
        traced.push(message);
        if (traced.length === 2) ac.abort(new Error('SIGTERM'));
      },
    });
    const err = await ev.evaluate('app.jsonnet', join(dir, 'app.jsonnet'), { secrets: {}, leases: {} }, ac.signal).catch((e: unknown) => e);
    expect((err as Error).message).toBe('SIGTERM');
    expect(traced).toHaveLength(2);
  });

  it('runaway recursion, object self-reference and deep nesting are clean errors (no JavaScript crash)', async () => {
    expect((await failure('local f(x) = f(x + 1) + 1; { a: f(0) }')).message).toContain('RUNTIME ERROR: max stack frames exceeded.');
    expect((await failure('{ a: { x: self.x }.x }')).message).toContain('max stack frames exceeded');
    const deep = `local nest(n) = if n == 0 then {} else { a: nest(n - 1) }; { a: std.manifestJson(nest(${400})) }`;
    expect((await evaluate(deep)).get('a')!.length).toBeGreaterThan(400);
    expect((await failure('{ a: ' + '['.repeat(20000) + ']'.repeat(20000) + ' }')).message).toMatch(/max stack frames exceeded|STATIC ERROR/);
  });

  it('arrays beyond the size limit are an error, not an out-of-memory crash', async () => {
    expect((await failure("{ a: std.length([x for x in std.range(0, 1e8)]) }", {}, 60_000)).message).toContain('array too large');
    expect((await failure("{ a: std.length(std.repeat('xxxxxxxxxx', 1e9)) }")).message).toMatch(/RUNTIME ERROR: value too large|Invalid string length/);
  });

  it('a runaway template fails; the other templates of the same pass render', async () => {
    const root = mkdir({
      'tconfd.d/t.json': JSON.stringify({ 'slow.jsonnet': { dir: 'out' }, 'fast.jsonnet': { dir: 'out' } }),
      'tconfd.d/slow.jsonnet': "{ 'slow.txt': std.toString(std.foldl(function(a, b) a + b, std.range(0, 1e9), 0)) }",
      'tconfd.d/fast.jsonnet': "{ 'fast.txt': 'ok' }",
    });
    const { loadConfig } = await import('../../src/config/load.js');
    const { Pipeline } = await import('../../src/runtime/pipeline.js');
    const { systemClock } = await import('../../src/clock.js');
    const { EnvSource, ExeSource, FileSource } = await import('../../src/sources/index.js');
    const logs = memoryLogger();
    const config = loadConfig({ dir: 'tconfd.d', cwd: root, env: {} });
    const renderer = new Renderer({ jpaths: [], logger: logs.logger, renderTimeoutMs: 300 });
    const sources = { env: new EnvSource({}, systemClock), file: new FileSource(systemClock), exe: new ExeSource({ clock: systemClock, env: {} }) };
    const pipeline = new Pipeline({ config, sources, renderer, logger: logs.logger, clock: systemClock });
    await pipeline.fetchAll();
    const { outcomes, failures } = await pipeline.render(pipeline.templates);
    expect(failures.map((f) => f.error.message)).toEqual([expect.stringMatching(/^template "slow\.jsonnet": .*--render-timeout/)]);
    expect(outcomes.map((o) => o.template.template)).toEqual(['fast.jsonnet']);
  });
});

describe('error messages never carry a secret', () => {
  const secrets = { db: { password: 'Sup3rS3cret-pw', pin: '4711', short: 'ab', n: 8080 }, users: { alice: 'x' } };
  const values = ['Sup3rS3cret-pw', 'SUP3RS3CRET-PW', '4711', 'ab', 'up3r', 'U3VwM3JTM2NyZXQtcHc=', '8080', '8081', 'alice'];

  const cases: Record<string, string> = {
    'the secret itself': 'error s.db.password',
    'asciiUpper': 'error std.asciiUpper(s.db.password)',
    'base64': 'error std.base64(s.db.password)',
    'a substring': "error 'x' + s.db.password[1:5]",
    'std.substr': 'error std.substr(s.db.password, 1, 4)',
    'a short secret': "error 'short: ' + s.db.short",
    'a one-character slice': "error 'c=' + s.db.short[0]",
    'std.format': "error 'pw=%s' % [s.db.password]",
    'an object holding it': 'error { pw: s.db.password }',
    'split and joined': "error std.join('', std.split(s.db.password, '-'))",
    'a number derived from it': "error 'pin+1=' + (std.parseInt(s.db.pin) + 1)",
    'a numeric secret': "error 'port ' + (s.db.n + 1)",
    'a key of a secret object': 'error std.objectFields(s.users)[0]',
    'through a function': 'local f(x) = error x; f(std.asciiLower(s.db.password))',
    'an assert message': "assert false : 'bad ' + s.db.password; 1",
    'an object assert': "{ assert false : s.db.password }.x",
    'std.assertEqual': "std.assertEqual(s.db.password, 'other')",
    'a field name': "{ [s.db.password]: 1 }.nope",
    'std.parseInt of it': 'std.parseInt(s.db.password)',
    'an index': 's.db.password[100]',
    'std.base64Decode': 'std.base64Decode(s.db.password)',
    'std.parseJson': 'std.parseJson(s.db.password)',
    'a manifested string': "error std.manifestJson({ a: [s.db.password] })",
    'std.md5': 'error std.md5(s.db.password)',
    "a native function's result": "error std.native('sha256')(s.db.password)",
  };
  for (const [name, expr] of Object.entries(cases)) {
    it(name, async () => {
      const err = await failure(`local s = std.extVar('secrets'); { 'f.txt': ${expr} }`, secrets);
      for (const v of values) expect(err.message).not.toContain(v);
      expect(err.message).toMatch(/app\.jsonnet:1:\d+/);
    });
  }

  it("a template's own message is shown when no secret went into it", async () => {
    const err = await failure("local keys = ['a', 'b']; { 'f.txt': error 'missing key ' + keys[1] + ' (' + std.length(std.extVar('secrets')) + ' secrets)' }", secrets);
    expect(err.message).toContain('RUNTIME ERROR: missing key b (2 secrets)');
    const redacted = await failure("local s = std.extVar('secrets'); { 'f.txt': error 'wrong password ' + s.db.password }", secrets);
    expect(redacted.message).toContain('RUNTIME ERROR: [error message redacted: derived from a secret]');
  });

  it('std.trace of a secret is logged redacted', async () => {
    const { logger, text } = memoryLogger();
    const dir = mkdir({
      'tconfd.d/t.json': JSON.stringify({ 't.jsonnet': { dir: 'out', secrets: { 'env:str:PW': 'pw' } } }),
      'tconfd.d/t.jsonnet': "local s = std.extVar('secrets'); { 'a.txt': std.trace('pw is ' + s.pw, 'x') + std.trace('plain', 'y') }",
    });
    const { loadConfig } = await import('../../src/config/load.js');
    const config = loadConfig({ dir: 'tconfd.d', cwd: dir, env: { PW: 'Sup3rS3cret-pw' } });
    const renderer = new Renderer({ jpaths: [], logger });
    const files = await renderer.plan(config.templates[0]!, { secrets: { pw: 'Sup3rS3cret-pw' }, leases: {} });
    expect(files[0]!.content.toString()).toBe('xy\n');
    expect(text()).not.toContain('Sup3rS3cret-pw');
    expect(text()).toContain('std.trace: [redacted: derived from a secret]');
    expect(text()).toContain('std.trace: plain');
  });

  it('secret values render unchanged: taint never alters output', async () => {
    const out = await evaluate(
      "local s = std.extVar('secrets'); { 'a.json': { up: std.asciiUpper(s.db.password), n: s.db.n + 1, keys: std.objectFields(s.users), f: '%s:%d' % [s.db.pin, s.db.n], cmp: s.db.pin < '5', eq: s.db.short == 'ab' } }",
      secrets,
    );
    expect(JSON.parse(out.get('a.json')!)).toEqual({ up: 'SUP3RS3CRET-PW', n: 8081, keys: ['alice'], f: '4711:8080', cmp: true, eq: true });
  });
});

describe('the time limit holds whatever the shape of the runaway', () => {
  const runaways: Record<string, string> = {
    'exponential recursion': 'local f(n) = if n == 0 then 0 else f(n - 1) + f(n - 1); f(60)',
    'an endless tail call': 'local f(n) = f(n + 1) tailstrict; f(0)',
    'nested comprehensions': 'std.length([1 for x in std.range(0, 1e5) for y in std.range(0, 1e5) if false])',
    'std.sort of a large computed array': 'std.length(std.set([std.md5(std.toString(i)) for i in std.range(0, 3e6)]))',
  };
  for (const [name, expr] of Object.entries(runaways)) {
    it(name, async () => {
      const err = await failure(`{ 'x.json': ${expr} }`, {}, 300);
      expect(err.message).toMatch(/evaluation stopped after 300ms \(--render-timeout\)|array too large/);
    });
  }
});

it('evaluation yields to the event loop between output files', async () => {
  const dir = mkdir({ 'app.jsonnet': "{ 'a.txt': 'a', 'b.txt': 'b', 'c.txt': 'c' }" });
  const ev = new JsonnetEvaluator({ jpaths: [] });
  const order: string[] = [];
  const done = ev.evaluate('app.jsonnet', join(dir, 'app.jsonnet'), { secrets: {}, leases: {} }).then(() => order.push('evaluated'));
  setImmediate(() => order.push('other work'));
  await done;
  expect(order).toEqual(['other work', 'evaluated']);
});
