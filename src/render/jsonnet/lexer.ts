/**
 * Jsonnet lexer (the language of libjsonnet 0.20). Tokens carry their source offsets; line and column are computed
 * only when an error is reported (see Source.position).
 */
import { StaticError, type Source } from './errors.js';

/** punctuation is its own kind; 'str' is "..." or '...', 'verb' @"..." or @'...', 'block' a ||| text block */
export type T = '{' | '}' | '[' | ']' | ',' | '.' | '(' | ')' | ';' | '$' | 'op' | 'id' | 'num' | 'str' | 'verb' | 'block' | 'kw' | 'eof';

export interface Token {
  readonly t: T;
  /** identifier / keyword / operator text, the decoded string, or the number's text */
  readonly v: string;
  readonly s: number;
  readonly e: number;
}

const KEYWORDS = new Set([
  'assert', 'else', 'error', 'false', 'for', 'function', 'if', 'import', 'importstr', 'importbin', 'in', 'local',
  'null', 'tailstrict', 'then', 'self', 'super', 'true',
]);

const SYMBOLS = '!$:~+-&|^=<>*/%';

function isSymbol(c: string): boolean {
  return c !== '' && SYMBOLS.includes(c);
}
function isIdStart(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 65 && code <= 90) || code === 95;
}
function isDigit(code: number): boolean {
  return code >= 48 && code <= 57;
}

export function lex(src: Source): Token[] {
  const text = src.text;
  const n = text.length;
  const tokens: Token[] = [];
  let i = 0;
  const fail = (at: number, msg: string): never => {
    throw new StaticError(src, at, msg);
  };
  while (true) {
    // whitespace and comments
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 9 || c === 10 || c === 13) {
        i++;
      } else if (c === 35 || (c === 47 && text.charCodeAt(i + 1) === 47)) {
        while (i < n && text.charCodeAt(i) !== 10) i++;
      } else if (c === 47 && text.charCodeAt(i + 1) === 42) {
        const end = text.indexOf('*/', i + 2);
        if (end < 0) fail(i, 'multi-line comment has no terminating */.');
        i = end + 2;
      } else {
        break;
      }
    }
    if (i >= n) {
      tokens.push({ t: 'eof', v: '', s: n, e: n });
      return tokens;
    }
    const start = i;
    const ch = text[i]!;
    const code = text.charCodeAt(i);
    switch (ch) {
      case '{': tokens.push({ t: '{', v: ch, s: i, e: ++i }); continue;
      case '}': tokens.push({ t: '}', v: ch, s: i, e: ++i }); continue;
      case '[': tokens.push({ t: '[', v: ch, s: i, e: ++i }); continue;
      case ']': tokens.push({ t: ']', v: ch, s: i, e: ++i }); continue;
      case ',': tokens.push({ t: ',', v: ch, s: i, e: ++i }); continue;
      case '.': tokens.push({ t: '.', v: ch, s: i, e: ++i }); continue;
      case '(': tokens.push({ t: '(', v: ch, s: i, e: ++i }); continue;
      case ')': tokens.push({ t: ')', v: ch, s: i, e: ++i }); continue;
      case ';': tokens.push({ t: ';', v: ch, s: i, e: ++i }); continue;
      case '"':
      case "'": {
        i++;
        let out = '';
        let segStart = i;
        for (;;) {
          if (i >= n) fail(start, 'unterminated string');
          const c = text[i]!;
          if (c === ch) break;
          if (c === '\\') {
            out += text.slice(segStart, i);
            const e = text[i + 1];
            i += 2;
            switch (e) {
              case '"': out += '"'; break;
              case "'": out += "'"; break;
              case '\\': out += '\\'; break;
              case '/': out += '/'; break;
              case 'b': out += '\b'; break;
              case 'f': out += '\f'; break;
              case 'n': out += '\n'; break;
              case 'r': out += '\r'; break;
              case 't': out += '\t'; break;
              case 'u': {
                const cp = hex4(text, i);
                if (cp < 0) fail(i - 2, 'Unicode escape sequence was truncated or contained a non-hex digit.');
                i += 4;
                if (cp >= 0xd800 && cp < 0xdc00) {
                  // a UTF-16 surrogate pair written as two escapes
                  if (text[i] === '\\' && text[i + 1] === 'u') {
                    const lo = hex4(text, i + 2);
                    if (lo >= 0xdc00 && lo < 0xe000) {
                      out += String.fromCharCode(cp, lo);
                      i += 6;
                      break;
                    }
                  }
                  fail(i - 6, 'Invalid non-BMP Unicode escape in string literal');
                }
                if (cp >= 0xdc00 && cp < 0xe000) fail(i - 6, 'Invalid non-BMP Unicode escape in string literal');
                out += String.fromCharCode(cp);
                break;
              }
              case undefined:
                fail(start, 'unterminated string');
                break;
              default:
                fail(i - 2, `unknown escape sequence in string literal: '\\${e}'`);
            }
            segStart = i;
          } else {
            i++;
          }
        }
        out += text.slice(segStart, i);
        i++;
        tokens.push({ t: 'str', v: out, s: start, e: i });
        continue;
      }
      case '@': {
        const q = text[i + 1];
        if (q !== '"' && q !== "'") fail(i, "couldn't lex verbatim string, junk after '@': " + (q ?? ''));
        i += 2;
        let out = '';
        for (;;) {
          if (i >= n) fail(start, 'unterminated verbatim string');
          const c = text[i]!;
          if (c === q) {
            if (text[i + 1] === q) {
              out += q;
              i += 2;
              continue;
            }
            break;
          }
          out += c;
          i++;
        }
        i++;
        tokens.push({ t: 'verb', v: out, s: start, e: i });
        continue;
      }
      default:
        break;
    }
    if (isDigit(code)) {
      i = lexNumber(src, i);
      tokens.push({ t: 'num', v: text.slice(start, i), s: start, e: i });
      continue;
    }
    if (isIdStart(code)) {
      i++;
      for (;;) {
        const c = text.charCodeAt(i);
        if (isIdStart(c) || isDigit(c)) i++;
        else break;
      }
      const word = text.slice(start, i);
      tokens.push({ t: KEYWORDS.has(word) ? 'kw' : 'id', v: word, s: start, e: i });
      continue;
    }
    if (ch === '|' && text.startsWith('|||', i)) {
      i = lexTextBlock(src, i, tokens);
      continue;
    }
    if (isSymbol(ch)) {
      for (; i < n && isSymbol(text[i]!); i++) {
        if (text[i] === '/' && (text[i + 1] === '/' || text[i + 1] === '*')) break;
        if (text.startsWith('|||', i)) break;
      }
      while (i > start + 1 && '+-~!$'.includes(text[i - 1]!)) i--;
      const op = text.slice(start, i);
      tokens.push(op === '$' ? { t: '$', v: op, s: start, e: i } : { t: 'op', v: op, s: start, e: i });
      continue;
    }
    fail(i, `Could not lex the character ${code < 32 ? 'code ' + code : "'" + ch + "'"}`);
  }
}

