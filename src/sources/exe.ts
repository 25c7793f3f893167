import type { ExeSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { decode } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

export interface ExeSourceOptions {
  readonly clock: Clock;
  /** Environment of the command (tconfd's own). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * `exe:str|js[,static|dynamic]:/abs/cmd args`: runs the command without a shell, trims its stdout and parses that as
 * JSON for js (rconfd parsed the untrimmed output). A non-zero exit is an error carrying the last line of stderr.
 */
export class ExeSource implements SecretSource<ExeSecretSpec> {
  constructor(private readonly opts: ExeSourceOptions) {}

  async fetch(spec: ExeSecretSpec, signal?: AbortSignal): Promise<Fetched> {
    const timeout = this.opts.timeoutMs ?? 30_000;
    const { execa } = await import('execa'); // loaded on first use: most configs have no exe secret
    const result = await execa(spec.command, spec.args, {
      reject: false,
      timeout,
      cancelSignal: signal,
      env: this.opts.env as Record<string, string>,
      extendEnv: false,
      stdin: 'ignore',
      stripFinalNewline: false,
      maxBuffer: 16 * 1024 * 1024,
    });
    if (result.timedOut) {
      throw new SecretFetchError(spec.raw, `command timed out after ${timeout / 1000} s`);
    }
    if (result.failed) {
      const err = result as unknown as { code?: string; exitCode?: number; signal?: string; stderr?: string };
      if (err.code === 'ENOENT') throw new SecretFetchError(spec.raw, `command ${spec.command} not found`);
      if (err.code === 'EACCES') throw new SecretFetchError(spec.raw, `command ${spec.command} is not executable`);
      const last = lastLine(String(err.stderr ?? ''));
      const how = err.signal ? `was killed by ${err.signal}` : `exited with status ${err.exitCode ?? '?'}`;
      throw new SecretFetchError(spec.raw, `command ${how}${last ? `: ${last}` : ''}`);
    }
    const text = String(result.stdout).trim();
    return {
      value: decode(spec.raw, text, spec.format),
      lifetime: spec.refresh === 'dynamic' ? { kind: 'dynamic' } : { kind: 'static' },
      fetchedAt: this.opts.clock.now(),
    };
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const line = lines[lines.length - 1] ?? '';
  return line.length > 300 ? line.slice(0, 300) + '…' : line;
}
