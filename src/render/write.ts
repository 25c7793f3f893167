/**
 * Atomic file writes into a directory whose current state is hostile input.
 *
 * - A file is written as a temporary file in the same directory (created with O_EXCL and O_NOFOLLOW, with the final
 *   mode and owner), fsync'd, renamed over the target, and the directory fsync'd: a reader sees the old bytes or the
 *   new bytes, never a partial file. Writing is two steps, prepare (the temporary file, written and fsync'd) and
 *   commit (the rename), so that a caller can prepare many files and rename them only once all are prepared. The
 *   directories' fsync is left to Dirs.flush(): each directory written into (and the parent of each directory created)
 *   is fsync'd once per batch, after all its renames, and a caller reports files written only after that.
 * - Directories are reached through descriptors (Linux): the template's dir is opened, then each directory below it
 *   with O_DIRECTORY|O_NOFOLLOW, and the temporary file, the rename, the lookups and the clean-up all go through
 *   /proc/self/fd/<dir fd>/<name>, so a directory swapped for a symbolic link after it was checked cannot redirect a
 *   write: what was opened is what is written into. A symbolic link below the dir is followed only when the directory
 *   it opens is inside the dir. Without /proc (another OS, no /proc mounted) the directories are checked by path right
 *   before writing, which a swap between the check and the rename can defeat.
 * - A symbolic link is never followed at the output path itself: the existing file is opened with O_NOFOLLOW, and a
 *   link (or a FIFO, a device, a file with other hard links, a file of another owner) at the output path is replaced
 *   by a regular file through the rename, which replaces the link itself.
 * - A file whose bytes did not change, owned by the configured user or by tconfd's own, and with no other hard link,
 *   is not rewritten (its mtime stays); only its mode and owner are fixed, through its descriptor. A file of another
 *   owner (planted by someone who can write in the directory) is replaced like a link.
 * - Missing directories are created one component at a time (Node's recursive mkdir spins forever where mkdir answers
 *   ENOENT for an existing parent, as under /proc).
 * - Errors are WriteFailure: the errno code, the step and the path at fault (an output or a directory, never the
 *   temporary file), so that callers can name the template and output path.
 */
import { closeSync, constants, existsSync, openSync, readSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, realpath, rename, stat, unlink, type FileHandle } from '../fsp.js';
import { basename, dirname, join, relative, isAbsolute, sep } from 'node:path';
import { nodeCrypto } from '../builtins.js';
import { inThreadPool } from '../thread-pool.js';
import type { Owner } from './owner.js';

export interface FileToWrite {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner?: Owner | undefined;
  /**
   * The directory the file must stay in (a template's dir, for a relative output path): every directory between it
   * and the file is opened without following symbolic links (a link is followed only to a directory inside it).
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

/** Whether directories are reached through descriptors (/proc/self/fd), rather than checked by path. */
export const DIRECTORY_DESCRIPTORS = process.platform === 'linux' && existsSync('/proc/self/fd');

// ---- temporary files -------------------------------------------------------------------------------------------

/** Longest file name (bytes) on Linux file systems. */
const NAME_MAX = 255;
/** `.` + stem + `.` + pid (at most 10 digits) + `.` + 8 hex + `.tmp` */
const TEMP_OVERHEAD = 1 + 1 + 10 + 1 + 8 + 4;
const TEMP_NAME = /^\.(.+)\.(\d+)\.([0-9a-f]{8})\.tmp$/;

/**
 * The part of a temporary file's name that stands for the output's name: the name itself, or, when the name is too
 * long for the temporary name to fit in 255 bytes, its first bytes, `~` and 16 hex digits of its SHA-256. The same
 * for writing and for the clean-up of stale temporary files.
 */
export function tempStem(name: string): string {
  if (Buffer.byteLength(name) + TEMP_OVERHEAD <= NAME_MAX) return name;
  const hash = nodeCrypto().createHash('sha256').update(name).digest('hex').slice(0, 16);
  let prefix = Buffer.from(name).subarray(0, NAME_MAX - TEMP_OVERHEAD - 17).toString('utf8');
  if (prefix.endsWith('\uFFFD')) prefix = prefix.slice(0, -1); // a character cut in the middle
  return `${prefix}~${hash}`;
}

function tempName(name: string): string {
  return `.${tempStem(name)}.${process.pid}.${random4().toString('hex')}.tmp`;
}

/**
 * 4 random bytes for a temporary file's name, from a pool refilled from /dev/urandom: node:crypto costs ~3 ms to load
 * at the first write of a start that otherwise does not need it. (O_EXCL, not the name, is what stops a planted file
 * from being written through.)
 */
let pool: Buffer | undefined;
let used = 0;
function random4(): Buffer {
  if (pool === undefined || used + 4 > pool.length) {
    pool = Buffer.alloc(256);
    used = 0;
    try {
      const fd = openSync('/dev/urandom', constants.O_RDONLY);
      try {
        if (readSync(fd, pool, 0, pool.length, null) !== pool.length) throw new Error('short read');
      } finally {
        closeSync(fd);
      }
    } catch {
      nodeCrypto().randomFillSync(pool);
    }
  }
  used += 4;
  return pool.subarray(used - 4, used);
}

// ---- directories -----------------------------------------------------------------------------------------------

/** A directory written into: through its descriptor (Linux), else by path. */
export class Dir {
  constructor(
    /** Its path, for messages. */
    readonly path: string,
    readonly fh: FileHandle | undefined,
    /** Made by this batch of writes: it holds no temporary file of an earlier tconfd. */
    readonly created = false,
  ) {}

