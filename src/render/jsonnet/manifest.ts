/**
 * Manifestation as libjsonnet does it: JSON with 3-space indentation, keys in code-point order, "[ ]" and "{ }" for
 * empty containers, numbers as C's %.17g (integers in full), strings escaped as jsonnet_string_escape does.
 */
import { RuntimeError, type Loc } from './errors.js';
import { JArray, JFunction, JObject, Tainted, force, setTaintSeen, tick, type Value } from './values.js';

/** libjsonnet's number format: integers in full ("%.0f"), others as %.17g. */
export function formatNumber(v: number): string {
  if (Number.isInteger(v)) {
    if (v === 0) return Object.is(v, -0) ? '-0' : '0';
    return Math.abs(v) <= Number.MAX_SAFE_INTEGER ? String(v) : BigInt(v).toString();
  }
  return formatG(v, 17);
}

/** C's %.<prec>g (without flags). */
export function formatG(v: number, prec: number, alt = false): string {
  if (prec === 0) prec = 1;
  if (v === 0) {
    const z = alt ? '0.' + '0'.repeat(prec - 1) : '0';
    return Object.is(v, -0) ? '-' + z : z;
  }
  const neg = v < 0;
  const [digits, exp] = exponentialHalfEven(Math.abs(v), prec);
  let out: string;
  if (exp < -4 || exp >= prec) {
    let m = digits[0]! + (digits.length > 1 ? '.' + digits.slice(1) : '');
    if (!alt) m = stripZeros(m);
    else if (!m.includes('.')) m += '.';
    const ae = Math.abs(exp);
    out = m + 'e' + (exp < 0 ? '-' : '+') + (ae < 10 ? '0' + ae : String(ae));
  } else if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1);
    const frac = digits.slice(exp + 1);
    out = frac.length > 0 ? intPart + '.' + frac : intPart;
    if (!alt) out = stripZeros(out);
    else if (!out.includes('.')) out += '.';
  } else {
    out = '0.' + '0'.repeat(-exp - 1) + digits;
    if (!alt) out = stripZeros(out);
  }
  return neg ? '-' + out : out;
}

/**
 * The `prec` significant digits of v > 0 and its decimal exponent, rounded half to even on the exact binary value as
 * C's printf does (JS's toExponential rounds a tie up: 1000000000000000.25 -> ...0.3 where printf gives ...0.2).
 */
function exponentialHalfEven(v: number, prec: number): [string, number] {
  const [mant, expStr] = v.toExponential(prec - 1).split('e') as [string, string];
  let digits = mant.replace('.', '');
  const exp = Number(expStr);
  const n = BigInt(digits);
  if (n % 2n === 1n && isTie(v, n, exp - (prec - 1))) digits = (n - 1n).toString();
  return [digits, exp];
}

/** Whether v is exactly (n - 1/2) * 10^k. */
function isTie(v: number, n: bigint, k: number): boolean {
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, v);
  const hi = buf.getUint32(0);
  const lo = buf.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let e: number;
  if (biased === 0) {
    e = -1074;
  } else {
    m |= 1n << 52n;
    e = biased - 1075;
  }
  // 2 * m * 2^e == (2n - 1) * 10^k, both sides scaled to integers
  let left = 2n * m;
  let right = 2n * n - 1n;
  if (e >= 0) left <<= BigInt(e);
  else right <<= BigInt(-e);
  if (k >= 0) right *= 10n ** BigInt(k);
  else left *= 10n ** BigInt(-k);
  return left === right;
}

function stripZeros(s: string): string {
  if (!s.includes('.')) return s;
  s = s.replace(/0+$/, '');
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\b': '\\b',
  '\f': '\\f',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\u007f-\u009f]/;
// eslint-disable-next-line no-control-regex
const ESCAPE_ALL = /["\\\u0000-\u001f\u007f-\u009f]/g;

/** A JSON string literal, escaped as libjsonnet does (\u00XX for control characters, 0x7f-0x9f too). */
export function quoteString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return '"' + s + '"';
  return '"' + s.replace(ESCAPE_ALL, (c) => ESCAPES[c] ?? '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) + '"';
}

/** std.toString / string + value: single-line JSON ("{"a": 1}", "[1, 2]"). */
export function toStringValue(v: Value, loc: Loc | undefined): string {
  if (typeof v === 'string') return v;
  if (v instanceof Tainted) {
    setTaintSeen(true);
    return typeof v.v === 'string' ? v.v : formatNumber(v.v);
  }
  const out: string[] = [];
  manifestInto(v, out, loc, undefined, '');
  return out.join('');
}

/**
 * Manifests a value as JSON into `out`. indent undefined: single line (toString); otherwise multi-line with that
 * indentation unit, `cur` being the current indentation.
 */
export function manifestInto(v: Value, out: string[], loc: Loc | undefined, indent: string | undefined, cur: string): void {
  tick();
  switch (typeof v) {
    case 'string':
      out.push(quoteString(v));
      return;
    case 'number':
      out.push(formatNumber(v));
      return;
    case 'boolean':
      out.push(v ? 'true' : 'false');
      return;
    default:
      break;
  }
  if (v === null) {
    out.push('null');
  } else if (v instanceof Tainted) {
    setTaintSeen(true);
    out.push(typeof v.v === 'string' ? quoteString(v.v) : formatNumber(v.v));
  } else if (v instanceof JArray) {
    const n = v.length;
    if (n === 0) {
      out.push('[ ]');
      return;
    }
    if (indent === undefined) {
      out.push('[');
      for (let i = 0; i < n; i++) {
        if (i > 0) out.push(', ');
        manifestInto(v.get(i), out, loc, undefined, '');
      }
      out.push(']');
    } else {
      const inner = cur + indent;
      out.push('[\n');
      for (let i = 0; i < n; i++) {
        if (i > 0) out.push(',\n');
        out.push(inner);
        manifestInto(v.get(i), out, loc, indent, inner);
      }
      out.push('\n' + cur + ']');
    }
  } else if (v instanceof JObject) {
    if (v.bytes !== undefined) {
      throw new RuntimeError("binary content (std.native('base64Bytes')) can only be the whole content of a file", loc);
    }
    v.checkAsserts();
    const keys = v.fields();
    if (keys.length === 0) {
      out.push('{ }');
      return;
    }
    if (indent === undefined) {
      out.push('{');
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out.push(', ');
        const k = keys[i]!;
        if (v.isTaintedKey(k)) setTaintSeen(true);
        out.push(quoteString(k), ': ');
        manifestInto(v.get(k, loc), out, loc, undefined, '');
      }
      out.push('}');
    } else {
      const inner = cur + indent;
      out.push('{\n');
      for (let i = 0; i < keys.length; i++) {
        if (i > 0) out.push(',\n');
        const k = keys[i]!;
        if (v.isTaintedKey(k)) setTaintSeen(true);
        out.push(inner, quoteString(k), ': ');
        manifestInto(v.get(k, loc), out, loc, indent, inner);
      }
      out.push('\n' + cur + '}');
    }
  } else if (v instanceof JFunction) {
    throw new RuntimeError("couldn't manifest function in JSON output.", loc);
  } else {
    force(v);
  }
}

/** The output of `jsonnet file` for a value: multi-line JSON, 3-space indentation. */
export function manifestJson(v: Value, loc?: Loc): string {
  const out: string[] = [];
  manifestInto(v, out, loc, '   ', '');
  return out.join('');
}
