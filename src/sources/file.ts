import { readFile } from 'node:fs/promises';
import type { FileSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { decode } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

/** `file:str|js:PATH`: a file's content (relative paths were resolved against --dir by the config loader). */
export class FileSource implements SecretSource<FileSecretSpec> {
  constructor(private readonly clock: Clock) {}

  async fetch(spec: FileSecretSpec, signal?: AbortSignal): Promise<Fetched> {
    let text: string;
    try {
      text = await readFile(spec.path, { encoding: 'utf8', signal });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why =
        code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'read error');
      throw new SecretFetchError(spec.raw, `cannot read ${spec.path}: ${why}`);
    }
    return { value: decode(spec.raw, text, spec.format), lifetime: { kind: 'static' }, fetchedAt: this.clock.now() };
  }
}
