/**
 * The long-running phase, after the first rendering: the lease scheduler keeps every Vault token and secret fresh
 * (holdings.ts), the render loop re-renders what a new value changes (render/loop.ts), the supervised command is told
 * (hooks.modified, signal or restart, coalesced), health is served; and the clean-up steps are registered with the
 * lifecycle, in order: the command, the renders, the leases (the scheduler's own revocation), then main's sweep.
 */
import type { Settings } from '../cli/settings.js';
import type { Clock } from '../clock.js';
import type { TemplateConfig } from '../config/load.js';
import { createScheduler } from '../leases/scheduler.js';
import type { Logger } from '../log.js';
import { RenderLoop } from '../render/loop.js';
import { ChangeCoalescer, Metrics, runHook, startHealthServer, type HealthStatus } from '../supervisor/index.js';
import { Command } from './command.js';
import { holdVault } from './holdings.js';
import { ReleaseGate } from './release-gate.js';
import type { Lifecycle } from './lifecycle.js';
import type { Pipeline, TemplateOutcome } from './pipeline.js';
import type { VaultWiring } from './vault.js';

export interface RunOptions {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly lifecycle: Lifecycle;
  readonly pipeline: Pipeline;
  readonly vault: VaultWiring | undefined;
  /** Environment for the command and hooks (Vault credentials already removed). */
  readonly childEnv: Readonly<Record<string, string>>;
  readonly metrics: Metrics;
}

/** Runs until a stop signal or the command's end, cleans up; resolves with tconfd's exit status. */
export async function runDaemon(opts: RunOptions): Promise<number> {
  const { settings, logger, clock, lifecycle, pipeline, vault, metrics } = opts;
  const sv = settings.supervisor;
  const retry = settings.vault.retry;
  const scheduler = createScheduler({
    clock,
    logger,
    timing: {
      staticRefreshMs: settings.leases.staticRefreshMs,
      graceMs: settings.leases.revokeGraceMs,
      // A failed renewal or acquisition backs off like a failed Vault request (--vault-retry-min/--vault-retry-max).
      backoffInitialMs: Math.max(1, retry.initialMs),
      backoffMaxMs: Math.max(1, retry.initialMs, retry.maxMs),
    },
  });
  const command = settings.command.length > 0 ? new Command({ settings, env: opts.childEnv, lifecycle, metrics, clock, logger }) : undefined;
  const child = command?.child;
  // A replaced lease is revoked --revoke-grace after the application was told about the files that replaced it (the
  // coalesced signal sent, the restart completed), never while a file holds it (see release-gate.ts).
  const gate: ReleaseGate = new ReleaseGate({
    clock,
    graceMs: settings.leases.revokeGraceMs,
    filesHold: (leaseId) => loop.holds(leaseId),
    onChange: () => vault?.session.releaseDeferred(),
  });
  const coalescer = new ChangeCoalescer({
    minMs: sv.wait.minMs,
    maxMs: sv.wait.maxMs,
    splayMs: sv.splayMs,
    clock,
    onFire: (action) => {
      const upTo = gate.latest; // every rendering so far, the ones that came in during the splay too
      if (child === undefined || !child.running || action === 'none') {
        gate.told(upTo); // no one to tell (a command not running reads the files when it starts)
        return;
      }
      logger.info({ command: settings.command[0], ...(action === 'signal' ? { signal: sv.reloadSignal } : {}) }, `files changed: ${action === 'restart' ? 'restarting' : 'signalling'} the command`);
      if (action === 'restart') {
        void child.restart('rendered files changed').finally(() => gate.told(upTo));
      } else {
        // Told once the signal is sent: --reload-grace may hold it for a command that just started (or once the command
        // was restarted or ended meanwhile: a new process reads the files anyway).
        void child.reload().then(() => gate.told(upTo));
      }
    },
  });
  const loop = new RenderLoop<TemplateConfig, TemplateOutcome>({
    templates: pipeline.templates,
    clock,
    render: (t, signal) => pipeline.renderOne(t, signal),
    onRendered: (t, o) => {
      metrics.incRenders(t.template);
      logger.info({ template: t.template, config: t.configFile, changed: o.changed }, o.changed.length > 0 ? 'template rendered: files changed' : 'template rendered: no file changed');
      const n = o.changed.length > 0 ? gate.rendered() : undefined; // first: what it dropped waits for the tell
      vault?.session.releaseDeferred(); // what the files held before may go now (once the application was told)
      if (n === undefined) return;
      if (t.hooks.modified !== undefined) void runHook({ kind: 'modified', argv: t.hooks.modified, template: t.template, config: t.configFile }, { logger, env: opts.childEnv });
      if (child === undefined) gate.told(n); // no command to tell
      else coalescer.notify(t.onChange ?? sv.onChange);
    },
    onFailed: (t, err, failures, retryInMs) => {
      metrics.incRenderFailures(t.template);
      logger.error({ template: t.template, config: t.configFile, err: err.message, failures, retryInMs }, 'rendering failed: the previous files stay in place');
    },
  });
  for (const t of pipeline.templates) loop.seed(t, pipeline.leasesOf(t));
  if (vault !== undefined) {
    vault.session.setCredentialGate((leaseId) => gate.holds(leaseId));
    holdVault({ scheduler, session: vault.session, source: vault.source, pipeline, metrics, logger, changed: (raw) => loop.invalidate(pipeline.usersOf(raw)) });
  }
  // Clean-up, in phase order: the command (command.ts), renders, leases; the sweep and the Vault client are main's.
  lifecycle.addCleanup('renders', 'abandon renderings', 3_000, async () => {
    coalescer.close();
    gate.close();
    await loop.close(2_000);
  });
  lifecycle.addCleanup('leases', 'revoke what the lease scheduler holds', 10_000, async () => {
    if (settings.leases.revokeOnExit) vault?.session.beginExit();
    await scheduler.stop({ revoke: settings.leases.revokeOnExit });
  });
  if (command === undefined && scheduler.snapshot().length === 0) {
    logger.info('exiting daemon mode: no leased secret or token to keep fresh');
    return 0;
  }

  const status = (): HealthStatus => ({
    alive: !lifecycle.stopping,
    rendered: true,
    childExpected: child !== undefined,
    childRunning: child?.running ?? false,
    secrets: scheduler.snapshot().map((s) => ({ name: pipeline.nameOf(s.name), valid: s.healthy && (s.expiresAt === null || s.expiresAt > clock.now()), expiresAt: s.expiresAt })),
    templates: loop.status((leaseId) => vault?.session.leaseLive(leaseId) ?? true).map((s) => ({ name: s.template.template, current: s.current })),
  });
  if (sv.healthListen !== undefined) {
    const health = await startHealthServer({ listen: sv.healthListen, status, metrics, now: () => clock.now(), logger });
    lifecycle.addCleanup('close', 'close the health endpoint', 2_000, () => health.close());
    logger.info({ address: health.address }, 'serving /healthz, /readyz and /metrics');
  }

  await command?.start();
  await lifecycle.stopped();
  await lifecycle.cleanUp();
  return command?.code ?? 0;
}
