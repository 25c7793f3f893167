/**
 * The render stage: evaluate a template with its secrets, resolve output paths (confined to the template's dir, see
 * output-path.ts), refuse two templates writing the same file, and write files atomically with their mode and owner
 * (write.ts: no symbolic link followed). Writing is prepare (every temporary file written and fsync'd) then commit
 * (the renames), so that a batch of templates is put in place only once all of it is ready. It knows nothing about
 * where secrets come from.
 */
import { basename, dirname, join } from 'node:path';
import { stat } from '../fsp.js';
import { monotonicMs } from '../clock.js';
import type { TemplateConfig } from '../config/load.js';
import { inThreadPool } from '../thread-pool.js';
import type { Logger } from '../log.js';
import { JsonnetEvaluator, SECRET_NAME, TemplateError, type EvaluationInput } from './jsonnet.js';
import { OutputError, resolveOutputPath } from './output-path.js';
import { resolveOwner, OwnerError, type Owner } from './owner.js';
import {
  assertWithin,
  compareFile,
  Dirs,
  EscapeError,
  prepareFile,
  removeStaleTemps,
  WriteFailure,
  type Comparison,
  type PreparedFile,
  type WriteOutcome,
} from './write.js';

export { JsonnetEvaluator, TemplateError, type EvaluationInput } from './jsonnet.js';
export { OutputError } from './output-path.js';
export type { Comparison } from './write.js';

export interface PlannedFile {
  readonly path: string;
  /** The template's key for this file, as it gave it. */
  readonly key: string;
  /**
   * The path as messages, logs and --check name it: the path, or, when the template computed the key from a secret
   * value, the template's dir and SECRET_NAME (a name is as hostile to show as the value it came from).
   */
  readonly shown: string;
  /** The template's dir when the key is relative: the file must stay inside it, symbolic links resolved. */
  readonly within: string | undefined;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner: Owner | undefined;
}

export interface FileResult {
  readonly path: string;
  /** The path as logs name it (see PlannedFile.shown). */
  readonly shown: string;
  readonly outcome: WriteOutcome;
  readonly bytes: number;
}

/** A template's files, prepared (temporary files written), not yet in place. */
export interface PreparedTemplate {
  readonly template: TemplateConfig;
  readonly files: readonly { readonly file: PlannedFile; readonly prepared: PreparedFile }[];
}

/** A commit that failed after `renamed` of the template's files were put in place (their credentials are in use). */
export class CommitError extends Error {
  override readonly name = 'CommitError';
  constructor(
    readonly error: Error,
    readonly renamed: readonly FileResult[],
  ) {
    super(error.message);
  }
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

/**
 * Evaluates a template into output key -> content: text (written as UTF-8) or bytes (written as they are).
 * `secretNames`: the keys computed from a secret value (never shown).
 */
export interface TemplateEvaluator {
  /** Stops between two slices of work once `signal` is aborted (rejects with its reason). */
  evaluate(
    template: string,
    templatePath: string,
    input: EvaluationInput,
    signal?: AbortSignal,
  ): Promise<ReadonlyMap<string, string | Uint8Array> & { readonly secretNames?: ReadonlySet<string> }>;
  /** Optional: get ready to evaluate this template soon (read, compile, load what it needs). */
  prepare?(templatePath: string): void;
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

  /** Get ready to evaluate this template soon (see JsonnetEvaluator.prepare); never throws. */
  prepareEvaluation(tmpl: TemplateConfig): void {
    try {
      this.evaluator.prepare?.(tmpl.templatePath);
    } catch {
      // the evaluation says what is wrong
    }
  }

