/**
 * std.format and the % operator: Python-style format codes, computed with the same floating-point steps as
 * libjsonnet 0.20's std.jsonnet (its own integer and float rendering, not C's printf), so that every result matches.
 */
import { codePoints, cpLength } from './compile.js';
import { RuntimeError, type Loc } from './errors.js';
import { formatNumber, toStringValue } from './manifest.js';
import { JArray, JObject, Tainted, force, numOf, strOf, taintSeen, typeOf, type Value } from './values.js';

interface Code {
  mkey: string | null;
  alt: boolean;
  zero: boolean;
  left: boolean;
  blank: boolean;
  plus: boolean;
  fw: number | '*';
  prec: number | '*' | null;
  ctype: string;
  caps: boolean;
}

function parseCodes(s: string[], loc: Loc | undefined): (string | Code)[] {
  const out: (string | Code)[] = [];
  let cur = '';
  let i = 0;
  const n = s.length;
  const truncated = () => new RuntimeError('Truncated format code.', loc);
  while (i < n) {
    const c = s[i]!;
    if (c !== '%') {
      cur += c;
      i++;
      continue;
    }
    i++;
    out.push(cur);
    cur = '';
    if (i >= n) throw truncated();
    let mkey: string | null = null;
    if (s[i] === '(') {
      let j = i + 1;
      let v = '';
      for (;;) {
        if (j >= n) throw truncated();
        if (s[j] === ')') break;
        v += s[j];
        j++;
      }
      mkey = v;
      i = j + 1;
    }
    const code: Code = { mkey, alt: false, zero: false, left: false, blank: false, plus: false, fw: 0, prec: null, ctype: '', caps: false };
    for (;;) {
      if (i >= n) throw truncated();
      const f = s[i];
      if (f === '#') code.alt = true;
      else if (f === '0') code.zero = true;
      else if (f === '-') code.left = true;
      else if (f === ' ') code.blank = true;
      else if (f === '+') code.plus = true;
      else break;
      i++;
    }
    const width = (): number | '*' => {
      if (i < n && s[i] === '*') {
        i++;
        return '*';
      }
      let v = 0;
      for (;;) {
        if (i >= n) throw truncated();
        const d = s[i]!;
        if (d >= '0' && d <= '9') {
          v = v * 10 + (d.charCodeAt(0) - 48);
          i++;
        } else {
          return v;
        }
      }
    };
    code.fw = width();
    if (i >= n) throw truncated();
    if (s[i] === '.') {
      i++;
      code.prec = width();
    }
    if (i >= n) throw truncated();
    if (s[i] === 'h' || s[i] === 'l' || s[i] === 'L') i++;
    if (i >= n) throw truncated();
    const t = s[i]!;
    i++;
    switch (t) {
      case 'd':
      case 'i':
      case 'u':
        code.ctype = 'd';
        break;
      case 'o':
      case 'x':
      case 'e':
      case 'f':
      case 'g':
      case 'c':
      case 's':
      case '%':
        code.ctype = t;
        break;
      case 'X':
      case 'E':
      case 'F':
      case 'G':
        code.ctype = t.toLowerCase();
        code.caps = true;
        break;
      default:
        throw new RuntimeError(`Unrecognised conversion type: ${t}`, loc);
    }
    out.push(code);
  }
  out.push(cur);
  return out;
}

function padding(w: number, s: string): string {
  return w > 0 ? s.repeat(w) : '';
}
function padLeft(str: string, w: number, s: string): string {
  return padding(w - cpLength(str), s) + str;
}
function padRight(str: string, w: number, s: string): string {
  return str + padding(w - cpLength(str), s);
}

function renderInt(neg: boolean, mag: number, minChars: number, minDigits: number, blank: boolean, plus: boolean, radix: number, zeroPrefix: string): string {
  let dec: string;
  if (mag === 0) {
    dec = '0';
  } else {
    const digits: string[] = [];
    let n = mag;
    while (n !== 0) {
      digits.push(formatNumber(n % radix));
      n = Math.floor(n / radix);
    }
    dec = zeroPrefix + digits.reverse().join('');
  }
  const zp = minChars - (neg || blank || plus ? 1 : 0);
  const zp2 = Math.max(zp, minDigits);
  return (neg ? '-' : plus ? '+' : blank ? ' ' : '') + padLeft(dec, zp2, '0');
}

const HEX_LOWER = '0123456789abcdef';
const HEX_UPPER = '0123456789ABCDEF';

