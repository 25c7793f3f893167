/**
 * The compiler: AST -> JS closures (Code = (env) => Value). Variables are resolved here, once: each becomes a
 * (depth, slot) access into the environment chain; unknown variables and self/super/$ outside an object are static
 * errors, as in libjsonnet. Lazy semantics: local bindings, arguments, array elements and fields are thunks.
 */
import type { Bind, Member, Node, Spec } from './ast.js';
import { RuntimeError, StaticError, type Loc, type Source } from './errors.js';
import { toStringValue } from './manifest.js';
import {
  JArray,
  JFunction,
  JObject,
  TailCall,
  Tainted,
  Thunk,
  checkArraySize,
  compareStrings,
  force,
  plus,
  setTaintSeen,
  state,
  taintSeen,
  tick,
  typeOf,
  type Code,
  type Env,
  type Field,
  type Layer,
  type Lazy,
  type ParamSpec,
  type Value,
} from './values.js';

// ---------------------------------------------------------------------------------------------------------------
// Scopes (compile time)

interface Scope {
  readonly parent: Scope | undefined;
  readonly names: ReadonlyMap<string, number>;
  /** an object's frame: [env, self, layer index, ...locals] */
  readonly object: boolean;
}

function lookup(scope: Scope, name: string): [number, number] | undefined {
  let depth = 0;
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent, depth++) {
    const slot = s.names.get(name);
    if (slot !== undefined) return [depth, slot];
  }
  return undefined;
}

function objectDepth(scope: Scope, outermost: boolean): number | undefined {
  let depth = 0;
  let found: number | undefined;
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent, depth++) {
    if (s.object) {
      found = depth;
      if (!outermost) return depth;
    }
  }
  return found;
}

function up(env: Env, depth: number): Env {
  for (let d = 0; d < depth; d++) env = env[0] as Env;
  return env;
}

// ---------------------------------------------------------------------------------------------------------------
// Run-time operations

export function typeError(loc: Loc | undefined, msg: string): never {
  throw new RuntimeError(msg, loc);
}

/** Calls a function value with lazy arguments (positional, then named). */
export function call(fn: Value, args: readonly Lazy[], named: ReadonlyMap<string, Lazy> | undefined, loc: Loc | undefined): Value {
  if (!(fn instanceof JFunction)) typeError(loc, `only functions can be called, got ${typeOf(fn)}`);
  let f: JFunction = fn;
  let frame = bindArgs(f, args, named, loc);
  const st = state;
  if (++st.depth > st.maxDepth) {
    st.depth--;
    throw new RuntimeError('max stack frames exceeded.', loc);
  }
  tick();
  try {
    for (;;) {
      const r = (f.builtin !== undefined ? f.builtin(frame.slice(1) as Lazy[], loc) : f.body!(frame)) as Value | TailCall;
      if (!(r instanceof TailCall)) return r;
      tick();
      if (!(r.fn instanceof JFunction)) typeError(r.loc, `only functions can be called, got ${typeOf(r.fn)}`);
      f = r.fn;
      frame = bindArgs(f, r.args, undefined, r.loc);
    }
  } catch (e) {
    if (e instanceof RuntimeError) e.unwind(f.builtin !== undefined ? `builtin function <${f.name}>` : `function <${f.name}>`, loc);
    throw e;
  } finally {
    st.depth--;
  }
}

function bindArgs(f: JFunction, args: readonly Lazy[], named: ReadonlyMap<string, Lazy> | undefined, loc: Loc | undefined): Env {
  const params = f.params;
  const n = params.length;
  if (args.length > n) typeError(loc, `too many args, function has ${n} parameter(s)`);
  const frame: Env = new Array(n + 1);
  frame[0] = f.env;
  for (let i = 0; i < args.length; i++) frame[i + 1] = args[i];
  if (named !== undefined) {
    for (const [name, v] of named) {
      const i = params.findIndex((p) => p.name === name);
      if (i < 0) typeError(loc, `function has no parameter ${name}`);
      if (i < args.length) typeError(loc, `binding parameter a second time: ${name}`);
      frame[i + 1] = v;
    }
  }
  for (let i = args.length; i < n; i++) {
    if (frame[i + 1] !== undefined) continue;
    const p = params[i]!;
    if (p.def === undefined) {
      if (f.builtin !== undefined && p.name.startsWith('?')) continue; // optional builtin parameter
      typeError(loc, `function parameter ${p.name} not bound in call.`);
    }
    frame[i + 1] = new Thunk(p.def, frame);
  }
  return frame;
}

