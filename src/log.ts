/**
 * Logging: pino, one JSON line per event, or pino-pretty for people. Fields name the config file, template, output
 * path and secret path; never a secret value, a file's content or a token.
 */
import { pino, type Logger } from 'pino';

export type { Logger };
export type LogFormat = 'json' | 'pretty';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface LogOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where log lines go (default: stderr, so that stdout stays free for --check and the child). */
  readonly destination?: NodeJS.WritableStream;
}

export function createLogger(opts: LogOptions): Logger {
  const base = { level: opts.level, base: { name: 'tconfd' } as Record<string, unknown> };
  if (opts.format === 'pretty') {
    // pino-pretty as a synchronous stream (no worker thread): logs are few, and startup stays fast.
    return pino(
      base,
      prettyStream(opts.destination ?? process.stderr),
    );
  }
  // `dest`, not `fd`: pino.destination() reads process.stdout.fd (making process.stdout) when `dest` is not given.
  return pino(base, opts.destination ?? pino.destination({ dest: 2, sync: true }));
}

import { createRequire } from 'node:module';

/**
 * The bundle's own `require`: scripts/build.mjs defines it so that esbuild bundles what it loads into dist/ (as a
 * module evaluated at its first require, not at start). Undefined when src/ runs unbundled (tests, scripts/run-ts.mjs).
 */
declare const __TCONFD_BUNDLE_REQUIRE__: NodeJS.Require | undefined;

/** pino-pretty, loaded only for --log-format pretty. */
function loadPinoPretty(): (o: Record<string, unknown>) => NodeJS.WritableStream {
  return typeof __TCONFD_BUNDLE_REQUIRE__ === 'function'
    ? __TCONFD_BUNDLE_REQUIRE__('pino-pretty')
    : createRequire(import.meta.url)('pino-pretty');
}

function prettyStream(dest: NodeJS.WritableStream): NodeJS.WritableStream {
  const pretty = loadPinoPretty();
  return pretty({
    destination: dest,
    sync: true,
    colorize: (dest as { isTTY?: boolean }).isTTY === true,
    ignore: 'pid,hostname,name',
    translateTime: 'HH:MM:ss.l',
  });
}
