/**
 * The render stage: evaluate a template with its secrets, resolve output paths (confined to the template's dir, see
 * output-path.ts), refuse two templates writing the same file, and write files atomically with their mode and owner
 * (write.ts: no symbolic link followed). It knows nothing about where secrets come from.
 */
import { dirname } from 'node:path';
import { stat } from 'node:fs/promises';
import type { TemplateConfig } from '../config/load.js';
import type { Logger } from '../log.js';
import { JsonnetEvaluator, TemplateError, type EvaluationInput } from './jsonnet.js';
import { OutputError, resolveOutputPath } from './output-path.js';
import { resolveOwner, OwnerError, type Owner } from './owner.js';
import {
  assertWithin,
  compareFile,
  EscapeError,
  removeStaleTemps,
  WriteFailure,
  writeFileAtomic,
  type Comparison,
  type WriteOutcome,
} from './write.js';

export { JsonnetEvaluator, TemplateError, type EvaluationInput } from './jsonnet.js';
export { OutputError } from './output-path.js';
export type { Comparison } from './write.js';

export interface PlannedFile {
  readonly path: string;
  /** The template's key for this file, as it gave it. */
  readonly key: string;
  /** The template's dir when the key is relative: the file must stay inside it, symbolic links resolved. */
  readonly within: string | undefined;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner: Owner | undefined;
}

export interface FileResult {
  readonly path: string;
  readonly outcome: WriteOutcome;
  readonly bytes: number;
}

export interface RendererOptions {
  readonly jpaths: readonly string[];
  /** --render-timeout: evaluation time limit per template, in milliseconds (default 10 s). */
  readonly renderTimeoutMs?: number;
  readonly logger: Logger;
  /** Whether owners can be applied (running as root). Default: process.getuid() === 0. */
  readonly isRoot?: boolean;
  /** --confine: absolute output paths are refused unless a template says "confine": false. Default false. */
  readonly confine?: boolean;
  /** The template evaluator (default: JsonnetEvaluator with the jpaths). A file's content may be text or bytes. */
  readonly evaluator?: TemplateEvaluator;
}

/** Evaluates a template into output key -> content: text (written as UTF-8) or bytes (written as they are). */
export interface TemplateEvaluator {
  evaluate(template: string, templatePath: string, input: EvaluationInput): Promise<ReadonlyMap<string, string | Uint8Array>>;
}

export class Renderer {
  private readonly evaluator: TemplateEvaluator;
  private readonly isRoot: boolean;
  /** output path -> id of the template that writes it */
  private readonly owners = new Map<string, string>();
  /** template id -> the paths it claimed */
  private readonly claimed = new Map<string, readonly string[]>();
  private readonly warnedUser = new Set<string>();
  /** Absolute output paths already listed at info (template id + path). */
  private readonly listedAbsolute = new Set<string>();
  /** Output paths whose stale temporary files were looked for (once per process). */
  private readonly swept = new Set<string>();
  /** Output directories already checked for write access by others. */
  private readonly checkedDirs = new Set<string>();

  constructor(private readonly opts: RendererOptions) {
    this.evaluator =
      opts.evaluator ??
      new JsonnetEvaluator({
        jpaths: opts.jpaths,
        ...(opts.renderTimeoutMs !== undefined ? { timeoutMs: opts.renderTimeoutMs } : {}),
        trace: (template, message, where) => opts.logger.info({ template, at: where }, `std.trace: ${message}`),
      });
    this.isRoot = opts.isRoot ?? process.getuid?.() === 0;
  }