function hex4(text: string, i: number): number {
  const h = text.slice(i, i + 4);
  return /^[0-9a-fA-F]{4}$/.test(h) ? parseInt(h, 16) : -1;
}

function lexNumber(src: Source, i: number): number {
  const text = src.text;
  const d = (k: number) => isDigit(text.charCodeAt(k));
  if (text[i] === '0') i++;
  else while (d(i)) i++;
  if (text[i] === '.') {
    if (!d(i + 1)) throw new StaticError(src, i + 1, `Couldn't lex number, junk after decimal point: ${quoteChar(text[i + 1])}`);
    i++;
    while (d(i)) i++;
  }
  if (text[i] === 'e' || text[i] === 'E') {
    i++;
    if (text[i] === '+' || text[i] === '-') i++;
    if (!d(i)) throw new StaticError(src, i, `Couldn't lex number, junk after 'E': ${quoteChar(text[i])}`);
    while (d(i)) i++;
  }
  return i;
}

function quoteChar(c: string | undefined): string {
  return c === undefined ? 'end of file' : `'${c}'`;
}

function lexTextBlock(src: Source, start: number, tokens: Token[]): number {
  const text = src.text;
  let i = start + 3;
  while (text[i] === ' ' || text[i] === '\t' || text[i] === '\r') i++;
  if (text[i] !== '\n') throw new StaticError(src, start, 'text block syntax requires new line after |||.');
  i++;
  let block = '';
  while (text[i] === '\n') {
    i++;
    block += '\n';
  }
  const firstLine = i;
  const wsCheck = (b: number): number => {
    let k = 0;
    while (text[firstLine + k] === ' ' || text[firstLine + k] === '\t') {
      if (text[b + k] !== text[firstLine + k]) return 0;
      k++;
    }
    return k;
  };
  let ws = wsCheck(i);
  if (ws === 0) throw new StaticError(src, start, "text block's first line must start with whitespace.");
  for (;;) {
    i += ws;
    const nl = text.indexOf('\n', i);
    if (nl < 0) throw new StaticError(src, start, 'unexpected EOF');
    block += text.slice(i, nl) + '\n';
    i = nl + 1;
    while (text[i] === '\n') {
      i++;
      block += '\n';
    }
    ws = wsCheck(i);
    if (ws === 0) {
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (!text.startsWith('|||', i)) throw new StaticError(src, start, 'text block not terminated with |||');
      i += 3;
      tokens.push({ t: 'block', v: block, s: start, e: i });
      return i;
    }
  }
}
