/**
 * The rendering pipeline: holds the current value of every secret, builds each template's std.extVar inputs, renders
 * a template (re-running its dynamic exe secrets first) and reports which files changed and which leases its files
 * now hold. It talks to sources only through the registry and to files only through the render stage.
 */
import type { LoadedConfig, TemplateConfig } from '../config/load.js';
import type { SecretSpec, VaultSecretSpec } from '../config/secret-path.js';
import type { Logger } from '../log.js';
import { CommitError, Renderer, TemplateError, type FileResult, type PlannedFile, type PreparedTemplate } from '../render/index.js';
import { Dirs } from '../render/write.js';
import { fetchSecret, type Fetched, type LeaseFacts, type SourceRegistry } from '../sources/index.js';
import type { Clock } from '../clock.js';

export interface TemplateOutcome {
  readonly template: TemplateConfig;
  readonly files: readonly FileResult[];
  /** Paths whose bytes changed (created or updated), as logs name them (FileResult.shown). */
  readonly changed: readonly string[];
  /** Lease ids of the secrets the files were rendered from: they hold those credentials now. */
  readonly uses: readonly string[];
}

/**
 * Writing failed after the files of some templates were put in place: those files hold the credentials of `committed`
 * (the leases in `holds`), which must not be revoked; every other template's previous files are untouched.
 */
export class PartialWriteError extends Error {
  override readonly name = 'PartialWriteError';
  constructor(
    readonly error: Error,
    readonly committed: readonly TemplateOutcome[],
  ) {
    super(error.message);
  }

  /** Lease ids whose credentials are in files now. */
  get holds(): string[] {
    return [...new Set(this.committed.flatMap((o) => o.uses))];
  }
}

export interface PipelineOptions {
  readonly config: LoadedConfig;
  readonly sources: SourceRegistry;
  readonly renderer: Renderer;
  readonly logger: Logger;
  readonly clock: Clock;
}

export class Pipeline {
  private readonly values = new Map<string, Fetched>();

  constructor(private readonly opts: PipelineOptions) {}

  get templates(): readonly TemplateConfig[] {
    return this.opts.config.templates;
  }

