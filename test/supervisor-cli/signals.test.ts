/**
 * Through the real CLI: signals sent to tconfd reach the command unchanged (and neither restart it nor stop tconfd),
 * and a second SIGTERM during a slow shutdown kills the command at once.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { tempDirs } from '../support/files.js';
import { RECORDER_CMD, recorderProject, type RecorderProject } from '../support/recorder.js';
import { assertBuilt, killAll, startTconfd } from '../support/tconfd.js';
import { sleep } from '../support/wait.js';

const tmp = tempDirs('tconfd-sup-cli-');
beforeAll(assertBuilt);
afterAll(async () => {
  await killAll();
  tmp.cleanup();
});

function envProject(): RecorderProject {
  return recorderProject(tmp.make(), { secrets: { 'env:str:GREETING': 'greeting' }, content: "'greeting=' + s.greeting + '\\n'" });
}

describe.concurrent('signals', () => {
  it('SIGUSR1, SIGHUP, SIGUSR2 and SIGWINCH sent to tconfd are forwarded unchanged to the same command process', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf], { command: RECORDER_CMD, env: { GREETING: 'hi', ...p.recorderEnv } });
    const start = await p.recorder.waitForStart();
    const sent = ['SIGUSR1', 'SIGHUP', 'SIGUSR2', 'SIGWINCH'] as const;
    for (const sig of sent) {
      t.signal(sig);
      await p.recorder.waitFor((ev) => ev.some((e) => e.signal === sig), `${sig} forwarded`);
    }
    await sleep(200);
    expect(p.recorder.events().map((e) => [e.event, e.signal ?? null, e.pid])).toEqual([
      ['start', null, start.pid],
      ...sent.map((sig) => ['signal', sig, start.pid]),
    ]);
    // Still running, not restarted.
    expect(t.exit).toBeUndefined();
    expect(t.logs('command started')).toHaveLength(1);
    expect((await t.stop()).code).toBe(0);
  });

  it('a second SIGTERM during shutdown kills the command at once (it ignores SIGTERM, --kill-timeout 30s)', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--kill-timeout', '30s'], {
      command: RECORDER_CMD,
      env: { GREETING: 'hi', RECORDER_IGNORE_TERM: '1', ...p.recorderEnv },
    });
    const start = await p.recorder.waitForStart();
    t.signal('SIGTERM');
    await p.recorder.waitFor((ev) => ev.some((e) => e.signal === 'SIGTERM'), 'the first SIGTERM forwarded');
    await sleep(300);
    expect(t.exit).toBeUndefined(); // still waiting for the command (30 s)
    const secondAt = Date.now();
    t.signal('SIGTERM');
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 137, signal: null });
    // Not after the 30 s --kill-timeout: at once (with all the slack a loaded machine may need).
    expect(t.exitedAt! - secondAt).toBeLessThan(15_000);
    expect(t.logs('second signal: killing the command now')).toHaveLength(1);
    expect(() => process.kill(start.pid, 0)).toThrow();
  });

  it('SIGINT stops tconfd like SIGTERM: forwarded, and tconfd exits with the command\'s status', async ({ expect }) => {
    const p = envProject();
    const t = startTconfd(['--dir', p.conf], { command: RECORDER_CMD, env: { GREETING: 'hi', RECORDER_EXIT_CODE: '9', ...p.recorderEnv } });
    await p.recorder.waitForStart();
    t.signal('SIGINT');
    expect(await t.waitForExit()).toMatchObject({ code: 9, signal: null });
    expect(p.recorder.signals().map((e) => e.signal)).toEqual(['SIGINT']);
  });
});
