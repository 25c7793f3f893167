/**
 * ACL policies: the HCL (and JSON) subset Vault policies use, and Vault's path matching (exact paths, `*` glob
 * suffixes, `+` segment wildcards, with Vault's priority rules between overlapping patterns).
 */
import { badRequest } from './util.js';

export type Capability = 'create' | 'read' | 'update' | 'delete' | 'list' | 'sudo' | 'deny' | 'patch';
const CAPABILITIES: readonly Capability[] = ['create', 'read', 'update', 'delete', 'list', 'sudo', 'deny', 'patch'];

export interface PathRule {
  readonly pattern: string;
  readonly capabilities: ReadonlySet<Capability>;
}

export interface ParsedPolicy {
  readonly name: string;
  readonly text: string;
  readonly rules: readonly PathRule[];
}

// ---------------------------------------------------------------- HCL subset

type Tok =
  | { t: 'str'; v: string }
  | { t: 'ident'; v: string }
  | { t: 'num'; v: number }
  | { t: 'punct'; v: string };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i] as string;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new Error('unterminated comment');
      i = end + 2;
    } else if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= src.length) throw new Error('unterminated string');
        const d = src[i] as string;
        if (d === '"') break;
        if (d === '\\') {
          const e = src[i + 1];
          v += e === 'n' ? '\n' : e === 't' ? '\t' : (e ?? '');
          i += 2;
          continue;
        }
        v += d;
        i++;
      }
      i++;
      out.push({ t: 'str', v });
    } else if (c === '<' && src.startsWith('<<', i)) {
      // heredoc <<EOT ... EOT
      const m = /^<<-?(\w+)\n/.exec(src.slice(i));
      if (!m) throw new Error('bad heredoc');
      const marker = m[1] as string;
      const start = i + m[0].length;
      const endRe = new RegExp(`^\\s*${marker}\\s*$`, 'm');
      const rest = src.slice(start);
      const em = endRe.exec(rest);
      if (!em) throw new Error('unterminated heredoc');
      out.push({ t: 'str', v: rest.slice(0, em.index) });
      i = start + em.index + em[0].length;
    } else if ('{}[]=,:'.includes(c)) {
      out.push({ t: 'punct', v: c });
      i++;
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?\d+(\.\d+)?/.exec(src.slice(i));
      if (!m) throw new Error(`unexpected '${c}'`);
      out.push({ t: 'num', v: Number(m[0]) });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(src.slice(i)) as RegExpExecArray;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw new Error(`unexpected '${c}'`);
    }
  }
  return out;
}

type HclValue = string | number | boolean | null | HclValue[] | HclObject;
interface HclObject {
  [k: string]: HclValue;
}
/** A block list: `path "x" { ... }` gives entries { key: 'path', labels: ['x'], body }. */
interface HclEntry {
  key: string;
  labels: string[];
  value: HclValue;
}

class HclParser {
  private i = 0;
  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok | undefined {
    return this.toks[this.i];
  }
  private next(): Tok {
    const t = this.toks[this.i++];
    if (!t) throw new Error('unexpected end of input');
    return t;
  }

  body(end?: string): HclEntry[] {
    const entries: HclEntry[] = [];
    for (;;) {
      const t = this.peek();
      if (!t) {
        if (end) throw new Error(`expected '${end}'`);
        return entries;
      }
      if (end && t.t === 'punct' && t.v === end) {
        this.i++;
        return entries;
      }
      if (t.t === 'punct' && t.v === ',') {
        this.i++;
        continue;
      }
      const keyTok = this.next();
      if (keyTok.t !== 'ident' && keyTok.t !== 'str') throw new Error('expected a key');
      const key = keyTok.v;
      const labels: string[] = [];
      while (this.peek()?.t === 'str') labels.push((this.next() as { v: string }).v);
      const n = this.peek();
      if (n?.t === 'punct' && (n.v === '=' || n.v === ':')) {
        this.i++;
        entries.push({ key, labels, value: this.value() });
      } else if (n?.t === 'punct' && n.v === '{') {
        this.i++;
        entries.push({ key, labels, value: toObject(this.body('}')) });
      } else {
        throw new Error(`expected '=' or '{' after ${key}`);
      }
    }
  }

