/**
 * A small seeded generator of Jsonnet programs for differential testing: expressions are built by type (number,
 * string, boolean, array, object, any) so that most programs evaluate, with a share of type errors, out-of-range
 * indexes and failing asserts so that errors are compared too. Same seed, same programs.
 */

export { seededRng as rng } from '../leases/helpers.js';

type Ty = 'num' | 'str' | 'bool' | 'arr' | 'obj' | 'any';

const STRINGS = ['', 'a', 'abc', 'Hello, World', 'é😀ż', 'tab\\there', 'q\\"uote', 'new\\nline', '%', '-', 'x_y', '0x1F', 'true', '  pad  ', 'a,b,,c'];
const NUMBERS = ['0', '1', '2', '3', '-1', '7', '10', '42', '0.5', '0.1', '1.5', '-2.25', '3.14159', '1e3', '1e-7', '123456789', '1e20', '2e-5', '255', '0.0001'];
const FORMATS = ['%d', '%5d', '%-5d|', '%05d', '%x', '%#X', '%o', '%f', '%.2f', '%10.3f', '%e', '%.3E', '%g', '%G', '%.1g', '%s', '%10s|', '%-8s|', '%+d', '% d', '%c'];

export class ProgramGenerator {
  private vars: { name: string; ty: Ty }[] = [];
  private n = 0;

