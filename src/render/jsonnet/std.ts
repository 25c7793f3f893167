/**
 * The standard library of libjsonnet 0.20, implemented natively (no std.jsonnet is parsed at startup): every function
 * of std.jsonnet and of libjsonnet's builtins, with the same results, laziness where std.jsonnet is lazy (std.map,
 * std.makeArray, std.mapWithKey...), and the same errors (messages never quote a runtime string).
 *
 * Taint: a builtin that reads a secret-derived string or number (strOf/numOf) returns a tainted result.
 */
import { nodeCrypto } from '../../builtins.js';
import { RuntimeError, type Loc } from './errors.js';
import { call, codePointAt, codePoints, compare, cpLength, equals, hooks, hooks2, modulo, typeError } from './compile.js';
import { formatValue } from './std-format.js';
import * as mf from './std-manifest.js';
import { parseYaml } from './std-yaml.js';
import { formatNumber, manifestJson, toStringValue } from './manifest.js';
import {
  FnThunk,
  JArray,
  JFunction,
  JObject,
  LazyArray,
  Tainted,
  Thunk,
  checkArraySize,
  force,
  isNumber,
  isString,
  numOf,
  setTaintSeen,
  state,
  strOf,
  taintSeen,
  tick,
  typeOf,
  type Field,
  type Layer,
  type Lazy,
  type ParamSpec,
  type Value,
} from './values.js';

type Impl = (args: Lazy[], loc: Loc | undefined) => Value;

const builtins = new Map<string, JFunction>();

/** Defines std.NAME. Parameters "name=" take a default (a value). */
function def(name: string, params: string[], impl: Impl, defaults: Record<string, Value> = {}): void {
  const specs: ParamSpec[] = params.map((p) => (p in defaults ? { name: p, def: () => defaults[p]! } : { name: p }));
  const wrapped: Impl = (args, loc) => {
    const saved = taintSeen;
    setTaintSeen(false);
    try {
      const r = impl(args, loc);
      return taintSeen ? taint(r) : r;
    } finally {
      setTaintSeen(saved);
    }
  };
  builtins.set(name, new JFunction(specs, undefined, undefined, name, undefined, wrapped));
}