  value(): HclValue {
    const t = this.next();
    if (t.t === 'str') return t.v;
    if (t.t === 'num') return t.v;
    if (t.t === 'ident') {
      if (t.v === 'true') return true;
      if (t.v === 'false') return false;
      if (t.v === 'null') return null;
      return t.v;
    }
    if (t.v === '[') {
      const list: HclValue[] = [];
      for (;;) {
        const p = this.peek();
        if (p?.t === 'punct' && p.v === ']') {
          this.i++;
          return list;
        }
        if (p?.t === 'punct' && p.v === ',') {
          this.i++;
          continue;
        }
        list.push(this.value());
      }
    }
    if (t.v === '{') return toObject(this.body('}'));
    throw new Error(`unexpected '${t.v}'`);
  }
}

function toObject(entries: HclEntry[]): HclObject {
  const obj: HclObject = {};
  for (const e of entries) {
    if (e.labels.length === 0) {
      obj[e.key] = e.value;
    } else {
      let cur = obj;
      const path = [e.key, ...e.labels.slice(0, -1)];
      for (const p of path) {
        const existing = cur[p];
        if (typeof existing !== 'object' || existing === null || Array.isArray(existing)) cur[p] = {};
        cur = cur[p] as HclObject;
      }
      cur[e.labels[e.labels.length - 1] as string] = e.value;
    }
  }
  return obj;
}

function legacyPolicy(p: string): Capability[] {
  switch (p) {
    case 'deny':
      return ['deny'];
    case 'read':
      return ['read', 'list'];
    case 'write':
      return ['create', 'read', 'update', 'delete', 'list'];
    case 'sudo':
      return ['create', 'read', 'update', 'delete', 'list', 'sudo'];
    default:
      throw new Error(`invalid policy "${p}"`);
  }
}

