/**
 * Jsonnet parser: tokens -> AST with source offsets. Precedences and the greedy constructs (local, if, function,
 * assert, error, import) follow libjsonnet's parser.cpp: a greedy construct extends as far to the right as it can.
 */
import type { Bind, FieldName, Hide, Member, NamedArg, Node, Param, Spec } from './ast.js';
import { StaticError, type Source } from './errors.js';
import { lex, type T, type Token } from './lexer.js';

const BINARY: Record<string, number> = {
  '*': 5, '/': 5, '%': 5,
  '+': 6, '-': 6,
  '<<': 7, '>>': 7,
  '<': 8, '<=': 8, '>': 8, '>=': 8, in: 8,
  '==': 9, '!=': 9,
  '&': 10,
  '^': 11,
  '|': 12,
  '&&': 13,
  '||': 14,
};
const UNARY = new Set(['-', '+', '!', '~']);
const MAX = 15;

export function parse(src: Source): Node {
  return new Parser(src, lex(src)).parseFile();
}

class Parser {
  private i = 0;
  constructor(
    private readonly src: Source,
    private readonly toks: Token[],
  ) {}

  parseFile(): Node {
    const e = this.expr(MAX);
    const t = this.peek();
    if (t.t !== 'eof') this.fail(t, `did not expect: ${describe(t)}`);
    return e;
  }

  private peek(): Token {
    return this.toks[this.i]!;
  }
  private next(): Token {
    return this.toks[this.i++]!;
  }
  private fail(t: Token, msg: string): never {
    throw new StaticError(this.src, t.s, msg);
  }
  private isKw(t: Token, kw: string): boolean {
    return t.t === 'kw' && t.v === kw;
  }
  private isOp(t: Token, op: string): boolean {
    return t.t === 'op' && t.v === op;
  }
  private expect(kind: T, what: string): Token {
    const t = this.next();
    if (t.t !== kind) this.fail(t, `expected token ${what} but got ${describe(t)}`);
    return t;
  }
  private expectKw(kw: string): Token {
    const t = this.next();
    if (!this.isKw(t, kw)) this.fail(t, `expected token ${kw} but got ${describe(t)}`);
    return t;
  }
  private expectOp(op: string): Token {
    const t = this.next();
    if (!this.isOp(t, op)) this.fail(t, `expected operator ${op} but got ${describe(t)}`);
    return t;
  }
  private ident(): Token {
    const t = this.next();
    if (t.t !== 'id') this.fail(t, `expected token IDENTIFIER but got ${describe(t)}`);
    return t;
  }

  /** Binary expressions whose operators have a precedence of at most `prec`. */
  private expr(prec: number): Node {
    let lhs = this.unary();
    for (;;) {
      const t = this.peek();
      let op: string;
      if (t.t === 'op') op = t.v;
      else if (this.isKw(t, 'in')) op = 'in';
      else return lhs;
      const p = BINARY[op];
      if (p === undefined) {
        if (op === ':' || op === '::' || op === ':::' || op.startsWith('+:') || op === '=') return lhs;
        this.fail(t, `not a binary operator: ${op}`);
      }
      if (p > prec) return lhs;
      this.i++;
      if (op === 'in' && this.isKw(this.peek(), 'super')) {
        const sup = this.next();
        lhs = { k: 'insuper', name: lhs, s: lhs.s, e: sup.e };
        continue;
      }
      const rhs = this.expr(p - 1);
      lhs = { k: 'bin', op, l: lhs, r: rhs, s: lhs.s, e: rhs.e };
    }
  }

  private unary(): Node {
    const t = this.peek();
    if (t.t === 'op') {
      if (!UNARY.has(t.v)) this.fail(t, `not a unary operator: ${t.v}`);
      this.i++;
      const x = this.unary();
      return { k: 'un', op: t.v, x, s: t.s, e: x.e };
    }
    if (t.t === 'kw') {
      switch (t.v) {
        case 'local':
        case 'if':
        case 'function':
        case 'assert':
        case 'error':
        case 'import':
        case 'importstr':
        case 'importbin':
          return this.greedy(t);
        default:
          break;
      }
    }
    return this.postfix(this.terminal());
  }

