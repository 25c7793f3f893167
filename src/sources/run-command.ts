/**
 * Runs an exe secret's command (node:child_process, no shell) and collects its output, bounded. execa (which runs the
 * hooks and the supervised command) takes ~30 ms to load and ~20 ms more at its first run, three times what the
 * command itself costs to spawn; an exe secret needs none of its features.
 *
 * - The environment is exactly `env`; stdin is /dev/null; uid/gid as given (Node drops the supplementary groups).
 * - The command runs in a process group (and session) of its own; every stop kills the whole group with SIGKILL, what
 *   the command started in the background too:
 *   - stdout beyond `maxStdout` bytes, or stderr beyond `maxStderr` (`overflow` says which);
 *   - after `timeoutMs` (`timedOut`);
 *   - an aborted `signal` (the promise rejects with the signal's reason);
 *   - tconfd's own exit.
 * - Once the command has exited, its output is waited for 1 s: then the group is killed (a process left behind
 *   holding stdout, `sleep 60 &`); one that left the group (setsid) and still holds the output is no longer read after
 *   1 s more (`leftOpen`).
 * - Nothing of the group outlives the call: it is killed when the command's output has closed too.
 * - A command that cannot start resolves with `errorCode` (ENOENT, EACCES, EPERM, E2BIG...), never throws.
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
  /** Its output was still held open, by a process outside its group, 2 s after it exited: no longer read. */
  readonly leftOpen: boolean;
}

/** A command that could not start (errorCode set by the caller). */
const NOT_STARTED: CommandResult = {
  stdout: Buffer.alloc(0),
  stderr: Buffer.alloc(0),
  exitCode: undefined,
  signal: undefined,
  errorCode: undefined,
  timedOut: false,
  overflow: undefined,
  leftOpen: false,
};

/** After the command exited, how long its output may stay open (a process it left in the background holds it). */
const PIPES_GRACE_MS = 1_000;

/** Commands running, by process group. */
const running = new Set<ChildProcess>();
let exitHook = false;

/** SIGKILL to the command's process group (its pid: it leads the group). */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // the group is gone already
  }
}

export function runCommand(file: string, args: readonly string[], opts: RunCommandOptions): Promise<CommandResult> {
  if (opts.signal?.aborted) return Promise.reject(opts.signal.reason);
  return new Promise<CommandResult>((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = nodeChildProcess().spawn(file, args, {
        env: opts.env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true, // its own process group (and session), killed as one
        ...(opts.uid !== undefined ? { uid: opts.uid } : {}),
        ...(opts.gid !== undefined ? { gid: opts.gid } : {}),
      });
    } catch (e) {
      // node:child_process throws, rather than emitting 'error', for what the kernel refuses other than ENOENT, EACCES,
      // EAGAIN, EMFILE and ENFILE: EPERM (root without CAP_SETUID/CAP_SETGID, given a uid), E2BIG (arguments and
      // environment too long), ENOMEM... The code only: Node's own messages may quote an argument.
      const code = (e as NodeJS.ErrnoException).code;
      resolve({ ...NOT_STARTED, errorCode: typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO' });
      return;
    }
    if (child.stdout == null || child.stderr == null) {
      // EMFILE, ENFILE: Node gives up before making the pipes, and emits 'error' at the next tick (unhandled, it
      // would end tconfd).
      child.once('error', (e: NodeJS.ErrnoException) => resolve({ ...NOT_STARTED, errorCode: e.code ?? 'EIO' }));
      return;
    }
    running.add(child);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const c of running) killGroup(c);
      });
    }
    const out = collector(opts.maxStdout);
    const err = collector(opts.maxStderr);
    let timedOut = false;
    let leftOpen = false;
    let overflow: CommandResult['overflow'];
    let errorCode: string | undefined;
    let pipesTimer: NodeJS.Timeout | undefined;
    const stopReading = (): void => {
      child.stdout!.destroy();
      child.stderr!.destroy();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, opts.timeoutMs);
    const onAbort = (): void => killGroup(child);
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout!.on('data', (chunk: Buffer) => {
      if (!out.add(chunk) && overflow === undefined) {
        overflow = 'stdout';
        child.stdout!.destroy();
        killGroup(child);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (!err.add(chunk) && overflow === undefined) {
        overflow = 'stderr';
        child.stderr!.destroy();
        killGroup(child);
      }
    });
    child.once('error', (e: NodeJS.ErrnoException) => {
      errorCode ??= e.code ?? 'EIO';
    });
    child.once('exit', () => {
      pipesTimer = setTimeout(() => {
        killGroup(child);
        // A process that left the group (setsid) still holds the pipes: stop reading them.
        pipesTimer = setTimeout(() => {
          leftOpen = true;
          stopReading();
        }, PIPES_GRACE_MS);
      }, PIPES_GRACE_MS);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      clearTimeout(pipesTimer);
      killGroup(child); // nothing of it outlives the fetch
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
        leftOpen,
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
