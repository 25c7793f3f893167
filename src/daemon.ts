/**
 * The long-running part of main's wiring: after the first rendering, keep every Vault token and secret fresh through
 * the lease scheduler, re-render the templates a new value changes, tell the supervised command (hooks.modified,
 * signal or restart, coalesced), serve health, and shut down cleanly: the command first, then the leases and tokens
 * this process created are revoked.
 */
import type { Settings } from './cli/settings.js';
import type { Clock } from './clock.js';
import type { TemplateConfig } from './config/load.js';
import type { VaultSecretSpec } from './config/secret-path.js';
import { createScheduler, grantFromFetched, type Grant, type HoldHandle, type LeaseScheduler } from './leases/scheduler.js';
import type { TokenLifetime } from './leases/policy.js';
import type { Logger } from './log.js';
import type { Pipeline, TemplateOutcome } from './pipeline.js';
import type { Fetched, Lifetime, SecretSource } from './sources/types.js';
import {
  ChangeCoalescer,
  ChildStartError,
  ChildSupervisor,
  Metrics,
  runHook,
  startHealthServer,
  warnIfPid1,
  type ChangeAction,
  type HealthStatus,
} from './supervisor/index.js';
import type { AuthGrant, TokenProvider, VaultClient } from './vault/index.js';

export interface VaultWiring {
  readonly client: VaultClient;
  readonly tokens: TokenProvider;
  readonly source: SecretSource<VaultSecretSpec>;
}

export interface DaemonOptions {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly pipeline: Pipeline;
  readonly vault: VaultWiring | undefined;
  /** Environment for the command and hooks (Vault credentials already removed). */
  readonly childEnv: Readonly<Record<string, string>>;
  readonly metrics: Metrics;
  /** Called once the process should stop taking signals (tests may replace process signal handling). */
  readonly signals?: NodeJS.EventEmitter;
}

const FORWARDED = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGWINCH'] as const;

