/**
 * Atomic file writes into a directory whose current state is hostile input.
 *
 * - A file is written as a temporary file in the same directory (created with O_EXCL and O_NOFOLLOW, with the final
 *   mode and owner), fsync'd, renamed over the target, and the directory fsync'd: a reader sees the old bytes or the
 *   new bytes, never a partial file.
 * - A symbolic link is never followed: the existing file is opened with O_NOFOLLOW, its mode and owner are fixed
 *   through that file descriptor, and a link (or a FIFO, a device, a file with other hard links) at the output path is
 *   replaced by a regular file through the rename, which replaces the link itself.
 * - A file whose bytes did not change is not rewritten (its mtime stays); only its mode and owner are fixed.
 * - Directories are created one component at a time (Node's recursive mkdir spins forever where mkdir answers ENOENT
 *   for an existing parent, as under /proc).
 * - Errors are WriteFailure: the errno code, the step and the path at fault (an output or a directory, never the
 *   temporary file), so that callers can name the template and output path.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, realpath, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, isAbsolute, sep } from 'node:path';
import type { Owner } from './owner.js';

export interface FileToWrite {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner?: Owner | undefined;
  /**
   * The directory the file must stay in (a template's dir, for a relative output path): its real path is compared
   * with the real path of the file's directory right before writing, so that a symbolic link to a directory elsewhere
   * is refused.
   */
  readonly within?: string | undefined;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

/** What an output path holds now, compared with new content (--check). */
export type Comparison = 'new' | 'changed' | 'unchanged';

/** A write that failed: `code` is the errno code, `path` the output or directory at fault, `step` what was done. */
export class WriteFailure extends Error {
  override readonly name = 'WriteFailure';
  readonly detail: string;
  constructor(
    readonly code: string,
    readonly path: string,
    readonly step: string,
    detail?: string,
  ) {
    super(`${step} ${path}: ${detail ?? errnoText(code)}`);
    this.detail = detail ?? errnoText(code);
  }
}

/** A directory on the way to an output that resolves outside the directory the output must stay in. */
export class EscapeError extends Error {
  override readonly name = 'EscapeError';
}

const TEMP_SUFFIX = /^\.(.+)\.(\d+)\.([0-9a-f]{8})\.tmp$/;

function tempName(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export async function writeFileAtomic(file: FileToWrite): Promise<WriteOutcome> {
  const dir = dirname(file.path);
  await ensureDir(dir);
  if (file.within !== undefined) await assertWithin(file.within, file.path);
  const existing = await openExisting(file.path);
  try {
    if (existing !== undefined && existing.kind === 'file' && (await sameContent(existing.fh, existing.size, file.content))) {
      if (existing.links === 1) {
        await fixMeta(existing.fh, file);
        return 'unchanged';
      }
      // Other hard links share this inode: changing its mode or owner would change theirs. Replaced below.
    }
  } finally {
    if (existing?.kind === 'file') await existing.fh.close();
  }
  if (existing?.kind === 'directory') throw new WriteFailure('EISDIR', file.path, 'writing', 'is a directory');

  const tmp = tempName(file.path);
  let renamed = false;
  try {
    let fh: FileHandle;
    try {
      fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, file.mode);
    } catch (err) {
      throw failure(err, dir, 'creating a file in');
    }
    try {
      await fh.chmod(file.mode); // the umask must not widen or narrow the configured mode
      if (file.owner) await fh.chown(file.owner.uid, file.owner.gid);
      await fh.writeFile(file.content);
      await fh.sync();
    } catch (err) {
      throw failure(err, file.path, 'writing');
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file.path);
    } catch (err) {
      throw failure(err, file.path, 'replacing');
    }
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
  return existing === undefined ? 'created' : 'updated';
}

/** Whether writing `content` would create, change or leave `path` as it is (for --check). Follows no link. */
export async function compareFile(path: string, content: Buffer): Promise<Comparison> {
  const existing = await openExisting(path);
  if (existing === undefined) return 'new';
  if (existing.kind !== 'file') return 'changed';
  try {
    return (await sameContent(existing.fh, existing.size, content)) ? 'unchanged' : 'changed';
  } finally {
    await existing.fh.close();
  }
}

/** A temporary file older than this is stale whoever wrote it: a write takes milliseconds. */
const STALE_AFTER_MS = 10 * 60_000;

/**
 * Remove the temporary files that a killed tconfd left next to `path` (`.name.<pid>.<8 hex>.tmp`, this module's
 * naming and nothing else): regular files only, links are never followed. One whose pid is this process (a restarted
 * container often gets the same pid) or no live process is stale; one of another live process may be a write in
 * flight (two tconfds writing the same file) and is left alone unless it is older than 10 minutes. Returns how many
 * were removed and how many were left for a later look.
 */
