/**
 * Issue 10, item 9: config files are hostile input. A setuid/setgid/sticky mode, duplicate keys, a byte order mark,
 * invalid JSON, bytes that are not UTF-8 and a NUL in "dir" are each met through the CLI: refused at load with exit 2
 * and a one-line error naming the file and what is wrong (the BOM is accepted), before anything is fetched or written.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt } from '../support/tconfd.js';
import { oneTemplate, projects, reason } from './helpers.js';

const tmp = projects('tconfd-sec-config-');
beforeAll(assertBuilt);
afterAll(tmp.cleanup);

const TEMPLATE = "{ 'a.txt': 'A' }";

describe('config validation (issue 10, item 9)', () => {
  it.each(['4777', '2750', '1777', '04755'])('mode "%s" (setuid, setgid or sticky) is refused for secret files: exit 2', async (mode) => {
    const p = tmp.make(oneTemplate({ mode }, TEMPLATE));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toBe(
      `tconfd: ${p.conf}/app.json: "app.jsonnet".mode: must not set the setuid, setgid or sticky bit (4000, 2000, 1000) on files that hold secrets`,
    );
    expect(existsSync(p.out)).toBe(false);
  });

  it('a key given twice in one object is refused, naming both lines (JSON.parse would keep the last silently)', async () => {
    const config = '{\n  "app.jsonnet": {\n    "dir": "../out",\n    "mode": "0640",\n    "mode": "0644"\n  }\n}\n';
    const p = tmp.make({ 'conf/app.json': config, 'conf/app.jsonnet': TEMPLATE });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toBe(
      `tconfd: ${p.conf}/app.json: not valid JSON: line 5, column 5: duplicate key "mode" in "app.jsonnet" (first at line 4; JSON.parse would silently keep only the last)`,
    );
    expect(existsSync(p.out)).toBe(false);
  });

  it('the same template declared twice in one file is refused too', async () => {
    const config = '{\n  "app.jsonnet": {"dir": "../out"},\n  "app.jsonnet": {"dir": "../elsewhere"}\n}\n';
    const p = tmp.make({ 'conf/app.json': config, 'conf/app.jsonnet': TEMPLATE });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toContain('line 3, column 3: duplicate key "app.jsonnet"');
  });

  it('a UTF-8 byte order mark (as Windows editors write it) is skipped: the config loads', async () => {
    const config = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ 'app.jsonnet': { dir: '../out' } }))]);
    const p = tmp.make({ 'conf/app.json': config, 'conf/app.jsonnet': TEMPLATE });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(p.out)).toEqual(['a.txt']);
  });

  it.each([
    ['a missing comma', '{\n  "app.jsonnet": {\n    "dir": "../out"\n    "mode": "0600"\n  }\n}\n', 'line 4, column 5: expected "," or "}", found a string'],
    ['a missing colon', '{"app.jsonnet": {"dir" "../out"}}', 'line 1, column 24: expected ":" after the key, found a string'],
    ['an unclosed object', '{"app.jsonnet": {"dir": "../out"}\n', 'line 1, column 34: expected "," or "}", found the end of the file'],
    ['a trailing comma', '{"app.jsonnet": {"dir": "../out",}}', 'line 1, column 34: a trailing comma is not allowed in JSON (found "}" after ",")'],
  ])('invalid JSON (%s) says where, what was expected and what was found', async (_what, config, message) => {
    const p = tmp.make({ 'conf/app.json': config, 'conf/app.jsonnet': TEMPLATE });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: not valid JSON: ${message}`);
  });

  it('bytes that are not UTF-8 (here in "dir") are refused at load instead of becoming U+FFFD', async () => {
    const config = Buffer.concat([Buffer.from('{\n  "app.jsonnet": {"dir": "../out-'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n}\n')]);
    const p = tmp.make({ 'conf/app.json': config, 'conf/app.jsonnet': TEMPLATE });
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: not valid JSON: line 2, column 34: byte 0xff is not UTF-8 (config files are UTF-8 text)`);
    expect(readdirSync(p.root).sort()).toEqual(['conf']);
  });

  it('a NUL in "dir" is refused at load (exit 2), not at write time (exit 1)', async () => {
    const p = tmp.make(oneTemplate({ dir: '../out\u0000/x' }, TEMPLATE));
    const r = await p.tconfd(['--once']);
    expect(r.code, r.stderr).toBe(2);
    expect(reason(r)).toBe(`tconfd: ${p.conf}/app.json: "app.jsonnet".dir: must not contain a NUL character`);
    expect(readdirSync(p.root).sort()).toEqual(['conf']);
  });
});

describe('"__proto__" in a config file', () => {
  it('a template named "__proto__" and a secret named "__proto__" are rendered, not dropped silently', async () => {
    const p = tmp.make({
      'conf/app.json': '{"__proto__": {"dir": "../out", "secrets": {"env:str:PROTO": "__proto__", "env:str:OTHER": "other"}}}',
      'conf/__proto__': "local s = std.extVar('secrets'); { 'p.txt': s['__proto__'] + '/' + s.other + '/' + std.join(',', std.objectFields(s)) }",
    });
    const r = await p.tconfd(['--once'], { env: { PROTO: 'from-proto', OTHER: 'from-other' } });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(p.out, 'p.txt'), 'utf8')).toBe('from-proto/from-other/__proto__,other\n');
  });
});