/** Runs until a signal or the command's end; resolves with tconfd's exit status. */
export async function runDaemon(opts: DaemonOptions): Promise<number> {
  const { settings, logger, clock, pipeline, vault, metrics } = opts;
  const sv = settings.supervisor;
  const signals = opts.signals ?? process;
  const scheduler = createScheduler({
    clock,
    logger,
    timing: {
      staticRefreshMs: settings.leases.staticRefreshMs,
      graceMs: settings.leases.revokeGraceMs,
      // A failed renewal or acquisition backs off like a failed Vault request (--vault-retry-min/--vault-retry-max).
      backoffInitialMs: Math.max(1, settings.vault.retry.initialMs),
      backoffMaxMs: Math.max(1, settings.vault.retry.initialMs, settings.vault.retry.maxMs),
    },
  });

  // ---- secrets and tokens --------------------------------------------------------------------------------------
  const secretHandles = new Map<string, { spec: VaultSecretSpec; handle: HoldHandle<unknown> }>();
  const renders = new RenderQueue(pipeline, logger, metrics, (outcomes) => onFilesChanged(outcomes));

  if (vault !== undefined) {
    // The token each lease grant was obtained with: a replaced lease is revoked with it, before that token itself is
    // revoked (a token may be allowed to revoke the leases it created, not those of another token).
    const obtainedWith = new WeakMap<Grant<unknown>, string>();
    for (const spec of pipeline.vaultSecrets()) {
      const current = pipeline.current(spec.raw);
      if (current === undefined || !keptFresh(current.lifetime)) continue;
      const initial = grantFromFetched(current);
      const secretName = pipeline.nameOf(spec.raw); // its name in templates: the metrics label
      const initialToken = vault.tokens.grant(spec.role)?.token;
      if (initialToken !== undefined) obtainedWith.set(initial, initialToken);
      const handle = scheduler.hold<unknown>(
        {
          name: spec.raw,
          acquire: async ({ signal }) => {
            const token = await vault.tokens.get(spec.role, signal);
            const grant = grantFromFetched(await vault.source.fetch(spec, signal));
            obtainedWith.set(grant, token);
            return grant;
          },
          ...(current.lifetime.kind === 'lease' && current.lifetime.renewable
            ? {
                renew: async (grant, { signal, incrementSec }) => {
                  const l = grant.lifetime as Extract<Lifetime, { kind: 'lease' }>;
                  const r = await vault.client.renewLease(await vault.tokens.get(spec.role, signal), l.leaseId, incrementSec, signal);
                  metrics.incLeaseRenewals(secretName);
                  return r;
                },
              }
            : {}),
          ...(current.lifetime.kind === 'lease'
            ? {
                release: async (grant, signal) => {
                  const l = grant.lifetime as Extract<Lifetime, { kind: 'lease' }>;
                  const token = obtainedWith.get(grant) ?? (await vault.tokens.get(spec.role, signal));
                  await vault.client.revokeLease(token, l.leaseId, signal);
                },
              }
            : {}),
          onGrant: async (next) => {
            const fetched: Fetched = { value: next.value, lifetime: next.lifetime as Lifetime, fetchedAt: next.obtainedAt };
            const changed = pipeline.update(spec.raw, fetched);
            if (!changed) {
              logger.debug({ secret: spec.raw }, 'secret read again: unchanged');
              return;
            }
            logger.info({ secret: spec.raw, lifetime: fetched.lifetime.kind }, 'secret changed: rendering its templates');
            await renders.render(pipeline.usersOf(spec.raw));
          },
        },
        initial,
      );
      secretHandles.set(spec.raw, { spec, handle });
    }

    // One holding per Vault token (one per role; one in all with --auth token).
    const byKey = new Map<string, string>();
    for (const spec of pipeline.vaultSecrets()) byKey.set(vault.tokens.key(spec.role), spec.role);
    for (const [key, role] of byKey) {
      const grant = vault.tokens.grant(role);
      if (grant === undefined || grant.durationSec === 0) continue; // a token that never expires
      const name = vault.tokens.auth.kind === 'token' ? 'Vault token (--auth token)' : `Vault token for role "${role}"`;
      scheduler.hold<AuthGrant>(
        {
          name,
          acquire: async ({ signal }) => tokenGrant(await vault.tokens.login(role, signal)),
          ...(grant.renewable
            ? {
                renew: async (g, { signal, incrementSec }) => {
                  const r = await vault.client.renewSelf(g.value.token, incrementSec, signal);
                  vault.tokens.setGrant(role, { ...g.value, durationSec: r.durationSec, obtainedAt: r.sentAt });
                  return r;
                },
              }
            : {}),
          ...(grant.byLogin ? { release: (g, signal) => vault.client.revokeSelf(g.value.token, signal) } : {}),
          onGrant: async (next) => {
            vault.tokens.setGrant(role, next.value);
            // Leases die with the token that created them: obtain them again with the new token, render, and only
            // then let the old token (and with it the old leases) go.
            const dependants = [...secretHandles.values()].filter(
              (s) => vault.tokens.key(s.spec.role) === key && s.handle.current().lifetime.kind !== 'unleased',
            );
            if (dependants.length > 0) {
              logger.info({ token: name, secrets: dependants.length }, 'new Vault token: obtaining its leases again');
              await Promise.all(dependants.map((s) => s.handle.replaceNow('the Vault token that created it is being replaced')));
            }
          },
        },
        tokenGrant(grant),
      );
    }
  }

  // ---- the command -----------------------------------------------------------------------------------------------
  let child: ChildSupervisor | undefined;
  if (settings.command.length > 0) {
    warnIfPid1(logger);
    child = new ChildSupervisor({
      command: settings.command,
      env: opts.childEnv,
      reloadSignal: sv.reloadSignal,
      killSignal: sv.killSignal,
      killTimeoutMs: sv.killTimeoutMs,
      restart: sv.restart,
      maxRestarts: sv.maxRestarts,
      restartWindowMs: sv.restartWindowMs,
      clock,
      logger,
    });
    child.on('restart', () => metrics.incChildRestarts());
  } else if (scheduler.snapshot().length === 0) {
    logger.info('exiting daemon mode: no leased secret or token to keep fresh');
    await scheduler.stop({ revoke: false });
    return 0;
  }

  const coalescer = new ChangeCoalescer({
    minMs: sv.wait.minMs,
    maxMs: sv.wait.maxMs,
    splayMs: sv.splayMs,
    clock,
    onFire: (action) => {
      if (child === undefined || !child.running) return;
      if (action === 'restart') {
        logger.info({ command: settings.command[0] }, 'files changed: restarting the command');
        void child.restart('rendered files changed');
      } else if (action === 'signal') {
        logger.info({ command: settings.command[0], signal: sv.reloadSignal }, 'files changed: signalling the command');
        child.reload();
      }
    },
  });

  function onFilesChanged(outcomes: readonly TemplateOutcome[]): void {
    for (const o of outcomes) {
      if (o.changed.length === 0) continue;
      const t = o.template;
      if (t.hooks.modified !== undefined) {
        void runHook(
          { kind: 'modified', argv: t.hooks.modified, template: t.template, config: t.configFile },
          { logger, env: opts.childEnv },
        );
      }
      const action: ChangeAction = t.onChange ?? sv.onChange;
      if (child !== undefined) coalescer.notify(action);
    }
  }

  // ---- health --------------------------------------------------------------------------------------------------
  let stopping = false;
  const status = (): HealthStatus => ({
    alive: !stopping,
    rendered: true,
    childExpected: child !== undefined,
    childRunning: child?.running ?? false,
    secrets: scheduler.snapshot().map((s) => ({
      name: pipeline.nameOf(s.name),
      valid: s.healthy && (s.expiresAt === null || s.expiresAt > clock.now()),
      expiresAt: s.expiresAt,
    })),
  });
  const health =
    sv.healthListen === undefined
      ? undefined
      : await startHealthServer({ listen: sv.healthListen, status, metrics, now: () => clock.now(), logger });
  if (health) logger.info({ address: health.address }, 'serving /healthz, /readyz and /metrics');

  // ---- run until a signal or the command's end -------------------------------------------------------------------
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  const onStop = (sig: NodeJS.Signals): void => {
    if (child === undefined) {
      logger.info({ signal: sig }, 'stopping');
      resolveDone(0);
      return;
    }
    logger.info({ signal: sig }, stopping ? 'second signal: killing the command now' : 'stopping: signalling the command');
    stopping = true;
    void child.shutdown(sig).then(resolveDone);
  };
  const onForward = (sig: NodeJS.Signals): void => {
    child?.signal(sig);
  };
  signals.on('SIGTERM', onStop);
  signals.on('SIGINT', onStop);
  for (const s of FORWARDED) signals.on(s, onForward);

  if (child !== undefined) {
    void child.exited.then((code) => {
      if (!stopping && child!.endCause !== 'start-failed') logger.info({ status: code }, 'the command ended: stopping');
      stopping = true;
      resolveDone(code);
    });
    try {
      await child.start();
    } catch (err) {
      logger.error(err instanceof ChildStartError ? { command: err.command, status: err.status } : {}, (err as Error).message);
      stopping = true;
      resolveDone(err instanceof ChildStartError ? err.status : 1);
    }
  }

  const code = await done;
  stopping = true;
  signals.off('SIGTERM', onStop);
  signals.off('SIGINT', onStop);
  for (const s of FORWARDED) signals.off(s, onForward);
  coalescer.close();
  await renders.idle();
  const revoke = settings.leases.revokeOnExit;
  const held = scheduler.snapshot();
  const leases = held.filter((h) => h.kind === 'lease').length;
  const tokens = vault === undefined ? 0 : vault.tokens.grants().filter(([, g]) => g.byLogin).length;
  await scheduler.stop({ revoke });
  if (revoke && leases + tokens > 0) logger.info({ leases, tokens }, 'leases and tokens revoked');
  await health?.close();
  await vault?.client.close();
  return code;
}

