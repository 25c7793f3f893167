/**
 * Through the real CLI: tconfd's exit status is the command's (its code, 128+N for signal N), a command that ignores
 * SIGTERM is SIGKILLed after --kill-timeout, and crashes are restarted with a growing backoff until --max-restarts.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject, type RecorderProject } from '../support/recorder.js';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { waitFor } from '../support/wait.js';

const tmp = tempDirs('tconfd-sup-cli-');
beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  tmp.cleanup();
});

/** An env-only project: no Vault, the file is `greeting=hi`. */
function envProject(): RecorderProject {
  return recorderProject(tmp.make(), { secrets: { 'env:str:GREETING': 'greeting' }, content: "'greeting=' + s.greeting + '\\n'" });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.concurrent('exit status', () => {
  it('SIGTERM to tconfd reaches the command, and tconfd exits with its status (RECORDER_EXIT_CODE=7 -> 7)', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf], { command: RECORDER_CMD, env: { GREETING: 'hi', RECORDER_EXIT_CODE: '7', ...p.recorderEnv } });
    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('greeting=hi\n');
    t.signal('SIGTERM');
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 7, signal: null });
    expect(p.recorder.events().map((e) => [e.event, e.signal, e.code])).toEqual([
      ['start', undefined, undefined],
      ['signal', 'SIGTERM', undefined],
      ['exit', undefined, 7],
    ]);
  });

  it('a command killed by a signal gives 128+N: SIGTERM to a bare `sleep` -> 143; SIGKILL from outside -> 137', async ({ expect }) => {
    const p1 = envProject();
    const t1 = startTconfd(['--dir', p1.conf], { env: { GREETING: 'hi' }, command: ['sleep', '30'] });
    const p2 = envProject();
    const t2 = startTconfd(['--dir', p2.conf], { env: { GREETING: 'hi' }, command: ['sleep', '30'] });

    const sleep1 = await t1.childPid();
    t1.signal('SIGTERM');
    expect(await t1.waitForExit()).toMatchObject({ code: 143, signal: null });
    expect(isAlive(sleep1)).toBe(false);

    const sleep2 = await t2.childPid();
    process.kill(sleep2, 'SIGKILL');
    expect(await t2.waitForExit()).toMatchObject({ code: 137, signal: null });
    expect(t2.logs('the command ended: stopping')).toHaveLength(1);
  });

  it('a command that ignores SIGTERM is SIGKILLed after --kill-timeout 500ms, and tconfd exits 137', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--kill-timeout', '500ms'], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_IGNORE_TERM: '1', ...p.recorderEnv },
    });
    const start = await p.recorder.waitForStart();
    const sentAt = Date.now();
    t.signal('SIGTERM');
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 137, signal: null });
    // At least the 500 ms it was given, and well before the default --kill-timeout (10 s): the option was applied.
    const took = t.exitedAt! - sentAt;
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(9_000);
    // It got SIGTERM, did not exit by itself, and is gone.
    expect(p.recorder.events().map((e) => [e.event, e.signal])).toEqual([
      ['start', undefined],
      ['signal', 'SIGTERM'],
    ]);
    expect(isAlive(start.pid)).toBe(false);
    expect(t.logs('the command did not stop in time: SIGKILL')).toHaveLength(1);
  });

  it('--restart on-failure restarts a crashing command after a doubling backoff; --max-restarts 2 then gives up with its status', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--restart', 'on-failure', '--max-restarts', '2'], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_CRASH_AFTER_MS: '100', RECORDER_CRASH_CODE: '3', ...p.recorderEnv },
    });
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 3, signal: null });
    const starts = p.recorder.starts();
    const pids = starts.map((s) => s.pid);
    expect(new Set(pids).size).toBe(3); // the first start and two restarts, each a new process
    for (const s of starts) expect(s.config).toBe('greeting=hi\n');
    const exits = p.recorder.events().filter((e) => e.event === 'exit');
    expect(exits.map((e) => e.code)).toEqual([3, 3, 3]);
    // The backoff tconfd applies by default: 1 s before the first restart, then doubled (the policy itself is tested
    // with a fake clock in test/supervisor/child.test.ts). Each restart came at least that long after the crash: a
    // lower bound holds however loaded the machine is (an upper bound would not).
    const delays = t.logs(/^command exited with code 3: restarting$/).map((l) => l['delayMs']);
    expect(delays).toEqual([1_000, 2_000]);
    for (let i = 1; i < starts.length; i++) expect(starts[i]!.t - exits[i - 1]!.t).toBeGreaterThanOrEqual((delays[i - 1] as number) - 5);
    expect(t.logs('the command keeps exiting: giving up')).toHaveLength(1);
  });

  it('--restart never (the default): the crashed command\'s exit code becomes tconfd\'s, without a restart', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--restart', 'never'], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_CRASH_AFTER_MS: '100', RECORDER_CRASH_CODE: '5', ...p.recorderEnv },
    });
    const p0 = envProject();
    const t0 = startTconfd(['--dir', p0.conf], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_CRASH_AFTER_MS: '100', RECORDER_CRASH_CODE: '4', ...p0.recorderEnv },
    });
    expect(await t.waitForExit()).toMatchObject({ code: 5, signal: null });
    expect(await t0.waitForExit()).toMatchObject({ code: 4, signal: null });
    await waitFor('the recorder log', () => p.recorder.events().length >= 2);
    expect(p.recorder.events().map((e) => [e.event, e.code])).toEqual([
      ['start', undefined],
      ['exit', 5],
    ]);
    expect(p0.recorder.starts()).toHaveLength(1);
  });

  it('a command that cannot be started gives a shell\'s statuses: 127 when not found, 126 when not executable', async ({ expect }) => {
    const p = envProject();
    const missing = startTconfd(['--dir', p.conf], { env: { GREETING: 'hi' }, command: ['/nonexistent/tconfd-app'] });
    const notExe = startTconfd(['--dir', p.conf], { env: { GREETING: 'hi' }, command: [p.output] });
    expect(await missing.waitForExit()).toMatchObject({ code: 127, signal: null });
    expect(await notExe.waitForExit()).toMatchObject({ code: 126, signal: null });
    expect(missing.lines.some((l) => l.level >= 50 && String(l.msg).includes('/nonexistent/tconfd-app'))).toBe(true);
  });

  it('--restart on-failure does not restart a command that exits 0: tconfd exits 0', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--restart', 'on-failure'], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_CRASH_AFTER_MS: '100', RECORDER_CRASH_CODE: '0', ...p.recorderEnv },
    });
    expect(await t.waitForExit()).toMatchObject({ code: 0, signal: null });
    expect(p.recorder.starts()).toHaveLength(1);
  });
});