  /** A path that names `name` in this very directory, whatever happened to its path since it was opened. */
  at(name: string): string {
    return this.fh === undefined ? join(this.path, name) : `/proc/self/fd/${this.fh.fd}/${name}`;
  }

  async sync(): Promise<void> {
    try {
      if (this.fh !== undefined) {
        await this.fh.sync();
        return;
      }
      // by path (no descriptor): never opened unless it is a directory, never waiting on a FIFO swapped in
      const fh = await open(this.path, DIR_FLAGS | constants.O_NONBLOCK);
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch {
      // some file systems refuse fsync on a directory; the rename is still atomic
    }
  }

  async close(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
  }
}

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY;

/**
 * The directories of one batch of writes, each opened once (many outputs share a directory); close() when done.
 * open() answers undefined for a directory that does not exist when `create` is false (--check).
 *
 * The directories whose entries changed (a file renamed into it, a directory created in it) are fsync'd by flush(),
 * once each however many files the batch put there; close() flushes too.
 */
export class Dirs {
  readonly #open = new Map<string, Promise<Dir | undefined>>();
  /** Directories to fsync, by path (one descriptor each). */
  readonly #unsynced = new Map<string, Dir>();
  /** Descriptors held only for their fsync (the parents of directories created), closed by flush(). */
  readonly #held: Dir[] = [];

  constructor(private readonly fsyncDir: (dir: Dir) => Promise<void> = (dir) => dir.sync()) {}