/** A result computed from a secret: its strings and numbers become tainted (arrays element by element). */
export function taint(v: Value): Value {
  if (typeof v === 'string' || typeof v === 'number') return new Tainted(v);
  if (v instanceof JArray) {
    const n = v.length;
    const out: Lazy[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const x = v.at(i);
      out[i] = x instanceof Thunk ? new FnThunk(() => taint(x.get())) : taint(x);
    }
    return new JArray(out);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// argument helpers

const ORD = ['first', 'second', 'third', 'fourth', 'fifth'];

function bad(fn: string, i: number, want: string, v: Value, loc: Loc | undefined): never {
  throw new RuntimeError(`std.${fn} ${ORD[i] ?? `#${i + 1}`} parameter should be ${want}, got ${typeOf(v)}`, loc);
}
function str(args: Lazy[], i: number, fn: string, loc: Loc | undefined): string {
  const v = force(args[i]!);
  if (typeof v === 'string') return v;
  if (v instanceof Tainted && typeof v.v === 'string') return strOf(v);
  return bad(fn, i, 'a string', v, loc);
}
function num(args: Lazy[], i: number, fn: string, loc: Loc | undefined): number {
  const v = force(args[i]!);
  if (typeof v === 'number') return v;
  if (v instanceof Tainted && typeof v.v === 'number') return numOf(v);
  return bad(fn, i, 'a number', v, loc);
}
/** The i-th argument, forced, of the type `is` checks (else an error naming the function and the parameter). */
function typed<T extends Value>(is: (v: Value) => v is T, want: string): (args: Lazy[], i: number, fn: string, loc: Loc | undefined) => T {
  return (args, i, fn, loc) => {
    const v = force(args[i]!);
    return is(v) ? v : bad(fn, i, want, v, loc);
  };
}
const arr = typed((v): v is JArray => v instanceof JArray, 'an array');
const obj = typed((v): v is JObject => v instanceof JObject, 'an object');
const func = typed((v): v is JFunction => v instanceof JFunction, 'a function');
const bool = typed((v): v is boolean => typeof v === 'boolean', 'a boolean');
function checkNum(v: number, loc: Loc | undefined): number {
  if (Number.isNaN(v)) throw new RuntimeError('not a number', loc);
  if (!Number.isFinite(v)) throw new RuntimeError('overflow', loc);
  return v;
}
/** a string or a tainted string, unwrapped */
function sv(v: Value): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Tainted && typeof v.v === 'string') return strOf(v);
  return undefined;
}
function call1(f: JFunction, a: Lazy, loc: Loc | undefined): Value {
  return call(f, [a], undefined, loc);
}
function keyOf(o: JObject, k: string): Value {
  return o.isTaintedKey(k) ? new Tainted(k) : k;
}
/** an object of constant (lazy) visible fields */
const NONE: readonly never[] = [];
const NO_ENV: unknown[] = [];
export function makeObject(entries: Iterable<[string, Lazy]>, taintedKeys?: Set<string>): JObject {
  const fields = new Map<string, Field>();
  for (const [k, v] of entries) fields.set(k, { hide: 0, plus: false, value: v });
  const layer: Layer =
    taintedKeys !== undefined && taintedKeys.size > 0
      ? { fields, env: NO_ENV, locals: NONE, asserts: NONE, taintedKeys }
      : { fields, env: NO_ENV, locals: NONE, asserts: NONE };
  return new JObject([layer]);
}
function lazyGet(o: JObject, k: string, loc: Loc | undefined): Lazy {
  return new FnThunk(() => o.get(k, loc));
}
function elements(a: JArray): Lazy[] {
  return a.all();
}

// ---------------------------------------------------------------------------------------------------------------
// types

for (const t of ['string', 'number', 'boolean', 'object', 'array', 'function']) {
  def(`is${t[0]!.toUpperCase()}${t.slice(1)}`, ['v'], (a) => typeOf(force(a[0]!)) === t);
}
def('type', ['x'], (a) => typeOf(force(a[0]!)));
def('primitiveEquals', ['x', 'y'], (a, loc) => {
  const x = force(a[0]!);
  const y = force(a[1]!);
  const tx = typeOf(x);
  if (tx !== typeOf(y)) return false;
  if (tx === 'function') throw new RuntimeError('cannot test equality of functions', loc);
  if (tx === 'array' || tx === 'object') {
    throw new RuntimeError(`primitiveEquals operates on primitive types, got ${tx}`, loc);
  }
  return equals(x, y, loc);
});
def('equals', ['a', 'b'], (a, loc) => equals(force(a[0]!), force(a[1]!), loc));
def('length', ['x'], (a, loc) => {
  const v = force(a[0]!);
  if (typeof v === 'string') return cpLength(v);
  if (v instanceof Tainted && typeof v.v === 'string') return cpLength(strOf(v));
  if (v instanceof JArray) return v.length;
  if (v instanceof JObject) return v.fields().length;
  if (v instanceof JFunction) return v.params.length;
  throw new RuntimeError(`length operates on strings, objects, and arrays, got ${typeOf(v)}`, loc);
});
def('toString', ['a'], (a, loc) => {
  const v = force(a[0]!);
  if (typeof v === 'string') return v;
  if (v instanceof Tainted && typeof v.v === 'string') return v;
  return toStringValue(v, loc);
});

// ---------------------------------------------------------------------------------------------------------------
// numbers

for (const [name, f] of [
  ['floor', Math.floor],
  ['ceil', Math.ceil],
  ['sqrt', Math.sqrt],
  ['sin', Math.sin],
  ['cos', Math.cos],
  ['tan', Math.tan],
  ['asin', Math.asin],
  ['acos', Math.acos],
  ['atan', Math.atan],
  ['log', Math.log],
  ['exp', Math.exp],
] as const) {
  def(name, ['x'], (a, loc) => checkNum(f(num(a, 0, name, loc)), loc));
}
def('pow', ['x', 'n'], (a, loc) => checkNum(Math.pow(num(a, 0, 'pow', loc), num(a, 1, 'pow', loc)), loc));
function frexp(x: number): [number, number] {
  if (x === 0 || !Number.isFinite(x)) return [x, 0];
  const ax = Math.abs(x);
  let e = Math.max(-1023, Math.floor(Math.log2(ax)) + 1);
  let m = ax * Math.pow(2, -e);
  while (m < 0.5) {
    m *= 2;
    e--;
  }
  while (m >= 1) {
    m /= 2;
    e++;
  }
  return [x < 0 ? -m : m, e];
}
def('mantissa', ['x'], (a, loc) => frexp(num(a, 0, 'mantissa', loc))[0]);
def('exponent', ['x'], (a, loc) => frexp(num(a, 0, 'exponent', loc))[1]);
def('modulo', ['x', 'y'], (a, loc) => {
  const x = num(a, 0, 'modulo', loc);
  const y = num(a, 1, 'modulo', loc);
  if (y === 0) throw new RuntimeError('division by zero.', loc);
  return checkNum(x % y, loc);
});
def('mod', ['a', 'b'], (a, loc) => modulo(force(a[0]!), force(a[1]!), loc));
def('abs', ['n'], (a, loc) => {
  const n = num(a, 0, 'abs', loc);
  return n > 0 ? n : -n;
});
def('sign', ['n'], (a, loc) => {
  const n = num(a, 0, 'sign', loc);
  return n > 0 ? 1 : n < 0 ? -1 : 0;
});
def('max', ['a', 'b'], (a, loc) => {
  const x = num(a, 0, 'max', loc);
  const y = num(a, 1, 'max', loc);
  return x > y ? x : y;
});
def('min', ['a', 'b'], (a, loc) => {
  const x = num(a, 0, 'min', loc);
  const y = num(a, 1, 'min', loc);
  return x < y ? x : y;
});
def('clamp', ['x', 'minVal', 'maxVal'], (a, loc) => {
  const x = force(a[0]!);
  const lo = force(a[1]!);
  if (compare(x, lo, loc) < 0) return lo;
  const hi = force(a[2]!);
  if (compare(x, hi, loc) > 0) return hi;
  return x;
});
def('round', ['x'], (a, loc) => Math.floor(num(a, 0, 'round', loc) + 0.5));
def('xor', ['x', 'y'], (a, loc) => !equals(force(a[0]!), force(a[1]!), loc));
def('xnor', ['x', 'y'], (a, loc) => equals(force(a[0]!), force(a[1]!), loc));

function parseNat(s: string, base: number, fn: string, loc: Loc | undefined): number {
  let agg = 0;
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    const digit = code >= 97 ? code - 97 + 10 : code >= 65 ? code - 65 + 10 : code - 48;
    if (!(digit >= 0 && digit < base)) throw new RuntimeError(`std.${fn}: not a base ${base} integer`, loc);
    agg = base * agg + digit;
  }
  return agg;
}
def('parseInt', ['str'], (a, loc) => {
  const s = str(a, 0, 'parseInt', loc);
  if (s.length === 0 || s === '-') throw new RuntimeError('std.parseInt: not an integer', loc);
  return s[0] === '-' ? -parseNat(s.slice(1), 10, 'parseInt', loc) : parseNat(s, 10, 'parseInt', loc);
});
def('parseOctal', ['str'], (a, loc) => {
  const s = str(a, 0, 'parseOctal', loc);
  if (s.length === 0) throw new RuntimeError('std.parseOctal: not an octal number: ""', loc);
  return parseNat(s, 8, 'parseOctal', loc);
});
def('parseHex', ['str'], (a, loc) => {
  const s = str(a, 0, 'parseHex', loc);
  if (s.length === 0) throw new RuntimeError('std.parseHex: not hexadecimal: ""', loc);
  return parseNat(s, 16, 'parseHex', loc);
});

// ---------------------------------------------------------------------------------------------------------------
// strings

