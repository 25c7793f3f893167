import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runTconfd as run } from '../support/tconfd.js';

function project(): { dir: string; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tconfd-env-'));
  writeFileSync(join(dir, 'app.json'), JSON.stringify({ 'app.jsonnet': { dir: join(dir, 'out'), secrets: { 'env:str:HOME': 'home' } } }));
  writeFileSync(join(dir, 'app.jsonnet'), "{ 'a.txt': std.extVar('secrets').home }");
  return { dir, out: join(dir, 'seen') };
}

describe("the command's environment", () => {
  it('does not get the thread pool size tconfd sets for itself, but keeps one the user set', async () => {
    const p = project();
    const cmd = ['--', '/bin/sh', '-c', `printf %s "\${UV_THREADPOOL_SIZE-unset}" > ${p.out}`];
    expect((await run(['-d', p.dir, ...cmd])).code).toBe(0);
    expect(readFileSync(p.out, 'utf8')).toBe('unset');
    expect((await run(['-d', p.dir, ...cmd], { env: { UV_THREADPOOL_SIZE: '3' } })).code).toBe(0);
    expect(readFileSync(p.out, 'utf8')).toBe('3');
  });
});
