import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/sources/run-command.js';

const tmp = mkdtempSync(join(tmpdir(), 'tconfd-run-command-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const base = { env: { PATH: '/usr/bin:/bin' }, timeoutMs: 20_000, maxStdout: 1024, maxStderr: 64 };

describe('runCommand (exe secrets)', () => {
  it('gives stdout and stderr as bytes, the exit status, and nothing of the parent environment', async () => {
    process.env.TCONFD_TEST_PARENT_ONLY = 'leak';
    try {
      const r = await runCommand('/bin/sh', ['-c', 'printf "a\\0b|$TCONFD_TEST_PARENT_ONLY|$PATH"; echo oops >&2; exit 4'], base);
      expect(r.stdout).toEqual(Buffer.from('a\0b||/usr/bin:/bin'));
      expect(r.stderr.toString()).toBe('oops\n');
      expect(r).toMatchObject({ exitCode: 4, signal: undefined, errorCode: undefined, timedOut: false, overflow: undefined });
    } finally {
      delete process.env.TCONFD_TEST_PARENT_ONLY;
    }
  });

  it('stops a command whose stdout or stderr goes past its limit, keeping the limit', async () => {
    const out = await runCommand('/bin/sh', ['-c', 'head -c 100000 /dev/zero; sleep 20'], base);
    expect(out).toMatchObject({ overflow: 'stdout', signal: 'SIGKILL' });
    expect(out.stdout.length).toBe(1024);
    const err = await runCommand('/bin/sh', ['-c', 'head -c 100000 /dev/zero >&2; sleep 20'], base);
    expect(err).toMatchObject({ overflow: 'stderr', signal: 'SIGKILL' });
    expect(err.stderr.length).toBe(64);
    const exact = await runCommand('/bin/sh', ['-c', 'head -c 1024 /dev/zero'], base);
    expect(exact).toMatchObject({ overflow: undefined, exitCode: 0 });
  });

  it('says why a command could not start', async () => {
    expect(await runCommand('/no/such/command', [], base)).toMatchObject({ errorCode: 'ENOENT', exitCode: undefined });
    const notExecutable = join(tmp, 'script.sh');
    writeFileSync(notExecutable, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    expect(await runCommand(notExecutable, [], base)).toMatchObject({ errorCode: 'EACCES', exitCode: undefined });
  });

  it('stops the command at its time limit', async () => {
    const r = await runCommand('/bin/sleep', ['20'], { ...base, timeoutMs: 100 });
    expect(r).toMatchObject({ timedOut: true, signal: 'SIGKILL' });
  });

  it('does not wait for a process the command left behind holding its output', async () => {
    const started = Date.now();
    const r = await runCommand('/bin/sh', ['-c', 'sleep 30 & echo secret'], base);
    expect(r).toMatchObject({ exitCode: 0, leftOpen: false });
    expect(r.stdout.toString()).toBe('secret\n');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('stops reading an output held open by a process that left the command\'s process group', async () => {
    const r = await runCommand('/bin/sh', ['-c', 'setsid sleep 6 & echo secret'], base);
    expect(r).toMatchObject({ exitCode: 0, leftOpen: true });
  });

  it('an aborted signal stops the command and rejects with its reason', async () => {
    const marker = join(tmp, 'not-reached');
    const ac = new AbortController();
    const p = runCommand('/bin/sh', ['-c', `sleep 5; touch ${marker}`], { ...base, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stop requested')), 100);
    await expect(p).rejects.toThrow('stop requested');
    expect(existsSync(marker)).toBe(false);
    const already = new AbortController();
    already.abort(new Error('too late'));
    await expect(runCommand('/bin/true', [], { ...base, signal: already.signal })).rejects.toThrow('too late');
  });
});
