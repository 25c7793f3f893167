/**
 * Config files as bytes -> a JSON value, refusing what JSON.parse lets through or reports vaguely: bytes that are not
 * UTF-8 (they would silently become U+FFFD), duplicate keys (JSON.parse keeps the last one), and syntax errors, which
 * are reported with the line, the column, what was found and what was expected there. A UTF-8 byte order mark is
 * skipped (RFC 8259 lets a parser ignore it; Windows editors write one). Parsing and positions are
 * @humanwhocodes/momoa's; the value itself is JSON.parse's. Pure.
 */
import { parse, tokenize, type DocumentNode, type Token, type ValueNode } from '@humanwhocodes/momoa';

/** A config file that is not valid JSON text. `message` names the line and column, never a whole line of the file. */
export class JsonTextError extends Error {
  override readonly name = 'JsonTextError';
}

export function parseJsonConfig(bytes: Uint8Array): unknown {
  let start = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) start = 3;
  const body = bytes.subarray(start);
  const text = decodeUtf8(body);
  let doc: DocumentNode;
  try {
    doc = parse(text, { mode: 'json', ranges: true });
  } catch (err) {
    throw new JsonTextError(describeSyntaxError(err as MomoaError, text));
  }
  const dup = findDuplicateKey(doc);
  if (dup !== undefined) throw new JsonTextError(dup);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    // momoa accepts raw control characters in strings, which JSON (and JSON.parse) does not.
    const m = /position (\d+)/.exec((err as Error).message);
    const where = m ? `${lineColumn(text, Number(m[1]))}: ` : '';
    throw new JsonTextError(`${where}a control character in a string (write it as \\u00XX)`);
  }
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    // The first byte at which decoding fails: the shortest prefix that does not decode, even as a stream (a stream
    // decode only fails on a sequence that is complete and invalid).
    let lo = 1;
    let hi = bytes.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (decodesAsPrefix(bytes.subarray(0, mid))) lo = mid + 1;
      else hi = mid;
    }
    let at = lo - 1;
    // A byte that cuts a multi-byte sequence short: the error is that sequence's lead byte.
    if (!decodes(bytes.subarray(0, at))) {
      at--;
      while (at > 0 && (bytes[at]! & 0xc0) === 0x80) at--;
    }
    const before = new TextDecoder('utf-8').decode(bytes.subarray(0, at));
    const hex = bytes[at]!.toString(16).padStart(2, '0');
    throw new JsonTextError(`${lineColumn(before, before.length)}: byte 0x${hex} is not UTF-8 (config files are UTF-8 text)`);
  }
}

function decodes(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function decodesAsPrefix(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return true;
  } catch {
    return false;
  }
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `line ${line}, column ${offset - before.lastIndexOf('\n')}`;
}

interface MomoaError extends Error {
  readonly line?: number;
  readonly column?: number;
  readonly offset?: number;
}

const TOKEN_TEXT: Record<string, string> = {
  LBrace: '"{"',
  RBrace: '"}"',
  LBracket: '"["',
  RBracket: '"]"',
  Comma: '","',
  Colon: '":"',
  String: 'a string',
  Number: 'a number',
  Boolean: 'true or false',
  Null: 'null',
};

/** "line 3, column 7: expected "," or "}", found a string" */
function describeSyntaxError(err: MomoaError, text: string): string {
  let offset = err.offset ?? 0;
  const message = err.message.replace(/\s*\(\d+:\d+\)$/, '');
  const token = /^Unexpected token (\w+) found/.exec(message);
  const char = /^Unexpected character '([\s\S]*)' found/.exec(message);
  let eof = /end of input/.test(message);
  let context = contextAt(text, offset);
  // momoa reports a premature end of the text at its last token: a token that fits where it stands is not the error.
  if (token && context !== undefined && expectedTokens(context).includes(token[1] as Token['type'])) eof = true;
  if (eof) {
    offset = text.trimEnd().length;
    context = contextAt(text, text.length);
  }
  const where = eof || err.line === undefined || err.column === undefined ? lineColumn(text, offset) : `line ${err.line}, column ${err.column}`;
  let found: string;
  let hint = '';
  if (eof) {
    found = 'the end of the file';
  } else if (token) {
    found = TOKEN_TEXT[token[1]!] ?? token[1]!;
  } else if (char) {
    const word = /^[A-Za-z_$][\w$]*/.exec(text.slice(offset))?.[0];
    if (word !== undefined && context !== undefined) {
      found = `"${word.slice(0, 20)}"`;
      hint = ' (strings take double quotes; the literals are true, false and null)';
    } else {
      found = describeChar(char[1]!);
      if (char[1] === "'") hint = ' (JSON strings and keys take double quotes)';
      else if (char[1] === '/' || char[1] === '#') hint = ' (JSON has no comments)';
      else if (context === undefined) hint = ' in a string (an invalid escape or character)';
    }
  } else {
    found = message;
  }
  if (context !== undefined && context.prev === 'Comma' && (found === '"}"' || found === '"]"')) {
    return `${where}: a trailing comma is not allowed in JSON (found ${found} after ",")`;
  }
  const expected = context === undefined ? undefined : describeExpected(expectedTokens(context));
  return `${where}: ${expected === undefined ? 'unexpected' : `expected ${expected}, found`} ${found}${hint}`;
}

function describeChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  if (code < 0x20 || code === 0x7f) return `the control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
  return `"${c}"`;
}

interface Context {
  /** The innermost open bracket: LBrace, LBracket, or undefined at the top level. */
  readonly open: 'LBrace' | 'LBracket' | undefined;
  readonly prev: Token['type'] | undefined;
  readonly prevPrev: Token['type'] | undefined;
}

/** Where in the grammar the text before `offset` ends, from momoa's tokens; undefined when that prefix does not tokenize. */
function contextAt(text: string, offset: number): Context | undefined {
  let tokens: Token[];
  try {
    tokens = tokenize(text.slice(0, offset), { mode: 'json' });
  } catch {
    return undefined;
  }
  const stack: ('LBrace' | 'LBracket')[] = [];
  for (const t of tokens) {
    if (t.type === 'LBrace' || t.type === 'LBracket') stack.push(t.type);
    else if (t.type === 'RBrace' || t.type === 'RBracket') stack.pop();
  }
  return {
    open: stack[stack.length - 1],
    prev: tokens[tokens.length - 1]?.type,
    prevPrev: tokens[tokens.length - 2]?.type,
  };
}

type TokenType = Token['type'];
const VALUE: TokenType[] = ['LBrace', 'LBracket', 'String', 'Number', 'Boolean', 'Null'];

/** The tokens JSON's grammar allows after the context. */
function expectedTokens(c: Context): TokenType[] {
  if (c.open === undefined) return c.prev === undefined ? VALUE : [];
  if (c.open === 'LBrace') {
    if (c.prev === 'LBrace') return ['String', 'RBrace'];
    if (c.prev === 'Comma') return ['String'];
    if (c.prev === 'String' && (c.prevPrev === 'LBrace' || c.prevPrev === 'Comma')) return ['Colon'];
    if (c.prev === 'Colon') return VALUE;
    return ['Comma', 'RBrace'];
  }
  if (c.prev === 'LBracket') return [...VALUE, 'RBracket'];
  if (c.prev === 'Comma') return VALUE;
  return ['Comma', 'RBracket'];
}

function describeExpected(tokens: TokenType[]): string {
  if (tokens.length === 0) return 'the end of the file';
  if (tokens.length >= VALUE.length) return tokens.includes('RBracket') ? 'a value or "]"' : 'a value';
  if (tokens.length === 1 && tokens[0] === 'String') return 'a key in double quotes';
  if (tokens[0] === 'String') return 'a key in double quotes or "}"';
  if (tokens[0] === 'Colon') return '":" after the key';
  return tokens.map((t) => TOKEN_TEXT[t]).join(' or ');
}

/** The first key that appears twice in one object, as a message with its key path and both positions. */
function findDuplicateKey(doc: DocumentNode): string | undefined {
  const walk = (node: ValueNode, path: string[]): string | undefined => {
    if (node.type === 'Object') {
      const seen = new Map<string, { loc: { start: { line: number } } }>();
      for (const m of node.members) {
        const key = m.name.type === 'String' ? m.name.value : m.name.name;
        const first = seen.get(key);
        if (first !== undefined) {
          const at = `line ${m.name.loc.start.line}, column ${m.name.loc.start.column}`;
          const where = path.length === 0 ? '' : ` in ${path.map((p) => `"${p}"`).join('.')}`;
          return `${at}: duplicate key "${key}"${where} (first at line ${first.loc.start.line}; JSON.parse would silently keep only the last)`;
        }
        seen.set(key, m.name);
        const inner = walk(m.value, [...path, key]);
        if (inner !== undefined) return inner;
      }
    } else if (node.type === 'Array') {
      for (let i = 0; i < node.elements.length; i++) {
        const inner = walk(node.elements[i]!.value, [...path, String(i)]);
        if (inner !== undefined) return inner;
      }
    }
    return undefined;
  };
  return walk(doc.body, []);
}