  private greedy(t: Token): Node {
    this.i++;
    switch (t.v) {
      case 'local': {
        const binds: Bind[] = [];
        const seen = new Set<string>();
        for (;;) {
          const b = this.bind();
          if (seen.has(b.name)) throw new StaticError(this.src, b.s, `duplicate local var: ${b.name}`);
          seen.add(b.name);
          binds.push(b);
          const sep = this.next();
          if (sep.t === ';') break;
          if (sep.t !== ',') this.fail(sep, `expected , or ; but got ${describe(sep)}`);
        }
        const body = this.expr(MAX);
        return { k: 'local', binds, body, s: t.s, e: body.e };
      }
      case 'if': {
        const cond = this.expr(MAX);
        this.expectKw('then');
        const then = this.expr(MAX);
        if (this.isKw(this.peek(), 'else')) {
          this.i++;
          const els = this.expr(MAX);
          return { k: 'if', cond, then, else: els, s: t.s, e: els.e };
        }
        return { k: 'if', cond, then, else: undefined, s: t.s, e: then.e };
      }
      case 'function': {
        this.expect('(', '"("');
        const params = this.params();
        const body = this.expr(MAX);
        return { k: 'fn', params, body, s: t.s, e: body.e };
      }
      case 'assert': {
        const cond = this.expr(MAX);
        let msg: Node | undefined;
        if (this.isOp(this.peek(), ':')) {
          this.i++;
          msg = this.expr(MAX);
        }
        this.expect(';', '";"');
        const rest = this.expr(MAX);
        return { k: 'assert', cond, msg, rest, s: t.s, e: rest.e };
      }
      case 'error': {
        const x = this.expr(MAX);
        return { k: 'error', x, s: t.s, e: x.e };
      }
      default: {
        // import, importstr, importbin: the path must be a string literal (not a text block)
        const p = this.expr(MAX);
        if (p.k !== 'str') throw new StaticError(this.src, p.s, 'Computed imports are not allowed.');
        const tok = this.toks.find((x) => x.s === p.s);
        if (tok?.t === 'block') throw new StaticError(this.src, p.s, 'Cannot use text blocks in import statements.');
        return { k: t.v as 'import' | 'importstr' | 'importbin', path: p.v, s: t.s, e: p.e };
      }
    }
  }

  private bind(): Bind {
    const id = this.ident();
    if (this.peek().t === '(') {
      const open = this.next();
      const params = this.params();
      this.expectOp('=');
      const body = this.expr(MAX);
      return { name: id.v, body: { k: 'fn', params, body, s: open.s, e: body.e, name: id.v }, s: id.s, e: body.e };
    }
    this.expectOp('=');
    const body = this.expr(MAX);
    return { name: id.v, body: body.k === 'fn' ? { ...body, name: id.v } : body, s: id.s, e: body.e };
  }

  /** After "(": parameters up to ")". */
  private params(): Param[] {
    const params: Param[] = [];
    const seen = new Set<string>();
    for (;;) {
      const t = this.peek();
      if (t.t === ')') {
        this.i++;
        return params;
      }
      const id = this.ident();
      if (seen.has(id.v)) throw new StaticError(this.src, id.s, `duplicate parameter: ${id.v}`);
      seen.add(id.v);
      let def: Node | undefined;
      if (this.isOp(this.peek(), '=')) {
        this.i++;
        def = this.expr(MAX);
      }
      params.push({ name: id.v, def, s: id.s, e: def?.e ?? id.e });
      const sep = this.peek();
      if (sep.t === ',') this.i++;
      else if (sep.t !== ')') this.fail(sep, `expected , or ) after parameter but got ${describe(sep)}`);
    }
  }

  /** After "(": call arguments up to ")". */
  private args(): { args: Node[]; named: NamedArg[] } {
    const args: Node[] = [];
    const named: NamedArg[] = [];
    for (;;) {
      const t = this.peek();
      if (t.t === ')') {
        this.i++;
        return { args, named };
      }
      if (t.t === 'id' && this.isOp(this.toks[this.i + 1]!, '=')) {
        this.i += 2;
        const value = this.expr(MAX);
        if (named.some((n) => n.name === t.v)) throw new StaticError(this.src, t.s, `duplicate named argument: ${t.v}`);
        named.push({ name: t.v, value, s: t.s, e: value.e });
      } else {
        const value = this.expr(MAX);
        if (named.length > 0) throw new StaticError(this.src, value.s, 'Positional argument after a named argument is not allowed');
        args.push(value);
      }
      const sep = this.peek();
      if (sep.t === ',') this.i++;
      else if (sep.t !== ')') this.fail(sep, `expected a comma before next function argument, got ${describe(sep)}.`);
    }
  }

  private postfix(lhs: Node): Node {
    for (;;) {
      const t = this.peek();
      switch (t.t) {
        case '.': {
          this.i++;
          const id = this.ident();
          lhs = { k: 'index', target: lhs, index: { k: 'str', v: id.v, s: id.s, e: id.e }, id: id.v, s: lhs.s, e: id.e };
          break;
        }
        case '[': {
          this.i++;
          lhs = this.indexOrSlice(lhs);
          break;
        }
        case '(': {
          this.i++;
          const { args, named } = this.args();
          let end = this.toks[this.i - 1]!.e;
          let tailstrict = false;
          if (this.isKw(this.peek(), 'tailstrict')) {
            tailstrict = true;
            end = this.next().e;
          }
          lhs = { k: 'apply', fn: lhs, args, named, tailstrict, s: lhs.s, e: end };
          break;
        }
        case '{': {
          const open = this.next();
          const obj = this.object(open);
          lhs = { k: 'applybrace', left: lhs, obj, s: lhs.s, e: obj.e };
          break;
        }
        default:
          return lhs;
      }
    }
  }

