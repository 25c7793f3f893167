/**
 * File owners: "name", "name:group", "uid" or "uid:gid", resolved through /etc/passwd and /etc/group (Node has no
 * getpwnam). Pure parsing plus one read of the two files.
 */
import { readFileSync } from 'node:fs';

export interface Owner {
  readonly uid: number;
  readonly gid: number;
}

export class OwnerError extends Error {
  override readonly name = 'OwnerError';
}

export function parseDb(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(':');
    if (fields[0] !== undefined && !map.has(fields[0])) map.set(fields[0], fields);
  }
  return map;
}

export function resolveOwner(
  spec: string,
  files: { passwd?: string; group?: string } = {},
): Owner {
  const read = (p: string): string => {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  const [userPart, groupPart] = spec.split(':', 2) as [string, string | undefined];
  let uid: number;
  let gid: number | undefined;
  if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    const entry = [...parseDb(files.passwd ?? read('/etc/passwd')).values()].find((f) => f[2] === userPart);
    gid = entry ? Number(entry[3]) : uid;
  } else {
    const entry = parseDb(files.passwd ?? read('/etc/passwd')).get(userPart);
    if (!entry) throw new OwnerError(`user "${userPart}" does not exist (not in /etc/passwd)`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (/^\d+$/.test(groupPart)) {
      gid = Number(groupPart);
    } else {
      const g = parseDb(files.group ?? read('/etc/group')).get(groupPart);
      if (!g) throw new OwnerError(`group "${groupPart}" does not exist (not in /etc/group)`);
      gid = Number(g[2]);
    }
  }
  return { uid, gid: gid ?? uid };
}
