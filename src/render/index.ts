/**
 * The render stage: evaluate a template with its secrets, resolve output paths, refuse two templates writing the same
 * file, and write files atomically with their mode and owner. It knows nothing about where secrets come from.
 */
import { isAbsolute, resolve } from 'node:path';
import type { TemplateConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { JsonnetEvaluator, TemplateError, type EvaluationInput } from './jsonnet.js';
import { resolveOwner, OwnerError, type Owner } from './owner.js';
import { sha256, writeFileAtomic, type WriteOutcome } from './write.js';

export { JsonnetEvaluator, TemplateError, type EvaluationInput } from './jsonnet.js';
export { sha256 } from './write.js';

export interface PlannedFile {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner: Owner | undefined;
}

export interface FileResult {
  readonly path: string;
  readonly outcome: WriteOutcome;
  readonly bytes: number;
  readonly sha256: string;
}

export interface RendererOptions {
  readonly jpaths: readonly string[];
  /** --render-timeout: evaluation time limit per template, in milliseconds (default 10 s). */
  readonly renderTimeoutMs?: number;
  readonly logger: Logger;
  /** Whether owners can be applied (running as root). Default: process.getuid() === 0. */
  readonly isRoot?: boolean;
}

export class Renderer {
  private readonly evaluator: JsonnetEvaluator;
  private readonly isRoot: boolean;
  /** output path -> id of the template that writes it */
  private readonly owners = new Map<string, string>();
  /** template id -> the paths it claimed */
  private readonly claimed = new Map<string, readonly string[]>();
  private readonly warnedUser = new Set<string>();

  constructor(private readonly opts: RendererOptions) {
    this.evaluator = new JsonnetEvaluator({
      jpaths: opts.jpaths,
      ...(opts.renderTimeoutMs !== undefined ? { timeoutMs: opts.renderTimeoutMs } : {}),
      trace: (template, message, where) => opts.logger.info({ template, at: where }, `std.trace: ${message}`),
    });
    this.isRoot = opts.isRoot ?? process.getuid?.() === 0;
  }

  /** Evaluate a template and resolve where its files go. Writes nothing. Throws TemplateError. */
  async plan(tmpl: TemplateConfig, input: EvaluationInput): Promise<PlannedFile[]> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const outputs = await this.evaluator.evaluate(tmpl.template, tmpl.templatePath, input);
    const used = process.cpuUsage(cpu);
    const round = (ms: number): number => Math.round(ms * 100) / 100;
    this.opts.logger.debug(
      { template: tmpl.template, files: outputs.size, ms: round(performance.now() - started), cpuMs: round((used.user + used.system) / 1000) },
      'template evaluated',
    );
    const owner = this.ownerFor(tmpl);
    const files: PlannedFile[] = [];
    for (const [key, content] of outputs) {
      let path: string;
      if (isAbsolute(key)) {
        path = key;
      } else if (tmpl.dir !== undefined) {
        path = resolve(tmpl.dir, key);
      } else {
        throw new TemplateError(tmpl.template, `output "${key}" is a relative path and the template has no "dir"`);
      }
      files.push({ path, content, mode: tmpl.mode, owner });
    }
    return files;
  }

  /**
   * Claim the output paths of a template; two templates writing the same file is an error naming both. `others` are
   * plans of the same pass not claimed yet (at startup every template is planned before anything is written).
   */
  claim(tmpl: TemplateConfig, files: readonly PlannedFile[], templates: readonly TemplateConfig[]): void {
    for (const f of files) {
      const holder = this.owners.get(f.path);
      if (holder !== undefined && holder !== tmpl.id) {
        const other = templates.find((t) => t.id === holder);
        throw new TemplateError(
          tmpl.template,
          `writes ${f.path}, which template "${other?.template ?? holder}" (${other?.configFile ?? '?'}) also writes`,
        );
      }
    }
    for (const path of this.claimed.get(tmpl.id) ?? []) if (this.owners.get(path) === tmpl.id) this.owners.delete(path);
    for (const f of files) this.owners.set(f.path, tmpl.id);
    this.claimed.set(tmpl.id, files.map((f) => f.path));
  }

  async write(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<FileResult[]> {
    const results: FileResult[] = [];
    for (const f of files) {
      const outcome = await writeFileAtomic(f);
      const result = { path: f.path, outcome, bytes: f.content.length, sha256: sha256(f.content) };
      results.push(result);
      this.opts.logger.debug(
        { template: tmpl.template, config: tmpl.configFile, path: f.path, outcome, bytes: result.bytes },
        outcome === 'unchanged' ? 'file unchanged' : 'file written',
      );
    }
    return results;
  }

  private ownerFor(tmpl: TemplateConfig): Owner | undefined {
    if (tmpl.user === undefined) return undefined;
    if (!this.isRoot) {
      if (!this.warnedUser.has(tmpl.id)) {
        this.warnedUser.add(tmpl.id);
        this.opts.logger.warn(
          { template: tmpl.template, config: tmpl.configFile, user: tmpl.user },
          `"user" is set but tconfd is not running as root: files keep tconfd's own owner`,
        );
      }
      return undefined;
    }
    try {
      return resolveOwner(tmpl.user);
    } catch (err) {
      if (err instanceof OwnerError) throw new TemplateError(tmpl.template, `"user": ${err.message}`);
      throw err;
    }
  }
}
