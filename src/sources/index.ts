/**
 * The source registry: one SecretSource per backend. The rest of tconfd fetches through `fetchSecret` and never looks
 * at backends, so a new backend only adds a spec type (config/secret-path.ts) and an entry here.
 */
import type { Backend, SecretSpec } from '../config/secret-path.js';
import type { Fetched, SecretSource } from './types.js';

export type SourceRegistry = {
  readonly [B in Backend]?: SecretSource<Extract<SecretSpec, { backend: B }>>;
};

export function fetchSecret(registry: SourceRegistry, spec: SecretSpec, signal?: AbortSignal): Promise<Fetched> {
  const source = registry[spec.backend] as SecretSource<SecretSpec> | undefined;
  if (source === undefined) {
    return Promise.reject(new Error(`secret "${spec.raw}": the ${spec.backend} backend is not configured`));
  }
  return source.fetch(spec, signal);
}

export * from './types.js';
export { EnvSource } from './env.js';
export { FileSource } from './file.js';
export { ExeSource, resolveExeUser } from './exe.js';