  /** Evaluate a template and resolve where its files go. Writes nothing. Throws TemplateError or OutputError. */
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
    const confine = tmpl.confine ?? this.opts.confine ?? false;
    const files: PlannedFile[] = [];
    for (const [key, content] of outputs) {
      const { path, absolute } = resolveOutputPath(tmpl, key, confine);
      files.push({
        path,
        key,
        within: absolute ? undefined : tmpl.dir,
        // Bytes are written as they are; text as UTF-8.
        content: typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content.buffer, content.byteOffset, content.byteLength),
        mode: tmpl.mode,
        owner,
      });
    }
    for (const f of files) {
      if (f.within !== undefined || this.listedAbsolute.has(`${tmpl.id}\0${f.path}`)) continue;
      this.listedAbsolute.add(`${tmpl.id}\0${f.path}`);
      this.opts.logger.info(
        { template: tmpl.template, config: tmpl.configFile, path: f.path },
        'template writes an absolute path, outside its dir',
      );
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

  /**
   * Write a template's planned files. Every file is checked first (no output may leave its dir through a symbolic
   * link), so that a refused output means nothing of the template is written. Throws OutputError naming the config
   * file, the template and the output path.
   */
  async write(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<FileResult[]> {
    await this.checkConfinement(tmpl, files);
    const results: FileResult[] = [];
    for (const f of files) {
      await this.sweep(tmpl, f.path);
      let outcome: WriteOutcome;
      try {
        outcome = await writeFileAtomic(f);
      } catch (err) {
        throw this.outputError(tmpl, f, err);
      }
      const result = { path: f.path, outcome, bytes: f.content.length };
      results.push(result);
      this.opts.logger.debug(
        { template: tmpl.template, config: tmpl.configFile, path: f.path, outcome, bytes: result.bytes },
        outcome === 'unchanged' ? 'file unchanged' : 'file written',
      );
      await this.checkDir(tmpl, dirname(f.path));
    }
    return results;
  }

  /** --check: what writing these files would do to each (new, changed, unchanged). Writes nothing. */
  async compare(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<Comparison[]> {
    await this.checkConfinement(tmpl, files);
    const out: Comparison[] = [];
    for (const f of files) {
      try {
        out.push(await compareFile(f.path, f.content));
      } catch (err) {
        throw this.outputError(tmpl, f, err);
      }
    }
    return out;
  }

  private async checkConfinement(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<void> {
    for (const f of files) {
      if (f.within === undefined) continue;
      try {
        await assertWithin(f.within, f.path);
      } catch (err) {
        throw this.outputError(tmpl, f, err);
      }
    }
  }

  private outputError(tmpl: TemplateConfig, f: PlannedFile, err: unknown): Error {
    if (err instanceof OutputError) return err;
    if (err instanceof EscapeError) return new OutputError(tmpl.configFile, tmpl.template, f.key, err.message);
    if (err instanceof WriteFailure) {
      const detail = err.path === f.path ? `${err.step} it: ${err.detail}` : err.message;
      return new OutputError(tmpl.configFile, tmpl.template, f.path, detail);
    }
    return new OutputError(tmpl.configFile, tmpl.template, f.path, (err as Error).message);
  }

  /**
   * Temporary files left by a tconfd killed while writing this file: removed before its first write here, and looked
   * for again at later writes while some may still belong to a live writer.
   */
  private async sweep(tmpl: TemplateConfig, path: string): Promise<void> {
    if (this.swept.has(path)) return;
    const { removed, pending } = await removeStaleTemps(path);
    if (pending === 0) this.swept.add(path);
    if (removed > 0) {
      this.opts.logger.info(
        { template: tmpl.template, config: tmpl.configFile, path, removed },
        'removed temporary files left by an interrupted write',
      );
    }
  }

  /** A directory others can write to lets them plant or swap files next to secrets: said once per directory. */
  private async checkDir(tmpl: TemplateConfig, dir: string): Promise<void> {
    if (this.checkedDirs.has(dir)) return;
    this.checkedDirs.add(dir);
    const st = await stat(dir).catch(() => undefined);
    if (st !== undefined && (st.mode & 0o002) !== 0) {
      this.opts.logger.warn(
        { template: tmpl.template, config: tmpl.configFile, dir, mode: (st.mode & 0o7777).toString(8).padStart(4, '0') },
        'the output directory is writable by other users: they can plant or replace files next to the secrets',
      );
    }
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