export function equals(a: Value, b: Value, loc: Loc | undefined): boolean {
  if (a === b) {
    if (a instanceof JFunction) typeError(loc, 'cannot test equality of functions');
    return true;
  }
  if (a instanceof Tainted) a = a.v;
  if (b instanceof Tainted) b = b.v;
  const ta = typeof a;
  if (ta !== 'object' || a === null || b === null || typeof b !== 'object') {
    if (a instanceof JFunction || b instanceof JFunction) {
      if (typeOf(a) === typeOf(b)) typeError(loc, 'cannot test equality of functions');
    }
    return a === b;
  }
  if (a instanceof JArray && b instanceof JArray) {
    const n = a.length;
    if (n !== b.length) return false;
    for (let i = 0; i < n; i++) if (!equals(a.get(i), b.get(i), loc)) return false;
    return true;
  }
  if (a instanceof JObject && b instanceof JObject) {
    const fa = a.fields();
    const fb = b.fields();
    if (fa.length !== fb.length) return false;
    for (let i = 0; i < fa.length; i++) if (fa[i] !== fb[i]) return false;
    for (const k of fa) if (!equals(a.get(k, loc), b.get(k, loc), loc)) return false;
    return true;
  }
  if (a instanceof JFunction && b instanceof JFunction) typeError(loc, 'cannot test equality of functions');
  return false;
}

/** <, <=, >, >= : -1, 0 or 1 (numbers, strings by code point, arrays lexicographically). */
export function compare(a: Value, b: Value, loc: Loc | undefined, op = '<'): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (a instanceof Tainted) a = a.v;
  if (b instanceof Tainted) b = b.v;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'string' && typeof b === 'string') return Math.sign(compareStrings(a, b));
  if (a instanceof JArray && b instanceof JArray) {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
      const c = compare(a.get(i), b.get(i), loc, op);
      if (c !== 0) return c;
    }
    return Math.sign(a.length - b.length);
  }
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) typeError(loc, `binary operator ${op} requires matching types, got ${ta} and ${tb}.`);
  return typeError(loc, `binary operator ${op} does not operate on ${ta === 'null' ? 'null' : ta + 's'}.`);
}

function num(v: Value, loc: Loc | undefined, what: string): number {
  if (typeof v === 'number') return v;
  if (v instanceof Tainted && typeof v.v === 'number') {
    setTaintSeen(true);
    return v.v;
  }
  return typeError(loc, `${what}, got ${typeOf(v)}`);
}

function checked(v: number, loc: Loc | undefined): number {
  if (!Number.isFinite(v)) {
    if (Number.isNaN(v)) typeError(loc, 'not a number');
    typeError(loc, 'overflow');
  }
  return v;
}

function toInt64(v: number): bigint {
  if (!Number.isFinite(v)) return -(1n << 63n);
  return BigInt.asIntN(64, BigInt(Math.trunc(v)));
}

export function arith(op: string, a: Value, b: Value, loc: Loc | undefined): Value {
  let ta = false;
  if (a instanceof Tainted) {
    ta = true;
    a = a.v;
  }
  if (b instanceof Tainted) {
    ta = true;
    b = b.v;
  }
  const r = arithPlain(op, a, b, loc);
  return ta && typeof r === 'number' ? new Tainted(r) : r;
}

function arithPlain(op: string, a: Value, b: Value, loc: Loc | undefined): Value {
  if (typeof a !== 'number' || typeof b !== 'number') {
    const x = typeOf(a);
    const y = typeOf(b);
    if (x !== y) typeError(loc, `binary operator ${op} requires matching types, got ${x} and ${y}.`);
    return typeError(loc, `binary operator ${op} does not operate on ${x === 'null' ? 'null' : x + 's'}.`);
  }
  switch (op) {
    case '-':
      return checked(a - b, loc);
    case '*':
      return checked(a * b, loc);
    case '/':
      if (b === 0) typeError(loc, 'division by zero.');
      return checked(a / b, loc);
    case '<<':
    case '>>': {
      if (b < 0) typeError(loc, 'shift by negative exponent.');
      const l = toInt64(a);
      const r = toInt64(b) % 64n;
      return Number(op === '<<' ? BigInt.asIntN(64, l << r) : l >> r);
    }
    case '&':
    case '|':
    case '^': {
      const l = toInt64(a);
      const r = toInt64(b);
      return Number(op === '&' ? l & r : op === '|' ? l | r : l ^ r);
    }
    default:
      return typeError(loc, `unknown operator ${op}`);
  }
}

