/**
 * Runs an exe secret's command (node:child_process, no shell) and collects its output, bounded: what execa does for
 * the hooks and the supervised command, for the one case a start waits on. execa takes ~30 ms to load and ~20 ms more
 * at its first run, three times what the command itself costs to spawn; an exe secret needs none of its features.
 *
 * - The environment is exactly `env`; stdin is /dev/null; uid/gid as given (Node drops the supplementary groups).
 * - stdout beyond `maxStdout` bytes, or stderr beyond `maxStderr`, stops the command (SIGTERM): `overflow` says which.
 * - After `timeoutMs` the command gets SIGTERM (`timedOut`); a command still there 5 s after a SIGTERM gets SIGKILL.
 * - An aborted `signal` stops the command the same way and rejects with the signal's reason.
 * - Once the command has exited, output still coming from a process it left behind (holding its stdout or stderr) is
 *   read for 1 s more at most.
 * - A command still running when tconfd exits is sent SIGTERM (as execa's `cleanup` does).
 */
import type { ChildProcess } from 'node:child_process';
import { nodeChildProcess } from '../builtins.js';

export interface RunCommandOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  readonly timeoutMs: number;
  readonly maxStdout: number;
  readonly maxStderr: number;
  readonly signal?: AbortSignal | undefined;
}

export interface CommandResult {
  /** At most maxStdout bytes. */
  readonly stdout: Buffer;
  /** At most maxStderr bytes. */
  readonly stderr: Buffer;
  /** The command's exit status, when it exited (not killed, not failed to start). */
  readonly exitCode: number | undefined;
  /** The signal that ended it. */
  readonly signal: NodeJS.Signals | undefined;
  /** Why it could not start (ENOENT, EACCES...). */
  readonly errorCode: string | undefined;
  readonly timedOut: boolean;
  readonly overflow: 'stdout' | 'stderr' | undefined;
}

/** After a SIGTERM, how long a command has before SIGKILL (execa's forceKillAfterDelay). */
const KILL_AFTER_MS = 5_000;

const running = new Set<ChildProcess>();
let exitHook = false;

/** After the command's exit, how long its stdout and stderr may stay open (a process it left behind). */
const DRAIN_MS = 1_000;

export function runCommand(file: string, args: readonly string[], opts: RunCommandOptions): Promise<CommandResult> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  return new Promise<CommandResult>((resolve, reject) => {
    const child = nodeChildProcess().spawn(file, args, {
      env: opts.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
      ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
    });
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of running) c.kill('SIGTERM');
      });
    }
    const out = collector(opts.maxStdout);
    const err = collector(opts.maxStderr);
    let timedOut = false;
    let overflow: CommandResult['overflow'];
    let errorCode: string | undefined;
    let killTimer: NodeJS.Timeout | undefined;
    let drainTimer: NodeJS.Timeout | undefined;
    const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
    const stopReading = (): void => {
      child.stdout!.destroy();
      child.stderr!.destroy();
    };
    const stop = (): void => {
      if (exited()) return stopReading();
      child.kill('SIGTERM');
      killTimer ??= setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
      killTimer.unref();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      stop();
    }, opts.timeoutMs);
    const onAbort = (): void => stop();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (chunk: Buffer) => {
      if (!out.add(chunk) && overflow === undefined) {
        overflow = 'stdout';
        child.stdout!.destroy();
        stop();
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!err.add(chunk) && overflow === undefined) {
        overflow = 'stderr';
        child.stderr!.destroy();
        stop();
      }
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      errorCode ??= e.code ?? 'EIO';
    });
    child.once('exit', () => {
      drainTimer = setTimeout(stopReading, DRAIN_MS);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(killTimer);
      clearTimeout(drainTimer);
      running.delete(child);
      opts.signal?.removeEventListener('abort', onAbort);
      if (opts.signal?.aborted) {
        reject(opts.signal.reason);
        return;
      }
      resolve({
        stdout: out.bytes(),
        stderr: err.bytes(),
        exitCode: errorCode === undefined && code !== null ? code : undefined,
        signal: sig ?? undefined,
        errorCode,
        timedOut,
        overflow,
      });
    });
  });
}

/** Keeps at most `max` bytes; add() says whether the chunk fitted whole. */
function collector(max: number): { add(chunk: Buffer): boolean; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  let size = 0;
  return {
    add(chunk) {
      const room = max - size;
      if (chunk.length <= room) {
        chunks.push(chunk);
        size += chunk.length;
        return true;
      }
      if (room > 0) chunks.push(chunk.subarray(0, room));
      size = max;
      return false;
    },
    bytes: () => Buffer.concat(chunks, size),
  };
}