function keptFresh(l: Lifetime): boolean {
  return l.kind === 'lease' || l.kind === 'certificate' || l.kind === 'unleased';
}

function tokenGrant(g: AuthGrant): Grant<AuthGrant> {
  const lifetime: TokenLifetime = { kind: 'token', renewable: g.renewable, durationSec: g.durationSec };
  return { value: g, lifetime, obtainedAt: g.obtainedAt };
}

/**
 * Renders one batch at a time (a template is never rendered twice at once); a failing template keeps its previous
 * files and is logged, the others go on.
 */
class RenderQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly pipeline: Pipeline,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly onChanged: (outcomes: readonly TemplateOutcome[]) => void,
  ) {}

  render(templates: readonly TemplateConfig[]): Promise<void> {
    const run = this.tail.then(async () => {
      const { outcomes, failures } = await this.pipeline.render(templates);
      for (const f of failures) {
        this.metrics.incRenderFailures(f.template.template);
        this.logger.error(
          { template: f.template.template, config: f.template.configFile, err: f.error.message },
          'rendering failed: the previous files stay in place',
        );
      }
      for (const o of outcomes) {
        this.metrics.incRenders(o.template.template);
        this.logger.info(
          { template: o.template.template, config: o.template.configFile, changed: o.changed },
          o.changed.length > 0 ? 'template rendered: files changed' : 'template rendered: no file changed',
        );
      }
      this.onChanged(outcomes);
    });
    this.tail = run.catch(() => undefined);
    return run;
  }

  idle(): Promise<void> {
    return this.tail;
  }
}