function renderHex(n: number, minChars: number, minDigits: number, blank: boolean, plus: boolean, zerox: boolean, caps: boolean): string {
  const numerals = caps ? HEX_UPPER : HEX_LOWER;
  const a = Math.abs(n);
  let hex: string;
  if (Math.floor(a) === 0) {
    hex = '0';
  } else {
    const digits: string[] = [];
    let k = Math.floor(a);
    while (k !== 0) {
      digits.push(numerals[k % 16]!);
      k = Math.floor(k / 16);
    }
    hex = digits.reverse().join('');
  }
  const neg = n < 0;
  const zp = minChars - (neg || blank || plus ? 1 : 0) - (zerox ? 2 : 0);
  const zp2 = Math.max(zp, minDigits);
  const hex2 = (zerox ? (caps ? '0X' : '0x') : '') + padLeft(hex, zp2, '0');
  return (neg ? '-' : plus ? '+' : blank ? ' ' : '') + hex2;
}

function stripTrailingZero(s: string): string {
  let i = s.length - 1;
  while (i >= 0 && s[i] === '0') i--;
  return i < 0 ? '' : s.slice(0, i + 1);
}

function renderFloatDec(n: number, zeroPad: number, blank: boolean, plus: boolean, ensurePt: boolean, trailing: boolean, prec: number): string {
  const a = Math.abs(n);
  const denominator = Math.pow(10, prec);
  const numerator = Math.abs(a) * denominator + 0.5;
  const whole = Math.sign(a) * Math.floor(numerator / denominator);
  const frac = Math.floor(numerator) % denominator;
  const dotSize = prec === 0 && !ensurePt ? 0 : 1;
  const zp = zeroPad - prec - dotSize;
  const str = renderInt(n < 0, whole, zp, 0, blank, plus, 10, '');
  if (prec === 0) return str + (ensurePt ? '.' : '');
  if (trailing || frac > 0) {
    const fracStr = renderInt(false, frac, prec, 0, false, false, 10, '');
    return str + '.' + (!trailing ? stripTrailingZero(fracStr) : fracStr);
  }
  return str;
}

function renderFloatSci(n: number, zeroPad: number, blank: boolean, plus: boolean, ensurePt: boolean, trailing: boolean, caps: boolean, prec: number): string {
  const exponent = n === 0 ? 0 : Math.floor(Math.log(Math.abs(n)) / Math.log(10));
  const suff = (caps ? 'E' : 'e') + renderInt(exponent < 0, Math.abs(exponent), 3, 0, false, true, 10, '');
  const mantissa = exponent === -324 ? (n * 10) / Math.pow(10, exponent + 1) : n / Math.pow(10, exponent);
  const zp2 = zeroPad - suff.length;
  return renderFloatDec(mantissa, zp2, blank, plus, ensurePt, trailing, prec) + suff;
}

function number(v: Value, at: string, loc: Loc | undefined): number {
  if (typeof v === 'number') return v;
  if (v instanceof Tainted && typeof v.v === 'number') return numOf(v);
  throw new RuntimeError(`Format required number at ${at}, got ${typeOf(v)}`, loc);
}

function formatCode(val: Value, code: Code, fw: number, prec: number | null, at: string, loc: Loc | undefined): string {
  const fpprec = prec ?? 6;
  const iprec = prec ?? 0;
  const zp = code.zero && !code.left ? fw : 0;
  switch (code.ctype) {
    case 's':
      if (typeof val === 'string') return val;
      if (val instanceof Tainted && typeof val.v === 'string') return strOf(val);
      return toStringValue(val, loc);
    case 'd': {
      const v = number(val, at, loc);
      return renderInt(v <= -1, Math.floor(Math.abs(v)), zp, iprec, code.blank, code.plus, 10, '');
    }
    case 'o': {
      const v = number(val, at, loc);
      return renderInt(v <= -1, Math.floor(Math.abs(v)), zp, iprec, code.blank, code.plus, 8, code.alt ? '0' : '');
    }
    case 'x': {
      const v = number(val, at, loc);
      return renderHex(Math.floor(v), zp, iprec, code.blank, code.plus, code.alt, code.caps);
    }
    case 'f':
      return renderFloatDec(number(val, at, loc), zp, code.blank, code.plus, code.alt, true, fpprec);
    case 'e':
      return renderFloatSci(number(val, at, loc), zp, code.blank, code.plus, code.alt, true, code.caps, fpprec);
    case 'g': {
      const v = number(val, at, loc);
      const exponent = Math.floor(Math.log(Math.abs(v)) / Math.log(10));
      if (exponent < -4 || exponent >= fpprec) {
        return renderFloatSci(v, zp, code.blank, code.plus, code.alt, code.alt, code.caps, fpprec - 1);
      }
      const digitsBeforePt = Math.max(1, exponent + 1);
      return renderFloatDec(v, zp, code.blank, code.plus, code.alt, code.alt, fpprec - digitsBeforePt);
    }
    case 'c': {
      if (typeof val === 'number' || (val instanceof Tainted && typeof val.v === 'number')) {
        const n = Math.trunc(numOf(val));
        if (n < 0 || n >= 0x110000) throw new RuntimeError(`invalid unicode codepoint, got ${n}`, loc);
        return String.fromCodePoint(n);
      }
      if (typeof val === 'string' || val instanceof Tainted) {
        const s = strOf(val);
        if (cpLength(s) === 1) return s;
        throw new RuntimeError(`%c expected 1-sized string got: ${cpLength(s)}`, loc);
      }
      throw new RuntimeError(`%c expected number / string, got: ${typeOf(val)}`, loc);
    }
    default:
      throw new RuntimeError(`Unknown code: ${code.ctype}`, loc);
  }
}