  open(dir: string, within: string | undefined, create: boolean): Promise<Dir | undefined> {
    const key = `${within ?? ''}\0${dir}\0${create}`;
    // a directory opened (or made) for writing is the one a look without creating finds
    let p = create ? undefined : this.#open.get(`${within ?? ''}\0${dir}\0true`);
    if (p !== undefined) return p;
    p = this.#open.get(key);
    if (p === undefined) {
      p = inThreadPool(() => openDir(dir, within, create, this));
      this.#open.set(key, p);
      p.catch(() => this.#open.delete(key));
    }
    return p;
  }

  /** `dir`'s new entries reach the disk at the next flush(). `held`: the descriptor is this object's to close. */
  syncLater(dir: Dir, held = false): void {
    const known = this.#unsynced.get(dir.path);
    if (known === undefined || (known.fh === undefined && dir.fh !== undefined)) this.#unsynced.set(dir.path, dir);
    if (held) this.#held.push(dir);
  }

  /** fsync every directory given to syncLater() since the last flush, once each. */
  async flush(): Promise<void> {
    const dirs = [...this.#unsynced.values()];
    this.#unsynced.clear();
    await Promise.all(dirs.map((d) => inThreadPool(() => this.fsyncDir(d))));
    const held = this.#held.splice(0);
    await Promise.all(held.map((d) => d.close()));
  }

  async close(): Promise<void> {
    await this.flush();
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(all.map((p) => p.then((d) => d?.close(), () => undefined)));
  }
}

async function openDir(dir: string, within: string | undefined, create: boolean, dirs: Dirs): Promise<Dir | undefined> {
  const root = within ?? dir;
  if (!isInside(root, dir)) throw new EscapeError(`${dir} is outside ${root}`);
  let created = await byPath(root, create, dirs);
  if (created === undefined) return undefined;
  if (!DIRECTORY_DESCRIPTORS) {
    // Checked by path right before writing: a swap between this check and the rename is not detected.
    created = await byPath(dir, create, dirs);
    if (created === undefined) return undefined;
    if (within !== undefined) await assertWithin(within, join(dir, 'x'));
    return new Dir(dir, undefined, created);
  }
  let cur: FileHandle;
  try {
    cur = await open(root, DIR_FLAGS); // the template's own dir: a link there is the configuration's choice
  } catch (err) {
    throw failure(err, root, 'opening directory');
  }
  let curPath = root;
  try {
    const realRoot = await readlink(`/proc/self/fd/${cur.fd}`);
    for (const part of relative(root, dir).split(sep).filter((p) => p !== '')) {
      const next = await openBelow(cur, curPath, part, realRoot, create);
      // A directory created in cur is on disk once cur is fsync'd: dirs keeps cur for that (and closes it).
      if (next?.created === true) dirs.syncLater(new Dir(curPath, cur), true);
      else await cur.close();
      if (next === undefined) return undefined;
      cur = next.fh;
      created = next.created;
      curPath = join(curPath, part);
    }
  } catch (err) {
    await cur.close().catch(() => undefined);
    throw err;
  }
  return new Dir(dir, cur, created);
}

/**
 * A directory reached by path: made (with its missing parents, whose own parents dirs fsyncs) when `create`, then
 * whether this call made it; undefined when it is not there (or not a directory) and not `create`.
 */
async function byPath(dir: string, create: boolean, dirs: Dirs): Promise<boolean | undefined> {
  if (!create) return (await stat(dir).then((s) => s.isDirectory(), () => false)) ? false : undefined;
  const made = await ensureDir(dir);
  for (const m of made) dirs.syncLater(new Dir(dirname(m), undefined));
  return made.includes(dir);
}

/**
 * Open the directory `part` of the directory `parent` (reached as parentPath) without following a symbolic link, or
 * through a link only to a directory inside realRoot; created (0755) when missing and `create`.
 */
async function openBelow(
  parent: FileHandle,
  parentPath: string,
  part: string,
  realRoot: string,
  create: boolean,
): Promise<{ fh: FileHandle; created: boolean } | undefined> {
  const at = `/proc/self/fd/${parent.fd}/${part}`;
  const shown = join(parentPath, part);
  let created = false;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return { fh: await open(at, DIR_FLAGS | constants.O_NOFOLLOW), created };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        if (!create) return undefined;
        try {
          await mkdir(at, 0o755);
          created = true;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw failure(e, shown, 'creating directory');
        }
        continue;
      }
      if (code !== 'ENOTDIR' && code !== 'ELOOP') throw failure(err, shown, 'opening directory');
    }
    // Not a directory: a symbolic link (O_NOFOLLOW), or something else.
    let st;
    try {
      st = await lstat(at);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw failure(err, shown, 'checking');
    }
    if (st.isDirectory()) continue; // swapped back meanwhile: look again
    if (!st.isSymbolicLink()) throw new WriteFailure('ENOTDIR', shown, 'creating directory', 'exists and is not a directory');
    let fh: FileHandle;
    try {
      fh = await open(at, DIR_FLAGS);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new EscapeError(`${shown} is a symbolic link to nowhere`);
      if (code === 'ENOTDIR') throw new WriteFailure('ENOTDIR', shown, 'creating directory', 'is a symbolic link to something that is not a directory');
      throw failure(err, shown, 'opening directory');
    }
    // What was opened is checked, not a path: a swap after this cannot change it.
    const real = await readlink(`/proc/self/fd/${fh.fd}`);
    if (!isInside(realRoot, real)) {
      await fh.close();
      throw new EscapeError(`leaves its dir through the symbolic link ${shown}, which leads to ${real}`);
    }
    return { fh, created };
  }
  throw new WriteFailure('EAGAIN', shown, 'opening directory', 'it keeps changing (being swapped for a link and back?)');
}

function isInside(root: string, p: string): boolean {
  const rel = relative(root, p);
  return rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel));
}

