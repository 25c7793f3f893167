/**
 * Wires the stages: cli -> config -> vault -> sources -> leases -> render -> supervisor.
 * Exit codes: 0 success, 1 runtime failure (a secret or template at startup), 2 bad usage or configuration; with a
 * supervised command, the command's own status (128+N when it died of signal N).
 */
import { createHash } from 'node:crypto';
import { parseCli } from './cli/parse.js';
import type { Settings } from './cli/settings.js';
import { systemClock, type Clock } from './clock.js';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import { Pipeline } from './pipeline.js';
import { Renderer } from './render/index.js';
import { EnvSource, ExeSource, FileSource, type SourceRegistry } from './sources/index.js';
import { runHook } from './supervisor/hooks.js';
import { VERSION } from './version.js';

export interface MainIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
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
  try {
    return await run(settings, logger, io);
  } catch (err) {
    if (err instanceof Exit) {
      io.stderr.write(`tconfd: ${err.message}\n`);
      return err.code;
    }
    throw err;
  }
}

async function run(settings: Settings, logger: Logger, io: MainIO): Promise<number> {
  const clock = io.clock ?? systemClock;
  let config: LoadedConfig;
  try {
    config = loadConfig({ dir: settings.dir, env: io.env });
  } catch (err) {
    if (err instanceof ConfigError) throw new Exit(2, err.message);
    throw err;
  }
  logger.debug({ dir: settings.dir, files: config.files, templates: config.templates.length, secrets: config.secrets.size }, 'config loaded');

  const vaultSecret = [...config.secrets.values()].find((s) => s.backend === 'vault');
  if (vaultSecret !== undefined) {
    throw new Exit(2, `secret "${vaultSecret.raw}": the vault backend is not supported yet`);
  }

  const sources: SourceRegistry = {
    env: new EnvSource(io.env, clock),
    file: new FileSource(clock),
    exe: new ExeSource({ clock, env: io.env }),
  };
  const renderer = new Renderer({ jpaths: settings.jpaths, logger });
  const pipeline = new Pipeline({ config, sources, renderer, logger, clock });

  // First rendering: every secret, then every template evaluated before anything is written.
  try {
    await pipeline.fetchAll();
  } catch (err) {
    throw new Exit(1, (err as Error).message);
  }
  let plans;
  try {
    plans = await pipeline.plan(pipeline.templates);
  } catch (err) {
    throw new Exit(1, (err as Error).message);
  }

  if (settings.check) {
    for (const [t, files] of plans) {
      for (const f of files) {
        const hash = createHash('sha256').update(f.content).digest('hex').slice(0, 12);
        io.stdout.write(`${f.path}\t${f.content.length} bytes\tsha256:${hash}\t(${t.template})\n`);
      }
    }
    logger.info({ templates: plans.size }, 'check passed: nothing written');
    return 0;
  }

  let outcomes;
  try {
    outcomes = await pipeline.write(plans);
  } catch (err) {
    throw new Exit(1, `writing files: ${(err as Error).message}`);
  }
  for (const o of outcomes) {
    logger.info(
      { template: o.template.template, config: o.template.configFile, files: o.files.length, changed: o.changed.length },
      'template rendered',
    );
  }
  await runReadyHooks(pipeline, logger, io.env);

  if (settings.once || (settings.command.length === 0 && !settings.daemon)) return 0;
  if (settings.command.length === 0) {
    logger.info('exiting daemon mode: no leased secret or token to keep fresh');
    return 0;
  }
  throw new Exit(2, 'running a command after -- is not supported yet');
}

async function runReadyHooks(pipeline: Pipeline, logger: Logger, env: MainIO['env']): Promise<void> {
  const hookEnv = Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
  await Promise.all(
    pipeline.templates
      .filter((t) => t.hooks.ready !== undefined)
      .map((t) =>
        runHook({ kind: 'ready', argv: t.hooks.ready!, template: t.template, config: t.configFile }, { logger, env: hookEnv }),
      ),
  );
}
