/**
 * Run-time values of the evaluator and the state of the evaluation in progress.
 *
 * Value: null | boolean | number | string | Tainted | JArray | JObject | JFunction. Strings are JS strings (V8 ropes
 * make concatenation cheap); Jsonnet's code-point semantics are applied where they differ (length, indexing, order).
 * A Tainted wraps a string or number derived from a secret (see taint in the README's Jsonnet section): it behaves
 * exactly like the value it wraps, but the message of an `error` made from it is not shown.
 */
import { monotonicMs } from '../../clock.js';
import type { Hide } from './ast.js';
import { RuntimeError, type Loc } from './errors.js';
import { toStringValue } from './manifest.js';

export type Value = null | boolean | number | string | Tainted | JArray | JObject | JFunction;
/** What a variable, an array element or an argument holds: a value, or a thunk computing it once. */
export type Lazy = Value | Thunk;
/** An environment: [parent, ...slots]. */
export type Env = unknown[];
export type Code = (env: Env) => Value;

export class Tainted {
  constructor(readonly v: string | number) {}
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation state (one evaluation runs synchronously at a time).

export interface EvalState {
  /** monotonicMs() after which the evaluation stops */
  deadline: number;
  /** template name, for the time-limit message */
  steps: number;
  depth: number;
  maxDepth: number;
  /** largest array the evaluator builds */
  maxArray: number;
  extVars: ReadonlyMap<string, () => Value>;
  natives: ReadonlyMap<string, JFunction>;
  importer: Importer;
  trace: (message: string, loc: Loc | undefined) => void;
  timeoutMessage: string;
}

export interface Importer {
  import(kind: 'import' | 'importstr' | 'importbin', path: string, loc: Loc): Value;
}

export let state: EvalState = undefined as unknown as EvalState;
export function setState(s: EvalState): EvalState {
  const prev = state;
  state = s;
  return prev;
}

/** Called in every loop that may run long: checks the time limit every 4096 steps. */
export function tick(): void {
  if ((++state.steps & 4095) === 0 && monotonicMs() > state.deadline) {
    throw new RuntimeError(state.timeoutMessage);
  }
}

/** Whether a builtin unwrapped a tainted value since the last reset (see callBuiltin). */
export let taintSeen = false;
export function setTaintSeen(v: boolean): void {
  taintSeen = v;
}

// ---------------------------------------------------------------------------------------------------------------

export class Thunk {
  private v: Value | undefined = undefined;
  private state = 0; // 0 pending, 1 running, 2 done
  constructor(
    private code: Code | undefined,
    private env: Env | undefined,
    /** where the thunk's expression is, for the stack of an error */
    readonly loc?: Loc,
  ) {}

  static of(v: Value): Thunk {
    const t = new Thunk(undefined, undefined);
    t.v = v;
    t.state = 2;
    return t;
  }

  get(): Value {
    if (this.state === 2) return this.v!;
    if (this.state === 1) throw new RuntimeError('max stack frames exceeded.', this.loc);
    this.state = 1;
    const st = state;
    if ((++st.steps & 4095) === 0 && monotonicMs() > st.deadline) {
      this.state = 0;
      throw new RuntimeError(st.timeoutMessage);
    }
    if (++st.depth > st.maxDepth) {
      st.depth--;
      this.state = 0;
      throw new RuntimeError('max stack frames exceeded.', this.loc);
    }
    try {
      this.v = this.code!(this.env!);
      this.state = 2;
      this.code = undefined;
      this.env = undefined;
      return this.v;
    } catch (e) {
      this.state = 0;
      throw e;
    } finally {
      st.depth--;
    }
  }
}

/** A thunk given by a function: the builtins' lazy results. */
export class FnThunk extends Thunk {
  constructor(fn: () => Value, loc?: Loc) {
    super(fn as unknown as Code, [] as Env, loc);
  }
}

export function force(x: Lazy): Value {
  return x instanceof Thunk ? x.get() : x;
}

// ---------------------------------------------------------------------------------------------------------------

export class JArray {
  constructor(private readonly list: Lazy[]) {}
  /** the elements, materialised (a lazy array is built, within the size limit) */
  get items(): Lazy[] {
    return this.list;
  }
  get length(): number {
    return this.list.length;
  }
  at(i: number): Lazy {
    return this.list[i]!;
  }
  get(i: number): Value {
    return force(this.at(i));
  }
  all(): Lazy[] {
    return this.list;
  }
}

/** An array whose elements are computed on access (std.range, std.makeArray): no memory for elements not used. */
export class LazyArray extends JArray {
  private built: Lazy[] | undefined;
  constructor(
    private readonly len: number,
    private readonly elem: (i: number) => Lazy,
  ) {
    super(undefined as unknown as Lazy[]);
  }
  override get length(): number {
    return this.len;
  }
  override at(i: number): Lazy {
    if (this.built !== undefined) return this.built[i]!;
    return this.elem(i);
  }
  override all(): Lazy[] {
    if (this.built === undefined) {
      checkArraySize(this.len);
      const out = new Array<Lazy>(this.len);
      for (let i = 0; i < this.len; i++) {
        if ((i & 1023) === 0) tick();
        out[i] = this.elem(i);
      }
      this.built = out;
    }
    return this.built;
  }
  override get items(): Lazy[] {
    return this.all();
  }
}

export function checkArraySize(n: number): void {
  if (n > state.maxArray) throw new RuntimeError(`array too large: more than ${state.maxArray} elements`);
}

// ---------------------------------------------------------------------------------------------------------------

export interface Field {
  readonly hide: Hide;
  readonly plus: boolean;
  /** the body, run with the frame of its layer (see JObject.frame) */
  readonly code?: Code;
  /** a constant value (the standard library, values from JSON) */
  readonly value?: Lazy;
  /** an environment of its own (object comprehensions: the loop variables) */
  readonly env?: Env;
  readonly loc?: Loc;
}

export interface Layer {
  readonly fields: Map<string, Field>;
  /** the environment in which the object literal was evaluated */
  readonly env: Env;
  /** the object's locals, in frame slots 3.. (thunks made per object) */
  readonly locals: readonly Code[];
  readonly asserts: readonly Code[];
  /** field names derived from a secret */
  readonly taintedKeys?: ReadonlySet<string>;
  readonly name?: string;
}

export class JObject {
  private cache: Map<string, Value> | undefined;
  private frames: (Env | undefined)[] | undefined;
  private assertState = 0;
  private visible: string[] | undefined;
  /** a binary file's content (std.native('base64Bytes')) */
  bytes?: Uint8Array;