  /** After "[": an index a[e] or a slice a[b:c:d]. */
  private indexOrSlice(target: Node): Node {
    const parts: (Node | undefined)[] = [];
    let colons = 0;
    let cur: Node | undefined;
    for (;;) {
      const t = this.peek();
      if (t.t === ']') {
        const close = this.next();
        parts.push(cur);
        if (colons === 0) {
          if (cur === undefined) this.fail(t, 'ast.index requires an expression');
          return { k: 'index', target, index: cur, id: undefined, s: target.s, e: close.e };
        }
        return { k: 'slice', target, from: parts[0], to: parts[1], step: parts[2], s: target.s, e: close.e };
      }
      if (t.t === 'op' && (t.v === ':' || t.v === '::')) {
        this.i++;
        parts.push(cur);
        cur = undefined;
        if (t.v === '::') parts.push(undefined);
        colons += t.v.length;
        if (colons > 2) this.fail(t, 'invalid slice: too many colons');
        continue;
      }
      if (cur !== undefined) this.fail(t, `expected ] but got ${describe(t)}`);
      if (t.t === 'eof') this.fail(t, 'unterminated index: expected ]');
      cur = this.expr(MAX);
    }
  }

  private terminal(): Node {
    const t = this.next();
    switch (t.t) {
      case '{':
        return this.object(t);
      case '[':
        return this.array(t);
      case '(': {
        const e = this.expr(MAX);
        this.expect(')', '")"');
        return e;
      }
      case 'num': {
        const v = Number(t.v);
        return { k: 'num', v, s: t.s, e: t.e };
      }
      case 'str':
      case 'verb':
      case 'block':
        return { k: 'str', v: t.v, s: t.s, e: t.e };
      case '$':
        return { k: 'dollar', s: t.s, e: t.e };
      case 'id':
        return { k: 'var', name: t.v, s: t.s, e: t.e };
      case 'kw':
        switch (t.v) {
          case 'null':
          case 'true':
          case 'false':
          case 'self':
            return { k: t.v, s: t.s, e: t.e };
          case 'super': {
            const n = this.next();
            if (n.t === '.') {
              const id = this.ident();
              return { k: 'superindex', index: { k: 'str', v: id.v, s: id.s, e: id.e }, id: id.v, s: t.s, e: id.e };
            }
            if (n.t === '[') {
              const index = this.expr(MAX);
              const close = this.expect(']', '"]"');
              return { k: 'superindex', index, id: undefined, s: t.s, e: close.e };
            }
            return this.fail(n, `expected . or [ after super but got ${describe(n)}`);
          }
          default:
            return this.fail(t, `unexpected: ${describe(t)} while parsing terminal`);
        }
      default:
        return this.fail(t, `unexpected: ${describe(t)} while parsing terminal`);
    }
  }

  private array(open: Token): Node {
    if (this.peek().t === ']') {
      const close = this.next();
      return { k: 'arr', items: [], s: open.s, e: close.e };
    }
    const first = this.expr(MAX);
    if (this.peek().t === ',' && this.isKw(this.toks[this.i + 1]!, 'for')) this.i++;
    if (this.isKw(this.peek(), 'for')) {
      const specs = this.specs();
      const close = this.expect(']', '"]"');
      return { k: 'arrcomp', body: first, specs, s: open.s, e: close.e };
    }
    const items = [first];
    for (;;) {
      const t = this.next();
      if (t.t === ']') return { k: 'arr', items, s: open.s, e: t.e };
      if (t.t !== ',') this.fail(t, 'expected a comma before next array element.');
      if (this.peek().t === ']') {
        const close = this.next();
        return { k: 'arr', items, s: open.s, e: close.e };
      }
      items.push(this.expr(MAX));
    }
  }

  /** for x in e (for y in e | if e)* */
  private specs(): Spec[] {
    const specs: Spec[] = [];
    for (;;) {
      const t = this.peek();
      if (this.isKw(t, 'for')) {
        this.i++;
        const id = this.ident();
        this.expectKw('in');
        const arr = this.expr(MAX);
        specs.push({ k: 'for', name: id.v, arr, s: t.s, e: arr.e });
      } else if (this.isKw(t, 'if')) {
        this.i++;
        const cond = this.expr(MAX);
        specs.push({ k: 'if', cond, s: t.s, e: cond.e });
      } else {
        return specs;
      }
    }
  }