  constructor(private readonly r: () => number) {}

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.r() * xs.length)]!;
  }
  private chance(p: number): boolean {
    return this.r() < p;
  }

  program(): string {
    this.vars = [];
    this.n = 0;
    return this.expr(this.pick(['any', 'obj', 'arr', 'str', 'num'] as Ty[]), 4);
  }

  private fresh(): string {
    return `v${this.n++}`;
  }

  expr(ty: Ty, d: number): string {
    if (ty === 'any') ty = this.pick(['num', 'str', 'bool', 'arr', 'obj'] as Ty[]);
    if (d <= 0 || this.chance(0.2)) return this.leaf(ty);
    const roll = this.r();
    if (roll < 0.12) {
      const v = this.vars.filter((x) => x.ty === ty);
      if (v.length > 0) return this.pick(v).name;
    }
    if (roll < 0.22) {
      const name = this.fresh();
      const vty = this.pick(['num', 'str', 'arr', 'obj'] as Ty[]);
      const bound = this.expr(vty, d - 1);
      this.vars.push({ name, ty: vty });
      const body = this.expr(ty, d - 1);
      this.vars.pop();
      return `(local ${name} = ${bound}; ${body})`;
    }
    if (roll < 0.3) return `(if ${this.expr('bool', d - 1)} then ${this.expr(ty, d - 1)} else ${this.expr(ty, d - 1)})`;
    if (roll < 0.36) {
      const p = this.fresh();
      this.vars.push({ name: p, ty });
      const body = this.expr(ty, d - 1);
      this.vars.pop();
      return `(function(${p}, unused=${this.leaf('num')}) ${body})(${this.expr(ty, d - 1)})`;
    }
    switch (ty) {
      case 'num':
        return this.num(d);
      case 'str':
        return this.str(d);
      case 'bool':
        return this.bool(d);
      case 'arr':
        return this.arr(d);
      default:
        return this.obj(d);
    }
  }

  private leaf(ty: Ty): string {
    switch (ty) {
      case 'num':
        return this.pick(NUMBERS);
      case 'str':
        return `'${this.pick(STRINGS)}'`;
      case 'bool':
        return this.pick(['true', 'false']);
      case 'arr':
        return this.pick(['[]', '[1, 2, 3]', "['b', 'a', 'c']", '[[1], [2, 3]]', '[null, true]', "[{ a: 1 }, 'x']"]);
      case 'obj':
        return this.pick(['{}', '{ a: 1 }', "{ b: 'x', a:: 2 }", '{ a: { b: [1] }, c: null }', "{ 'key with space': 1.5 }"]);
      default:
        return 'null';
    }
  }

  private num(d: number): string {
    const e = () => this.expr('num', d - 1);
    return this.pick([
      () => `${e()} ${this.pick(['+', '-', '*', '/', '%'])} ${e()}`,
      () => `-${e()}`,
      () => `std.length(${this.expr(this.pick(['str', 'arr', 'obj'] as Ty[]), d - 1)})`,
      // not std.log, std.exp, std.pow: JavaScript's Math and glibc can differ in the last bit (see README, Jsonnet)
      () => `std.${this.pick(['floor', 'ceil', 'abs', 'sign', 'round', 'sqrt'])}(${e()})`,
      () => `std.${this.pick(['max', 'min', 'modulo'])}(${e()}, ${e()})`,
      () => `std.foldl(function(a, b) a + b, ${this.numArr(d)}, 0)`,
      () => `${this.numArr(d)}[${this.pick(['0', '1', '2', '5'])}]`,
      () => `std.parseInt('${this.pick(['12', '-7', '0', '99x', '007'])}')`,
      () => `std.codepoint(${this.expr('str', d - 1)})`,
      () => `${e()} ${this.pick(['&', '|', '^', '<<', '>>'])} ${this.pick(['1', '3', '8', '-2'])}`,
      () => `std.sum(${this.numArr(d)})`,
      () => `std.count(${this.numArr(d)}, 1)`,
    ])();
  }

  private numArr(d: number): string {
    return this.pick([
      () => `std.range(${this.pick(['0', '1', '-2'])}, ${this.pick(['3', '5', '0'])})`,
      () => `[${this.expr('num', d - 1)}, ${this.expr('num', d - 1)}, ${this.pick(NUMBERS)}]`,
      () => `std.map(function(x) x * 2, std.range(1, 4))`,
      () => `std.makeArray(${this.pick(['0', '3'])}, function(i) i * i)`,
    ])();
  }

  private str(d: number): string {
    const e = () => this.expr('str', d - 1);
    return this.pick([
      () => `${e()} + ${this.expr('any', d - 1)}`,
      () => `'${this.pick(FORMATS)}' % [${this.expr(this.pick(['num', 'str'] as Ty[]), d - 1)}]`,
      () => `'%s-%d-%.3f' % [${e()}, ${this.expr('num', d - 1)}, ${this.expr('num', d - 1)}]`,
      () => `std.toString(${this.expr('any', d - 1)})`,
      () => `std.${this.pick(['asciiUpper', 'asciiLower', 'base64', 'md5', 'escapeStringJson', 'escapeStringBash', 'escapeStringXML', 'escapeStringDollars'])}(${e()})`,
      () => `std.join(${this.pick(["','", "''", "'\\n'"])}, ${this.strArr(d)})`,
      () => `std.substr(${e()}, ${this.pick(['0', '1', '3'])}, ${this.pick(['0', '2', '10'])})`,
      () => `std.strReplace(${e()}, '${this.pick(['a', 'b', ',', 'é'])}', '${this.pick(['', 'X', '--'])}')`,
      () => `${e()}[${this.pick(['0', '1', '2'])}]`,
      () => `${e()}[${this.pick(['1:', ':2', '::2', '1:4:2'])}]`,
      () => `std.manifestJsonEx(${this.expr(this.pick(['arr', 'obj'] as Ty[]), d - 1)}, '${this.pick(['  ', '', '\\t'])}')`,
      () => `std.manifestYamlDoc(${this.expr(this.pick(['arr', 'obj'] as Ty[]), d - 1)})`,
      () => `std.manifestJsonMinified(${this.expr('any', d - 1)})`,
      () => `std.stripChars(${e()}, ' a')`,
      () => `std.format('%(a)s/%(b)05.1f', { a: ${e()}, b: ${this.expr('num', d - 1)} })`,
      () => `std.base64Decode(std.base64(${e()}))`,
    ])();
  }

  private strArr(d: number): string {
    return this.pick([
      () => `[${this.expr('str', d - 1)}, ${this.expr('str', d - 1)}]`,
      () => `std.split(${this.expr('str', d - 1)}, ',')`,
      () => `std.stringChars(${this.expr('str', d - 1)})`,
      () => `std.objectFields(${this.expr('obj', d - 1)})`,
      () => `std.sort(${this.expr('arr', d - 1)})`,
    ])();
  }

  private bool(d: number): string {
    const any = () => this.expr('any', d - 1);
    return this.pick([
      () => `${any()} == ${any()}`,
      () => `${any()} != ${any()}`,
      () => `${this.expr('num', d - 1)} ${this.pick(['<', '<=', '>', '>='])} ${this.expr('num', d - 1)}`,
      () => `${this.expr('str', d - 1)} < ${this.expr('str', d - 1)}`,
      () => `${this.expr('bool', d - 1)} ${this.pick(['&&', '||'])} ${this.expr('bool', d - 1)}`,
      () => `!${this.expr('bool', d - 1)}`,
      () => `'a' in ${this.expr('obj', d - 1)}`,
      () => `std.objectHas(${this.expr('obj', d - 1)}, 'a')`,
      () => `std.member(${this.expr('arr', d - 1)}, 1)`,
      () => `std.startsWith(${this.expr('str', d - 1)}, 'a')`,
      () => `std.${this.pick(['isString', 'isNumber', 'isArray', 'isObject'])}(${any()})`,
    ])();
  }

  private arr(d: number): string {
    const e = () => this.expr('any', d - 1);
    return this.pick([
      () => `[${e()}, ${e()}]`,
      () => `${this.expr('arr', d - 1)} + ${this.expr('arr', d - 1)}`,
      () => {
        const x = this.fresh();
        const arr = this.expr('arr', d - 1);
        this.vars.push({ name: x, ty: 'any' });
        const body = this.expr(this.pick(['num', 'str', 'arr'] as Ty[]), d - 1);
        this.vars.pop();
        return `[${body} for ${x} in ${arr}]`;
      },
      () => `[x * x for x in std.range(0, ${this.pick(['3', '6'])}) if x % 2 == ${this.pick(['0', '1'])}]`,
      () => `std.sort(${this.numArr(d)})`,
      () => `std.set(${this.strArr(d)})`,
      () => `std.${this.pick(['setUnion', 'setInter', 'setDiff'])}(std.set(${this.numArr(d)}), std.set(${this.numArr(d)}))`,
      () => `std.reverse(${this.expr('arr', d - 1)})`,
      () => `std.uniq(${this.expr('arr', d - 1)})`,
      () => `std.filter(function(x) std.isNumber(x), ${this.expr('arr', d - 1)})`,
      () => `std.flattenArrays([${this.expr('arr', d - 1)}, ${this.expr('arr', d - 1)}])`,
      () => `std.objectValues(${this.expr('obj', d - 1)})`,
      () => `std.mapWithIndex(function(i, x) [i, x], ${this.expr('arr', d - 1)})`,
      () => `${this.expr('arr', d - 1)}[${this.pick(['1:', ':1', '::2'])}]`,
      () => `std.splitLimit(${this.expr('str', d - 1)}, ',', 1)`,
      () => `std.find(1, ${this.numArr(d)})`,
      () => `std.repeat(${this.expr('arr', d - 1)}, 2)`,
    ])();
  }

  private obj(d: number): string {
    const e = (t: Ty = 'any') => this.expr(t, d - 1);
    return this.pick([
      () => `{ a: ${e()}, b:: ${e()}, c::: ${e()} }`,
      () => `{ a: ${e('num')}, b: self.a, local l = ${e()}, d: [l] }`,
      () => `${this.expr('obj', d - 1)} + ${this.expr('obj', d - 1)}`,
      () => `${this.expr('obj', d - 1)} { a+: ${this.pick(['1', "'s'", '[1]', '{ z: 1 }'])}, n: super.a }`,
      () => `{ [k]: std.length(k) for k in ${this.strArr(d)} }`,
      () => `{ [${e('str')}]: ${e()}, x: 1 }`,
      () => `std.mergePatch(${this.expr('obj', d - 1)}, ${this.expr('obj', d - 1)})`,
      () => `std.prune(${this.expr('obj', d - 1)})`,
      () => `std.mapWithKey(function(k, v) [k, v], ${this.expr('obj', d - 1)})`,
      () => `{ assert ${this.expr('bool', d - 1)} : 'object assert', v: ${e()} }`,
      () => `{ outer: { inner: $.top }, top: ${e()} }`,
      () => `std.parseJson(std.manifestJsonMinified(${this.expr('obj', d - 1)}))`,
      () => `{ a: ${e()} }.a + {}`,
    ])();
  }
}
