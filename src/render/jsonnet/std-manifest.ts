/**
 * std.manifest* and std.escapeString*: the layouts of libjsonnet 0.20's std.jsonnet, reproduced character for
 * character (JSON with any indentation, YAML documents and streams, INI, TOML, Python, JsonML XML).
 */
import { codePoints, equals } from './compile.js';
import { RuntimeError, type Loc } from './errors.js';
import { formatNumber, quoteString, toStringValue } from './manifest.js';
import { JArray, JFunction, JObject, Tainted, numOf, setTaintSeen, strOf, tick, typeOf, type Value } from './values.js';

export function escapeJson(s: string): string {
  return quoteString(s);
}

const XML: Record<string, string> = { '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' };
export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => XML[c]!);
}

/** a string's or a number's JS value, noting taint */
function prim(v: Value): Value {
  if (v instanceof Tainted) {
    setTaintSeen(true);
    return v.v;
  }
  return v;
}

function keyTaint(o: JObject, k: string): void {
  if (o.isTaintedKey(k)) setTaintSeen(true);
}

/** true, false, null and numbers, as every manifest format writes them (undefined for anything else). */
function scalar(v: Value): string | undefined {
  if (v === true) return 'true';
  if (v === false) return 'false';
  if (v === null) return 'null';
  if (typeof v === 'number') return formatNumber(v);
  return undefined;
}

export function manifestJsonEx(value: Value, indent: string, nl: string, kvSep: string, loc: Loc | undefined): string {
  const aux = (v: Value, cindent: string): string => {
    tick();
    v = prim(v);
    const sc = scalar(v);
    if (sc !== undefined) return sc;
    if (typeof v === 'string') return quoteString(v);
    if (v instanceof JFunction) throw new RuntimeError('Tried to manifest function', loc);
    if (v instanceof JArray) {
      const ni = cindent + indent;
      const parts: string[] = [];
      for (let i = 0; i < v.length; i++) parts.push(ni + aux(v.get(i), ni));
      return '[' + nl + parts.join(',' + nl) + nl + cindent + ']';
    }
    const o = v as JObject;
    const ni = cindent + indent;
    const parts = o.fields().map((k) => {
      keyTaint(o, k);
      return ni + quoteString(k) + kvSep + aux(o.get(k, loc), ni);
    });
    return '{' + nl + parts.join(',' + nl) + nl + cindent + '}';
  };
  return aux(value, '');
}

// ---------------------------------------------------------------------------------------------------------------
// YAML

const RESERVED = new Set(['true', 'false', 'yes', 'no', 'on', 'off', 'y', 'n', '.nan', '-.inf', '+.inf', '.inf', 'null', '-', '---', '']);

function only(chars: string, s: string): boolean {
  for (const c of s) if (!chars.includes(c)) return false;
  return true;
}
function countOf(s: string, sub: string): number {
  let n = 0;
  for (let i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + 1)) n++;
  return n;
}

function bareSafe(key: string): boolean {
  const letters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_-/';
  const digits = '0123456789';
  const intChars = digits + '_-';
  const binChars = intChars + 'b';
  const hexChars = digits + 'abcdefx_-';
  const floatChars = digits + 'e._-';
  const dateChars = digits + '-';
  const safeChars = letters + floatChars;
  const lc = key.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  const typeMatch = (t: string) => key.slice(0, 2) === t || key.slice(0, 3) === '-' + t;
  if (!only(safeChars, key)) return false;
  if (RESERVED.has(lc)) return false;
  if (only(dateChars, key) && countOf(key, '-') === 2) return false;
  if (only(intChars, lc) && countOf(key, '-') < 2) return false;
  if (only(binChars, lc) && codePoints(key).length > 2 && typeMatch('0b')) return false;
  if (only(floatChars, lc) && countOf(key, '.') === 1 && countOf(key, '-') < 3 && countOf(lc, 'e') < 2) return false;
  if (only(hexChars, lc) && countOf(key, '-') < 2 && codePoints(key).length > 2 && typeMatch('0x')) return false;
  return true;
}

function nonEmpty(v: Value): boolean {
  return (v instanceof JArray && v.length > 0) || (v instanceof JObject && v.fields().length > 0);
}