  /** Fetch every secret once (in parallel). Throws the first failure (SecretFetchError naming the path). */
  async fetchAll(signal?: AbortSignal): Promise<void> {
    const specs = [...this.opts.config.secrets.values()];
    const results = await Promise.allSettled(specs.map((s) => this.fetch(s, signal)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async fetch(spec: SecretSpec, signal?: AbortSignal): Promise<Fetched> {
    const started = this.opts.clock.now();
    const fetched = await fetchSecret(this.opts.sources, spec, signal);
    this.values.set(spec.raw, fetched);
    this.opts.logger.debug(
      { secret: spec.raw, lifetime: fetched.lifetime.kind, ms: this.opts.clock.now() - started },
      'secret fetched',
    );
    return fetched;
  }

  /** Replace a secret's value (from the lease scheduler). Returns whether the value changed. */
  update(raw: string, fetched: Fetched): boolean {
    const previous = this.values.get(raw);
    this.values.set(raw, fetched);
    return previous === undefined || JSON.stringify(previous.value) !== JSON.stringify(fetched.value);
  }

  /** The distinct Vault secrets of the config. */
  vaultSecrets(): VaultSecretSpec[] {
    return [...this.opts.config.secrets.values()].filter((s): s is VaultSecretSpec => s.backend === 'vault');
  }

  /** The name a secret has in templates (the first one, if templates name it differently): for metrics and health. */
  nameOf(raw: string): string {
    for (const t of this.templates) for (const s of t.secrets) if (s.spec.raw === raw) return s.name;
    return raw;
  }

  current(raw: string): Fetched | undefined {
    return this.values.get(raw);
  }

  /** Templates that use a given secret. */
  usersOf(raw: string): TemplateConfig[] {
    return this.templates.filter((t) => t.secrets.some((s) => s.spec.raw === raw));
  }

  /** Re-run the dynamic exe secrets of these templates (once each, however many templates share them). */
  async refreshDynamic(templates: readonly TemplateConfig[], signal?: AbortSignal): Promise<void> {
    const specs = new Map<string, SecretSpec>();
    for (const t of templates) {
      for (const s of t.secrets) {
        if (s.spec.backend === 'exe' && s.spec.refresh === 'dynamic') specs.set(s.spec.raw, s.spec);
      }
    }
    await Promise.all([...specs.values()].map((s) => this.fetch(s, signal)));
  }

  /** The std.extVar inputs of a template from the current values. */
  inputFor(tmpl: TemplateConfig): { secrets: Record<string, unknown>; leases: Record<string, LeaseFacts> } {
    // Without a prototype: a secret named "__proto__" is a field like any other, never the object's prototype.
    const secrets = Object.create(null) as Record<string, unknown>;
    const leases = Object.create(null) as Record<string, LeaseFacts>;
    for (const { name, spec } of tmpl.secrets) {
      const f = this.values.get(spec.raw);
      if (f === undefined) throw new TemplateError(tmpl.template, `secret "${spec.raw}" has no value yet`);
      secrets[name] = f.value;
      const facts = leaseFacts(f);
      if (facts !== undefined) leases[name] = facts;
    }
    return { secrets, leases };
  }

  /**
   * Evaluate templates and check that no two write the same file. Writes nothing. An evaluation stops between two of
   * its slices once `signal` is aborted (a slice itself is bounded by --render-timeout).
   */
  async plan(templates: readonly TemplateConfig[], signal?: AbortSignal): Promise<Map<TemplateConfig, PlannedFile[]>> {
    const plans = new Map<TemplateConfig, PlannedFile[]>();
    const evaluated = await Promise.all(
      templates.map(async (t) => [t, await this.opts.renderer.plan(t, this.inputFor(t), signal)] as const),
    );
    for (const [t, files] of evaluated) {
      this.opts.renderer.claim(t, files, this.templates);
      plans.set(t, files);
    }
    return plans;
  }

  /**
   * Write planned files, all or nothing as far as the file system lets: every temporary file of every template is
   * written and fsync'd before any is renamed over its output, so a file that cannot be written (a dir that is not a
   * directory, EACCES, ENOSPC...) leaves every previous file in place. A failure among the renames (rare: the
   * directory changed meanwhile) throws a PartialWriteError naming what is already in place. Once `signal` is aborted,
   * nothing more is prepared and nothing is renamed; renames already begun are finished. Returns what changed per
   * template.
   */
  async write(plans: ReadonlyMap<TemplateConfig, PlannedFile[]>, signal?: AbortSignal): Promise<TemplateOutcome[]> {
    const renderer = this.opts.renderer;
    const dirs = new Dirs();
    try {
      const prepared: PreparedTemplate[] = [];
      try {
        for (const [t, files] of plans) {
          signal?.throwIfAborted();
          prepared.push(await renderer.prepare(t, files, dirs));
        }
        signal?.throwIfAborted();
      } catch (err) {
        await Promise.all(prepared.map((p) => renderer.abort(p)));
        throw err;
      }
      const outcomes: TemplateOutcome[] = [];
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i]!;
        try {
          outcomes.push(this.outcome(p.template, await renderer.commit(p, dirs)));
        } catch (err) {
          await Promise.all(prepared.slice(i + 1).map((q) => renderer.abort(q)));
          const cause = err instanceof CommitError ? err.error : (err as Error);
          const partly = err instanceof CommitError && err.renamed.length > 0 ? [this.outcome(p.template, err.renamed)] : [];
          if (outcomes.length + partly.length === 0) throw cause;
          throw new PartialWriteError(cause, [...outcomes, ...partly]);
        }
      }
      return outcomes;
    } finally {
      await dirs.close();
    }
  }

  private outcome(t: TemplateConfig, results: readonly FileResult[]): TemplateOutcome {
    return { template: t, files: results, changed: results.filter((r) => r.outcome !== 'unchanged').map((r) => r.shown), uses: this.leasesOf(t) };
  }

  /**
   * Render one template at runtime: its dynamic exe secrets are run again (aborted with signal), it is evaluated from
   * the current values and its files are written. Rejects when any step fails (its files are left as they were).
   */
  async renderOne(t: TemplateConfig, signal?: AbortSignal): Promise<TemplateOutcome> {
    await this.refreshDynamic([t], signal);
    signal?.throwIfAborted();
    const uses = this.leasesOf(t);
    const plans = await this.plan([t], signal);
    signal?.throwIfAborted();
    try {
      const [outcome] = await this.write(plans);
      return { ...outcome!, uses };
    } catch (err) {
      // The files put in place hold the credentials the template was evaluated with.
      if (err instanceof PartialWriteError) throw new PartialWriteError(err.error, err.committed.map((o) => ({ ...o, uses })));
      throw err;
    }
  }

  /** Render several templates, each on its own: one failing keeps its previous files and does not stop the others. */
  async render(
    templates: readonly TemplateConfig[],
    signal?: AbortSignal,
  ): Promise<{ outcomes: TemplateOutcome[]; failures: { template: TemplateConfig; error: Error }[] }> {
    const outcomes: TemplateOutcome[] = [];
    const failures: { template: TemplateConfig; error: Error }[] = [];
    for (const t of templates) {
      try {
        outcomes.push(await this.renderOne(t, signal));
      } catch (err) {
        failures.push({ template: t, error: err as Error });
      }
    }
    return { outcomes, failures };
  }

  /** Lease ids of the current values of a template's secrets. */
  leasesOf(t: TemplateConfig): string[] {
    const ids: string[] = [];
    for (const { spec } of t.secrets) {
      const l = this.values.get(spec.raw)?.lifetime;
      if (l?.kind === 'lease' && l.leaseId !== '') ids.push(l.leaseId);
    }
    return ids;
  }
}

export function leaseFacts(f: Fetched): LeaseFacts | undefined {
  const l = f.lifetime;
  if (l.kind === 'lease') {
    return {
      renewable: l.renewable,
      lease_duration: l.durationSec,
      expires_at: l.durationSec > 0 ? new Date(f.fetchedAt + l.durationSec * 1000).toISOString() : null,
    };
  }
  if (l.kind === 'certificate') {
    return {
      renewable: false,
      lease_duration: Math.max(0, Math.round((l.notAfter - f.fetchedAt) / 1000)),
      expires_at: new Date(l.notAfter).toISOString(),
    };
  }
  if (l.kind === 'unleased') return { renewable: false, lease_duration: 0, expires_at: null };
  return undefined;
}
