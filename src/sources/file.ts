import { open, type FileHandle } from 'node:fs/promises';
import type { FileSecretSpec } from '../config/secret-path.js';
import type { Clock } from '../clock.js';
import { DEFAULT_MAX_SECRET_BYTES } from '../size.js';
import { decodeBytes, tooLarge } from './text.js';
import { SecretFetchError, type Fetched, type SecretSource } from './types.js';

/**
 * `file:str|js|b64:PATH`: a file's content (relative paths were resolved against --dir by the config loader). Symbolic
 * links are followed (Kubernetes mounts secrets as links). The file is read up to the size limit and no further: a
 * larger file, or an endless one (/dev/zero, a FIFO), is an error naming the secret, and memory stays bounded.
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
    let fh: FileHandle;
    try {
      fh = await open(spec.path, 'r');
    } catch (err) {
      throw new SecretFetchError(spec.raw, `cannot read ${spec.path}: ${why(err)}`);
    }
    let bytes: Buffer;
    try {
      bytes = await readBounded(fh, this.maxBytes, signal);
    } catch (err) {
      if (err instanceof TooLarge) throw tooLarge(spec.raw, this.maxBytes, `${spec.path}`);
      if (signal?.aborted) throw new SecretFetchError(spec.raw, 'read aborted');
      throw new SecretFetchError(spec.raw, `cannot read ${spec.path}: ${why(err)}`);
    } finally {
      await fh.close();
    }
    return { value: decodeBytes(spec.raw, bytes, spec.format), lifetime: { kind: 'static' }, fetchedAt: this.clock.now() };
  }
}

class TooLarge extends Error {}

async function readBounded(fh: FileHandle, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  const st = await fh.stat();
  if (st.isFile() && st.size > maxBytes) throw new TooLarge();
  // One byte more than the limit tells a file that grew (or never ends) from one that fits.
  const buf = Buffer.alloc(Math.min(maxBytes + 1, st.isFile() ? st.size + 1 : 64 * 1024));
  const chunks: Buffer[] = [];
  let total = 0;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, maxBytes + 1 - total));
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > maxBytes) throw new TooLarge();
    chunks.push(Buffer.from(buf.subarray(0, bytesRead)));
  }
  return Buffer.concat(chunks, total);
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? 'read error');
}
