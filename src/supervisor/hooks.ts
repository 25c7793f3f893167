/**
 * hooks.ready and hooks.modified: commands run without a shell, with a timeout (30 s). Their exit status is logged;
 * a failing hook never stops tconfd.
 */
import type { Logger } from '../log.js';

export interface HookRun {
  readonly kind: 'ready' | 'modified';
  readonly argv: readonly string[];
  readonly template: string;
  readonly config: string;
}

export interface HookOptions {
  readonly logger: Logger;
  readonly env: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export async function runHook(hook: HookRun, opts: HookOptions): Promise<number | undefined> {
  const [cmd, ...args] = hook.argv;
  const fields = { hook: hook.kind, template: hook.template, config: hook.config, command: cmd };
  const timeout = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  const { execa } = await import('execa'); // loaded on first use: most configs have no hook
  const r = await execa(cmd!, args, {
    reject: false,
    timeout,
    env: opts.env,
    extendEnv: false,
    stdin: 'ignore',
    stdout: 'inherit',
    stderr: 'inherit',
  });
  const ms = Date.now() - started;
  if (r.timedOut) {
    opts.logger.error({ ...fields, ms }, `hook timed out after ${timeout / 1000} s and was killed`);
    return undefined;
  }
  const code = (r as { code?: string }).code;
  if (code === 'ENOENT' || code === 'EACCES') {
    opts.logger.error({ ...fields }, `hook could not start: ${code === 'ENOENT' ? 'command not found' : 'not executable'}`);
    return undefined;
  }
  if (r.exitCode === 0) {
    opts.logger.info({ ...fields, exitCode: 0, ms }, 'hook ran');
  } else {
    opts.logger.warn({ ...fields, exitCode: r.exitCode, signal: r.signal, ms }, 'hook failed');
  }
  return r.exitCode;
}
