/**
 * Through the real CLI, in a new PID namespace (`unshare --pid --fork --mount-proc`, needs root): behind tini,
 * SIGTERM to the namespace's init reaches tconfd and the command and tconfd exits with the command's status; as
 * PID 1 itself, tconfd logs its PID-1 warning once. Skipped, with a visible warning, where this cannot run.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { findOnPath } from '../vault/target.js';
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

const UNSHARE = ['unshare', '--pid', '--fork', '--mount-proc'];
const PID1_WARNING = /^tconfd runs as PID 1: it cannot reap orphaned grandchildren/;

/** Why PID-namespace tests cannot run here, or undefined when they can. */
function pidNamespaceUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root';
  if (!findOnPath('unshare')) return 'no `unshare` on PATH';
  const r = spawnSync('unshare', [...UNSHARE.slice(1), 'true'], { stdio: 'ignore', timeout: 5_000 });
  if (r.status !== 0) return `\`${UNSHARE.join(' ')} true\` failed (status ${String(r.status)})`;
  return undefined;
}

const unavailable = pidNamespaceUnavailable();
const tini = findOnPath('tini');

function skipUnless(ctx: { skip: (note?: string) => void }, what: string, why: string | undefined): void {
  if (why === undefined) return;
  const msg = `skipping "${what}": ${why}`;
  console.warn(msg);
  ctx.skip(msg);
}

/** Host pids of the processes whose parent is `ppid`. */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, 'utf8'));
      if (m && Number(m[1]) === ppid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** The pid a process has in its own (innermost) PID namespace: the last field of NSpid. */
function nsPid(hostPid: number): number {
  const m = /^NSpid:\s+([\d\s]+)$/m.exec(readFileSync(`/proc/${hostPid}/status`, 'utf8'));
  return Number(m![1]!.trim().split(/\s+/).at(-1));
}

function envProject(): RecorderProject {
  // The recorder runs in another PID namespace: the pids it records are not ours to kill.
  return recorderProject(tmp.make(), { secrets: { 'env:str:GREETING': 'greeting' }, content: "'greeting=' + s.greeting + '\\n'", trackRecorder: false });
}

describe.concurrent('PID 1', () => {
  it('behind tini as PID 1: SIGTERM to tini reaches tconfd and the command; exit status is the command\'s', async (ctx) => {
    const { expect } = ctx;
    skipUnless(ctx, 'tconfd behind tini in a PID namespace', unavailable ?? (tini ? undefined : 'no `tini` on PATH (apt-get install -y tini)'));
    const p = envProject();
    const t = startTconfd(['--dir', p.conf], {
      command: RECORDER_CMD,
      prefix: [...UNSHARE, tini!, '--'],
      env: { GREETING: 'hi', RECORDER_EXIT_CODE: '5', ...p.recorderEnv },
    });
    const start = await p.recorder.waitForStart();
    expect(start.config).toBe('greeting=hi\n');
    const init = await waitFor('the namespace\'s init (tini)', () => childrenOf(t.pid)[0]);
    expect(readFileSync(`/proc/${init}/comm`, 'utf8').trim()).toBe('tini');
    expect(nsPid(init)).toBe(1);

    process.kill(init, 'SIGTERM');
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 5, signal: null });
    expect(p.recorder.events().map((e) => [e.event, e.signal, e.code])).toEqual([
      ['start', undefined, undefined],
      ['signal', 'SIGTERM', undefined],
      ['exit', undefined, 5],
    ]);
    expect(t.logs('stopping: signalling the command')).toMatchObject([{ signal: 'SIGTERM' }]);
    expect(t.logs(PID1_WARNING)).toHaveLength(0);
  });

  it('as PID 1 without an init: the PID-1 warning is logged once, even across command restarts', async (ctx) => {
    const { expect } = ctx;
    skipUnless(ctx, 'tconfd as PID 1', unavailable);
    const p = envProject();
    const t = startTconfd(['--dir', p.conf, '--restart', 'on-failure', '--max-restarts', '1'], {
      command: RECORDER_CMD,
      prefix: UNSHARE,
      env: { GREETING: 'hi', RECORDER_CRASH_AFTER_MS: '100', RECORDER_CRASH_CODE: '3', ...p.recorderEnv },
    });
    const exit = await t.waitForExit();
    expect(exit).toMatchObject({ code: 3, signal: null });
    expect(p.recorder.starts()).toHaveLength(2);
    const warnings = t.logs(PID1_WARNING);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe(40);
  });

  it('as PID 1: SIGTERM from outside the namespace reaches the command; exit status is the command\'s', async (ctx) => {
    const { expect } = ctx;
    skipUnless(ctx, 'tconfd as PID 1', unavailable);
    const p = envProject();
    const t = startTconfd(['--dir', p.conf], { command: RECORDER_CMD, prefix: UNSHARE, env: { GREETING: 'hi', RECORDER_EXIT_CODE: '6', ...p.recorderEnv } });
    await p.recorder.waitForStart();
    const tconfd = await waitFor('tconfd (the namespace\'s PID 1)', () => childrenOf(t.pid)[0]);
    expect(nsPid(tconfd)).toBe(1);
    process.kill(tconfd, 'SIGTERM');
    expect(await t.waitForExit()).toMatchObject({ code: 6, signal: null });
    expect(p.recorder.signals().map((e) => e.signal)).toEqual(['SIGTERM']);
    expect(t.logs(PID1_WARNING)).toHaveLength(1);
  });
});
