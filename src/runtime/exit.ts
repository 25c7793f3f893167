/**
 * The last step of tconfd, after main's bounded clean-up: the exit itself, which nothing may hold up.
 *
 * process.exit() joins every thread of libuv's pool: a thread stuck in the kernel (an open() or read() on a hung NFS
 * mount) would keep tconfd alive for ever, after it logged that it stopped. So when file operations on paths tconfd
 * does not control are still in flight (thread-pool.ts), the process ends by a signal instead, which runs no exit
 * handler: the stop signal that asked for the exit (an exit status of 128+N becomes death by signal N, which shells
 * and container runtimes report as the same 128+N), else SIGKILL. Said on stderr first.
 */
import { constants } from 'node:os';

export interface ExitDeps {
  /** File operations still in flight on the thread pool. */
  readonly pending: () => number;
  /** process.exit */
  readonly exit: (code: number) => void;
  /** End the process by this signal, its default action restored (no exit handler runs). */
  readonly raise: (sig: NodeJS.Signals) => void;
  /** A line on stderr (synchronous for pipes and files). */
  readonly write: (line: string) => void;
}

/** Signals whose default action ends the process (never a stop or an ignored one). */
const TERMINATING: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGABRT', 'SIGKILL', 'SIGUSR1', 'SIGUSR2', 'SIGPIPE', 'SIGALRM', 'SIGTERM'];

/** The signal whose death gives the same status as `code` (128+N), or undefined. */
export function signalForStatus(code: number): NodeJS.Signals | undefined {
  if (code <= 128) return undefined;
  return TERMINATING.find((s) => constants.signals[s] === code - 128);
}

export function finalExit(code: number, deps: ExitDeps): void {
  const pending = deps.pending();
  if (pending === 0) {
    deps.exit(code);
    return;
  }
  const sig = signalForStatus(code) ?? 'SIGKILL';
  deps.write(
    `tconfd: ${pending} file operation(s) still blocked in the kernel (a hung mount?): process.exit() would wait for them for ever; ending with ${sig}${sig === 'SIGKILL' ? ` instead of exit status ${code}` : ''}\n`,
  );
  deps.raise(sig);
}

/** finalExit's dependencies on the real process. */
export function processExitDeps(pending: () => number): ExitDeps {
  return {
    pending,
    exit: (code) => process.exit(code),
    raise: (sig) => {
      process.removeAllListeners(sig); // libuv restores the default action once no listener is left
      process.kill(process.pid, sig);
    },
    write: (line) => {
      try {
        process.stderr.write(line);
      } catch {
        // nowhere to say it
      }
    },
  };
}
