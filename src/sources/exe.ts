import { existsSync } from 'node:fs';
import type { ExeSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { OwnerError, resolveOwner, type Owner } from '../render/owner.js';
import { DEFAULT_MAX_SECRET_BYTES } from '../size.js';
import { runCommand } from './run-command.js';
import { decodeBytes, tooLarge } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

/** Most stderr bytes kept (only counted: stderr is never shown, it may carry a secret). */
const MAX_STDERR_BYTES = 64 * 1024;

export interface ExeSourceOptions {
  readonly clock: Clock;
  /**
   * Environment of the command: the same reduced environment as the hooks and the supervised command (tconfd's own
   * minus the Vault credentials, see supervisor/env.ts).
   */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Run the command as this user (when tconfd runs as root: --exe-user, nobody by default). */
  readonly user?: { readonly name: string; readonly owner: Owner } | undefined;
  /** Most bytes of output (--max-secret-size). */
  readonly maxBytes?: number;
  /** Default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * `exe:str|js|b64[,static|dynamic]:/abs/cmd args`: runs the command without a shell and takes its stdout: trimmed
 * text for str, parsed after trimming for js (rconfd parsed the untrimmed output), the raw bytes as base64 for b64.
 * Output beyond the size limit kills the command and is an error. A failure says how the command ended, never what it
 * wrote on stderr (it may echo a secret).
 *
 * The command runs in a process group of its own. At the time limit (30 s), or when the caller gives up (shutdown, a
 * newer rendering), the whole group is killed (SIGKILL), whatever it started in the background. Once the command has
 * exited, its output is waited for at most a second: a process it left behind holding stdout open (`sleep 60 &`) is
 * killed with the group and does not hold the rendering up. Nothing of the group outlives the fetch. The command runs
 * through node:child_process (run-command.ts), not execa: execa cost ~50 ms at its first use, on the start's path.
 */
export class ExeSource implements SecretSource<ExeSecretSpec> {
  constructor(private readonly opts: ExeSourceOptions) {}

  async fetch(spec: ExeSecretSpec, signal?: AbortSignal): Promise<Fetched> {
    const timeout = this.opts.timeoutMs ?? 30_000;
    const maxBytes = this.opts.maxBytes ?? DEFAULT_MAX_SECRET_BYTES;
    const user = this.opts.user;
    let result;
    try {
      result = await runCommand(spec.command, spec.args, {
        env: this.opts.env,
        timeoutMs: timeout,
        signal,
        maxStdout: maxBytes,
        maxStderr: MAX_STDERR_BYTES,
        uid: user?.owner.uid,
        gid: user?.owner.gid,
      });
    } catch (err) {
      if (signal?.aborted) throw new SecretFetchError(spec.raw, 'command stopped: tconfd no longer needs its output');
      throw err;
    }
    const as = user !== undefined ? `run as ${user.name} (--exe-user)` : undefined;
    if (result.errorCode === 'ENOENT') {
      // The file is there: what execve(2) did not find is the interpreter of its #! line.
      if (existsSync(spec.command)) {
        throw new SecretFetchError(spec.raw, `command ${spec.command} cannot be executed (ENOENT: the interpreter its #! line names was not found)`);
      }
      throw new SecretFetchError(spec.raw, `command ${spec.command} not found`);
    }
    if (result.errorCode !== undefined) throw new SecretFetchError(spec.raw, `command ${spec.command} cannot be executed${notes([as, whyNotStarted(result.errorCode, user !== undefined)])}`);
    if (result.timedOut) {
      throw new SecretFetchError(spec.raw, `command timed out after ${timeout / 1000} s (it and every process it started were killed)`);
    }
    if (result.overflow === 'stdout') throw tooLarge(spec.raw, maxBytes, 'the command\'s output');
    if (result.overflow === 'stderr') {
      throw new SecretFetchError(spec.raw, `command wrote more than ${MAX_STDERR_BYTES / 1024} KiB on stderr and was stopped (not shown)`);
    }
    if (result.leftOpen) {
      throw new SecretFetchError(spec.raw, 'command exited, but a process it started outside its process group kept its output open');
    }
    if (result.exitCode !== 0) {
      const how = result.signal !== undefined ? `was killed by ${result.signal}` : `exited with status ${result.exitCode ?? '?'}`;
      throw new SecretFetchError(spec.raw, `command ${how}${notes([as, stderrSummary(result.stderr)])}`);
    }
    return {
      value: decodeBytes(spec.raw, result.stdout, spec.format, { trim: true }),
      lifetime: spec.refresh === 'dynamic' ? { kind: 'dynamic' } : { kind: 'static' },
      fetchedAt: this.opts.clock.now(),
    };
  }
}

/** What an errno code of a command that could not start means (EACCES says nothing more than "cannot be executed"). */
function whyNotStarted(code: string, asUser: boolean): string | undefined {
  if (code === 'EACCES') return undefined;
  if (code === 'EPERM' && asUser) return 'EPERM: tconfd may not change to that user: it runs as root without CAP_SETUID or CAP_SETGID';
  if (code === 'E2BIG') return 'E2BIG: its arguments and environment are too long';
  if (code === 'EMFILE') return 'EMFILE: tconfd has too many files open';
  if (code === 'ENFILE') return 'ENFILE: the system has too many files open';
  return code;
}

function notes(items: readonly (string | undefined)[]): string {
  const present = items.filter((i): i is string => i !== undefined);
  return present.length === 0 ? '' : ` (${present.join('; ')})`;
}

/** "2 lines on stderr, not shown: ..." */
function stderrSummary(stderr: Uint8Array | undefined): string | undefined {
  if (stderr === undefined || stderr.length === 0) return undefined;
  const text = Buffer.from(stderr.buffer, stderr.byteOffset, stderr.byteLength).toString('latin1');
  const lines = text.split('\n').filter((l) => l.trim() !== '').length;
  if (lines === 0) return undefined;
  return `${lines} line${lines === 1 ? '' : 's'} on stderr, not shown: they may carry a secret; run the command by hand to see them`;
}

/**
 * Who exe commands run as: --exe-user when tconfd runs as root (rconfd ran them as nobody), tconfd's own user
 * otherwise. "nobody" is uid/gid 65534 when /etc/passwd has no such user (distroless images).
 */
export function resolveExeUser(
  spec: string,
  isRoot = process.getuid?.() === 0,
  files?: { passwd?: string; group?: string },
): { name: string; owner: Owner } | undefined {
  if (!isRoot) return undefined;
  try {
    return { name: spec, owner: resolveOwner(spec, files) };
  } catch (err) {
    if (!(err instanceof OwnerError)) throw err;
    if (spec === 'nobody') return { name: spec, owner: { uid: 65534, gid: 65534 } };
    throw new Error(`--exe-user: ${err.message}`);
  }
}