export function modulo(a: Value, b: Value, loc: Loc | undefined): Value {
  if (typeof a === 'number' && typeof b === 'number') {
    if (b === 0) typeError(loc, 'division by zero.');
    return checked(a % b, loc);
  }
  const ua = a instanceof Tainted ? a.v : a;
  const ub = b instanceof Tainted ? b.v : b;
  if (typeof ua === 'number' && typeof ub === 'number') {
    const r = modulo(ua, ub, loc);
    return new Tainted(r as number);
  }
  if (typeof ua === 'string') return hooks.format(a, b, loc);
  return typeError(loc, `Operator % cannot be used on types ${typeOf(a)} and ${typeOf(b)}.`);
}

/** Set by std.ts (std.format), to keep this module free of the library. */
export const hooks: { format: (fmt: Value, args: Value, loc: Loc | undefined) => Value } = {
  format: () => null,
};

export function index(t: Value, i: Value, loc: Loc | undefined, literal: string | undefined): Value {
  if (t instanceof JObject) {
    if (typeof i === 'string') return t.get(i, loc, undefined, literal);
    if (i instanceof Tainted && typeof i.v === 'string') return t.get(i.v, loc, undefined, literal);
    return typeError(loc, `attempted index an object with ${typeOf(i)}.`);
  }
  if (t instanceof JArray) {
    let ti = false;
    if (i instanceof Tainted) {
      ti = true;
      i = i.v;
    }
    if (typeof i !== 'number') {
      return typeError(loc, `attempted index an array with ${typeOf(i)}${literal !== undefined ? ` "${literal}"` : ''}.`);
    }
    if (!Number.isInteger(i)) typeError(loc, ti ? 'array index was not integer' : `array index was not integer: ${i}`);
    if (i < 0 || i >= t.length) typeError(loc, ti ? `array bounds error: not within [0, ${t.length})` : `array bounds error: ${i} not within [0, ${t.length})`);
    return t.get(i);
  }
  if (typeof t === 'string' || t instanceof Tainted) {
    const tt = t instanceof Tainted;
    const s = tt ? (t as Tainted).v : t;
    if (typeof s !== 'string') return typeError(loc, `can't index a number`);
    const ui = i instanceof Tainted ? i.v : i;
    if (typeof ui !== 'number') return typeError(loc, `attempted index a string with ${typeOf(i)}.`);
    if (!Number.isInteger(ui)) typeError(loc, 'string index was not integer');
    const c = codePointAt(s, ui);
    if (c === undefined) typeError(loc, `string bounds error: index not within [0, ${cpLength(s)})`);
    return tt || i instanceof Tainted ? new Tainted(c) : c;
  }
  return typeError(loc, `can't index a ${typeOf(t)}`);
}

const SURROGATE = /[\ud800-\udfff]/;

/** Number of code points. */
export function cpLength(s: string): number {
  if (!SURROGATE.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) i++;
    }
    n++;
  }
  return n;
}

/** The i-th code point as a string. */
export function codePointAt(s: string, i: number): string | undefined {
  if (i < 0) return undefined;
  if (!SURROGATE.test(s)) return i < s.length ? s[i] : undefined;
  let k = 0;
  for (const ch of s) {
    if (k === i) return ch;
    k++;
  }
  return undefined;
}

/** Code points as an array of strings. */
export function codePoints(s: string): string[] {
  return SURROGATE.test(s) ? Array.from(s) : s.split('');
}

function truthy(v: Value, loc: Loc | undefined, what: string): boolean {
  if (typeof v === 'boolean') return v;
  return typeError(loc, `${what} must be boolean, got ${typeOf(v)}.`);
}

