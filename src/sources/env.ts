import type { EnvSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { decode } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

/**
 * `env:str|js:NAME`: an environment variable. A missing variable is an error (rconfd gives ""); an empty one is "".
 */
export class EnvSource implements SecretSource<EnvSecretSpec> {
  constructor(
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly clock: Clock,
  ) {}

  async fetch(spec: EnvSecretSpec): Promise<Fetched> {
    const text = this.env[spec.name];
    if (text === undefined) {
      throw new SecretFetchError(spec.raw, `environment variable ${spec.name} is not set`);
    }
    return { value: decode(spec.raw, text, spec.format), lifetime: { kind: 'static' }, fetchedAt: this.clock.now() };
  }
}
