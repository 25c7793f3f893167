import bcryptjs from 'bcryptjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JsonnetEvaluator } from '../../src/render/jsonnet.js';

async function evaluate(code: string, secrets: Record<string, unknown>): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'tconfd-native-'));
  const file = join(dir, 't.jsonnet');
  writeFileSync(file, code);
  const files = await new JsonnetEvaluator({ jpaths: [] }).evaluate('t.jsonnet', file, { secrets, leases: {} });
  return new Map([...files].map(([k, v]) => [k, v.toString('utf8')]));
}

describe('native functions', () => {
  it('htpasswd gives a bcrypt line that verifies the password, and is stable while the password is', async () => {
    const code = `local s = std.extVar('secrets'); { htpasswd: std.native('htpasswd')('alice', s.pw, 5) }`;
    const first = (await evaluate(code, { pw: 's3cret' })).get('htpasswd')!.trim();
    expect(first).toMatch(/^alice:\$2y\$05\$[./A-Za-z0-9]{53}$/);
    const hash = first.slice('alice:'.length);
    expect(bcryptjs.compareSync('s3cret', hash.replace(/^\$2y\$/, '$2b$'))).toBe(true);
    expect(bcryptjs.compareSync('other', hash.replace(/^\$2y\$/, '$2b$'))).toBe(false);
    // Same password: same line, so the file does not change and the app is not reloaded.
    expect((await evaluate(code, { pw: 's3cret' })).get('htpasswd')!.trim()).toBe(first);
    // New password: new hash.
    const rotated = (await evaluate(code, { pw: 'n3w' })).get('htpasswd')!.trim();
    expect(rotated).not.toBe(first);
    expect(bcryptjs.compareSync('n3w', rotated.slice('alice:'.length).replace(/^\$2y\$/, '$2b$'))).toBe(true);
  });

  it('bcrypt defaults to cost 10 and refuses bad costs and users', async () => {
    const out = await evaluate(`{ h: std.native('bcrypt')('pw', null) }`, {});
    expect(out.get('h')).toMatch(/^\$2y\$10\$/);
    await expect(evaluate(`{ h: std.native('bcrypt')('pw', 40) }`, {})).rejects.toThrow(/cost must be a whole number from 4 to 15/);
    await expect(evaluate(`{ h: std.native('htpasswd')('a:b', 'pw', 4) }`, {})).rejects.toThrow(/without ":"/);
  });

  it('sha256 is the hex digest of the UTF-8 text', async () => {
    const out = await evaluate(`{ h: std.native('sha256')('abc') }`, {});
    expect(out.get('h')!.trim()).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
