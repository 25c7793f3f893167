/**
 * If tconfd itself exits without a clean shutdown (process.exit(), an uncaught exception, a fatal signal it does not
 * handle), the command it supervises must have been signalled first, not left running as an orphan.
 *
 * This needs a real tconfd-like process that dies: a small harness runs ChildSupervisor (type-stripped with vite's
 * transformer, which vitest brings along) in its own Node process, starts the recorder, then dies as told.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { transformWithOxc } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUT_MS, waitFor } from '../support/wait.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RECORDER = path.join(ROOT, 'test/fixtures/child/recorder.mjs');
let dir: string;
let harness: string;

const HARNESS = `
import * as fs from 'node:fs';
import { ChildSupervisor } from './child.js';
const noop = () => {};
const logger = { child: () => logger, trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop };
const clock = {
  now: Date.now,
  setTimer(ms, fn) { const t = setTimeout(fn, ms); return { cancel: () => clearTimeout(t) }; },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};
const log = process.env.RECORDER_LOG;
const sup = new ChildSupervisor({
  command: [process.execPath, process.env.H_RECORDER],
  env: { RECORDER_LOG: log },
  clock,
  logger,
});
await sup.start();
while (!(fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('"start"'))) await new Promise((r) => setTimeout(r, 10));
switch (process.env.H_DIE) {
  case 'exit': process.exit(3);
  case 'throw': setTimeout(() => { throw new Error('boom'); }, 0); break;
  case 'signal': process.kill(process.pid, 'SIGTERM'); break;
}
`;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tconfd-orphan-'));
  const src = fs.readFileSync(path.join(ROOT, 'src/supervisor/child.ts'), 'utf8');
  const { code } = await transformWithOxc(src, 'child.ts', { lang: 'ts' });
  // child.ts imports only types from elsewhere in src/; execa is resolved from the project's node_modules.
  const execaUrl = pathToFileURL(path.join(ROOT, 'node_modules/execa/index.js')).href;
  const out = code.replace(/from\s+["']execa["']/, `from ${JSON.stringify(execaUrl)}`);
  expect(out).not.toMatch(/from\s+["']\.\.\//);
  fs.writeFileSync(path.join(dir, 'child.js'), out);
  harness = path.join(dir, 'harness.mjs');
  fs.writeFileSync(harness, HARNESS);
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Still running: exists and is not a zombie (an orphan that exited waits for PID 1 to reap it; some PID 1s never do). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function dieAndCheck(how: 'exit' | 'throw' | 'signal'): Promise<void> {
  const log = path.join(dir, `${how}.jsonl`);
  const result = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    const p = execFile(process.execPath, [harness], {
      env: { RECORDER_LOG: log, H_RECORDER: RECORDER, H_DIE: how },
    });
    p.on('exit', (code, signal) => resolve({ code, signal }));
  });
  if (how === 'exit') expect(result.code).toBe(3);
  if (how === 'throw') expect(result.code).toBe(1);
  if (how === 'signal') expect(result.signal).toBe('SIGTERM');

  const deadline = Date.now() + DEFAULT_TIMEOUT_MS;
  let events: Array<{ event: string; signal?: string; pid: number }> = [];
  for (;;) {
    events = fs
      .readFileSync(log, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; signal?: string; pid: number });
    if (events.some((e) => e.event === 'exit') || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const pid = events[0]!.pid;
  expect(events.map((e) => e.signal ?? e.event)).toEqual(['start', 'SIGTERM', 'exit']);
  // It logged its exit just before exiting: wait for the process to be gone (a busy machine may take a while).
  await waitFor(`the command (pid ${pid}) to be gone`, () => !running(pid));
}

describe('when tconfd dies without a clean shutdown', () => {
  it('process.exit(): the command got SIGTERM and is gone', () => dieAndCheck('exit'));
  it('uncaught exception: the command got SIGTERM and is gone', () => dieAndCheck('throw'));
  it('unhandled SIGTERM: the command got SIGTERM and is gone', () => dieAndCheck('signal'));
});
