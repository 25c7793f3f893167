/**
 * Template evaluation with tconfd's own Jsonnet evaluator (src/render/jsonnet/: the language and standard library of
 * libjsonnet 0.20). Each template is a multi-file program: its top-level keys are output paths, its values the
 * files' contents (a string as UTF-8 text, std.native('base64Bytes') as exact bytes, anything else as JSON).
 *
 * Evaluation runs on the calling thread in slices: the template's top level, then one slice per output file, yielding
 * to the event loop between slices (a lease renewal or a health probe waits at most one slice). A slice cannot be
 * interrupted from outside, so every evaluation is bounded by a time limit (--render-timeout, the sum of its slices)
 * checked inside the evaluator, and by a depth limit.
 */
import { dirname } from 'node:path';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { LeaseFacts } from '../sources/types.js';
import { Evaluation, JObject, RuntimeError, StaticError, formatStack, type Value } from './jsonnet/index.js';
import { nativeFunctions } from './native.js';

export interface EvaluationInput {
  /** std.extVar('secrets'): secret name -> value, exactly as in rconfd. */
  readonly secrets: Readonly<Record<string, unknown>>;
  /** std.extVar('leases'): secret name -> lease facts (Vault secrets only). */
  readonly leases: Readonly<Record<string, LeaseFacts>>;
}

/** A template that does not evaluate: one line naming the template, file:line:column and the Jsonnet stack. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    readonly template: string,
    readonly detail: string,
  ) {
    super(`template "${template}": ${detail}`);
  }
}

export interface EvaluatorOptions {
  /** --jpath directories (the template's own directory is always searched first). */
  readonly jpaths: readonly string[];
  /** --render-timeout: milliseconds of evaluation per template (default 10 s). */
  readonly timeoutMs?: number;
  /** std.trace(message, value): where its message goes (never a secret-derived one: those are redacted). */
  readonly trace?: (template: string, message: string, where: string | undefined) => void;
}

const natives = nativeFunctions();

export class JsonnetEvaluator {
  constructor(private readonly opts: EvaluatorOptions) {}

  /**
   * Evaluate a template: output key -> file content. Throws TemplateError. Once `signal` is aborted (shutdown), the
   * evaluation stops at the end of the slice in progress and rejects with the signal's reason.
   */
  async evaluate(template: string, templatePath: string, input: EvaluationInput, signal?: AbortSignal): Promise<Map<string, Buffer> & { secretNames?: Set<string> }> {
    signal?.throwIfAborted();
    const timeoutMs = this.opts.timeoutMs ?? 10_000;
    const ev = new Evaluation({
      // libjsonnet's order, as rconfd set it up: the importing file's directory, the template's, then --jpath in order
      jpaths: [dirname(templatePath), ...this.opts.jpaths],
      extVars: {
        secrets: { kind: 'json', value: input.secrets, secret: true },
        leases: { kind: 'json', value: input.leases },
      },
      natives,
      timeoutMs,
      timeoutMessage: `evaluation stopped after ${formatMs(timeoutMs)} (--render-timeout)`,
      trace: (message, loc) => this.opts.trace?.(template, message, loc === undefined ? undefined : formatStack([{ loc, name: '' }])),
    });
    const fail = (err: unknown, key?: string): never => {
      throw new TemplateError(template, describe(err, input.secrets, key));
    };
    let top: Value;
    let keys: string[];
    try {
      top = ev.run(() => ev.evaluateFile(templatePath));
      keys = ev.run(() => ev.multi(top));
    } catch (err) {
      return fail(err);
    }
    const files: Map<string, Buffer> & { secretNames?: Set<string> } = new Map<string, Buffer>();
    for (const key of keys) {
      await yieldToEventLoop();
      signal?.throwIfAborted();
      const shownKey = (top as JObject).isTaintedKey(key) ? undefined : key;
      if (shownKey === undefined) (files.secretNames ??= new Set()).add(key);
      try {
        files.set(key, ev.run(() => ev.fileContent(ev.field(top as JObject, key))));
      } catch (err) {
        fail(err, shownKey ?? SECRET_NAME);
      }
    }
    return files;
  }
}

/** How an output whose name is derived from a secret is named in messages, logs and --check. */
export const SECRET_NAME = '[a name derived from a secret]';

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** The one-line message of an evaluation error; a message derived from a secret is never shown. */
function describe(err: unknown, secrets: unknown, key: string | undefined): string {
  const where = key === undefined ? '' : `output "${key}": `;
  if (err instanceof StaticError) return where + redactSecrets(err.message, secrets);
  if (err instanceof RuntimeError) {
    const detail = err.origin === 'secret' ? '[error message redacted: derived from a secret]' : err.detail;
    const stack = formatStack([...err.frames, { loc: err.pending, name: '' }]);
    return where + redactSecrets(`RUNTIME ERROR: ${detail}${stack === '' ? '' : ` (at ${stack})`}`, secrets);
  }
  return where + redactSecrets((err as Error).message, secrets);
}

/**
 * Belt and braces: every secret string of 4 characters or more, as is and JSON-escaped, becomes [redacted] in an
 * error message (the evaluator's own messages never quote a runtime string, and a template's own error message
 * derived from a secret is withheld whole).
 */
export function redactSecrets(message: string, secrets: unknown): string {
  const values = new Set<string>();
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (v.length >= 4) values.add(v).add(JSON.stringify(v).slice(1, -1));
    } else if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (v !== null && typeof v === 'object') {
      Object.values(v).forEach(walk);
    }
  };
  walk(secrets);
  let out = message;
  for (const s of [...values].sort((a, b) => b.length - a.length)) out = out.split(s).join('[redacted]');
  return out;
}
