import type { FileSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { readRegularFile, ReadFileError } from '../read-file.js';
import { DEFAULT_MAX_SECRET_BYTES } from '../size.js';
import { decodeBytes, tooLarge } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

/**
 * `file:str|js|b64:PATH`: a regular file's content (relative paths were resolved against --dir by the config loader).
 * Symbolic links are followed (Kubernetes mounts secrets as links). Anything but a regular file (a FIFO, which would
 * block the start for ever waiting for a writer; a device such as /dev/zero; a socket; a directory) is an error naming
 * the secret and what the file is. The file is read up to the size limit and no further: memory stays bounded.
 */
export class FileSource implements SecretSource<FileSecretSpec> {
  private readonly maxBytes: number;

  constructor(
    private readonly clock: Clock,
    opts: { maxBytes?: number } = {},
  ) {
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_SECRET_BYTES;
  }

  async fetch(spec: FileSecretSpec, signal?: AbortSignal): Promise<Fetched> {
    let bytes: Buffer;
    try {
      bytes = await readRegularFile(spec.path, this.maxBytes, signal);
    } catch (err) {
      if (signal?.aborted) throw new SecretFetchError(spec.raw, 'read aborted');
      if (!(err instanceof ReadFileError)) throw err;
      if (err.code === 'EFBIG') throw tooLarge(spec.raw, this.maxBytes, spec.path);
      if (err.code === 'ENOTREG') throw new SecretFetchError(spec.raw, `${spec.path} ${err.reason} (file secrets are read from regular files only)`);
      throw new SecretFetchError(spec.raw, `cannot read ${spec.path}: ${err.reason}`);
    }
    return { value: decodeBytes(spec.raw, bytes, spec.format), lifetime: { kind: 'static' }, fetchedAt: this.clock.now() };
  }
}