export async function removeStaleTemps(path: string, now = Date.now()): Promise<{ removed: number; pending: number }> {
  const dir = dirname(path);
  const name = basename(path);
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return { removed: 0, pending: 0 };
  }
  let removed = 0;
  let pending = 0;
  for (const entry of entries) {
    const m = TEMP_SUFFIX.exec(entry);
    if (m === null || m[1] !== name) continue;
    const p = join(dir, entry);
    try {
      const st = await lstat(p);
      if (!st.isFile()) continue;
      if (!(Number(m[2]) === process.pid || !processExists(Number(m[2])) || now - st.mtimeMs > STALE_AFTER_MS)) {
        pending++;
        continue;
      }
      await unlink(p);
      removed++;
    } catch {
      // gone already, or not ours to remove
    }
  }
  return { removed, pending };
}

function processExists(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

type Existing =
  | { readonly kind: 'file'; readonly fh: FileHandle; readonly size: number; readonly links: number }
  | { readonly kind: 'directory' }
  /** A symbolic link, FIFO, socket or device: replaced by a regular file, never opened through. */
  | { readonly kind: 'other' };

async function openExisting(path: string): Promise<Existing | undefined> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer.
    fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'EOPNOTSUPP') return { kind: 'other' };
    if (code === 'EISDIR') return { kind: 'directory' };
    throw failure(err, path, 'reading');
  }
  const st = await fh.stat();
  if (st.isFile()) return { kind: 'file', fh, size: st.size, links: st.nlink };
  await fh.close();
  return st.isDirectory() ? { kind: 'directory' } : { kind: 'other' };
}

/** Compares without reading more than the new content's size. */
async function sameContent(fh: FileHandle, size: number, content: Buffer): Promise<boolean> {
  if (size !== content.length) return false;
  const buf = Buffer.alloc(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) return false;
    off += bytesRead;
  }
  return buf.equals(content);
}

async function fixMeta(fh: FileHandle, file: FileToWrite): Promise<void> {
  try {
    const st = await fh.stat();
    if ((st.mode & 0o7777) !== file.mode) await fh.chmod(file.mode);
    if (file.owner && (st.uid !== file.owner.uid || st.gid !== file.owner.gid)) {
      await fh.chown(file.owner.uid, file.owner.gid);
    }
  } catch (err) {
    throw failure(err, file.path, 'setting the mode and owner of');
  }
}

/**
 * Create a directory and its missing parents, one mkdir per component from the root down: bounded by the number of
 * components, and each failure is the kernel's own answer (EROFS, EACCES, ENOENT...) for the component at fault.
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    if ((await stat(dir)).isDirectory()) return;
    throw new WriteFailure('ENOTDIR', dir, 'creating directory', 'exists and is not a directory');
  } catch (err) {
    if (err instanceof WriteFailure) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw failure(err, dir, 'creating directory');
  }
  let cur = '';
  for (const part of dir.split(sep).filter((p) => p !== '')) {
    cur += sep + part;
    try {
      await mkdir(cur, 0o755);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw failure(err, cur, 'creating directory');
      let isDir: boolean;
      try {
        isDir = (await stat(cur)).isDirectory();
      } catch (e) {
        throw failure(e, cur, 'creating directory');
      }
      if (!isDir) throw new WriteFailure('ENOTDIR', cur, 'creating directory', 'exists and is not a directory');
    }
  }
}

/**
 * Refuse an output whose directory, once symbolic links are resolved, is not `root` or below it. Components that do
 * not exist yet are fine: tconfd creates them as real directories.
 */
export async function assertWithin(root: string, path: string): Promise<void> {
  let realRoot: string;
  try {
    realRoot = await realpath(root);
  } catch {
    return; // not created yet: nothing in it can lead elsewhere
  }
  let cur = root;
  for (const part of relative(root, dirname(path)).split(sep).filter((p) => p !== '')) {
    cur = join(cur, part);
    let real: string;
    try {
      if (!(await lstat(cur)).isSymbolicLink()) continue;
      real = await realpath(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        // missing from here on (created by tconfd), unless a dangling link is there
        if (await lstat(cur).then(() => true, () => false)) throw new EscapeError(`${cur} is a symbolic link to nowhere`);
        return;
      }
      throw failure(err, cur, 'checking');
    }
    const rel = relative(realRoot, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new EscapeError(`leaves its dir through the symbolic link ${cur}, which leads to ${real}`);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

function failure(err: unknown, path: string, step: string): WriteFailure {
  if (err instanceof WriteFailure) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new WriteFailure(code, path, step);
}

const ERRNO_TEXT: Record<string, string> = {
  EROFS: 'read-only file system (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'operation not permitted (EPERM)',
  ENOSPC: 'no space left on the device (ENOSPC)',
  EDQUOT: 'disk quota exceeded (EDQUOT)',
  ENOENT: 'no such file or directory, and it cannot be created there (ENOENT)',
  ENOTDIR: 'a component of the path is not a directory (ENOTDIR)',
  EISDIR: 'is a directory (EISDIR)',
  ENAMETOOLONG: 'file name too long (ENAMETOOLONG)',
  ELOOP: 'too many symbolic links (ELOOP)',
  EIO: 'input/output error (EIO)',
  EBUSY: 'device or resource busy (EBUSY)',
  EXDEV: 'not on the same file system (EXDEV)',
};

export function errnoText(code: string): string {
  return ERRNO_TEXT[code] ?? code;
}
