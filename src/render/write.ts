/**
 * Atomic file writes: a temporary file in the same directory, written with the final mode (and owner), fsync'd, then
 * renamed over the target and the directory fsync'd, so that a reader sees the old bytes or the new bytes, never a
 * partial file. A file whose bytes did not change is not rewritten (its mtime stays); only its mode/owner are fixed.
 */
import { randomBytes, createHash } from 'node:crypto';
import { chmod, chown, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Owner } from './owner.js';

export interface FileToWrite {
  readonly path: string;
  readonly content: Buffer;
  readonly mode: number;
  readonly owner?: Owner | undefined;
}

export type WriteOutcome = 'created' | 'updated' | 'unchanged';

export function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

export async function writeFileAtomic(file: FileToWrite): Promise<WriteOutcome> {
  const dir = dirname(file.path);
  let existing: Buffer | undefined;
  try {
    existing = await readFile(file.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (existing !== undefined && existing.equals(file.content)) {
    await fixMeta(file);
    return 'unchanged';
  }
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(file.path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await open(tmp, 'wx', file.mode);
    try {
      await fh.chmod(file.mode); // the umask must not widen or narrow the configured mode
      if (file.owner) await fh.chown(file.owner.uid, file.owner.gid);
      await fh.writeFile(file.content);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file.path);
    renamed = true;
    await syncDir(dir);
  } finally {
    if (!renamed) await unlink(tmp).catch(() => undefined);
  }
  return existing === undefined ? 'created' : 'updated';
}

async function fixMeta(file: FileToWrite): Promise<void> {
  const st = await stat(file.path);
  if ((st.mode & 0o7777) !== file.mode) await chmod(file.path, file.mode);
  if (file.owner && (st.uid !== file.owner.uid || st.gid !== file.owner.gid)) {
    await chown(file.path, file.owner.uid, file.owner.gid);
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
