/**
 * Wires the stages: cli -> config -> vault -> sources -> leases -> render -> supervisor.
 * Exit codes: 0 success, 1 runtime failure (a secret or template at startup), 2 bad usage or configuration; with a
 * supervised command, the command's own status (128+N when it died of signal N); 128+N when signal N stopped tconfd
 * before the first rendering was complete (143 for SIGTERM, 130 for SIGINT).
 *
 * Every way out goes through the lifecycle's clean-up (runtime/lifecycle.ts): what was obtained from Vault is revoked
 * (unless --once or rconfd's one-shot mode completed, or --no-revoke-on-exit), then the Vault client is closed.
 */
import { EventEmitter } from 'node:events';
import { parseCli } from './cli/parse.js';
import type { Settings } from './cli/settings.js';
import { systemClock, type Clock } from './clock.js';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import { PartialWriteError, Pipeline } from './runtime/pipeline.js';
import { Lifecycle, StopRequested } from './runtime/lifecycle.js';
import { Renderer } from './render/index.js';
import type { VaultWiring } from './runtime/vault.js';
import { EnvSource, ExeSource, FileSource, resolveExeUser, type SourceRegistry } from './sources/index.js';
import type { VaultSource } from './sources/vault.js';
import { childEnv } from './supervisor/env.js';
import { Metrics } from './supervisor/health.js';
import { runHook } from './supervisor/hooks.js';
import { ReadinessNotifier } from './supervisor/readiness.js';
import { VERSION } from './version.js';
import { UsageError } from './cli/parse.js';

export interface MainIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  /** The signal owner installed by the CLI before anything else (default: one listening to nothing). */
  readonly lifecycle?: Lifecycle;
  /** Replaces what /proc/PID/cmdline and ps show for this process (cli.ts: process.title). */
  readonly setCommandLine?: (args: readonly string[]) => void;
}

/** A failure that ends tconfd with one line on stderr. */
class Exit extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export async function main(args: readonly string[], io: MainIO): Promise<number> {
  const cli = parseCli(args, io.env, VERSION, (io.stderr as { isTTY?: boolean }).isTTY === true);
  if (cli.kind === 'print') {
    io.stdout.write(cli.text.endsWith('\n') ? cli.text : cli.text + '\n');
    return 0;
  }
  if (cli.kind === 'usage-error') {
    io.stderr.write(`tconfd: ${cli.message}\n`);
    return 2;
  }
  const settings = cli.settings;
  const logger = createLogger({ level: settings.logLevel, format: settings.logFormat, destination: io.stderr });
  const clock = io.clock ?? systemClock;
  const lifecycle = io.lifecycle ?? new Lifecycle(new EventEmitter());
  lifecycle.attach({ logger, clock });
  warnCredentialArgument(args, settings, logger, io);
  try {
    return await run(settings, logger, io, clock, lifecycle);
  } catch (err) {
    if (err instanceof StopRequested) {
      logger.info({ signal: err.stopSignal }, 'stopped before the first rendering was complete');
      return lifecycle.signalStatus;
    }
    if (err instanceof Exit) {
      io.stderr.write(`tconfd: ${err.message}\n`);
      return err.code;
    }
    throw err;
  } finally {
    await lifecycle.cleanUp();
  }
}

