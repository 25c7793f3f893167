/**
 * Jsonnet evaluation with @hanazuki/node-jsonnet (libjsonnet). Each template is a multi-file program
 * (evaluateFileMulti): its top-level keys are output paths, its values the files' contents.
 */
import { Jsonnet, JsonnetError } from '@hanazuki/node-jsonnet';
import { dirname } from 'node:path';
import type { LeaseFacts } from '../sources/types.js';
import { registerNatives } from './native.js';

export interface EvaluationInput {
  /** std.extVar('secrets'): secret name -> value, exactly as in rconfd. */
  readonly secrets: Readonly<Record<string, unknown>>;
  /** std.extVar('leases'): secret name -> lease facts (Vault secrets only). */
  readonly leases: Readonly<Record<string, LeaseFacts>>;
}

/** A template that does not evaluate. The message is libjsonnet's (file:line:column), prefixed with the template. */
export class TemplateError extends Error {
  override readonly name = 'TemplateError';
  constructor(
    readonly template: string,
    readonly detail: string,
  ) {
    super(`template "${template}": ${firstLines(detail)}`);
  }
}

function firstLines(detail: string): string {
  // libjsonnet: "RUNTIME ERROR: msg\n\tfile:3:18-24\tobject <anonymous>\n..." -> "RUNTIME ERROR: msg (at file:3:18-24)"
  const lines = detail.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const head = lines[0] ?? 'evaluation failed';
  const loc = lines.slice(1).map((l) => l.split('\t')[0]!).find((l) => /:\d+:\d+/.test(l));
  return loc !== undefined && !head.includes(loc) ? `${head} (at ${loc})` : head;
}

export interface EvaluatorOptions {
  /** --jpath directories (the template's own directory is always searched first). */
  readonly jpaths: readonly string[];
}

export class JsonnetEvaluator {
  constructor(private readonly opts: EvaluatorOptions) {}

  /** Evaluate a template: output key -> content text (strings as-is with a final newline, anything else as JSON). */
  async evaluate(template: string, templatePath: string, input: EvaluationInput): Promise<Map<string, string>> {
    const vm = new Jsonnet();
    // Paths added later take precedence: --jpath in order given, then the template's own directory.
    for (let i = this.opts.jpaths.length - 1; i >= 0; i--) vm.addJpath(this.opts.jpaths[i]!);
    vm.addJpath(dirname(templatePath));
    vm.extCode('secrets', JSON.stringify(input.secrets));
    vm.extCode('leases', JSON.stringify(input.leases));
    registerNatives(vm);
    let outputs: Record<string, string>;
    try {
      outputs = await vm.evaluateFileMulti(templatePath);
    } catch (err) {
      if (err instanceof JsonnetError || err instanceof Error) {
        throw new TemplateError(template, redactSecrets(err.message, input.secrets));
      }
      throw err;
    }
    const files = new Map<string, string>();
    for (const [key, json] of Object.entries(outputs)) {
      files.set(key, manifest(json));
    }
    return files;
  }
}

/**
 * libjsonnet quotes the offending value in some errors (std.base64Decode, std.parseInt, ...): every secret string of
 * 4 characters or more, as is and JSON-escaped, becomes [redacted], so that a template error never carries a secret
 * into logs or the exit message.
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

/** A string is written as-is (with a trailing newline added if missing, as rconfd does); anything else as JSON. */
export function manifest(json: string): string {
  const trimmed = json.trimStart();
  if (trimmed.startsWith('"')) {
    const text = JSON.parse(json) as string;
    return text.endsWith('\n') ? text : text + '\n';
  }
  return json.endsWith('\n') ? json : json + '\n';
}