/** The message of `error e` / a failed assert: a string as is, anything else as single-line JSON. */
function userError(v: Value, loc: Loc): RuntimeError {
  if (typeof v === 'string') return new RuntimeError(v, loc, 'template');
  if (v instanceof Tainted) return new RuntimeError(String(v.v), loc, 'secret');
  const saved = taintSeen;
  setTaintSeen(false);
  try {
    const s = toStringValue(v, loc);
    return new RuntimeError(s, loc, taintSeen ? 'secret' : 'template');
  } finally {
    setTaintSeen(saved);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The compiler

export interface CompiledFile {
  readonly src: Source;
  /** runs the file's code in its root environment [undefined, std] */
  readonly code: Code;
}

export function compileFile(src: Source, ast: Node): CompiledFile {
  const root: Scope = { parent: undefined, names: new Map([['std', 1]]), object: false };
  return { src, code: new Compiler(src).c(ast, root, false) };
}

class Compiler {
  constructor(private readonly src: Source) {}

  private loc(n: { s: number; e: number }): Loc {
    return { src: this.src, s: n.s, e: n.e };
  }

  private fail(n: { s: number; e: number }, msg: string): never {
    throw new StaticError(this.src, n.s, msg, n.e);
  }

  /** Code for a node; `tail`: in a function body's tail position (a tailstrict call returns a TailCall). */
  c(n: Node, scope: Scope, tail = false): Code {
    switch (n.k) {
      case 'null':
        return () => null;
      case 'true':
        return () => true;
      case 'false':
        return () => false;
      case 'num': {
        const v = n.v;
        if (!Number.isFinite(v)) {
          const loc = this.loc(n);
          return () => typeError(loc, 'overflow');
        }
        return () => v;
      }
      case 'str': {
        const v = n.v;
        return () => v;
      }
      case 'self': {
        const d = objectDepth(scope, false);
        if (d === undefined) this.fail(n, "Can't use self outside of an object.");
        return d === 0 ? (env) => env[1] as JObject : (env) => up(env, d)[1] as JObject;
      }
      case 'dollar': {
        const d = objectDepth(scope, true);
        if (d === undefined) this.fail(n, 'No top-level object found.');
        return (env) => up(env, d)[1] as JObject;
      }
      case 'var':
        return this.variable(n.name, scope, n);
      case 'arr':
        return this.array(n.items, scope);
      case 'arrcomp':
        return this.arrayComprehension(n.body, n.specs, scope, this.loc(n));
      case 'obj':
        return this.object(n.members, scope, n);
      case 'objcomp':
        return this.objectComprehension(n, scope);
      case 'index': {
        const t = this.c(n.target, scope);
        const loc = this.loc(n);
        const literal = n.id ?? (n.index.k === 'str' ? n.index.v : undefined);
        if (n.index.k === 'str') {
          const name = n.index.v;
          return (env) => {
            const o = t(env);
            if (o instanceof JObject) return o.get(name, loc, undefined, literal);
            return index(o, name, loc, literal);
          };
        }
        const i = this.c(n.index, scope);
        return (env) => index(t(env), i(env), loc, literal);
      }
      case 'superindex': {
        const d = objectDepth(scope, false);
        if (d === undefined) this.fail(n, "Can't use super outside of an object.");
        const i = this.c(n.index, scope);
        const loc = this.loc(n);
        const literal = n.id ?? (n.index.k === 'str' ? n.index.v : undefined);
        return (env) => {
          const frame = up(env, d);
          const self = frame[1] as JObject;
          const layer = frame[2] as number;
          let name = i(env);
          if (name instanceof Tainted) name = name.v;
          if (typeof name !== 'string') return typeError(loc, `super index must be string, got ${typeOf(name)}.`);
          if (layer === 0 || !self.has(name, layer - 1)) {
            return typeError(loc, literal !== undefined ? `field does not exist: ${literal}` : 'field does not exist');
          }
          return self.get(name, loc, layer - 1, literal);
        };
      }
      case 'insuper': {
        const d = objectDepth(scope, false);
        if (d === undefined) this.fail(n, "Can't use super outside of an object.");
        const name = this.c(n.name, scope);
        const loc = this.loc(n);
        return (env) => {
          const frame = up(env, d);
          let k = name(env);
          if (k instanceof Tainted) k = k.v;
          if (typeof k !== 'string') return typeError(loc, `the left hand side of the 'in' operator should be a string, got ${typeOf(k)}`);
          const layer = frame[2] as number;
          return layer > 0 && (frame[1] as JObject).has(k, layer - 1);
        };
      }
      case 'slice': {
        const t = this.c(n.target, scope);
        const parts = [n.from, n.to, n.step].map((p) => (p === undefined ? undefined : this.c(p, scope)));
        const loc = this.loc(n);
        return (env) => hooks2.slice(t(env), parts.map((p) => (p === undefined ? null : p(env))), loc);
      }
      case 'apply':
        return this.apply(n, scope, tail);
      case 'applybrace': {
        const l = this.c(n.left, scope);
        const r = this.c(n.obj, scope);
        const loc = this.loc(n);
        return (env) => plus(l(env), r(env), loc);
      }
      case 'bin':
        return this.binary(n.op, n.l, n.r, scope, this.loc(n));
      case 'un': {
        const x = this.c(n.x, scope);
        const loc = this.loc(n);
        const op = n.op;
        return (env) => unary(op, x(env), loc);
      }
      case 'if': {
        const cond = this.c(n.cond, scope);
        const then = this.c(n.then, scope, tail);
        const els = n.else === undefined ? undefined : this.c(n.else, scope, tail);
        const loc = this.loc(n.cond);
        return (env) => {
          if (truthy(cond(env), loc, 'Condition')) return then(env);
          return els === undefined ? null : els(env);
        };
      }
      case 'fn':
        return this.func(n.params, n.body, n.name ?? 'anonymous', scope, this.loc(n));
      case 'local': {
        const [inner, binds] = this.binds(n.binds, scope);
        const body = this.c(n.body, inner, tail);
        const count = binds.length;
        return (env) => {
          const frame: Env = new Array(count + 1);
          frame[0] = env;
          for (let i = 0; i < count; i++) frame[i + 1] = binds[i]!(frame);
          return body(frame);
        };
      }
      case 'assert': {
        const cond = this.c(n.cond, scope);
        const msg = n.msg === undefined ? undefined : this.c(n.msg, scope);
        const rest = this.c(n.rest, scope, tail);
        const loc = this.loc(n);
        return (env) => {
          if (!truthy(cond(env), loc, 'Assertion condition')) {
            if (msg === undefined) throw new RuntimeError('Assertion failed.', loc);
            throw userError(msg(env), loc);
          }
          return rest(env);
        };
      }
      case 'error': {
        const x = this.c(n.x, scope);
        const loc = this.loc(n);
        return (env) => {
          throw userError(x(env), loc);
        };
      }
      case 'import':
      case 'importstr':
      case 'importbin': {
        const kind = n.k;
        const path = n.path;
        const loc = this.loc(n);
        return () => state.importer.import(kind, path, loc);
      }
    }
  }

  private variable(name: string, scope: Scope, n: { s: number; e: number }): Code {
    const r = lookup(scope, name);
    if (r === undefined) this.fail(n, `Unknown variable: ${name}`);
    const [d, i] = r;
    switch (d) {
      case 0:
        return (env) => {
          const v = env[i] as Lazy;
          return v instanceof Thunk ? v.get() : v;
        };
      case 1:
        return (env) => {
          const v = (env[0] as Env)[i] as Lazy;
          return v instanceof Thunk ? v.get() : v;
        };
      case 2:
        return (env) => {
          const v = ((env[0] as Env)[0] as Env)[i] as Lazy;
          return v instanceof Thunk ? v.get() : v;
        };
      default:
        return (env) => {
          const v = up(env, d)[i] as Lazy;
          return v instanceof Thunk ? v.get() : v;
        };
    }
  }

  /** Code making a lazy value for an expression: constants and variables need no thunk. */
  private lazy(n: Node, scope: Scope): (env: Env) => Lazy {
    switch (n.k) {
      case 'null':
        return () => null;
      case 'true':
        return () => true;
      case 'false':
        return () => false;
      case 'str': {
        const v = n.v;
        return () => v;
      }
      case 'var': {
        const r = lookup(scope, n.name);
        if (r === undefined) this.fail(n, `Unknown variable: ${n.name}`);
        const [d, i] = r;
        return d === 0 ? (env) => env[i] as Lazy : (env) => up(env, d)[i] as Lazy;
      }
      case 'fn': {
        const f = this.c(n, scope);
        return f;
      }
      default: {
        const code = this.c(n, scope);
        const loc = this.loc(n);
        return (env) => new Thunk(code, env, loc);
      }
    }
  }

  private array(items: readonly Node[], scope: Scope): Code {
    const codes = items.map((it) => this.lazy(it, scope));
    const n = codes.length;
    return (env) => {
      const out: Lazy[] = new Array(n);
      for (let i = 0; i < n; i++) out[i] = codes[i]!(env);
      return new JArray(out);
    };
  }

  /** The bindings of a local (mutually recursive): [the inner scope, code making each slot's lazy value]. */
  private binds(binds: readonly Bind[], scope: Scope): [Scope, ((frame: Env) => Lazy)[]] {
    const names = new Map<string, number>();
    binds.forEach((b, i) => names.set(b.name, i + 1));
    const inner: Scope = { parent: scope, names, object: false };
    // a variable of this same local is read when the thunk runs: its slot may not be filled yet
    return [
      inner,
      binds.map((b) => {
        if (b.body.k === 'var' && names.has(b.body.name)) {
          const code = this.c(b.body, inner);
          const loc = this.loc(b.body);
          return (env: Env) => new Thunk(code, env, loc);
        }
        return this.lazy(b.body, inner);
      }),
    ];
  }

  private func(params: readonly { name: string; def: Node | undefined }[], body: Node, name: string, scope: Scope, loc: Loc): Code {
    const names = new Map<string, number>();
    params.forEach((p, i) => names.set(p.name, i + 1));
    const inner: Scope = { parent: scope, names, object: false };
    const specs: ParamSpec[] = params.map((p) => (p.def === undefined ? { name: p.name } : { name: p.name, def: this.c(p.def, inner) }));
    const code = this.c(body, inner, true);
    return (env) => new JFunction(specs, code, env, name, loc);
  }

  private apply(n: Extract<Node, { k: 'apply' }>, scope: Scope, tail: boolean): Code {
    const fn = this.c(n.fn, scope);
    const loc = this.loc(n);
    const strict = n.tailstrict;
    const args = n.args.map((a) => (strict ? this.c(a, scope) : this.lazy(a, scope)));
    const named = n.named.map((a) => [a.name, strict ? this.c(a.value, scope) : this.lazy(a.value, scope)] as const);
    const count = args.length;
    if (strict && tail) {
      return (env) => {
        const f = fn(env);
        const vals: Lazy[] = new Array(count);
        for (let i = 0; i < count; i++) vals[i] = args[i]!(env);
        if (named.length > 0) {
          if (!(f instanceof JFunction)) return typeError(loc, `only functions can be called, got ${typeOf(f)}`);
          const m = new Map(named.map(([k, c]) => [k, c(env) as Lazy]));
          const frame = bindArgs(f, vals, m, loc);
          return new TailCall(f, frame.slice(1) as Lazy[], loc) as unknown as Value;
        }
        return new TailCall(f as JFunction, vals, loc) as unknown as Value;
      };
    }
    if (named.length === 0) {
      return (env) => {
        const f = fn(env);
        const vals: Lazy[] = new Array(count);
        for (let i = 0; i < count; i++) vals[i] = args[i]!(env);
        return call(f, vals, undefined, loc);
      };
    }
    return (env) => {
      const f = fn(env);
      const vals: Lazy[] = new Array(count);
      for (let i = 0; i < count; i++) vals[i] = args[i]!(env);
      const m = new Map(named.map(([k, c]) => [k, c(env) as Lazy]));
      return call(f, vals, m, loc);
    };
  }

  private binary(op: string, ln: Node, rn: Node, scope: Scope, loc: Loc): Code {
    const l = this.c(ln, scope);
    const r = this.c(rn, scope);
    switch (op) {
      case '+':
        return (env) => {
          const a = l(env);
          const b = r(env);
          if (typeof a === 'number' && typeof b === 'number') {
            const s = a + b;
            if (!Number.isFinite(s)) typeError(loc, 'overflow');
            return s;
          }
          return plus(a, b, loc);
        };
      case '-':
      case '*':
      case '/':
      case '<<':
      case '>>':
      case '&':
      case '|':
      case '^':
        return (env) => {
          const a = l(env);
          const b = r(env);
          if (op === '-' && typeof a === 'number' && typeof b === 'number') {
            const s = a - b;
            if (!Number.isFinite(s)) typeError(loc, 'overflow');
            return s;
          }
          return arith(op, a, b, loc);
        };
      case '%':
        return (env) => modulo(l(env), r(env), loc);
      case '==':
        return (env) => equals(l(env), r(env), loc);
      case '!=':
        return (env) => !equals(l(env), r(env), loc);
      case '<':
        return (env) => compare(l(env), r(env), loc, op) < 0;
      case '<=':
        return (env) => compare(l(env), r(env), loc, op) <= 0;
      case '>':
        return (env) => compare(l(env), r(env), loc, op) > 0;
      case '>=':
        return (env) => compare(l(env), r(env), loc, op) >= 0;
      case '&&':
      case '||':
        return (env) => {
          const a = l(env);
          if (typeof a === 'boolean') {
            if (op === '&&' ? !a : a) return a;
            const b = r(env);
            if (typeof b === 'boolean') return b;
            return typeError(loc, `binary operator ${op} requires matching types, got boolean and ${typeOf(b)}.`);
          }
          const b = r(env);
          const ta = typeOf(a);
          const tb = typeOf(b);
          if (ta !== tb) return typeError(loc, `binary operator ${op} requires matching types, got ${ta} and ${tb}.`);
          return typeError(loc, `binary operator ${op} does not operate on ${ta === 'null' ? 'null' : ta + 's'}.`);
        };
      case 'in':
        return (env) => {
          let k = l(env);
          const o = r(env);
          if (k instanceof Tainted) k = k.v;
          if (typeof k !== 'string') return typeError(loc, `the left hand side of the 'in' operator should be a string,  got ${typeOf(k)}`);
          if (!(o instanceof JObject)) return typeError(loc, `the right hand side of the 'in' operator should be an object, got ${typeOf(o)}`);
          return o.has(k);
        };
      default:
        return this.fail(loc, `unknown binary operator ${op}`);
    }
  }

  private arrayComprehension(body: Node, specs: readonly Spec[], scope: Scope, loc: Loc): Code {
    const [bodyScope, run] = this.specs(specs, scope, loc);
    const bodyCode = this.lazy(body, bodyScope);
    return (env) => {
      const out: Lazy[] = [];
      run(env, (e) => {
        out.push(bodyCode(e));
        if (out.length > state.maxArray) checkArraySize(out.length);
      });
      return new JArray(out);
    };
  }

  /** Compiles comprehension specs: [the innermost scope, a runner calling `each` with every binding's env]. */
  private specs(specs: readonly Spec[], scope: Scope, loc: Loc): [Scope, (env: Env, each: (e: Env) => void) => void] {
    type Step = (env: Env, each: (e: Env) => void) => void;
    const steps: ((next: Step) => Step)[] = [];
    let cur = scope;
    for (const spec of specs) {
      if (spec.k === 'for') {
        const arr = this.c(spec.arr, cur);
        cur = { parent: cur, names: new Map([[spec.name, 1]]), object: false };
        steps.push((next) => (env, each) => {
          const a = arr(env);
          if (!(a instanceof JArray)) typeError(loc, 'In comprehension, can only iterate over array.');
          const n = a.length;
          for (let i = 0; i < n; i++) {
            tick();
            next([env, a.at(i)], each);
          }
        });
      } else {
        const cond = this.c(spec.cond, cur);
        const cloc = this.loc(spec.cond);
        steps.push((next) => (env, each) => {
          if (truthy(cond(env), cloc, 'Condition')) next(env, each);
        });
      }
    }
    let run: Step = (env, each) => each(env);
    for (let i = steps.length - 1; i >= 0; i--) run = steps[i]!(run);
    return [cur, run];
  }

  private objectScope(scope: Scope, locals: readonly Bind[]): Scope {
    const names = new Map<string, number>();
    locals.forEach((b, i) => names.set(b.name, i + 3));
    return { parent: scope, names, object: true };
  }

  private object(members: readonly Member[], scope: Scope, n: { s: number; e: number }): Code {
    const locals = members.filter((m): m is Extract<Member, { k: 'local' }> => m.k === 'local').map((m) => m.bind);
    const inner = this.objectScope(scope, locals);
    const localCodes: Code[] = locals.map((b) => {
      const lz = this.lazy(b.body, inner);
      return (frame: Env) => force(lz(frame));
    });
    const asserts: Code[] = [];
    const fixed = new Map<string, Field>();
    const computed: { name: Code; field: Field; loc: Loc }[] = [];
    for (const m of members) {
      if (m.k === 'assert') {
        const cond = this.c(m.cond, inner);
        const msg = m.msg === undefined ? undefined : this.c(m.msg, inner);
        const loc = this.loc(m);
        asserts.push((frame) => {
          if (!truthy(cond(frame), loc, 'Assertion condition')) {
            if (msg === undefined) throw new RuntimeError('Object assertion failed.', loc);
            throw userError(msg(frame), loc);
          }
          return null;
        });
      } else if (m.k === 'field') {
        const field: Field = { hide: m.hide, plus: m.plus, code: this.c(m.body, inner), loc: this.loc(m) };
        if (m.name.k === 'fixed') fixed.set(m.name.v, field);
        else computed.push({ name: this.c(m.name.x, scope), field, loc: this.loc(m) });
      }
    }
    const name = undefined;
    if (computed.length === 0) {
      return (env) => new JObject([{ fields: fixed, env, locals: localCodes, asserts, name }]);
    }
    return (env) => {
      const fields = new Map(fixed);
      let tainted: Set<string> | undefined;
      for (const c of computed) {
        let k = c.name(env);
        if (k === null) continue;
        if (k instanceof Tainted && typeof k.v === 'string') {
          (tainted ??= new Set()).add(k.v);
          k = k.v;
        }
        if (typeof k !== 'string') typeError(c.loc, `field name must be string, got ${typeOf(k)}`);
        if (fields.has(k)) typeError(c.loc, tainted?.has(k) ? 'duplicate field name' : `duplicate field name: "${k}"`);
        fields.set(k, c.field);
      }
      const layer: Layer = tainted === undefined ? { fields, env, locals: localCodes, asserts } : { fields, env, locals: localCodes, asserts, taintedKeys: tainted };
      return new JObject([layer]);
    };
  }

  private objectComprehension(n: Extract<Node, { k: 'objcomp' }>, scope: Scope): Code {
    const loc = this.loc(n);
    const [bindScope, run] = this.specs(n.specs, scope, loc);
    const key = this.c(n.key, bindScope);
    const inner = this.objectScope(bindScope, n.locals);
    const localCodes: Code[] = n.locals.map((b) => {
      const lz = this.lazy(b.body, inner);
      return (frame: Env) => force(lz(frame));
    });
    const value = this.c(n.value, inner);
    const hide = n.hide;
    const plusField = n.plus;
    const vloc = this.loc(n.value);
    return (env) => {
      const fields = new Map<string, Field>();
      let tainted: Set<string> | undefined;
      run(env, (e) => {
        let k = key(e);
        if (k === null) return;
        if (k instanceof Tainted && typeof k.v === 'string') {
          (tainted ??= new Set()).add(k.v);
          k = k.v;
        }
        if (typeof k !== 'string') typeError(loc, `field name must be string, got ${typeOf(k)}`);
        if (fields.has(k)) typeError(loc, tainted?.has(k) ? 'duplicate field name' : `duplicate field name: "${k}"`);
        fields.set(k, { hide, plus: plusField, code: value, env: e, loc: vloc });
      });
      const layer: Layer = { fields, env, locals: localCodes, asserts: [], ...(tainted ? { taintedKeys: tainted } : {}) };
      return new JObject([layer]);
    };
  }
}

function unary(op: string, v: Value, loc: Loc): Value {
  if (v instanceof Tainted) {
    const r = unary(op, v.v, loc);
    return typeof r === 'number' ? new Tainted(r) : r;
  }
  switch (op) {
    case '-':
      if (typeof v === 'number') return -v;
      break;
    case '+':
      if (typeof v === 'number') return v;
      break;
    case '!':
      if (typeof v === 'boolean') return !v;
      break;
    case '~':
      if (typeof v === 'number') return Number(~toInt64(v));
      break;
    default:
      break;
  }
  return typeError(loc, `unary operator ${op} does not operate on type ${typeOf(v)}`);
}

/** Set by std.ts (std.slice). */
export const hooks2: { slice: (t: Value, parts: Value[], loc: Loc) => Value } = {
  slice: () => null,
};