  constructor(readonly layers: readonly Layer[]) {
    if (layers.every((l) => l.asserts.length === 0)) this.assertState = 2;
  }

  /** The frame in which the fields of layer i run: [layer env, self, i, ...locals]. */
  frame(i: number, env?: Env): Env {
    const layer = this.layers[i]!;
    if (env === undefined) {
      const fs = (this.frames ??= []);
      const f = fs[i];
      if (f !== undefined) return f;
    }
    const frame: Env = [env ?? layer.env, this, i];
    for (const code of layer.locals) frame.push(new Thunk(code, frame));
    if (env === undefined) this.frames![i] = frame;
    return frame;
  }

  /** Runs the object's asserts once (libjsonnet: before the first field of the object is used). */
  checkAsserts(): void {
    if (this.assertState !== 0) return;
    this.assertState = 1;
    try {
      for (let i = 0; i < this.layers.length; i++) {
        const layer = this.layers[i]!;
        for (const a of layer.asserts) a(this.frame(i));
      }
      this.assertState = 2;
    } catch (e) {
      this.assertState = 0;
      throw e;
    }
  }

  /** Whether a field exists (hidden or not) in layers 0..top. */
  has(name: string, top = this.layers.length - 1): boolean {
    for (let i = top; i >= 0; i--) if (this.layers[i]!.fields.has(name)) return true;
    return false;
  }

  /** The field's value as seen from layer `top` (self.f: the top; super.f: below the current layer). */
  get(name: string, loc?: Loc, top = this.layers.length - 1, literal?: string): Value {
    if (this.assertState === 0) this.checkAsserts();
    const whole = top === this.layers.length - 1;
    if (whole && this.cache !== undefined) {
      const v = this.cache.get(name);
      if (v !== undefined) return v;
    }
    for (let i = top; i >= 0; i--) {
      const layer = this.layers[i]!;
      const f = layer.fields.get(name);
      if (f === undefined) continue;
      let v: Value;
      if (f.value !== undefined) {
        v = force(f.value);
      } else {
        const st = state;
        if (++st.depth > st.maxDepth) {
          st.depth--;
          throw new RuntimeError('max stack frames exceeded.', f.loc);
        }
        try {
          v = f.code!(f.env === undefined ? this.frame(i) : this.frame(i, f.env));
        } catch (e) {
          if (e instanceof RuntimeError) e.unwind(`object <${layer.name ?? 'anonymous'}>`, loc);
          throw e;
        } finally {
          st.depth--;
        }
      }
      if (f.plus && i > 0 && this.has(name, i - 1)) v = plus(this.get(name, loc, i - 1), v, loc);
      if (whole) (this.cache ??= new Map()).set(name, v);
      return v;
    }
    // The name is quoted only when it is written in the template (a.b, a['b']), never a computed one.
    throw new RuntimeError(literal !== undefined ? `field does not exist: ${literal}` : 'field does not exist', loc);
  }

  /** Whether a field exists and is visible in the whole object. */
  private visibility(name: string): boolean | undefined {
    let vis: boolean | undefined;
    for (const layer of this.layers) {
      const f = layer.fields.get(name);
      if (f === undefined) continue;
      if (f.hide === 1) vis = false;
      else if (f.hide === 2) vis = true;
      else if (vis === undefined) vis = true;
    }
    return vis;
  }

