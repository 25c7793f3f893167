/**
 * The promise-based file system calls of the start's path (atomic writes, file secrets): node:fs's own functions,
 * promisified, and a file handle with the few methods tconfd uses. node:fs/promises does the same but costs ~2.5 ms
 * to load at every start (it brings streams and readline along); node:fs is loaded before any code runs.
 * Errors are node:fs's (code, syscall, path), as with node:fs/promises.
 */
import * as fs from 'node:fs';
import { promisify } from 'node:util';

const fsOpen = promisify(fs.open);
const fsClose = promisify(fs.close);
const fsRead = promisify(fs.read);
const fsWrite = promisify(fs.write);
const fsFsync = promisify(fs.fsync);
const fsFchmod = promisify(fs.fchmod);
const fsFchown = promisify(fs.fchown);
const fsFstat = promisify(fs.fstat);

export const lstat = promisify(fs.lstat);
export const mkdir = promisify(fs.mkdir);
export const readlink = promisify(fs.readlink) as (path: string) => Promise<string>;
export const readdir = promisify(fs.readdir) as (path: string) => Promise<string[]>;
// realpath(3) itself: node:fs's own fs.realpath walks the path with one lstat per component
export const realpath = promisify(fs.realpath.native) as (path: string) => Promise<string>;
export const rename = promisify(fs.rename);
export const stat = promisify(fs.stat) as (path: string) => Promise<fs.Stats>;
export const unlink = promisify(fs.unlink);

/** An open file descriptor; close() it (nothing closes it for you). */
export class FileHandle {
  constructor(readonly fd: number) {}

  /** Reads at `position`, or at the current offset when it is omitted. */
  read(buffer: Buffer, offset: number, length: number, position: number | null = null): Promise<{ bytesRead: number }> {
    return fsRead(this.fd, buffer, offset, length, position);
  }

  /** Writes all of `data` from the current offset. */
  async writeFile(data: Buffer): Promise<void> {
    let off = 0;
    while (off < data.length) off += (await fsWrite(this.fd, data, off, data.length - off, null)).bytesWritten;
  }

  sync(): Promise<void> {
    return fsFsync(this.fd);
  }

  chmod(mode: number): Promise<void> {
    return fsFchmod(this.fd, mode);
  }

  chown(uid: number, gid: number): Promise<void> {
    return fsFchown(this.fd, uid, gid);
  }

  stat(): Promise<fs.Stats> {
    return fsFstat(this.fd);
  }

  close(): Promise<void> {
    return fsClose(this.fd);
  }
}

export async function open(path: string, flags: string | number, mode?: number): Promise<FileHandle> {
  return new FileHandle(await fsOpen(path, flags, mode));
}