async function run(settings: Settings, logger: Logger, io: MainIO, clock: Clock, lifecycle: Lifecycle): Promise<number> {
  let config: LoadedConfig;
  try {
    config = loadConfig({ dir: settings.dir, env: io.env });
  } catch (err) {
    if (err instanceof ConfigError) throw new Exit(2, err.message);
    throw err;
  }
  logger.debug({ dir: settings.dir, files: config.files, templates: config.templates.length, secrets: config.secrets.size }, 'config loaded');

  // Readiness fd: checked before anything is fetched, so that a wrong fd fails fast.
  let readiness: ReadinessNotifier | undefined;
  if (settings.supervisor.readyFd !== undefined) {
    try {
      readiness = new ReadinessNotifier(settings.supervisor.readyFd);
    } catch (err) {
      throw new Exit(2, `--ready-fd: ${(err as Error).message}`);
    }
  }

  // The command, the hooks and exe secret commands get tconfd's environment minus Vault credentials (no secrets in
  // environment variables); exe commands run as --exe-user when tconfd runs as root, and do not get the variables
  // that env: secrets read either (another user's process: those values are secrets of the configuration).
  const jwtVar = settings.auth.jwtEnv !== undefined && io.env[settings.auth.jwtEnv] !== undefined ? [settings.auth.jwtEnv] : [];
  const { env: cmdEnv, removed } = childEnv(io.env, { removeNames: jwtVar, keep: [...settings.supervisor.envKeep] });
  if (removed.length > 0) logger.debug({ removed }, 'variables not passed to the command, the hooks and exe secrets');
  const envSecrets = [...config.secrets.values()].flatMap((s) => (s.backend === 'env' ? [s.name] : []));
  const exeEnv = Object.fromEntries(Object.entries(cmdEnv).filter(([name]) => !envSecrets.includes(name)));
  let exeUser;
  try {
    exeUser = [...config.secrets.values()].some((s) => s.backend === 'exe') ? resolveExeUser(settings.exeUser) : undefined;
  } catch (err) {
    throw new Exit(2, (err as Error).message);
  }
  const sources: SourceRegistry & { vault?: VaultSource } = {
    env: new EnvSource(io.env, clock),
    file: new FileSource(clock, { maxBytes: settings.maxSecretBytes }),
    exe: new ExeSource({ clock, env: exeEnv, user: exeUser, maxBytes: settings.maxSecretBytes }),
  };
  // Loaded only when needed (startup time and memory): the Vault stack (undici) for vault secrets, and the
  // long-running stages (scheduler, supervisor), whose loading overlaps the first evaluation of the templates.
  const firstVault = [...config.secrets.values()].find((s) => s.backend === 'vault');
  let vault: VaultWiring | undefined;
  // Revoke at exit what was obtained from Vault; cleared once --once or the one-shot mode completed (the files must
  // stay usable). A failed or stopped start gives back what it obtained: nothing uses it.
  let revokeAtExit = settings.leases.revokeOnExit;
  if (firstVault !== undefined) {
    const vaultWiring = await import('./runtime/vault.js');
    let v: VaultWiring;
    try {
      v = vaultWiring.setUpVault({ settings, logger, clock, env: io.env, firstSecret: firstVault.raw });
    } catch (err) {
      if (err instanceof UsageError) throw new Exit(2, err.message);
      throw err;
    }
    vault = v;
    sources.vault = v.source as VaultSource;
    lifecycle.addCleanup('sweep', 'revoke what tconfd obtained from Vault', 8_000, async (signal) => {
      if (revokeAtExit) await vaultWiring.revokeAndReport(v, logger, signal);
    });
    lifecycle.addCleanup('close', 'close the Vault client', 3_000, () => v.client.close());
  }
  const longRunning = !(settings.once || settings.check || (settings.command.length === 0 && !settings.daemon));

  const renderer = new Renderer({ jpaths: settings.jpaths, renderTimeoutMs: settings.renderTimeoutMs, logger, confine: settings.confine });
  const pipeline = new Pipeline({ config, sources, renderer, logger, clock });

  // First rendering: every secret, then every template evaluated before anything is written.
  // Startup stops waiting at the first SIGTERM/SIGINT (lifecycle.guard); what it obtained meanwhile is revoked.
  let daemonModule: Promise<typeof import('./runtime/run.js')> | undefined;
  try {
    await lifecycle.guard(pipeline.fetchAll(lifecycle.signal));
  } catch (err) {
    throw stopOr(err, 1, (err as Error).message);
  }
  let plans;
  try {
    const planning = pipeline.plan(pipeline.templates, lifecycle.signal); // templates evaluate in slices, yielding between files...
    daemonModule = longRunning ? import('./runtime/run.js') : undefined; // ...while this initialises
    plans = await lifecycle.guard(planning);
  } catch (err) {
    throw stopOr(err, 1, (err as Error).message);
  }

  if (settings.check) {
    // What a rendering would do to each file, and its size: never a digest (a digest of a short secret, a PIN, is
    // reversed by brute force).
    for (const [t, files] of plans) {
      let status;
      try {
        status = await renderer.compare(t, files);
      } catch (err) {
        throw new Exit(1, (err as Error).message);
      }
      files.forEach((f, i) => io.stdout.write(`${f.shown}\t${status[i]}\t${f.content.length} bytes\t(${t.template})\n`));
    }
    logger.info({ templates: plans.size }, 'check passed: nothing written');
    return 0;
  }

  // Every file of every template is prepared before any is put in place: a file that cannot be written leaves every
  // previous file as it was. Should the renames fail half-way, what they put in place keeps its credentials.
  let outcomes;
  const writing = pipeline.write(plans, lifecycle.signal);
  try {
    outcomes = await lifecycle.guard(writing);
  } catch (err) {
    // A stop signal: the write stops before its renames; renames already begun are waited for (bounded).
    const failure = err instanceof StopRequested ? await settled(writing, 5_000) : err;
    if (failure instanceof PartialWriteError) keepWhatFilesHold(failure, vault, logger);
    throw stopOr(err, 1, `writing files: ${(err as Error).message}`);
  }
  for (const o of outcomes) {
    logger.info(
      { template: o.template.template, config: o.template.configFile, files: o.files.length, changed: o.changed.length },
      'template rendered',
    );
  }
  const metrics = new Metrics({
    templates: pipeline.templates.map((t) => t.template),
    secrets: [...config.secrets.keys()].map((raw) => pipeline.nameOf(raw)),
  });
  for (const o of outcomes) metrics.incRenders(o.template.template);

  // First complete rendering: readiness (s6 notification-fd), then hooks.ready.
  readiness?.notify();
  await lifecycle.guard(runReadyHooks(pipeline, logger, cmdEnv));

  if (!longRunning || daemonModule === undefined) {
    // --once and rconfd's non-daemon mode: the files must stay usable after exit, so nothing is revoked.
    revokeAtExit = false;
    return 0;
  }
  const { runDaemon } = await lifecycle.guard(daemonModule);
  return runDaemon({ settings, logger, clock, lifecycle, pipeline, vault, childEnv: cmdEnv, metrics });
}