function width(v: Value, loc: Loc | undefined): number {
  if (typeof v === 'number') return v;
  if (v instanceof Tainted && typeof v.v === 'number') return numOf(v);
  throw new RuntimeError(`field width or precision must be a number, got ${typeOf(v)}`, loc);
}

/** The value at `j` for a `*` width or precision (`len` values in all). */
function starValue(arr: JArray, j: number, len: number, loc: Loc | undefined): number {
  if (j >= len) throw new RuntimeError(`Not enough values to format: ${len}, expected at least ${j}`, loc);
  return width(arr.get(j), loc);
}

/** Parsed format strings (a template formats with the same few strings again and again). */
const parsed = new Map<string, (string | Code)[]>();

function codesOf(fmt: string, loc: Loc | undefined, secret: boolean): (string | Code)[] {
  if (secret) return parseCodes(codePoints(fmt), loc); // a format derived from a secret is not kept
  let codes = parsed.get(fmt);
  if (codes === undefined) {
    codes = parseCodes(codePoints(fmt), loc);
    if (parsed.size >= 2000) parsed.clear();
    if (fmt.length <= 1000) parsed.set(fmt, codes);
  }
  return codes;
}

/** std.format(str, vals): vals an array, an object (with %(key)s codes) or a single value. */
export function formatValue(fmt: string, vals: Value, loc: Loc | undefined): string {
  const fmtTainted = taintSeen;
  const codes = codesOf(fmt, loc, fmtTainted);
  let out = '';
  if (vals instanceof JObject) {
    for (const code of codes) {
      if (typeof code === 'string') {
        out += code;
        continue;
      }
      if (code.fw === '*') throw new RuntimeError('Cannot use * field width with object.', loc);
      if (code.prec === '*') throw new RuntimeError('Cannot use * precision with object.', loc);
      let s: string;
      if (code.ctype === '%') {
        s = '%';
      } else {
        if (code.mkey === null) throw new RuntimeError('Mapping keys required.', loc);
        const f = code.mkey;
        if (!vals.has(f)) throw new RuntimeError(fmtTainted ? 'No such field' : `No such field: ${f}`, loc);
        s = formatCode(vals.get(f, loc), code, code.fw, code.prec, f, loc);
      }
      out += code.left ? padRight(s, code.fw, ' ') : padLeft(s, code.fw, ' ');
    }
    return out;
  }
  const arr: JArray = vals instanceof JArray ? vals : new JArray([vals]);
  const len = arr.length;
  let j = 0;
  for (const code of codes) {
    if (typeof code === 'string') {
      out += code;
      continue;
    }
    const fw: number = code.fw === '*' ? starValue(arr, j++, len, loc) : code.fw;
    const prec: number | null = code.prec === '*' ? starValue(arr, j++, len, loc) : code.prec;
    let s: string;
    if (code.ctype === '%') {
      s = '%';
    } else {
      if (j >= len) throw new RuntimeError(`Not enough values to format: ${len}, expected more than ${j}`, loc);
      s = formatCode(force(arr.at(j)), code, fw, prec, String(j), loc);
      j++;
    }
    out += code.left ? padRight(s, fw, ' ') : padLeft(s, fw, ' ');
  }
  if (j < len) throw new RuntimeError(`Too many values to format: ${len}, expected ${j}`, loc);
  return out;
}