def('codepoint', ['str'], (a, loc) => {
  const s = str(a, 0, 'codepoint', loc);
  if (cpLength(s) !== 1) throw new RuntimeError(`codepoint takes a string of length 1, got length ${cpLength(s)}`, loc);
  return s.codePointAt(0)!;
});
def('char', ['n'], (a, loc) => {
  const n = Math.trunc(num(a, 0, 'char', loc));
  if (n < 0) throw new RuntimeError(`codepoints must be >= 0, got ${n}`, loc);
  if (n >= 0x110000) throw new RuntimeError(`invalid unicode codepoint, got ${n}`, loc);
  return String.fromCodePoint(n);
});
def('substr', ['str', 'from', 'len'], (a, loc) => {
  const s = str(a, 0, 'substr', loc);
  const from = Math.trunc(num(a, 1, 'substr', loc));
  let len = Math.trunc(num(a, 2, 'substr', loc));
  if (from < 0) throw new RuntimeError(`substr second parameter should be greater than zero, got ${from}`, loc);
  if (len < 0) throw new RuntimeError(`substr third parameter should be greater than zero, got ${len}`, loc);
  const cps = codePoints(s);
  if (from > cps.length) return '';
  if (len + from > cps.length) len = cps.length - from;
  return cps.slice(from, from + len).join('');
});
def('startsWith', ['a', 'b'], (a, loc) => str(a, 0, 'startsWith', loc).startsWith(str(a, 1, 'startsWith', loc)));
def('endsWith', ['a', 'b'], (a, loc) => str(a, 0, 'endsWith', loc).endsWith(str(a, 1, 'endsWith', loc)));
function stripSet(a: Lazy[], fn: string, loc: Loc | undefined): [string[], (c: string) => boolean] {
  const s = codePoints(str(a, 0, fn, loc));
  const chars = force(a[1]!);
  const cs = sv(chars);
  if (cs !== undefined) {
    const set = new Set(codePoints(cs));
    return [s, (c) => set.has(c)];
  }
  if (chars instanceof JArray) return [s, (c) => elements(chars).some((x) => equals(force(x), c, loc))];
  return bad(fn, 1, 'a string or an array', chars, loc);
}
def('lstripChars', ['str', 'chars'], (a, loc) => {
  const [s, has] = stripSet(a, 'lstripChars', loc);
  let i = 0;
  while (i < s.length && has(s[i]!)) i++;
  return s.slice(i).join('');
});
def('rstripChars', ['str', 'chars'], (a, loc) => {
  const [s, has] = stripSet(a, 'rstripChars', loc);
  let j = s.length;
  while (j > 0 && has(s[j - 1]!)) j--;
  return s.slice(0, j).join('');
});
def('stripChars', ['str', 'chars'], (a, loc) => {
  const [s, has] = stripSet(a, 'stripChars', loc);
  let i = 0;
  let j = s.length;
  while (j > 0 && has(s[j - 1]!)) j--;
  while (i < j && has(s[i]!)) i++;
  return s.slice(i, j).join('');
});
def('stringChars', ['str'], (a, loc) => new JArray(codePoints(str(a, 0, 'stringChars', loc))));
function splitLimit(s: string, c: string, max: number, loc: Loc | undefined): string[] {
  if (c.length === 0) throw new RuntimeError('std.splitLimit: the separator must not be empty', loc);
  const out: string[] = [];
  let start = 0;
  let test = 0;
  while (test < s.length && (max === -1 || max > out.length)) {
    if (s.startsWith(c, test)) {
      out.push(s.slice(start, test));
      start = test + c.length;
      test = start;
    } else {
      test++;
    }
  }
  out.push(s.slice(start));
  return out;
}
def('split', ['str', 'c'], (a, loc) => new JArray(splitLimit(str(a, 0, 'split', loc), str(a, 1, 'split', loc), -1, loc)));
def('splitLimit', ['str', 'c', 'maxsplits'], (a, loc) =>
  new JArray(splitLimit(str(a, 0, 'splitLimit', loc), str(a, 1, 'splitLimit', loc), Math.trunc(num(a, 2, 'splitLimit', loc)), loc)),
);
def('splitLimitR', ['str', 'c', 'maxsplits'], (a, loc) => {
  const s = str(a, 0, 'splitLimitR', loc);
  const c = str(a, 1, 'splitLimitR', loc);
  const max = num(a, 2, 'splitLimitR', loc);
  if (max === -1) return new JArray(splitLimit(s, c, -1, loc));
  const rev = (x: string) => codePoints(x).reverse().join('');
  return new JArray(splitLimit(rev(s), rev(c), Math.trunc(max), loc).reverse().map(rev));
});
def('strReplace', ['str', 'from', 'to'], (a, loc) => {
  const s = str(a, 0, 'strReplace', loc);
  const from = str(a, 1, 'strReplace', loc);
  const to = str(a, 2, 'strReplace', loc);
  if (from === '') throw new RuntimeError("'from' string must not be zero length.", loc);
  return s.split(from).join(to);
});
def('asciiUpper', ['str'], (a, loc) => str(a, 0, 'asciiUpper', loc).replace(/[a-z]+/g, (m) => m.toUpperCase()));
def('asciiLower', ['str'], (a, loc) => str(a, 0, 'asciiLower', loc).replace(/[A-Z]+/g, (m) => m.toLowerCase()));
def('isEmpty', ['str'], (a, loc) => {
  const v = force(a[0]!);
  const s = sv(v);
  if (s !== undefined) return s.length === 0;
  if (v instanceof JArray) return v.length === 0;
  if (v instanceof JObject) return v.fields().length === 0;
  throw new RuntimeError(`length operates on strings, objects, and arrays, got ${typeOf(v)}`, loc);
});
def('findSubstr', ['pat', 'str'], (a, loc) => {
  const pat = codePoints(str(a, 0, 'findSubstr', loc));
  const s = codePoints(str(a, 1, 'findSubstr', loc));
  const out: number[] = [];
  if (pat.length === 0 || s.length === 0 || pat.length > s.length) return new JArray([]);
  const p = pat.join('');
  for (let i = 0; i <= s.length - pat.length; i++) {
    if ((i & 1023) === 0) tick();
    let ok = true;
    for (let k = 0; k < pat.length; k++) {
      if (s[i + k] !== pat[k]) {
        ok = false;
        break;
      }
    }
    if (ok && p !== undefined) out.push(i);
  }
  return new JArray(out);
});
def('escapeStringJson', ['str_'], (a, loc) => mf.escapeJson(toStr(force(a[0]!), loc)));
def('escapeStringPython', ['str'], (a, loc) => mf.escapeJson(toStr(force(a[0]!), loc)));
def('escapeStringBash', ['str_'], (a, loc) => "'" + toStr(force(a[0]!), loc).split("'").join(`'"'"'`) + "'");
def('escapeStringDollars', ['str_'], (a, loc) => toStr(force(a[0]!), loc).split('$').join('$$'));
def('escapeStringXML', ['str_'], (a, loc) => mf.escapeXml(toStr(force(a[0]!), loc)));
function toStr(v: Value, loc: Loc | undefined): string {
  const s = sv(v);
  return s !== undefined ? s : toStringValue(v, loc);
}
def('format', ['str', 'vals'], (a, loc) => formatValue(str(a, 0, 'format', loc), force(a[1]!), loc));
hooks.format = (f, v, loc) => {
  const saved = taintSeen;
  setTaintSeen(false);
  try {
    const r = formatValue(sv(f)!, v, loc);
    return taintSeen ? new Tainted(r) : r;
  } finally {
    setTaintSeen(saved);
  }
};

// ---------------------------------------------------------------------------------------------------------------
// arrays

