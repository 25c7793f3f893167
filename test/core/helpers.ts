/** Temp dirs and a log capture for the core tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Pipeline } from '../../src/runtime/pipeline.js';
import { Renderer } from '../../src/render/index.js';
import { EnvSource, ExeSource, FileSource } from '../../src/sources/index.js';

/**
 * A factory of temp dirs removed after the file's tests. `files` maps relative paths to contents (parents created).
 * Call at module or describe level (it registers an afterAll).
 */
export function tempDirs(prefix = 'tconfd-core-'): (files?: Record<string, string>) => string {
  const made: string[] = [];
  afterAll(() => {
    for (const d of made) rmSync(d, { recursive: true, force: true });
  });
  return (files = {}) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    writeTree(dir, files);
    return dir;
  };
}

export function writeTree(dir: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const p = join(dir, rel);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  }
}

/** A pino logger at trace level whose JSON lines are kept in memory. */
export function memoryLogger(): { logger: Logger; records: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  // pino only calls write(): a plain object keeps every line synchronously.
  const sink = { write: (line: string) => chunks.push(line) > 0 } as unknown as NodeJS.WritableStream;
  const logger = createLogger({ level: 'trace', format: 'json', destination: sink });
  const text = (): string => chunks.join('');
  const records = (): Record<string, unknown>[] =>
    text()
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, records, text };
}

export interface Project {
  readonly root: string;
  readonly config: LoadedConfig;
  readonly renderer: Renderer;
  readonly pipeline: Pipeline;
  readonly logs: ReturnType<typeof memoryLogger>;
}

/**
 * Load tconfd.d/ under `root` (--dir relative to root) and wire a pipeline with the env, file and exe sources, as
 * main.ts does.
 */
export function wire(
  root: string,
  opts: { env?: Record<string, string | undefined>; jpaths?: string[]; isRoot?: boolean } = {},
): Project {
  const env = opts.env ?? {};
  const logs = memoryLogger();
  const config = loadConfig({ dir: 'tconfd.d', cwd: root, env });
  const renderer = new Renderer({ jpaths: opts.jpaths ?? [], logger: logs.logger, isRoot: opts.isRoot });
  const sources = { env: new EnvSource(env, systemClock), file: new FileSource(systemClock), exe: new ExeSource({ clock: systemClock, env }) };
  const pipeline = new Pipeline({ config, sources, renderer, logger: logs.logger, clock: systemClock });
  return { root, config, renderer, pipeline, logs };
}