// ---- writing ---------------------------------------------------------------------------------------------------

/** A file ready to be put in place: its temporary file is written and fsync'd (unless its content is unchanged). */
export interface PreparedFile {
  readonly path: string;
  /** What commit() does to the output. */
  readonly outcome: WriteOutcome;
  /** Put the new file in place (the rename); nothing for an unchanged file. */
  commit(): Promise<void>;
  /** Remove the temporary file. */
  abort(): Promise<void>;
}

/**
 * Whether an existing file's owner lets it be kept as it is: the configured owner, or tconfd's own user (nobody else
 * can have created a file owned by either). A file of another user was planted there: it is replaced.
 */
function trustedOwner(uid: number, file: FileToWrite): boolean {
  return uid === file.owner?.uid || uid === process.geteuid?.();
}

/**
 * Prepare a file: its directory opened (created), and either its existing file kept (same bytes, expected owner, one
 * link: its mode and owner are fixed now) or a temporary file written and fsync'd next to it. Counted as a thread-pool
 * operation that may block in the kernel (thread-pool.ts).
 */
export function prepareFile(file: FileToWrite, dirs: Dirs): Promise<PreparedFile> {
  return inThreadPool(() => prepare(file, dirs));
}

async function prepare(file: FileToWrite, dirs: Dirs): Promise<PreparedFile> {
  const dir = (await dirs.open(dirname(file.path), file.within, true))!;
  const name = basename(file.path);
  const existing = await openExisting(dir.at(name), file.path);
  try {
    if (existing?.kind === 'file' && existing.links === 1 && trustedOwner(existing.uid, file) && (await sameContent(existing.fh, existing.size, file.content))) {
      await fixMeta(existing.fh, file);
      return { path: file.path, outcome: 'unchanged', commit: async () => undefined, abort: async () => undefined };
    }
    // Otherwise (other bytes, other hard links sharing the inode, another owner): replaced below.
  } finally {
    if (existing?.kind === 'file') await existing.fh.close();
  }
  if (existing?.kind === 'directory') throw new WriteFailure('EISDIR', file.path, 'writing', 'is a directory');

  const tmp = tempName(name);
  let fh: FileHandle;
  try {
    fh = await open(dir.at(tmp), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, file.mode);
  } catch (err) {
    throw failure(err, dir.path, 'creating a file in');
  }
  const remove = (): Promise<void> => unlink(dir.at(tmp)).catch(() => undefined);
  try {
    await fh.chmod(file.mode); // the umask must not widen or narrow the configured mode
    if (file.owner) await fh.chown(file.owner.uid, file.owner.gid);
    await fh.writeFile(file.content);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await remove();
    throw failure(err, file.path, 'writing');
  }
  await fh.close();
  let done = false;
  return {
    path: file.path,
    outcome: existing === undefined ? 'created' : 'updated',
    commit: () =>
      inThreadPool(async () => {
        try {
          await rename(dir.at(tmp), dir.at(name));
        } catch (err) {
          await remove();
          throw failure(err, file.path, 'replacing');
        }
        done = true;
        dirs.syncLater(dir); // fsync'd once for the whole batch, by dirs.flush()
      }),
    abort: async () => {
      if (!done) await inThreadPool(remove);
    },
  };
}

/**
 * Write one file atomically (prepare, then commit). With `dirs`, its directory's fsync is left to dirs.flush() (or
 * close()), which the caller awaits before it reports the file written; without, it is done here.
 */
export async function writeFileAtomic(file: FileToWrite, dirs?: Dirs): Promise<WriteOutcome> {
  const own = dirs ?? new Dirs();
  try {
    const p = await prepareFile(file, own);
    await p.commit();
    return p.outcome;
  } finally {
    if (dirs === undefined) await own.close();
  }
}