def('makeArray', ['sz', 'func'], (a, loc) => {
  const sz = num(a, 0, 'makeArray', loc);
  const f = func(a, 1, 'makeArray', loc);
  const n = Math.trunc(sz);
  if (n < 0) throw new RuntimeError(`makeArray requires size >= 0, got ${n}`, loc);
  if (f.params.length !== 1) throw new RuntimeError(`makeArray function must take 1 param, got: ${f.params.length}`, loc);
  checkArraySize(n);
  const out: Lazy[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = new FnThunk(() => call1(f, i, loc));
  return new JArray(out);
});
def('range', ['from', 'to'], (a, loc) => {
  const from = num(a, 0, 'range', loc);
  const to = num(a, 1, 'range', loc);
  const n = Math.max(0, Math.trunc(to - from + 1));
  return new LazyArray(n, (i) => from + i);
});
def('repeat', ['what', 'count'], (a, loc) => {
  const w = force(a[0]!);
  const n = Math.trunc(num(a, 1, 'repeat', loc));
  if (n < 0) throw new RuntimeError(`makeArray requires size >= 0, got ${n}`, loc);
  const s = sv(w);
  if (s !== undefined) return s.repeat(n);
  if (w instanceof JArray) {
    checkArraySize(w.length * n);
    const items = elements(w);
    const out: Lazy[] = [];
    for (let i = 0; i < n; i++) out.push(...items);
    return new JArray(out);
  }
  throw new RuntimeError('std.repeat first argument must be an array or a string', loc);
});
function slice(t: Value, parts: Value[], loc: Loc | undefined): Value {
  const [p0, p1, p2] = parts.map((p) => (p instanceof Tainted ? numOf(p) : p));
  const s = sv(t);
  const len = s !== undefined ? cpLength(s) : t instanceof JArray ? t.length : undefined;
  for (const p of [p0, p1, p2]) if (p !== null && typeof p !== 'number') typeError(loc, `slice index must be a number, got ${typeOf(p as Value)}`);
  const index = (p0 ?? 0) as number;
  const end = (p1 ?? len ?? 0) as number;
  const step = (p2 ?? 1) as number;
  if (index < 0 || end < 0 || step < 0) {
    throw new RuntimeError(`got [${formatNumber(index)}:${formatNumber(end)}:${formatNumber(step)}] but negative index, end, and steps are not supported`, loc);
  }
  if (p2 !== null && step === 0) throw new RuntimeError(`got ${formatNumber(step)} but step must be greater than 0`, loc);
  if (len === undefined) throw new RuntimeError(`std.slice accepts a string or an array, but got: ${typeOf(t)}`, loc);
  if (s !== undefined) {
    const cps = codePoints(s);
    let out = '';
    for (let i = index; i < end && i < len; i += step) out += cps[i]!;
    return out;
  }
  const items = (t as JArray).all();
  const out: Lazy[] = [];
  for (let i = index; i < end && i < len; i += step) out.push(items[i]!);
  return new JArray(out);
}
hooks2.slice = (t, parts, loc) => {
  const saved = taintSeen;
  setTaintSeen(false);
  try {
    const r = slice(t, parts, loc);
    return taintSeen ? taint(r) : r;
  } finally {
    setTaintSeen(saved);
  }
};
def('slice', ['indexable', 'index', 'end', 'step'], (a, loc) => slice(force(a[0]!), [force(a[1]!), force(a[2]!), force(a[3]!)], loc));
def('member', ['arr', 'x'], (a, loc) => {
  const c = force(a[0]!);
  if (c instanceof JArray) {
    const x = force(a[1]!);
    for (let i = 0; i < c.length; i++) if (equals(c.get(i), x, loc)) return true;
    return false;
  }
  const s = sv(c);
  if (s !== undefined) {
    const x = force(a[1]!);
    const p = sv(x);
    if (p === undefined) throw new RuntimeError(`findSubstr first parameter should be a string, got ${typeOf(x)}`, loc);
    return p.length > 0 && s.includes(p);
  }
  throw new RuntimeError('std.member first argument must be an array or a string', loc);
});
def('count', ['arr', 'x'], (a, loc) => {
  const c = arr(a, 0, 'count', loc);
  const x = force(a[1]!);
  let n = 0;
  for (let i = 0; i < c.length; i++) if (equals(c.get(i), x, loc)) n++;
  return n;
});
def('find', ['value', 'arr'], (a, loc) => {
  const c = force(a[1]!);
  if (!(c instanceof JArray)) throw new RuntimeError(`find second parameter should be an array, got ${typeOf(c)}`, loc);
  const x = force(a[0]!);
  const out: number[] = [];
  for (let i = 0; i < c.length; i++) if (equals(c.get(i), x, loc)) out.push(i);
  return new JArray(out);
});
def('filter', ['func', 'arr'], (a, loc) => {
  const f = func(a, 0, 'filter', loc);
  const c = arr(a, 1, 'filter', loc);
  if (f.params.length !== 1) throw new RuntimeError('filter function takes 1 parameter.', loc);
  const out: Lazy[] = [];
  for (let i = 0; i < c.length; i++) {
    const x = c.at(i);
    const r = call1(f, x, loc);
    if (typeof r !== 'boolean') throw new RuntimeError(`filter function must return boolean, got: ${typeOf(r)}`, loc);
    if (r) out.push(x);
  }
  return new JArray(out);
});
function indexable(v: Value, fn: string, loc: Loc | undefined): { n: number; at: (i: number) => Lazy } {
  if (v instanceof JArray) return { n: v.length, at: (i) => v.at(i) };
  const s = sv(v);
  if (s !== undefined) {
    const cps = codePoints(s);
    const t = v instanceof Tainted;
    return { n: cps.length, at: (i) => (t ? new Tainted(cps[i]!) : cps[i]!) };
  }
  throw new RuntimeError(`std.${fn} second param must be array / string, got ${typeOf(v)}`, loc);
}
def('map', ['func', 'arr'], (a, loc) => {
  const f = force(a[0]!);
  if (!(f instanceof JFunction)) throw new RuntimeError(`std.map first param must be function, got ${typeOf(f)}`, loc);
  const { n, at } = indexable(force(a[1]!), 'map', loc);
  const out: Lazy[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = new FnThunk(() => call1(f, at(i), loc));
  return new JArray(out);
});
def('mapWithIndex', ['func', 'arr'], (a, loc) => {
  const f = force(a[0]!);
  if (!(f instanceof JFunction)) throw new RuntimeError(`std.mapWithIndex first param must be function, got ${typeOf(f)}`, loc);
  const { n, at } = indexable(force(a[1]!), 'mapWithIndex', loc);
  const out: Lazy[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = new FnThunk(() => call(f, [i, at(i)], undefined, loc));
  return new JArray(out);
});
def('mapWithKey', ['func', 'obj'], (a, loc) => {
  const f = force(a[0]!);
  if (!(f instanceof JFunction)) throw new RuntimeError(`std.mapWithKey first param must be function, got ${typeOf(f)}`, loc);
  const o = force(a[1]!);
  if (!(o instanceof JObject)) throw new RuntimeError(`std.mapWithKey second param must be object, got ${typeOf(o)}`, loc);
  const keys = o.fields();
  const tainted = new Set(keys.filter((k) => o.isTaintedKey(k)));
  return makeObject(
    keys.map((k) => [k, new FnThunk(() => call(f, [keyOf(o, k), lazyGet(o, k, loc)], undefined, loc))] as [string, Lazy]),
    tainted,
  );
});
def('flatMap', ['func', 'arr'], (a, loc) => {
  const f = force(a[0]!);
  if (!(f instanceof JFunction)) throw new RuntimeError(`std.flatMap first param must be function, got ${typeOf(f)}`, loc);
  const c = force(a[1]!);
  if (c instanceof JArray) {
    const out: Lazy[] = [];
    for (let i = 0; i < c.length; i++) {
      tick();
      const r = call1(f, c.at(i), loc);
      if (r === null) continue;
      if (!(r instanceof JArray)) throw new RuntimeError(`binary operator + requires matching types, got array and ${typeOf(r)}.`, loc);
      out.push(...r.all());
      checkArraySize(out.length);
    }
    return new JArray(out);
  }
  const s = sv(c);
  if (s !== undefined) {
    const t = c instanceof Tainted;
    let out = '';
    for (const ch of codePoints(s)) {
      const r = call1(f, t ? new Tainted(ch) : ch, loc);
      if (r === null) continue;
      const rs = sv(r);
      if (rs === undefined) throw new RuntimeError(`expected string but got ${typeOf(r)}`, loc);
      out += rs;
    }
    return out;
  }
  throw new RuntimeError(`std.flatMap second param must be array / string, got ${typeOf(c)}`, loc);
});
def('filterMap', ['filter_func', 'map_func', 'arr'], (a, loc) => {
  const ff = force(a[0]!);
  if (!(ff instanceof JFunction)) throw new RuntimeError(`std.filterMap first param must be function, got ${typeOf(ff)}`, loc);
  const mfn = force(a[1]!);
  if (!(mfn instanceof JFunction)) throw new RuntimeError(`std.filterMap second param must be function, got ${typeOf(mfn)}`, loc);
  const c = force(a[2]!);
  if (!(c instanceof JArray)) throw new RuntimeError(`std.filterMap third param must be array, got ${typeOf(c)}`, loc);
  const out: Lazy[] = [];
  for (let i = 0; i < c.length; i++) {
    const x = c.at(i);
    const r = call1(ff, x, loc);
    if (typeof r !== 'boolean') throw new RuntimeError(`filter function must return boolean, got: ${typeOf(r)}`, loc);
    if (r) out.push(new FnThunk(() => call1(mfn, x, loc)));
  }
  return new JArray(out);
});
def('foldl', ['func', 'arr', 'init'], (a, loc) => {
  const f = func(a, 0, 'foldl', loc);
  const c = force(a[1]!);
  const { n, at } = indexable(c, 'foldl', loc);
  let acc: Lazy = a[2]!;
  for (let i = 0; i < n; i++) {
    tick();
    acc = call(f, [acc, at(i)], undefined, loc);
  }
  return force(acc);
});
def('foldr', ['func', 'arr', 'init'], (a, loc) => {
  const f = func(a, 0, 'foldr', loc);
  const { n, at } = indexable(force(a[1]!), 'foldr', loc);
  let acc: Lazy = a[2]!;
  for (let i = n - 1; i >= 0; i--) {
    tick();
    acc = call(f, [at(i), acc], undefined, loc);
  }
  return force(acc);
});
def('join', ['sep', 'arr'], (a, loc) => {
  const sep = force(a[0]!);
  const c = force(a[1]!);
  const ss = sv(sep);
  if (ss === undefined && !(sep instanceof JArray)) throw new RuntimeError(`join first parameter should be string or array, got ${typeOf(sep)}`, loc);
  if (!(c instanceof JArray)) throw new RuntimeError(`join second parameter should be array, got ${typeOf(c)}`, loc);
  if (ss !== undefined) return strings(c, loc).join(ss);
  const sepItems = (sep as JArray).all();
  const out: Lazy[] = [];
  let first = true;
  for (let i = 0; i < c.length; i++) {
    const v = c.get(i);
    if (v === null) continue;
    if (!(v instanceof JArray)) throw new RuntimeError(`expected array but arr[${i}] was ${typeOf(v)} `, loc);
    if (!first) out.push(...sepItems);
    first = false;
    out.push(...v.all());
    checkArraySize(out.length);
  }
  return new JArray(out);
});
def('lines', ['arr'], (a, loc) => strings(arr(a, 0, 'lines', loc), loc).map((s) => s + '\n').join(''));
/** The strings of an array, nulls left out (std.join, std.lines). */
function strings(c: JArray, loc: Loc | undefined): string[] {
  const parts: string[] = [];
  for (let i = 0; i < c.length; i++) {
    const v = c.get(i);
    if (v === null) continue;
    const s = sv(v);
    if (s === undefined) throw new RuntimeError(`expected string but arr[${i}] was ${typeOf(v)} `, loc);
    parts.push(s);
  }
  return parts;
}
def('deepJoin', ['arr'], (a, loc) => {
  const out: string[] = [];
  const walk = (v: Value): void => {
    const s = sv(v);
    if (s !== undefined) out.push(s);
    else if (v instanceof JArray) for (let i = 0; i < v.length; i++) walk(v.get(i));
    else throw new RuntimeError(`Expected string or array, got ${typeOf(v)}`, loc);
  };
  walk(force(a[0]!));
  return out.join('');
});
def('flattenArrays', ['arrs'], (a, loc) => {
  const c = arr(a, 0, 'flattenArrays', loc);
  const out: Lazy[] = [];
  for (let i = 0; i < c.length; i++) {
    const v = c.get(i);
    if (!(v instanceof JArray)) throw new RuntimeError(`binary operator + requires matching types, got array and ${typeOf(v)}.`, loc);
    out.push(...v.all());
    checkArraySize(out.length);
  }
  return new JArray(out);
});
/** std.jsonnet's functions index their argument: a string works as an array of its characters. */
function seq(a: Lazy[], i: number, fn: string, loc: Loc | undefined): JArray {
  const v = force(a[i]!);
  if (v instanceof JArray) return v;
  if (isString(v)) {
    const { n, at } = indexable(v, fn, loc);
    return new JArray(Array.from({ length: n }, (_, k) => at(k)));
  }
  return bad(fn, i, 'an array', v, loc);
}
def('reverse', ['arr'], (a, loc) => {
  const c = seq(a, 0, 'reverse', loc);
  return new JArray(c.all().slice().reverse());
});
/** std.all / std.any: the first element equal to `stop` decides; every element must be a boolean up to it. */
function boolFold(name: string, stop: boolean): Impl {
  return (a, loc) => {
    const c = force(a[0]!);
    if (!(c instanceof JArray)) throw new RuntimeError(`${name}() parameter should be an array, got ${typeOf(c)}`, loc);
    for (let i = 0; i < c.length; i++) {
      const e = c.get(i);
      if (typeof e !== 'boolean') throw new RuntimeError(`element ${i} of type ${typeOf(e)} is not a boolean`, loc);
      if (e === stop) return stop;
    }
    return !stop;
  };
}
def('all', ['arr'], boolFold('all', false));
def('any', ['arr'], boolFold('any', true));
def('sum', ['arr'], (a, loc) => {
  const { n, at } = indexable(force(a[0]!), 'sum', loc);
  let acc: Value = 0;
  for (let i = 0; i < n; i++) acc = plusValue(acc, force(at(i)), loc);
  return acc;
});
import { plus as plusValue } from './values.js';

const identity = new JFunction([{ name: 'x' }], undefined, undefined, 'id', undefined, (a) => force(a[0]!));

/** [element, key] pairs; the key function is called once per element. */
function keyed(c: JArray, keyF: JFunction, loc: Loc | undefined): [Lazy, Value][] {
  const items = c.all();
  return items.map((x) => [x, keyF === identity ? force(x) : call1(keyF, x, loc)]);
}
def(
  'sort',
  ['arr', 'keyF'],
  (a, loc) => {
    const c = force(a[0]!);
    const { n, at } = indexable(c, 'sort', loc);
    const keyF = func(a, 1, 'sort', loc);
    const pairs: [Lazy, Value][] = [];
    for (let i = 0; i < n; i++) {
      const x = at(i);
      pairs.push([x, keyF === identity ? force(x) : call1(keyF, x, loc)]);
    }
    pairs.sort((p, q) => sortCompare(p[1], q[1], loc));
    return new JArray(pairs.map((p) => p[0]));
  },
  { keyF: identity },
);
function sortCompare(a: Value, b: Value, loc: Loc | undefined): number {
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) throw new RuntimeError(`Comparison requires matching types. Got ${ta} and ${tb}`, loc);
  if (ta === 'function' || ta === 'object' || ta === 'boolean') throw new RuntimeError(`Values of type ${ta} are not comparable.`, loc);
  if (ta === 'null') return 0;
  return compare(a, b, loc);
}
def(
  'uniq',
  ['arr', 'keyF'],
  (a, loc) => {
    const c = seq(a, 0, 'uniq', loc);
    const keyF = func(a, 1, 'uniq', loc);
    const out: Lazy[] = [];
    let lastKey: Value | undefined;
    for (const [x, k] of keyed(c, keyF, loc)) {
      if (out.length > 0 && equals(lastKey!, k, loc)) continue;
      out.push(x);
      lastKey = k;
    }
    return new JArray(out);
  },
  { keyF: identity },
);
def(
  'set',
  ['arr', 'keyF'],
  (a, loc) => {
    const keyF = func(a, 1, 'set', loc);
    const sorted = call(builtins.get('sort')!, [a[0]!, keyF], undefined, loc);
    return call(builtins.get('uniq')!, [sorted, keyF], undefined, loc);
  },
  { keyF: identity },
);
function setOp(kind: 'inter' | 'union' | 'diff', a: JArray, b: JArray, keyF: JFunction, loc: Loc | undefined): JArray {
  const A = a.all();
  const B = b.all();
  const key = (x: Lazy) => (keyF === identity ? force(x) : call1(keyF, x, loc));
  const out: Lazy[] = [];
  let i = 0;
  let j = 0;
  const lt = (x: Value, y: Value) => compare(x, y, loc) < 0;
  for (;;) {
    tick();
    if (i >= A.length) {
      if (kind === 'union') out.push(...B.slice(j));
      break;
    }
    if (j >= B.length) {
      if (kind !== 'inter') out.push(...A.slice(i));
      break;
    }
    const ak = key(A[i]!);
    const bk = key(B[j]!);
    if (equals(ak, bk, loc)) {
      if (kind !== 'diff') out.push(A[i]!);
      i++;
      j++;
    } else if (lt(ak, bk)) {
      if (kind !== 'inter') out.push(A[i]!);
      i++;
    } else {
      if (kind === 'union') out.push(B[j]!);
      j++;
    }
  }
  return new JArray(out);
}
def('setInter', ['a', 'b', 'keyF'], (a, loc) => setOp('inter', seq(a, 0, 'setInter', loc), seq(a, 1, 'setInter', loc), func(a, 2, 'setInter', loc), loc), { keyF: identity });
def('setUnion', ['a', 'b', 'keyF'], (a, loc) => setOp('union', seq(a, 0, 'setUnion', loc), seq(a, 1, 'setUnion', loc), func(a, 2, 'setUnion', loc), loc), { keyF: identity });
def('setDiff', ['a', 'b', 'keyF'], (a, loc) => setOp('diff', seq(a, 0, 'setDiff', loc), seq(a, 1, 'setDiff', loc), func(a, 2, 'setDiff', loc), loc), { keyF: identity });
def(
  'setMember',
  ['x', 'arr', 'keyF'],
  (a, loc) => setOp('inter', new JArray([a[0]!]), seq(a, 1, 'setMember', loc), func(a, 2, 'setMember', loc), loc).length > 0,
  { keyF: identity },
);
def('__compare', ['v1', 'v2'], (a, loc) => sortCompare(force(a[0]!), force(a[1]!), loc));
def('__compare_array', ['arr1', 'arr2'], (a, loc) => compare(arr(a, 0, '__compare_array', loc), arr(a, 1, '__compare_array', loc), loc));
def('__array_less', ['arr1', 'arr2'], (a, loc) => compare(force(a[0]!), force(a[1]!), loc) === -1);
def('__array_greater', ['arr1', 'arr2'], (a, loc) => compare(force(a[0]!), force(a[1]!), loc) === 1);
def('__array_less_or_equal', ['arr1', 'arr2'], (a, loc) => compare(force(a[0]!), force(a[1]!), loc) <= 0);
def('__array_greater_or_equal', ['arr1', 'arr2'], (a, loc) => compare(force(a[0]!), force(a[1]!), loc) >= 0);

// ---------------------------------------------------------------------------------------------------------------
// objects

def('objectFieldsEx', ['obj', 'hidden'], (a, loc) => {
  const o = obj(a, 0, 'objectFieldsEx', loc);
  const all = bool(a, 1, 'objectFieldsEx', loc);
  return new JArray(o.fields(all).map((k) => keyOf(o, k)));
});
def('objectFields', ['o'], (a, loc) => {
  const o = obj(a, 0, 'objectFields', loc);
  return new JArray(o.fields().map((k) => keyOf(o, k)));
});
def('objectFieldsAll', ['o'], (a, loc) => {
  const o = obj(a, 0, 'objectFieldsAll', loc);
  return new JArray(o.fields(true).map((k) => keyOf(o, k)));
});
function hasEx(o: JObject, k: string, hidden: boolean): boolean {
  return hidden ? o.has(k) : o.fields().includes(k);
}
def('objectHasEx', ['obj', 'fname', 'hidden'], (a, loc) =>
  hasEx(obj(a, 0, 'objectHasEx', loc), str(a, 1, 'objectHasEx', loc), bool(a, 2, 'objectHasEx', loc)),
);
def('objectHas', ['o', 'f'], (a, loc) => hasEx(obj(a, 0, 'objectHas', loc), str(a, 1, 'objectHas', loc), false));
def('objectHasAll', ['o', 'f'], (a, loc) => hasEx(obj(a, 0, 'objectHasAll', loc), str(a, 1, 'objectHasAll', loc), true));
for (const all of [false, true]) {
  const sfx = all ? 'All' : '';
  def(`objectValues${sfx}`, ['o'], (a, loc) => {
    const o = obj(a, 0, `objectValues${sfx}`, loc);
    return new JArray(o.fields(all).map((k) => lazyGet(o, k, loc)));
  });
  def(`objectKeysValues${sfx}`, ['o'], (a, loc) => {
    const o = obj(a, 0, `objectKeysValues${sfx}`, loc);
    return new JArray(o.fields(all).map((k) => makeObject([['key', keyOf(o, k)], ['value', lazyGet(o, k, loc)]])));
  });
}
def(
  'get',
  ['o', 'f', 'default', 'inc_hidden'],
  (a, loc) => {
    const o = obj(a, 0, 'get', loc);
    const f = str(a, 1, 'get', loc);
    const hidden = bool(a, 3, 'get', loc);
    return hasEx(o, f, hidden) ? o.get(f, loc) : force(a[2]!);
  },
  { default: null, inc_hidden: true },
);
function mergePatch(target: Value, patch: Value, loc: Loc | undefined): Value {
  if (!(patch instanceof JObject)) return patch;
  const t = target instanceof JObject ? target : undefined;
  const tFields = t?.fields() ?? [];
  const pFields = patch.fields();
  const keys = [...new Set([...tFields, ...pFields])].sort((x, y) => compare(x, y, loc));
  const entries: [string, Lazy][] = [];
  const tainted = new Set<string>();
  for (const k of keys) {
    const inPatch = pFields.includes(k);
    if (inPatch && patch.get(k, loc) === null) continue;
    if (patch.isTaintedKey(k) || t?.isTaintedKey(k)) tainted.add(k);
    if (!inPatch) entries.push([k, lazyGet(t!, k, loc)]);
    else if (t === undefined || !tFields.includes(k)) entries.push([k, new FnThunk(() => mergePatch(null, patch.get(k, loc), loc))]);
    else entries.push([k, new FnThunk(() => mergePatch(t.get(k, loc), patch.get(k, loc), loc))]);
  }
  return makeObject(entries, tainted);
}
def('mergePatch', ['target', 'patch'], (a, loc) => mergePatch(force(a[0]!), force(a[1]!), loc));
function prune(v: Value, loc: Loc | undefined): Value {
  const content = (b: Value) => !(b === null || (b instanceof JArray && b.length === 0) || (b instanceof JObject && b.fields().length === 0));
  if (v instanceof JArray) {
    const out: Lazy[] = [];
    for (let i = 0; i < v.length; i++) {
      const p = prune(v.get(i), loc);
      if (content(p)) out.push(p);
    }
    return new JArray(out);
  }
  if (v instanceof JObject) {
    const entries: [string, Lazy][] = [];
    const tainted = new Set<string>();
    for (const k of v.fields()) {
      const p = prune(v.get(k, loc), loc);
      if (!content(p)) continue;
      if (v.isTaintedKey(k)) tainted.add(k);
      entries.push([k, p]);
    }
    return makeObject(entries, tainted);
  }
  return v;
}
def('prune', ['a'], (a, loc) => prune(force(a[0]!), loc));

// ---------------------------------------------------------------------------------------------------------------
// encodings

function bytesOf(v: Value, fn: string, loc: Loc | undefined): number[] {
  const s = sv(v);
  if (s !== undefined) return codePoints(s).map((c) => c.codePointAt(0)!);
  if (v instanceof JArray) {
    return v.all().map((x) => {
      const n = force(x);
      if (typeof n === 'number') return n;
      if (n instanceof Tainted && typeof n.v === 'number') return numOf(n);
      throw new RuntimeError(`std.${fn}: expected an array of numbers, got an element of type ${typeOf(n)}`, loc);
    });
  }
  throw new RuntimeError(`std.${fn}: expected a string or an array, got ${typeOf(v)}`, loc);
}
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INV = new Map([...B64].map((c, i) => [c, i]));
def('base64', ['input'], (a, loc) => {
  const bytes = bytesOf(force(a[0]!), 'base64', loc);
  if (!bytes.every((b) => b < 256)) throw new RuntimeError('Can only base64 encode strings / arrays of single bytes.', loc);
  let out = '';
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = toI(bytes[i]!);
    if (i + 1 >= bytes.length) {
      out += B64[(b0 & 252) >> 2]! + B64[(b0 & 3) << 4]! + '==';
    } else if (i + 2 >= bytes.length) {
      const b1 = toI(bytes[i + 1]!);
      out += B64[(b0 & 252) >> 2]! + B64[((b0 & 3) << 4) | ((b1 & 240) >> 4)]! + B64[(b1 & 15) << 2]! + '=';
    } else {
      const b1 = toI(bytes[i + 1]!);
      const b2 = toI(bytes[i + 2]!);
      out += B64[(b0 & 252) >> 2]! + B64[((b0 & 3) << 4) | ((b1 & 240) >> 4)]! + B64[((b1 & 15) << 2) | ((b2 & 192) >> 6)]! + B64[b2 & 63]!;
    }
  }
  return out;
});
function toI(n: number): number {
  return Number(BigInt.asIntN(64, BigInt(Math.trunc(n))) & 0xffffn);
}
export function base64DecodeBytes(s: string, loc: Loc | undefined): number[] {
  const cps = codePoints(s);
  if (cps.length % 4 !== 0) throw new RuntimeError('Not a base64 encoded string', loc);
  const inv = (c: string): number => {
    const v = B64_INV.get(c);
    if (v === undefined) throw new RuntimeError('Not a base64 encoded string', loc);
    return v;
  };
  const out: number[] = [];
  for (let i = 0; i < cps.length; i += 4) {
    out.push((inv(cps[i]!) << 2) | (inv(cps[i + 1]!) >> 4));
    if (cps[i + 2] !== '=') out.push(((inv(cps[i + 1]!) & 15) << 4) | (inv(cps[i + 2]!) >> 2));
    if (cps[i + 3] !== '=') out.push(((inv(cps[i + 2]!) & 3) << 6) | inv(cps[i + 3]!));
  }
  return out;
}
def('base64DecodeBytes', ['str'], (a, loc) => new JArray(base64DecodeBytes(str(a, 0, 'base64DecodeBytes', loc), loc)));
def('base64Decode', ['str'], (a, loc) => String.fromCodePoint(...base64DecodeBytes(str(a, 0, 'base64Decode', loc), loc)));
def('encodeUTF8', ['str'], (a, loc) => new JArray([...Buffer.from(str(a, 0, 'encodeUTF8', loc), 'utf8')]));
def('decodeUTF8', ['arr'], (a, loc) => {
  const c = arr(a, 0, 'decodeUTF8', loc);
  const bytes = new Uint8Array(c.length);
  for (let i = 0; i < c.length; i++) {
    let v = c.get(i);
    if (v instanceof Tainted) v = numOf(v);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 255) {
      throw new RuntimeError(`Element ${i} of the provided array was not an integer in range [0,255]`, loc);
    }
    bytes[i] = v;
  }
  return Buffer.from(bytes).toString('utf8');
});
def('md5', ['s'], (a, loc) => nodeCrypto().createHash('md5').update(str(a, 0, 'md5', loc), 'utf8').digest('hex'));