  /** Field names, sorted by code point; visible ones only unless `all`. */
  fields(all = false): string[] {
    if (!all && this.visible !== undefined) return this.visible;
    if (this.layers.length === 1) {
      const out: string[] = [];
      for (const [k, f] of this.layers[0]!.fields) if (all || f.hide !== 1) out.push(k);
      out.sort(compareStrings);
      if (!all) this.visible = out;
      return out;
    }
    const names = new Set<string>();
    for (const layer of this.layers) for (const k of layer.fields.keys()) names.add(k);
    const out: string[] = [];
    for (const k of names) if (all || this.visibility(k) === true) out.push(k);
    out.sort(compareStrings);
    if (!all) this.visible = out;
    return out;
  }

  isTaintedKey(name: string): boolean {
    for (const l of this.layers) if (l.taintedKeys?.has(name)) return true;
    return false;
  }
}

// ---------------------------------------------------------------------------------------------------------------

export interface ParamSpec {
  readonly name: string;
  /** a default value's code (run in the call's frame) */
  readonly def?: Code;
}

export class JFunction {
  constructor(
    readonly params: readonly ParamSpec[],
    /** a Jsonnet function: its body, run in [env, ...args] */
    readonly body: Code | undefined,
    readonly env: Env | undefined,
    readonly name: string,
    readonly loc?: Loc,
    /** a builtin: its implementation, taking the arguments (lazy) in parameter order */
    readonly builtin?: (args: Lazy[], loc: Loc | undefined) => Value,
  ) {}
}

/** A tail call (`f(x) tailstrict` in a function's tail position), run by the caller's loop. */
export class TailCall {
  constructor(
    readonly fn: JFunction,
    readonly args: Lazy[],
    readonly loc: Loc,
  ) {}
}

// ---------------------------------------------------------------------------------------------------------------

export function typeOf(v: Value): string {
  switch (typeof v) {
    case 'string':
      return 'string';
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    default:
      if (v === null) return 'null';
      if (v instanceof JArray) return 'array';
      if (v instanceof JObject) return 'object';
      if (v instanceof JFunction) return 'function';
      return typeof (v as Tainted).v === 'string' ? 'string' : 'number';
  }
}

/** Code-point order (JS compares UTF-16 code units, which differs for characters above U+FFFF). */
export function compareStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      if (x < 0xd800 && y < 0xd800) return x - y;
      return (a.codePointAt(i) ?? x) - (b.codePointAt(i) ?? y);
    }
  }
  return a.length - b.length;
}

export function isString(v: Value): boolean {
  return typeof v === 'string' || (v instanceof Tainted && typeof v.v === 'string');
}
export function isNumber(v: Value): boolean {
  return typeof v === 'number' || (v instanceof Tainted && typeof v.v === 'number');
}

/** The JS string of a string value (noting when it is tainted). */
export function strOf(v: Value): string {
  if (typeof v === 'string') return v;
  taintSeen = true;
  return (v as Tainted).v as string;
}
export function numOf(v: Value): number {
  if (typeof v === 'number') return v;
  taintSeen = true;
  return (v as Tainted).v as number;
}

// ---------------------------------------------------------------------------------------------------------------
// `+`, shared by the compiler, `+:` fields and std.

export function plus(a: Value, b: Value, loc: Loc | undefined): Value {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (!Number.isFinite(r)) throw new RuntimeError('overflow', loc);
    return r;
  }
  if (typeof a === 'string' && typeof b === 'string') return a + b;
  const ta = a instanceof Tainted;
  const tb = b instanceof Tainted;
  if (ta || tb) {
    const ua = ta ? (a as Tainted).v : a;
    const ub = tb ? (b as Tainted).v : b;
    const r = plus(ua, ub, loc);
    return typeof r === 'string' || typeof r === 'number' ? new Tainted(r) : r;
  }
  if (typeof a === 'string' || typeof b === 'string') {
    const saved = taintSeen;
    taintSeen = false;
    const s = (typeof a === 'string' ? a : toStringValue(a, loc)) + (typeof b === 'string' ? b : toStringValue(b, loc));
    const t = taintSeen;
    taintSeen = saved || t;
    return t ? new Tainted(s) : s;
  }
  if (a instanceof JArray && b instanceof JArray) {
    const items = a.all().concat(b.all());
    checkArraySize(items.length);
    return new JArray(items);
  }
  if (a instanceof JObject && b instanceof JObject) {
    return new JObject(a.layers.concat(b.layers));
  }
  const ta2 = typeOf(a);
  const tb2 = typeOf(b);
  if (ta2 !== tb2) throw new RuntimeError(`binary operator + requires matching types, got ${ta2} and ${tb2}.`, loc);
  throw new RuntimeError(`binary operator + does not operate on ${ta2 === 'null' ? 'null' : ta2 + 's'}.`, loc);
}