export function manifestYamlDoc(value: Value, indentArrayInObject: boolean, quoteKeys: boolean, loc: Loc | undefined): string {
  const aux = (v: Value, cindent: string): string => {
    tick();
    v = prim(v);
    const sc = scalar(v);
    if (sc !== undefined) return sc;
    if (typeof v === 'string') {
      if (v.length === 0) return '""';
      if (v.endsWith('\n')) {
        const split = v.split('\n');
        return ['|', ...split.slice(0, split.length - 1)].join('\n' + cindent + '  ');
      }
      return quoteString(v);
    }
    if (v instanceof JFunction) throw new RuntimeError('Tried to manifest function', loc);
    if (v instanceof JArray) {
      if (v.length === 0) return '[]';
      const parts: string[] = [];
      for (let i = 0; i < v.length; i++) {
        const e = v.get(i);
        const pe = e instanceof Tainted ? e.v : e;
        let newIndent: string;
        let space: string;
        if (pe instanceof JArray && pe.length > 0) {
          newIndent = cindent + '  ';
          space = '\n' + newIndent;
        } else if (pe instanceof JObject && pe.fields().length > 0) {
          newIndent = cindent + '  ';
          space = ' ';
        } else {
          newIndent = cindent;
          space = ' ';
        }
        parts.push('-' + space + aux(e, newIndent));
      }
      return parts.join('\n' + cindent);
    }
    const o = v as JObject;
    const keys = o.fields();
    if (keys.length === 0) return '{}';
    const lines = keys.map((k) => {
      keyTaint(o, k);
      const e = o.get(k, loc);
      let newIndent: string;
      let space: string;
      if (e instanceof JArray && e.length > 0) {
        newIndent = indentArrayInObject ? cindent + '  ' : cindent;
        space = '\n' + newIndent;
      } else if (e instanceof JObject && nonEmpty(e)) {
        newIndent = cindent + '  ';
        space = '\n' + newIndent;
      } else {
        newIndent = cindent;
        space = ' ';
      }
      return (quoteKeys ? quoteString(k) : bareSafe(k) ? k : quoteString(k)) + ':' + space + aux(e, newIndent);
    });
    return lines.join('\n' + cindent);
  };
  return aux(value, '');
}

// ---------------------------------------------------------------------------------------------------------------

export function manifestPython(v: Value, loc: Loc | undefined): string {
  tick();
  v = prim(v);
  if (v instanceof JObject) {
    const parts = v.fields().map((k) => {
      keyTaint(v as JObject, k);
      return `${quoteString(k)}: ${manifestPython((v as JObject).get(k, loc), loc)}`;
    });
    return '{' + parts.join(', ') + '}';
  }
  if (v instanceof JArray) {
    const parts: string[] = [];
    for (let i = 0; i < v.length; i++) parts.push(manifestPython(v.get(i), loc));
    return '[' + parts.join(', ') + ']';
  }
  if (typeof v === 'string') return quoteString(v);
  if (v instanceof JFunction) throw new RuntimeError('cannot manifest function', loc);
  if (typeof v === 'number') return formatNumber(v);
  if (v === true) return 'True';
  if (v === false) return 'False';
  return 'None';
}

function str(v: Value, loc: Loc | undefined): string {
  if (typeof v === 'string') return v;
  if (v instanceof Tainted && typeof v.v === 'string') return strOf(v);
  return toStringValue(v, loc);
}

