/**
 * The write path takes bytes and writes them exactly (issue 10, item 4): content that is not UTF-8 (a PKCS#12
 * keystore, a DER certificate) is neither re-encoded nor altered, whether an evaluator gives bytes or a file is
 * compared for --check.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { TemplateConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import { Renderer, type TemplateEvaluator } from '../../src/render/index.js';
import { compareFile, writeFileAtomic } from '../../src/render/write.js';
import { tempDirs } from '../support/files.js';

const tmp = tempDirs('tconfd-bytes-');
afterAll(tmp.cleanup);

const DER = Buffer.from([0x30, 0x82, 0x01, 0x0a, 0xff, 0xfe, 0x00, 0xc3, 0x28, 0x80]);

function template(dir: string): TemplateConfig {
  return {
    id: 'app.json#app.jsonnet',
    configFile: 'app.json',
    template: 'app.jsonnet',
    templatePath: join(dir, 'app.jsonnet'),
    dir,
    mode: 0o600,
    user: undefined,
    secrets: [],
    hooks: {},
    onChange: undefined,
    confine: undefined,
  };
}

describe('bytes written as they are', () => {
  it('writeFileAtomic writes a Buffer byte for byte, and an identical one is unchanged', async () => {
    const path = join(tmp.make(), 'keystore.p12');
    expect(await writeFileAtomic({ path, content: DER, mode: 0o600 })).toBe('created');
    expect(readFileSync(path)).toEqual(DER);
    expect(await compareFile({ path, content: DER })).toBe('unchanged');
    expect(await writeFileAtomic({ path, content: DER, mode: 0o600 })).toBe('unchanged');
    expect(await compareFile({ path, content: Buffer.from('x') })).toBe('changed');
  });

  it('the render stage writes bytes from an evaluator as they are, and text as UTF-8', async () => {
    const dir = tmp.make();
    const evaluator: TemplateEvaluator = {
      evaluate: async () => new Map<string, string | Uint8Array>([['ks.p12', new Uint8Array(DER)], ['name.txt', 'é\n']]),
    };
    const renderer = new Renderer({ jpaths: [], logger: createLogger({ level: 'silent', format: 'json' }), evaluator, isRoot: false });
    const tmpl = template(dir);
    const files = await renderer.plan(tmpl, { secrets: {}, leases: {} });
    await renderer.write(tmpl, files);
    expect(readFileSync(join(dir, 'ks.p12'))).toEqual(DER);
    expect(readFileSync(join(dir, 'name.txt'))).toEqual(Buffer.from([0xc3, 0xa9, 0x0a]));
  });
});

describe('absolute output paths', () => {
  it('each is listed once at info, at the first rendering, not at every rendering', async () => {
    const dir = tmp.make();
    const abs = join(tmp.make(), 'cert.pem');
    const lines: { msg: string; path?: string; level: number }[] = [];
    const sink = new PassThrough();
    sink.on('data', (d: Buffer) => d.toString().split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))));
    const evaluator: TemplateEvaluator = { evaluate: async () => new Map([[abs, 'cert\n'], ['rel.txt', 'x\n']]) };
    const renderer = new Renderer({ jpaths: [], logger: createLogger({ level: 'info', format: 'json', destination: sink }), evaluator, isRoot: false });
    const tmpl = template(dir);
    for (let i = 0; i < 3; i++) await renderer.write(tmpl, await renderer.plan(tmpl, { secrets: {}, leases: {} }));
    await new Promise((r) => setImmediate(r));
    expect(lines.filter((l) => l.msg === 'template writes an absolute path, outside its dir')).toEqual([
      expect.objectContaining({ level: 30, path: abs }),
    ]);
  });
});