// ---------------------------------------------------------------------------------------------------------------
// manifestation and parsing

def('manifestJson', ['value'], (a, loc) => mf.manifestJsonEx(force(a[0]!), '    ', '\n', ': ', loc));
def('manifestJsonMinified', ['value'], (a, loc) => mf.manifestJsonEx(force(a[0]!), '', '', ':', loc));
def(
  'manifestJsonEx',
  ['value', 'indent', 'newline', 'key_val_sep'],
  (a, loc) => mf.manifestJsonEx(force(a[0]!), str(a, 1, 'manifestJsonEx', loc), str(a, 2, 'manifestJsonEx', loc), str(a, 3, 'manifestJsonEx', loc), loc),
  { newline: '\n', key_val_sep: ': ' },
);
def(
  'manifestYamlDoc',
  ['value', 'indent_array_in_object', 'quote_keys'],
  (a, loc) => mf.manifestYamlDoc(force(a[0]!), bool(a, 1, 'manifestYamlDoc', loc), bool(a, 2, 'manifestYamlDoc', loc), loc),
  { indent_array_in_object: false, quote_keys: true },
);
def(
  'manifestYamlStream',
  ['value', 'indent_array_in_object', 'c_document_end', 'quote_keys'],
  (a, loc) => {
    const v = force(a[0]!);
    if (!(v instanceof JArray)) throw new RuntimeError(`manifestYamlStream only takes arrays, got ${typeOf(v)}`, loc);
    const ind = bool(a, 1, 'manifestYamlStream', loc);
    const q = bool(a, 3, 'manifestYamlStream', loc);
    const docs = v.all().map((e) => mf.manifestYamlDoc(force(e), ind, q, loc));
    return '---\n' + docs.join('\n---\n') + (bool(a, 2, 'manifestYamlStream', loc) ? '\n...\n' : '\n');
  },
  { indent_array_in_object: false, c_document_end: true, quote_keys: true },
);
def('manifestPython', ['v'], (a, loc) => mf.manifestPython(force(a[0]!), loc));
def('manifestPythonVars', ['conf'], (a, loc) => {
  const o = obj(a, 0, 'manifestPythonVars', loc);
  return o.fields().map((k) => `${k} = ${mf.manifestPython(o.get(k, loc), loc)}\n`).join('');
});
def('manifestIni', ['ini'], (a, loc) => mf.manifestIni(force(a[0]!), loc));
def('manifestToml', ['value'], (a, loc) => mf.manifestTomlEx(force(a[0]!), '  ', loc));
def('manifestTomlEx', ['value', 'indent'], (a, loc) => mf.manifestTomlEx(force(a[0]!), str(a, 1, 'manifestTomlEx', loc), loc));
def('manifestXmlJsonml', ['value'], (a, loc) => mf.manifestXmlJsonml(force(a[0]!), loc));
def('parseJson', ['str'], (a, loc) => {
  const s = str(a, 0, 'parseJson', loc);
  let parsed: unknown;
  try {
    parsed = JSON.parse(s);
  } catch {
    throw new RuntimeError('std.parseJson: the text is not valid JSON', loc);
  }
  try {
    return fromJson(parsed, taintSeen);
  } catch (e) {
    throw e instanceof RuntimeError ? new RuntimeError(`std.parseJson: ${e.detail}`, loc) : e;
  }
});
def('parseYaml', ['str'], (a, loc) => {
  const s = str(a, 0, 'parseYaml', loc);
  return fromJson(parseYaml(s, loc), taintSeen);
});

