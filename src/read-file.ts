/**
 * Reading a file named by the configuration (a file secret, a credential file, a template or an import, a CA
 * certificate) as hostile input:
 * - opened with O_NONBLOCK: opening a FIFO does not wait for a writer (open(2) would block a thread for ever);
 * - refused unless it is a regular file (a FIFO, a device such as /dev/zero, a socket, a directory): the error says
 *   what it is;
 * - read up to a size limit and no further (a file that grows while read stops at the limit too).
 * Symbolic links are followed: Kubernetes mounts secrets and projected service-account tokens as links
 * (token -> ..data/token).
 */
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { open } from './fsp.js';
import { formatSize } from './size.js';
import { inThreadPool } from './thread-pool.js';

const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

/** Largest file of the configuration read: a config file, a template or an import, a certificate. */
export const MAX_CONFIG_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Why a file could not be read: `code` is the errno code (EISDIR for a directory), ENOTREG (a FIFO, a device, a
 * socket) or EFBIG (larger than the limit).
 */
export class ReadFileError extends Error {
  override readonly name = 'ReadFileError';
  constructor(
    readonly code: string,
    readonly path: string,
    /** What went wrong, without the path: "no such file", "is a FIFO, not a regular file"... */
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** Read a regular file of at most maxBytes (on the thread pool; counted while in flight). */
export function readRegularFile(path: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
  return inThreadPool(async () => {
    let fh;
    try {
      fh = await open(path, FLAGS);
    } catch (err) {
      throw errnoError(err, path);
    }
    try {
      const st = await fh.stat();
      checkRegular(st, path, maxBytes);
      const r = new BoundedRead(path, maxBytes, st.size);
      while (r.took((await fh.read(r.buf, 0, r.want)).bytesRead)) signal?.throwIfAborted();
      return r.bytes();
    } catch (err) {
      if (err instanceof ReadFileError || signal?.aborted === true) throw err;
      throw errnoError(err, path);
    } finally {
      await fh.close().catch(() => undefined);
    }
  });
}

/** The same, synchronously (templates and imports, read by the evaluator; config files; certificates). */
export function readRegularFileSync(path: string, maxBytes: number): Buffer {
  let fd: number;
  try {
    fd = openSync(path, FLAGS);
  } catch (err) {
    throw errnoError(err, path);
  }
  try {
    const st = fstatSync(fd);
    checkRegular(st, path, maxBytes);
    const r = new BoundedRead(path, maxBytes, st.size);
    while (r.took(readSync(fd, r.buf, 0, r.want, null)));
    return r.bytes();
  } catch (err) {
    if (err instanceof ReadFileError) throw err;
    throw errnoError(err, path);
  } finally {
    closeSync(fd);
  }
}

/**
 * What was read so far, never more than maxBytes: one byte more than the limit tells a file that grew (or never
 * ends) from one that fits.
 */
class BoundedRead {
  /** Where the next read goes. */
  readonly buf: Buffer;
  readonly #chunks: Buffer[] = [];
  #total = 0;

  constructor(
    readonly path: string,
    readonly maxBytes: number,
    size: number,
  ) {
    this.buf = Buffer.alloc(Math.min(maxBytes + 1, Math.max(size + 1, 4096)));
  }

  /** How many bytes the next read may take. */
  get want(): number {
    return Math.min(this.buf.length, this.maxBytes + 1 - this.#total);
  }

  /** Keep the n bytes just read into buf; false at the end of the file. */
  took(n: number): boolean {
    if (n === 0) return false;
    this.#total += n;
    if (this.#total > this.maxBytes) throw tooLarge(this.path, this.maxBytes);
    this.#chunks.push(Buffer.from(this.buf.subarray(0, n)));
    return true;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#chunks, this.#total);
  }
}

function checkRegular(st: Stats, path: string, maxBytes: number): void {
  if (st.isDirectory()) throw new ReadFileError('EISDIR', path, REASONS['EISDIR']!);
  if (!st.isFile()) throw new ReadFileError('ENOTREG', path, `is ${fileKind(st)}, not a regular file`);
  if (st.size > maxBytes) throw tooLarge(path, maxBytes);
}

function tooLarge(path: string, maxBytes: number): ReadFileError {
  return new ReadFileError('EFBIG', path, `is larger than the limit of ${formatSize(maxBytes)}`);
}

/** "a FIFO", "a character device"... */
export function fileKind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  return 'not a regular file';
}

const REASONS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory, not a regular file',
  ENOTDIR: 'a component of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENXIO: 'no such device or address (a socket?)',
  EIO: 'input/output error',
};

function errnoError(err: unknown, path: string): ReadFileError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new ReadFileError(code, path, REASONS[code] ?? code);
}