/** What `p` rejected with, once it settled (undefined when it fulfilled or is still pending after ms). */
async function settled(p: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p.then(() => undefined, (err: unknown) => err), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A start that failed after some files were put in place: those files hold credentials, so their leases (and the
 * tokens that created them, whose revocation would take the leases along) are not revoked on the way out. Said.
 */
function keepWhatFilesHold(err: PartialWriteError, vault: VaultWiring | undefined, logger: Logger): void {
  const kept = vault?.session.keepLeases(err.holds) ?? { leases: 0, tokens: 0 };
  logger.warn(
    { templates: err.committed.map((o) => o.template.template), files: err.committed.flatMap((o) => o.changed), keptLeases: kept.leases, keptTokens: kept.tokens },
    `writing failed after the files of ${err.committed.length} template(s) were replaced: their ${kept.leases} lease(s) and the ${kept.tokens} Vault token(s) that created them are NOT revoked (the files hold their credentials); they expire at the end of their TTL`,
  );
}

/** A stop signal passes through; any other failure of the start becomes an Exit. */
function stopOr(err: unknown, code: number, message: string): Error {
  return err instanceof StopRequested ? err : new Exit(code, message);
}

/**
 * rconfd's `-T <the JWT itself>`: a credential on the command line can be read by every process of the machine
 * (/proc/PID/cmdline, ps). Said at warn, and hidden from what tconfd's command line shows from now on.
 */
function warnCredentialArgument(args: readonly string[], settings: Settings, logger: Logger, io: MainIO): void {
  const value = settings.auth.jwtEnv;
  if (value === undefined || io.env[value] !== undefined) return;
  const looksLikeName = /^[A-Za-z_][A-Za-z0-9_]*$/.test(value);
  if (!looksLikeName) io.setCommandLine?.(args.map((a) => a.split(value).join('[hidden]')));
  logger.warn(
    looksLikeName
      ? `-T ${value}: there is no such environment variable, so the value itself is used as the JWT; a credential on the command line is visible to every process (/proc/PID/cmdline, ps): export the JWT in a variable and pass its name, or use -t FILE`
      : '-T is given the JWT itself: a credential on the command line is visible to every process (/proc/PID/cmdline, ps) and in shell histories; export it in a variable and pass its name (-T NAME), or use -t FILE',
  );
}

async function runReadyHooks(pipeline: Pipeline, logger: Logger, hookEnv: Readonly<Record<string, string>>): Promise<void> {
  await Promise.all(
    pipeline.templates
      .filter((t) => t.hooks.ready !== undefined)
      .map((t) =>
        runHook({ kind: 'ready', argv: t.hooks.ready!, template: t.template, config: t.configFile }, { logger, env: hookEnv }),
      ),
  );
}