/** A Jsonnet value from parsed JSON; with `tainted`, every string, number and key is tainted. */
export function fromJson(v: unknown, tainted: boolean, topKeysClean = false): Value {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'number':
      if (!Number.isFinite(v)) throw new RuntimeError('number overflow');
      return tainted ? new Tainted(v) : v;
    case 'string':
      return tainted ? new Tainted(v) : v;
    case 'boolean':
      return v;
    default:
      break;
  }
  if (Array.isArray(v)) return new JArray(v.map((x) => fromJson(x, tainted)));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  return makeObject(
    keys.map((k) => [k, fromJson(o[k], tainted)] as [string, Lazy]),
    tainted && !topKeysClean ? new Set(keys) : undefined,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// the evaluation's environment

def('extVar', ['x'], (a, loc) => {
  const arg = force(a[0]!);
  const name = str(a, 0, 'extVar', loc);
  const v = state.extVars.get(name);
  if (v === undefined) throw new RuntimeError(arg instanceof Tainted ? 'Undefined external variable' : `Undefined external variable: ${name}`, loc);
  return v();
});
def('native', ['name'], (a, loc) => state.natives.get(str(a, 0, 'native', loc)) ?? null);
def('trace', ['str', 'rest'], (a, loc) => {
  const v = force(a[0]!);
  if (!isString(v)) throw new RuntimeError(`Builtin function trace expected string as first parameter but got ${typeOf(v)}`, loc);
  const saved = taintSeen;
  setTaintSeen(false);
  const msg = toStr(v, loc);
  const secret = taintSeen || v instanceof Tainted;
  setTaintSeen(saved);
  state.trace(secret ? '[redacted: derived from a secret]' : msg, loc);
  return force(a[1]!);
});
def('assertEqual', ['a', 'b'], (a, loc) => {
  const x = force(a[0]!);
  const y = force(a[1]!);
  if (equals(x, y, loc)) return true;
  const saved = taintSeen;
  setTaintSeen(false);
  const msg = 'Assertion failed. ' + toStr(x, loc) + ' != ' + toStr(y, loc);
  const secret = taintSeen || x instanceof Tainted || y instanceof Tainted;
  setTaintSeen(saved);
  throw new RuntimeError(msg, loc, secret ? 'secret' : 'template');
});
def('resolvePath', ['f', 'r'], (a, loc) => {
  const parts = splitLimit(str(a, 0, 'resolvePath', loc), '/', -1, loc);
  parts[parts.length - 1] = str(a, 1, 'resolvePath', loc);
  return parts.join('/');
});

// ---------------------------------------------------------------------------------------------------------------

const stdFields = new Map<string, Field>();
for (const [name, f] of builtins) stdFields.set(name, { hide: 1, plus: false, value: f });
const stdLayer = { fields: stdFields, env: [], locals: [], asserts: [] };

const stdObjects = new Map<string, JObject>();

/** The `std` object of a file: the library plus std.thisFile (immutable: one per file name, kept for the next time). */
export function stdFor(file: string): JObject {
  let std = stdObjects.get(file);
  if (std === undefined) {
    const thisFile = new Map<string, Field>([['thisFile', { hide: 1, plus: false, value: file }]]);
    std = new JObject([stdLayer, { fields: thisFile, env: [], locals: [], asserts: [] }]);
    if (stdObjects.size > 10_000) stdObjects.clear();
    stdObjects.set(file, std);
  }
  return std;
}

/** The arguments of a native function, forced; secret-derived ones unwrapped (the result is then tainted). */
export function nativeArgs(args: Lazy[]): Value[] {
  return args.map((a) => {
    const v = force(a);
    if (v instanceof Tainted) {
      setTaintSeen(true);
      return v.v;
    }
    return v;
  });
}

/** A builtin-style function for std.native. */
export function nativeFunction(name: string, params: string[], impl: Impl): JFunction {
  def(`__native_${name}`, params, impl);
  const f = builtins.get(`__native_${name}`)!;
  builtins.delete(`__native_${name}`);
  return f;
}

export { manifestJson, isNumber, isString };