/** Whether writing `content` would create, change or leave `path` as it is (for --check). Follows no link. */
export function compareFile(file: Pick<FileToWrite, 'path' | 'content' | 'within' | 'owner'>, dirs: Dirs = new Dirs()): Promise<Comparison> {
  return inThreadPool(async () => {
    const dir = await dirs.open(dirname(file.path), file.within, false);
    if (dir === undefined) return 'new';
    const existing = await openExisting(dir.at(basename(file.path)), file.path);
    if (existing === undefined) return 'new';
    if (existing.kind !== 'file') return 'changed';
    try {
      return (await sameContent(existing.fh, existing.size, file.content)) ? 'unchanged' : 'changed';
    } finally {
      await existing.fh.close();
    }
  });
}

/** A temporary file older than this is stale whoever wrote it: a write takes milliseconds. */
const STALE_AFTER_MS = 10 * 60_000;

/**
 * Remove the temporary files that a killed tconfd left next to an output (`.name.<pid>.<8 hex>.tmp`, or the
 * shortened stem of a long name, see tempStem: this module's naming and nothing else) in `dir`: regular files only,
 * links are never followed. One whose pid is this process (a restarted container often gets the same pid) or no live
 * process is stale; one of another live process may be a write in flight (two tconfds writing the same file) and is
 * left alone unless it is older than 10 minutes. Returns how many were removed and how many were left for a later look.
 */
export function removeStaleTemps(dir: Dir, name: string, now = Date.now()): Promise<{ removed: number; pending: number }> {
  return inThreadPool(async () => {
    const stem = tempStem(name);
    let entries: string[];
    try {
      entries = await readdir(dir.at('.'));
    } catch {
      return { removed: 0, pending: 0 };
    }
    let removed = 0;
    let pending = 0;
    for (const entry of entries) {
      const m = TEMP_NAME.exec(entry);
      if (m === null || m[1] !== stem) continue;
      try {
        const st = await lstat(dir.at(entry));
        if (!st.isFile()) continue;
        if (!(Number(m[2]) === process.pid || !processExists(Number(m[2])) || now - st.mtimeMs > STALE_AFTER_MS)) {
          pending++;
          continue;
        }
        await unlink(dir.at(entry));
        removed++;
      } catch {
        // gone already, or not ours to remove
      }
    }
    return { removed, pending };
  });
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
  | { readonly kind: 'file'; readonly fh: FileHandle; readonly size: number; readonly links: number; readonly uid: number }
  | { readonly kind: 'directory' }
  /** A symbolic link, FIFO, socket or device: replaced by a regular file, never opened through. */
  | { readonly kind: 'other' };

async function openExisting(at: string, shown: string): Promise<Existing | undefined> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO does not wait for a writer.
    fh = await open(at, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' || code === 'ENXIO' || code === 'EOPNOTSUPP') return { kind: 'other' };
    if (code === 'EISDIR') return { kind: 'directory' };
    throw failure(err, shown, 'reading');
  }
  const st = await fh.stat();
  if (st.isFile()) return { kind: 'file', fh, size: st.size, links: st.nlink, uid: st.uid };
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
 * Returns the directories it created.
 */
export async function ensureDir(dir: string): Promise<string[]> {
  try {
    if ((await stat(dir)).isDirectory()) return [];
    throw new WriteFailure('ENOTDIR', dir, 'creating directory', 'exists and is not a directory');
  } catch (err) {
    if (err instanceof WriteFailure) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw failure(err, dir, 'creating directory');
  }
  let cur = '';
  const created: string[] = [];
  for (const part of dir.split(sep).filter((p) => p !== '')) {
    cur += sep + part;
    try {
      await mkdir(cur, 0o755);
      created.push(cur);
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
  return created;
}

/**
 * Refuse an output whose directory, once symbolic links are resolved, is not `root` or below it (by path: an early
 * refusal before anything is written, and the only check where directories cannot be reached through descriptors).
 * Components that do not exist yet are fine: tconfd creates them as real directories.
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
    if (!isInside(realRoot, real)) {
      throw new EscapeError(`leaves its dir through the symbolic link ${cur}, which leads to ${real}`);
    }
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
