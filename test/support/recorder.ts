/**
 * The recorder fixture (test/fixtures/child/recorder.mjs), a stand-in for the application tconfd supervises: it
 * appends its start, each signal and its exit to a JSON-lines log, which tests read and wait on.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onKillAll, ROOT } from './tconfd.js';
import { waitFor, type WaitOptions } from './wait.js';

export const RECORDER = join(ROOT, 'test', 'fixtures', 'child', 'recorder.mjs');
/** The recorder as a command: run by this same node. */
export const RECORDER_CMD: readonly string[] = [process.execPath, RECORDER];

export interface RecorderEvent {
  readonly event: 'start' | 'signal' | 'exit';
  readonly pid: number;
  /** Date.now() in the recorder. */
  readonly t: number;
  readonly signal?: string;
  readonly code?: number;
  /** RECORDER_CONFIG's content at start (and at each signal with RECORDER_SIGNAL_CONFIG=1). */
  readonly config?: string;
  /** Names of its environment variables (start). */
  readonly env?: readonly string[];
}

/** Reads the events the recorder appended to its log (RECORDER_LOG). */
export class Recorder {
  constructor(readonly path: string) {}

  events(): RecorderEvent[] {
    if (!existsSync(this.path)) return [];
    return readFileSync(this.path, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as RecorderEvent);
  }

  starts(): RecorderEvent[] {
    return this.events().filter((e) => e.event === 'start');
  }

  signals(sig?: string): RecorderEvent[] {
    return this.events().filter((e) => e.event === 'signal' && (sig === undefined || e.signal === sig));
  }

  /** Wait until pred holds of the events; returns them. */
  waitFor(pred: (ev: RecorderEvent[]) => boolean, what: string, opts: WaitOptions = {}): Promise<RecorderEvent[]> {
    return waitFor(
      `recorder: ${what}`,
      () => {
        const ev = this.events();
        return pred(ev) ? ev : undefined;
      },
      { detail: () => `recorder events: ${JSON.stringify(this.events().map(({ env: _env, ...e }) => e))}`, ...opts },
    );
  }

  /** Wait for the n-th start (1-based); returns it. */
  async waitForStart(n = 1, opts: WaitOptions = {}): Promise<RecorderEvent> {
    const ev = await this.waitFor((e) => e.filter((x) => x.event === 'start').length >= n, `start #${n}`, opts);
    return ev.filter((x) => x.event === 'start')[n - 1]!;
  }

  /** Kill every recorder process of this log that may still run. */
  killAll(): void {
    const ended = new Set(this.events().filter((e) => e.event === 'exit').map((e) => e.pid));
    for (const s of this.starts()) {
      if (ended.has(s.pid)) continue;
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  }
}

export interface RecorderProject {
  readonly root: string;
  /** The config directory (--dir). */
  readonly conf: string;
  /** The rendered file the recorder reads (RECORDER_CONFIG). */
  readonly output: string;
  /** The recorder's event log (RECORDER_LOG). */
  readonly recorderLog: string;
  readonly recorder: Recorder;
  /** RECORDER_LOG and RECORDER_CONFIG for the command's environment. */
  readonly recorderEnv: Record<string, string>;
}

/**
 * In the (empty) directory root: a project with one template, conf/app.jsonnet, rendering out/app.conf from the given
 * secrets (path -> name) with the given Jsonnet expression for the file's content (secrets are in `s`), and the
 * recorder's log. Unless trackRecorder is false (a command in another PID namespace: the pids it records are not
 * ours), killAll() also kills the recorders this log names.
 */
export function recorderProject(
  root: string,
  opts: { secrets: Record<string, string>; content: string; onChange?: 'signal' | 'restart' | 'none'; trackRecorder?: boolean },
): RecorderProject {
  const conf = join(root, 'conf');
  mkdirSync(conf, { recursive: true });
  writeFileSync(
    join(conf, 'app.json'),
    JSON.stringify({
      'app.jsonnet': { dir: join(root, 'out'), secrets: opts.secrets, ...(opts.onChange !== undefined ? { on_change: opts.onChange } : {}) },
    }),
  );
  writeFileSync(join(conf, 'app.jsonnet'), `local s = std.extVar('secrets');\n{ 'app.conf': ${opts.content} }\n`);
  const recorderLog = join(root, 'recorder.jsonl');
  const output = join(root, 'out', 'app.conf');
  const recorder = new Recorder(recorderLog);
  if (opts.trackRecorder !== false) onKillAll(() => recorder.killAll());
  return { root, conf, output, recorderLog, recorder, recorderEnv: { RECORDER_LOG: recorderLog, RECORDER_CONFIG: output } };
}