  /** Evaluate a template and resolve where its files go. Writes nothing. Throws TemplateError or OutputError. */
  async plan(tmpl: TemplateConfig, input: EvaluationInput, signal?: AbortSignal): Promise<PlannedFile[]> {
    const started = monotonicMs();
    const cpu = process.cpuUsage();
    const outputs = await this.evaluator.evaluate(tmpl.template, tmpl.templatePath, input, signal);
    const used = process.cpuUsage(cpu);
    const round = (ms: number): number => Math.round(ms * 100) / 100;
    this.opts.logger.debug(
      { template: tmpl.template, files: outputs.size, ms: round(monotonicMs() - started), cpuMs: round((used.user + used.system) / 1000) },
      'template evaluated',
    );
    const owner = this.ownerFor(tmpl);
    const confine = tmpl.confine ?? this.opts.confine ?? false;
    const files: PlannedFile[] = [];
    const byPath = new Map<string, PlannedFile>();
    for (const [key, content] of outputs) {
      const secretName = outputs.secretNames?.has(key) === true;
      const shownKey = secretName ? SECRET_NAME : key;
      const { path, absolute } = resolveOutputPath(tmpl, key, confine, shownKey);
      // Two keys of one template naming one file (`a.txt` and `./a.txt`): which content wins would be an accident.
      const same = byPath.get(path);
      if (same !== undefined) {
        const other = same.shown === same.path ? JSON.stringify(same.key) : SECRET_NAME;
        throw new OutputError(tmpl.configFile, tmpl.template, shownKey, `names the same file as output ${other}${secretName ? '' : ` (${path})`}`);
      }
      const file: PlannedFile = {
        path,
        key,
        shown: !secretName ? path : absolute || tmpl.dir === undefined ? SECRET_NAME : join(tmpl.dir, SECRET_NAME),
        within: absolute ? undefined : tmpl.dir,
        // Bytes are written as they are; text as UTF-8.
        content: typeof content === 'string' ? Buffer.from(content, 'utf8') : Buffer.from(content.buffer, content.byteOffset, content.byteLength),
        mode: tmpl.mode,
        owner,
      };
      files.push(file);
      byPath.set(path, file);
    }
    for (const f of files) {
      if (f.within !== undefined || this.listedAbsolute.has(`${tmpl.id}\0${f.path}`)) continue;
      this.listedAbsolute.add(`${tmpl.id}\0${f.path}`);
      this.opts.logger.info(
        { template: tmpl.template, config: tmpl.configFile, path: f.shown },
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
          `writes ${f.shown}, which template "${other?.template ?? holder}" (${other?.configFile ?? '?'}) also writes`,
        );
      }
    }
    for (const path of this.claimed.get(tmpl.id) ?? []) if (this.owners.get(path) === tmpl.id) this.owners.delete(path);
    for (const f of files) this.owners.set(f.path, tmpl.id);
    this.claimed.set(tmpl.id, files.map((f) => f.path));
  }

  /**
   * Prepare a template's planned files: every output is checked first (no output may leave its dir through a symbolic
   * link: an early refusal by path, before any directory is created), stale temporary files are removed, then each
   * file's temporary file is written and fsync'd (write.ts opens the directories without following links). Nothing is
   * in place until commit(). A failure removes what was prepared and throws OutputError naming the config file, the
   * template and the output path.
   */
  async prepare(tmpl: TemplateConfig, files: readonly PlannedFile[], dirs: Dirs): Promise<PreparedTemplate> {
    await this.checkConfinement(tmpl, files);
    const prepared: { file: PlannedFile; prepared: PreparedFile }[] = [];
    try {
      for (const f of files) {
        try {
          await this.sweep(tmpl, f, dirs);
          prepared.push({ file: f, prepared: await prepareFile(f, dirs) });
        } catch (err) {
          throw this.outputError(tmpl, f, err);
        }
      }
    } catch (err) {
      await this.abort({ template: tmpl, files: prepared });
      throw err;
    }
    return { template: tmpl, files: prepared };
  }

  /**
   * Put a prepared template's files in place (the renames, in order). A failure removes the temporary files not yet
   * renamed and throws a CommitError carrying the files already renamed. The directories' fsync is left to
   * dirs.flush(), after which the caller reports the files written (written()).
   */
  async commit(p: PreparedTemplate, dirs: Dirs): Promise<FileResult[]> {
    const tmpl = p.template;
    const results: FileResult[] = [];
    for (let i = 0; i < p.files.length; i++) {
      const { file: f, prepared } = p.files[i]!;
      try {
        await prepared.commit();
      } catch (err) {
        await this.abort({ template: tmpl, files: p.files.slice(i + 1) });
        throw new CommitError(this.outputError(tmpl, f, err), results);
      }
      results.push({ path: f.path, shown: f.shown, outcome: prepared.outcome, bytes: f.content.length });
      await this.checkDir(tmpl, f, dirs);
    }
    return results;
  }

  /** Log a template's files as written: once their directories are fsync'd (dirs.flush()). */
  written(tmpl: TemplateConfig, results: readonly FileResult[]): void {
    for (const r of results) {
      this.opts.logger.debug(
        { template: tmpl.template, config: tmpl.configFile, path: r.shown, outcome: r.outcome, bytes: r.bytes },
        r.outcome === 'unchanged' ? 'file unchanged' : 'file written',
      );
    }
  }

