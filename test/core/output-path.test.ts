import { describe, expect, it } from 'vitest';
import { OutputError, resolveOutputPath } from '../../src/render/output-path.js';

const tmpl = { configFile: 'conf/app.json', template: 'app.jsonnet', dir: '/run/app' };
const refusal = (key: string, confine = false, t: { dir: string | undefined } = tmpl) => {
  try {
    resolveOutputPath({ ...tmpl, ...t }, key, confine);
  } catch (err) {
    expect(err).toBeInstanceOf(OutputError);
    return (err as Error).message;
  }
  return undefined;
};

describe('resolveOutputPath', () => {
  it('relative keys resolve inside dir after normalisation', () => {
    expect(resolveOutputPath(tmpl, 'db.json', false)).toEqual({ path: '/run/app/db.json', absolute: false });
    expect(resolveOutputPath(tmpl, 'a/../b/./c.txt', false)).toEqual({ path: '/run/app/b/c.txt', absolute: false });
    expect(refusal('../etc/passwd')).toBe(
      'conf/app.json: template "app.jsonnet": output "../etc/passwd": resolves to /run/etc/passwd, outside the template\'s dir /run/app',
    );
    expect(refusal('a/../../app2/x')).toContain('outside the template\'s dir /run/app');
    expect(refusal('.')).toContain("names the template's dir /run/app itself");
    expect(refusal('x', false, { dir: undefined })).toContain('is a relative path and the template has no "dir"');
  });

  it('absolute keys are allowed unless confined', () => {
    expect(resolveOutputPath(tmpl, '/etc/ssl/cert.crt', false)).toEqual({ path: '/etc/ssl/cert.crt', absolute: true });
    expect(resolveOutputPath(tmpl, '/run/app/x', false).absolute).toBe(true);
    expect(refusal('/etc/ssl/cert.crt', true)).toContain('is an absolute path, and the template is confined to its dir');
  });

  it('NUL, an empty key and empty segments are refused; the key is shown escaped', () => {
    expect(refusal('a\u0000/etc/evil')).toBe('conf/app.json: template "app.jsonnet": output "a\\u0000/etc/evil": contains a NUL character');
    expect(refusal('/etc/x\u0000')).toContain('contains a NUL character');
    expect(refusal('')).toContain('output "": is empty');
    for (const k of ['a//b', 'a/', '//etc/x', '/etc/', 'a/b//']) expect(refusal(k), k).toContain('has an empty path segment');
  });
});
