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

/**
 * A preload (-r) that sends the given signals to tconfd while its entry point compiles the bundle (dist/cli.js's
 * `new vm.Script`): after Node's bootstrap, before src/runtime/lifecycle.ts exists. Deterministic: no timing.
 */
const DURING_LOAD = `
const vm = require('node:vm');
const Script = vm.Script;
const signals = (process.env.SIGNALS_DURING_LOAD || '').split(',').filter(Boolean);
vm.Script = class extends Script {
  constructor(...args) {
    for (const s of signals.splice(0)) process.kill(process.pid, s);
    super(...args);
  }
};
`;

describe('signals that arrive while the entry point loads the bundle (before the lifecycle exists)', () => {
  function loading(signals: string[]): { dir: string; hook: string } {
    const dir = tmp.make({
      'hook.cjs': DURING_LOAD,
      'conf/app.json': JSON.stringify({ 'app.jsonnet': { dir: '../out' } }),
      'conf/app.jsonnet': "{ 'x.txt': 'x' }",
    });
    return { dir, hook: `${dir}/hook.cjs` };
  }

  it('SIGUSR1, SIGUSR2, SIGHUP, SIGQUIT and SIGWINCH reach no Node default: no inspector, tconfd lives on, and says it got them', async ({ expect }) => {
    const { dir, hook } = loading(['SIGUSR1', 'SIGHUP', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH']);
    const t = startTconfd(['-d', `${dir}/conf`, '--once'], { env: { NODE_OPTIONS: `--require ${hook}`, SIGNALS_DURING_LOAD: 'SIGUSR1,SIGHUP,SIGUSR2,SIGQUIT,SIGWINCH' } });
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 0, signal: null });
    expect(t.stderr).not.toMatch(/Debugger listening|inspector/i);
    expect(t.logs((l) => /signal (received while starting|ignored)/.test(l.msg)).map((l) => l['signal']).sort()).toEqual(['SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH']);
  });

  it('SIGTERM is tconfd\'s: it stops before the first rendering and exits 143 (not killed by Node\'s default)', async ({ expect }) => {
    const { dir, hook } = loading(['SIGTERM']);
    const t = startTconfd(['-d', `${dir}/conf`, '--once'], { env: { NODE_OPTIONS: `--require ${hook}`, SIGNALS_DURING_LOAD: 'SIGTERM' } });
    expect(await t.waitForExit(), t.tail()).toEqual({ code: 143, signal: null });
    expect(t.logs('stopped before the first rendering was complete')).toHaveLength(1);
  });
});