/** Parse a policy document (HCL or JSON). Throws VaultError 400 `failed to parse policy: ...`. */
export function parsePolicy(name: string, text: string): ParsedPolicy {
  let root: HclObject;
  try {
    if (text.trim().startsWith('{')) {
      root = JSON.parse(text) as HclObject;
    } else {
      root = toObject(new HclParser(tokenize(text)).body());
    }
  } catch (err) {
    throw badRequest(`failed to parse policy: ${(err as Error).message}`);
  }
  const rules: PathRule[] = [];
  const paths = root['path'];
  if (paths !== undefined) {
    const list: Array<[string, HclValue]> = Array.isArray(paths)
      ? paths.flatMap((p) => (typeof p === 'object' && p !== null && !Array.isArray(p) ? Object.entries(p) : []))
      : typeof paths === 'object' && paths !== null
        ? Object.entries(paths)
        : [];
    for (const [pattern, body] of list) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw badRequest(`failed to parse policy: path "${pattern}": expected a block`);
      }
      const caps = new Set<Capability>();
      const rawCaps = body['capabilities'];
      if (Array.isArray(rawCaps)) {
        for (const c of rawCaps) {
          const s = String(c).toLowerCase() as Capability;
          if (!CAPABILITIES.includes(s)) throw badRequest(`failed to parse policy: path "${pattern}": invalid capability "${String(c)}"`);
          caps.add(s);
        }
      }
      if (typeof body['policy'] === 'string') {
        try {
          for (const c of legacyPolicy(body['policy'])) caps.add(c);
        } catch (err) {
          throw badRequest(`failed to parse policy: path "${pattern}": ${(err as Error).message}`);
        }
      }
      rules.push({ pattern: pattern.replace(/^\//, ''), capabilities: caps });
    }
  }
  return { name, text, rules };
}

// ---------------------------------------------------------------- matching

function hasWildcard(pattern: string): boolean {
  return pattern.endsWith('*') || pattern.split('/').includes('+');
}

function matches(pattern: string, path: string): boolean {
  let pat = pattern;
  const glob = pat.endsWith('*');
  if (glob) pat = pat.slice(0, -1);
  if (!pat.split('/').includes('+')) {
    return glob ? path.startsWith(pat) : path === pat;
  }
  const patSegs = pat.split('/');
  const pathSegs = path.split('/');
  if (!glob && patSegs.length !== pathSegs.length) return false;
  if (glob && pathSegs.length < patSegs.length) return false;
  for (let i = 0; i < patSegs.length; i++) {
    const ps = patSegs[i] as string;
    const s = pathSegs[i] as string;
    const last = i === patSegs.length - 1;
    if (ps === '+') {
      if (s === '' && !(glob && last)) return false;
      continue;
    }
    if (last && glob) {
      if (!s.startsWith(ps)) return false;
    } else if (ps !== s) {
      return false;
    }
  }
  return true;
}

/** Vault's priority rules between two non-exact patterns: >0 when a beats b. */
function compare(a: string, b: string): number {
  const firstWild = (p: string): number => {
    const idx = [p.indexOf('+'), p.indexOf('*')].filter((x) => x >= 0);
    return idx.length ? Math.min(...idx) : p.length;
  };
  const fa = firstWild(a);
  const fb = firstWild(b);
  if (fa !== fb) return fa - fb;
  const ga = a.endsWith('*');
  const gb = b.endsWith('*');
  if (ga !== gb) return ga ? -1 : 1;
  const pa = a.split('+').length;
  const pb = b.split('+').length;
  if (pa !== pb) return pb - pa;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Acl {
  private readonly merged = new Map<string, Set<Capability>>();

  constructor(policies: readonly ParsedPolicy[]) {
    for (const p of policies) {
      for (const r of p.rules) {
        let set = this.merged.get(r.pattern);
        if (!set) this.merged.set(r.pattern, (set = new Set()));
        for (const c of r.capabilities) set.add(c);
      }
    }
  }

  private lookup(path: string): Set<Capability> | undefined {
    const exact = this.merged.get(path);
    if (exact && !hasWildcard(path)) return exact;
    let best: string | undefined;
    for (const pattern of this.merged.keys()) {
      if (!hasWildcard(pattern)) continue;
      if (!matches(pattern, path)) continue;
      if (best === undefined || compare(pattern, best) > 0) best = pattern;
    }
    return best === undefined ? undefined : this.merged.get(best);
  }

  /** The capabilities that apply to path (list operations also try the path without its trailing slash). */
  capabilities(path: string, forList = false): Set<Capability> {
    let caps = this.lookup(path);
    if (!caps && forList && path.endsWith('/')) caps = this.lookup(path.slice(0, -1));
    const out = new Set(caps ?? []);
    if (out.has('deny')) return new Set(['deny']);
    return out;
  }

  allows(path: string, needed: readonly Capability[], forList = false, needSudo = false): boolean {
    const caps = this.capabilities(path, forList);
    if (caps.has('deny')) return false;
    if (needSudo && !caps.has('sudo')) return false;
    return needed.some((c) => caps.has(c));
  }

  /** Whether any rule could grant something at or below prefix (for sys/internal/ui/mounts). */
  anyUnder(prefix: string): boolean {
    for (const [pattern, caps] of this.merged) {
      if (caps.has('deny') || caps.size === 0) continue;
      const bare = pattern.replace(/\*$/, '');
      if (bare.startsWith(prefix) || prefix.startsWith(bare) || matches(pattern, prefix)) return true;
    }
    return false;
  }
}

/** A trimmed version of Vault 1.8's built-in `default` policy. */
export const DEFAULT_POLICY = `
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body; old path for
# old clients, new path for newer
path "sys/renew" {
    capabilities = ["update"]
}
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties. This requires knowing the lease ID ahead
# of time and does not divulge any sensitive information.
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}
`;