  /** After "{": members up to "}", or an object comprehension. */
  private object(open: Token): Node {
    const members: Member[] = [];
    const literalNames = new Set<string>();
    const localNames = new Set<string>();
    let gotComma = true;
    for (;;) {
      const t = this.peek();
      if (t.t === '}') {
        this.i++;
        return { k: 'obj', members, s: open.s, e: t.e };
      }
      if (this.isKw(t, 'for')) {
        return this.objectComprehension(open, members);
      }
      if (!gotComma) this.fail(t, 'expected a comma before next field.');
      const m = this.member();
      if (m.k === 'field' && m.name.k === 'fixed') {
        if (literalNames.has(m.name.v)) throw new StaticError(this.src, m.s, `duplicate field: ${m.name.v}`);
        literalNames.add(m.name.v);
      } else if (m.k === 'local') {
        if (localNames.has(m.bind.name)) throw new StaticError(this.src, m.bind.s, `duplicate local var: ${m.bind.name}`);
        localNames.add(m.bind.name);
      }
      members.push(m);
      gotComma = false;
      if (this.peek().t === ',') {
        this.i++;
        gotComma = true;
      }
    }
  }

  private objectComprehension(open: Token, members: Member[]): Node {
    const fields = members.filter((m) => m.k === 'field');
    const first = this.peek();
    if (members.some((m) => m.k === 'assert')) this.fail(first, 'Object comprehension cannot have asserts.');
    if (fields.length !== 1) this.fail(first, 'Object comprehension can only have one field.');
    const field = fields[0]!;
    if (field.name.k !== 'expr') this.fail(first, 'Object comprehensions can only have [e] fields.');
    const specs = this.specs();
    const close = this.expect('}', '"}"');
    const locals = members.filter((m) => m.k === 'local').map((m) => m.bind);
    return { k: 'objcomp', locals, key: field.name.x, value: field.body, plus: field.plus, hide: field.hide, specs, s: open.s, e: close.e };
  }

  private member(): Member {
    const t = this.peek();
    if (this.isKw(t, 'local')) {
      this.i++;
      const bind = this.bind();
      return { k: 'local', bind, s: t.s, e: bind.e };
    }
    if (this.isKw(t, 'assert')) {
      this.i++;
      const cond = this.expr(MAX);
      let msg: Node | undefined;
      if (this.isOp(this.peek(), ':')) {
        this.i++;
        msg = this.expr(MAX);
      }
      return { k: 'assert', cond, msg, s: t.s, e: (msg ?? cond).e };
    }
    let name: FieldName;
    this.i++;
    switch (t.t) {
      case 'id':
        name = { k: 'fixed', v: t.v };
        break;
      case 'str':
      case 'verb':
      case 'block':
        name = { k: 'fixed', v: t.v };
        break;
      case '[': {
        const x = this.expr(MAX);
        this.expect(']', '"]"');
        name = { k: 'expr', x };
        break;
      }
      default:
        if (t.t === 'kw') this.fail(t, `expected a field name but got keyword ${t.v} (quote it to use it as a field name)`);
        return this.fail(t, `unexpected: ${describe(t)} while parsing field definition`);
    }
    let params: Param[] | undefined;
    let paramsTok: Token | undefined;
    if (this.peek().t === '(') {
      paramsTok = this.next();
      params = this.params();
    }
    const opTok = this.next();
    if (opTok.t !== 'op') this.fail(opTok, `expected one of :, ::, :::, +:, +::, +:::, got: ${describe(opTok)}`);
    let op = opTok.v;
    const plus = op.startsWith('+');
    if (plus) op = op.slice(1);
    let hide: Hide;
    if (op === ':') hide = 0;
    else if (op === '::') hide = 1;
    else if (op === ':::') hide = 2;
    else return this.fail(opTok, `expected one of :, ::, :::, +:, +::, +:::, got: ${opTok.v}`);
    if (plus && params !== undefined) this.fail(opTok, 'Cannot use +: syntax sugar in a method: ' + (name.k === 'fixed' ? name.v : ''));
    let body = this.expr(MAX);
    if (params !== undefined) {
      body = { k: 'fn', params, body, s: paramsTok!.s, e: body.e, name: name.k === 'fixed' ? name.v : undefined } as Node;
    }
    return { k: 'field', name, hide, plus, body, s: t.s, e: body.e };
  }
}

function describe(t: Token): string {
  switch (t.t) {
    case 'eof':
      return 'end of file';
    case 'str':
    case 'verb':
    case 'block':
      return 'STRING';
    case 'num':
      return `NUMBER "${t.v}"`;
    case 'id':
      return `IDENTIFIER "${t.v}"`;
    default:
      return `"${t.v}"`;
  }
}