export function manifestIni(ini: Value, loc: Loc | undefined): string {
  if (!(ini instanceof JObject)) throw new RuntimeError(`manifestIni: expected an object, got ${typeOf(ini)}`, loc);
  const bodyLines = (body: Value): string[] => {
    if (!(body instanceof JObject)) throw new RuntimeError(`manifestIni: a section must be an object, got ${typeOf(body)}`, loc);
    const out: string[] = [];
    for (const k of body.fields()) {
      keyTaint(body, k);
      const v = body.get(k, loc);
      if (v instanceof JArray) for (let i = 0; i < v.length; i++) out.push(`${k} = ${str(v.get(i), loc)}`);
      else out.push(`${k} = ${str(v, loc)}`);
    }
    return out;
  };
  const main = ini.fields().includes('main') ? bodyLines(ini.get('main', loc)) : [];
  const sections = ini.get('sections', loc, undefined, 'sections');
  if (!(sections instanceof JObject)) throw new RuntimeError(`manifestIni: sections must be an object, got ${typeOf(sections)}`, loc);
  const all: string[] = [];
  for (const k of sections.fields()) {
    keyTaint(sections, k);
    all.push(`[${k}]`, ...bodyLines(sections.get(k, loc)));
  }
  return [...main, ...all, ''].join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// TOML

const BARE = /^[A-Za-z0-9_-]*$/;

export function manifestTomlEx(value: Value, indent: string, loc: Loc | undefined): string {
  const key = (k: string): string => (BARE.test(k) ? k : quoteString(k));
  const isTableArray = (v: Value) => v instanceof JArray && v.length > 0 && v.all().every((_, i) => v.get(i) instanceof JObject);
  const isSection = (v: Value) => v instanceof JObject || isTableArray(v);
  const renderValue = (v: Value, inline: boolean, cindent: string): string => {
    tick();
    v = prim(v);
    if (v === true) return 'true';
    if (v === false) return 'false';
    if (v === null) throw new RuntimeError('Tried to manifest "null"', loc);
    if (typeof v === 'number') return formatNumber(v);
    if (typeof v === 'string') return quoteString(v);
    if (v instanceof JFunction) throw new RuntimeError('Tried to manifest function', loc);
    if (v instanceof JArray) {
      if (v.length === 0) return '[]';
      const newIndent = inline ? '' : cindent + indent;
      const sep = inline ? ' ' : '\n';
      const items: string[] = [];
      for (let i = 0; i < v.length; i++) items.push(newIndent + renderValue(v.get(i), true, ''));
      return '[' + sep + items.join(',' + sep) + sep + (inline ? '' : cindent) + ']';
    }
    const o = v as JObject;
    const items = o.fields().map((k) => {
      keyTaint(o, k);
      return key(k) + ' = ' + renderValue(o.get(k, loc), true, '');
    });
    return '{ ' + items.join(', ') + ' }';
  };
  const renderTableInternal = (v: JObject, path: string[], cindent: string): string => {
    const kvp: string[] = [];
    const sections: string[] = [];
    for (const k of v.fields()) {
      keyTaint(v, k);
      const e = v.get(k, loc);
      if (!isSection(e)) kvp.push(cindent + key(k) + ' = ' + renderValue(e, false, cindent));
    }
    sections.push(kvp.join('\n'));
    for (const k of v.fields()) {
      const e = v.get(k, loc);
      if (!isSection(e)) continue;
      if (e instanceof JObject) sections.push(renderTable(e, [...path, k], cindent));
      else sections.push(renderTableArray(e as JArray, [...path, k], cindent));
    }
    return sections.join('\n\n');
  };
  const renderTable = (v: JObject, path: string[], cindent: string): string =>
    cindent + '[' + path.map(key).join('.') + ']' + (v.fields().length === 0 ? '' : '\n') + renderTableInternal(v, path, cindent + indent);
  const renderTableArray = (v: JArray, path: string[], cindent: string): string => {
    const sections: string[] = [];
    for (let i = 0; i < v.length; i++) {
      const e = v.get(i) as JObject;
      sections.push(cindent + '[[' + path.map(key).join('.') + ']]' + (e.fields().length === 0 ? '' : '\n') + renderTableInternal(e, path, cindent + indent));
    }
    return sections.join('\n\n');
  };
  if (!(value instanceof JObject)) throw new RuntimeError(`TOML body must be an object. Got ${typeOf(value)}`, loc);
  return renderTableInternal(value, [], '');
}

// ---------------------------------------------------------------------------------------------------------------

export function manifestXmlJsonml(value: Value, loc: Loc | undefined): string {
  if (!(value instanceof JArray)) throw new RuntimeError(`Expected a JSONML value (an array), got ${typeOf(value)}`, loc);
  const out: string[] = [];
  const deep = (v: Value): void => {
    v = prim(v);
    if (typeof v === 'string') out.push(v);
    else throw new RuntimeError(`Expected string or array, got ${typeOf(v)}`, loc);
  };
  const aux = (v: Value): void => {
    tick();
    const p = prim(v);
    if (typeof p === 'string') {
      out.push(p);
      return;
    }
    if (!(p instanceof JArray)) throw new RuntimeError(`Expected a JSONML value (an array), got ${typeOf(p)}`, loc);
    const tag = p.get(0);
    const hasAttrs = p.length > 1 && p.get(1) instanceof JObject;
    const attrs = hasAttrs ? (p.get(1) as JObject) : undefined;
    deep('<');
    deep(tag);
    if (attrs !== undefined) {
      for (const k of attrs.fields()) {
        keyTaint(attrs, k);
        out.push(` ${k}="${str(attrs.get(k, loc), loc)}"`);
      }
    }
    out.push('>');
    for (let i = hasAttrs ? 2 : 1; i < p.length; i++) aux(p.get(i));
    out.push('</');
    deep(tag);
    out.push('>');
  };
  aux(value);
  return out.join('');
}

export { equals, numOf };
