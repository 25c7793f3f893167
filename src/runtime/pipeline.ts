/**
 * The rendering pipeline: holds the current value of every secret, builds each template's std.extVar inputs, renders
 * a template (re-running its dynamic exe secrets first) and reports which files changed and which leases its files
 * now hold. It talks to sources only through the registry and to files only through the render stage.
 */
import type { LoadedConfig, TemplateConfig } from '../config/load.js';
import type { SecretSpec, VaultSecretSpec } from '../config/secret-path.js';
import type { Logger } from '../log.js';
import { Renderer, TemplateError, type FileResult, type PlannedFile } from '../render/index.js';
import { fetchSecret, type Fetched, type LeaseFacts, type SourceRegistry } from '../sources/index.js';
import type { Clock } from '../clock.js';

export interface TemplateOutcome {
  readonly template: TemplateConfig;
  readonly files: readonly FileResult[];
  /** Paths whose bytes changed (created or updated). */
  readonly changed: readonly string[];
  /** Lease ids of the secrets the files were rendered from: they hold those credentials now. */
  readonly uses: readonly string[];
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
    const secrets: Record<string, unknown> = {};
    const leases: Record<string, LeaseFacts> = {};
    for (const { name, spec } of tmpl.secrets) {
      const f = this.values.get(spec.raw);
      if (f === undefined) throw new TemplateError(tmpl.template, `secret "${spec.raw}" has no value yet`);
      secrets[name] = f.value;
      const facts = leaseFacts(f);
      if (facts !== undefined) leases[name] = facts;
    }
    return { secrets, leases };
  }

  /** Evaluate templates and check that no two write the same file. Writes nothing. */
  async plan(templates: readonly TemplateConfig[]): Promise<Map<TemplateConfig, PlannedFile[]>> {
    const plans = new Map<TemplateConfig, PlannedFile[]>();
    const evaluated = await Promise.all(
      templates.map(async (t) => [t, await this.opts.renderer.plan(t, this.inputFor(t))] as const),
    );
    for (const [t, files] of evaluated) {
      this.opts.renderer.claim(t, files, this.templates);
      plans.set(t, files);
    }
    return plans;
  }

  /** Write planned files; returns what changed per template. */
  async write(plans: ReadonlyMap<TemplateConfig, PlannedFile[]>): Promise<TemplateOutcome[]> {
    const outcomes: TemplateOutcome[] = [];
    for (const [t, files] of plans) {
      const results = await this.opts.renderer.write(t, files);
      outcomes.push({
        template: t,
        files: results,
        changed: results.filter((r) => r.outcome !== 'unchanged').map((r) => r.path),
        uses: this.leasesOf(t),
      });
    }
    return outcomes;
  }

  /**
   * Render one template at runtime: its dynamic exe secrets are run again (aborted with signal), it is evaluated from
   * the current values and its files are written. Rejects when any step fails (its files are left as they were).
   */
  async renderOne(t: TemplateConfig, signal?: AbortSignal): Promise<TemplateOutcome> {
    await this.refreshDynamic([t], signal);
    signal?.throwIfAborted();
    const uses = this.leasesOf(t);
    const plans = await this.plan([t]);
    signal?.throwIfAborted();
    const [outcome] = await this.write(plans);
    return { ...outcome!, uses };
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