  /** Remove a prepared template's temporary files (nothing of it is put in place). */
  async abort(p: PreparedTemplate): Promise<void> {
    await Promise.all(p.files.map((f) => f.prepared.abort()));
  }

  /** Prepare and commit one template's files, and fsync their directories. */
  async write(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<FileResult[]> {
    const dirs = new Dirs();
    try {
      const results = await this.commit(await this.prepare(tmpl, files, dirs), dirs);
      await dirs.flush();
      this.written(tmpl, results);
      return results;
    } finally {
      await dirs.close();
    }
  }

  /** --check: what writing these files would do to each (new, changed, unchanged). Writes nothing. */
  async compare(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<Comparison[]> {
    await this.checkConfinement(tmpl, files);
    const dirs = new Dirs();
    const out: Comparison[] = [];
    try {
      for (const f of files) {
        try {
          out.push(await compareFile(f, dirs));
        } catch (err) {
          throw this.outputError(tmpl, f, err);
        }
      }
    } finally {
      await dirs.close();
    }
    return out;
  }

  private async checkConfinement(tmpl: TemplateConfig, files: readonly PlannedFile[]): Promise<void> {
    const checked = new Set<string>(); // the check depends on the directory only
    for (const f of files) {
      if (f.within === undefined) continue;
      const key = `${f.within}\0${dirname(f.path)}`;
      if (checked.has(key)) continue;
      checked.add(key);
      try {
        await assertWithin(f.within, f.path);
      } catch (err) {
        throw this.outputError(tmpl, f, err);
      }
    }
  }

  private outputError(tmpl: TemplateConfig, f: PlannedFile, err: unknown): Error {
    if (err instanceof OutputError) return err;
    // The paths in a message are the output's or its directories': not shown when the name came from a secret.
    const secretName = f.shown !== f.path;
    if (err instanceof EscapeError) {
      return new OutputError(tmpl.configFile, tmpl.template, secretName ? SECRET_NAME : f.key, secretName ? 'leaves its dir through a symbolic link' : err.message);
    }
    if (err instanceof WriteFailure) {
      const detail = err.path === f.path ? `${err.step} it: ${err.detail}` : secretName ? `a directory on its way: ${err.detail}` : err.message;
      return new OutputError(tmpl.configFile, tmpl.template, f.shown, detail);
    }
    return new OutputError(tmpl.configFile, tmpl.template, f.shown, secretName ? 'cannot be written' : (err as Error).message);
  }

  /**
   * Temporary files left by a tconfd killed while writing this file: removed before its first write here, and looked
   * for again at later writes while some may still belong to a live writer.
   */
  private async sweep(tmpl: TemplateConfig, f: PlannedFile, dirs: Dirs): Promise<void> {
    if (this.swept.has(f.path)) return;
    const dir = (await dirs.open(dirname(f.path), f.within, true))!;
    if (dir.created) {
      this.swept.add(f.path); // a directory this batch made holds nothing of an earlier tconfd
      return;
    }
    const { removed, pending } = await removeStaleTemps(dir, basename(f.path));
    if (pending === 0) this.swept.add(f.path);
    if (removed > 0) {
      this.opts.logger.info(
        { template: tmpl.template, config: tmpl.configFile, path: f.shown, removed },
        'removed temporary files left by an interrupted write',
      );
    }
  }

  /**
   * A directory another user can write to (owned by another user, or group- or other-writable) lets them plant or
   * swap files next to the secrets: said once per directory.
   */
  private async checkDir(tmpl: TemplateConfig, f: PlannedFile, dirs: Dirs): Promise<void> {
    const path = dirname(f.path);
    if (this.checkedDirs.has(path)) return;
    this.checkedDirs.add(path);
    const dir = await dirs.open(path, f.within, false).catch(() => undefined);
    const st = dir === undefined ? undefined : await inThreadPool(() => stat(dir.at('.'))).catch(() => undefined);
    if (st === undefined) return;
    const me = process.geteuid?.();
    const otherOwner = me !== undefined && st.uid !== me && st.uid !== f.owner?.uid;
    const writable = (st.mode & 0o022) !== 0;
    if (!otherOwner && !writable) return;
    this.opts.logger.warn(
      { template: tmpl.template, config: tmpl.configFile, dir: dirname(f.shown), mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid },
      otherOwner
        ? `the output directory is writable by other users (it is owned by uid ${st.uid}): they can plant or replace files next to the secrets`
        : `the output directory is writable by other users (${(st.mode & 0o002) !== 0 ? 'by everyone' : 'by its group'}): they can plant or replace files next to the secrets`,
    );
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
