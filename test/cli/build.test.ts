import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI } from '../support/tconfd.js';

describe('the built CLI', () => {
  it("starts from V8's code cache made by the build (a rejected cache costs ~40 ms of every start)", () => {
    const r = spawnSync(process.execPath, [CLI, '--version'], {
      env: { PATH: process.env['PATH'] ?? '', TCONFD_DEBUG_CODE_CACHE: '1' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('tconfd: code cache accepted');
  });
});
