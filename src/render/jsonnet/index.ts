/**
 * tconfd's Jsonnet evaluator (the language and standard library of libjsonnet 0.20), in TypeScript.
 *
 *   const ev = new Evaluation({ jpaths, extVars, natives, timeoutMs });
 *   const top = ev.run(() => ev.evaluateFile('/etc/tconfd/app.jsonnet'));
 *   for (const [key, value] of ev.run(() => ev.multi(top))) ... ev.run(() => ev.fileContent(value))
 *
 * Evaluation is synchronous: each run() is one slice of work on the calling thread. The time limit covers the sum of
 * all slices of an evaluation (checked every few thousand steps inside the evaluator), the depth limit every call.
 * Parsed and compiled files are cached by path and content (an Engine is shared by evaluations).
 */
import { MAX_CONFIG_FILE_BYTES, readRegularFileSync, ReadFileError } from '../../read-file.js';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { monotonicMs } from '../../clock.js';
import type { Node } from './ast.js';
import { compileFile, call, type CompiledFile } from './compile.js';
import { RuntimeError, Source, type Loc } from './errors.js';
import { manifestJson, quoteString } from './manifest.js';
import { parse } from './parser.js';
import { fromJson, stdFor } from './std.js';
import { JArray, JFunction, JObject, Tainted, Thunk, force, setState, state, typeOf, type EvalState, type Importer, type Lazy, type Value } from './values.js';

export { RuntimeError, StaticError, Source, formatLoc, formatStack } from './errors.js';
export { JArray, JFunction, JObject, Tainted, type Value } from './values.js';
export { nativeArgs, nativeFunction, fromJson } from './std.js';
export { manifestJson } from './manifest.js';

export type ExtVar =
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'code'; readonly value: string }
  /** a JS value (JSON data); with `secret`, its strings, numbers and keys below the top level are tainted */
  | { readonly kind: 'json'; readonly value: unknown; readonly secret?: boolean };

export interface EvaluationOptions {
  /** library directories, searched in order after the importing file's own directory */
  readonly jpaths?: readonly string[];
  readonly extVars?: Readonly<Record<string, ExtVar>>;
  /** top-level arguments, when the file is a function */
  readonly tlas?: Readonly<Record<string, ExtVar>>;
  readonly natives?: ReadonlyMap<string, JFunction>;
  /** milliseconds of evaluation in all (default 10 s) */
  readonly timeoutMs?: number;
  /** nested calls (default 500, as libjsonnet) */
  readonly maxDepth?: number;
  /** the largest array (default 2^22 elements) */
  readonly maxArray?: number;
  /** std.trace */
  readonly trace?: (message: string, loc: Loc | undefined) => void;
  /** the text of the time-limit error */
  readonly timeoutMessage?: string;
  readonly engine?: Engine;
  /** the directory relative file names are read from (default: the process's) */
  readonly cwd?: string;
}

/** Parsed and compiled files, kept while their text is unchanged. */
export class Engine {
  private readonly files = new Map<string, { text: string; compiled: CompiledFile; imports: readonly string[] }>();

  compile(name: string, text: string): CompiledFile {
    const cached = this.files.get(name);
    if (cached !== undefined && cached.text === text) return cached.compiled;
    const src = new Source(name, text);
    const ast: Node = parse(src);
    const compiled = compileFile(src, ast);
    this.files.set(name, { text, compiled, imports: importsOf(ast) });
    return compiled;
  }

  /** The paths a compiled file imports (`import "path"`, not importstr or importbin). */
  imports(name: string): readonly string[] {
    return this.files.get(name)?.imports ?? [];
  }

  forget(name: string): void {
    this.files.delete(name);
  }
}

const sharedEngine = new Engine();

/**
 * Reads and compiles a file, and the files it imports by a literal path (found as the evaluation finds them: the
 * importing file's directory, then `jpaths`), into the engine the evaluations use: ahead of an evaluation, while its
 * inputs are being fetched. Returns the texts read (or undefined for a file that is not there). Best effort: whatever
 * fails here is left for the evaluation to report.
 */
export function precompile(path: string, jpaths: readonly string[], engine: Engine = sharedEngine): string[] {
  const texts: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, depth: number): boolean => {
    if (seen.has(name) || depth > 16) return true;
    seen.add(name);
    let text: string;
    try {
      // as the evaluation reads it: a regular file only (reading a FIFO would wait for a writer), bounded
      text = readRegularFileSync(resolve(name), MAX_CONFIG_FILE_BYTES).toString('utf8');
    } catch {
      return false;
    }
    texts.push(text);
    try {
      engine.compile(name, text);
    } catch {
      return true; // a static error: the evaluation says it
    }
    for (const target of engine.imports(name)) {
      const candidates = isAbsolute(target) ? [target] : [join(dirname(name), target), ...jpaths.map((d) => join(d, target))];
      for (const c of candidates) if (visit(c, depth + 1)) break;
    }
    return true;
  };
  visit(path, 0);
  return texts;
}

export class Evaluation implements Importer {
  private readonly st: EvalState;
  private readonly engine: Engine;
  private readonly jpaths: readonly string[];
  private readonly imports = new Map<string, Thunk>();
  private readonly strings = new Map<string, Value>();
  private remainingMs: number;

  constructor(private readonly opts: EvaluationOptions = {}) {
    this.engine = opts.engine ?? sharedEngine;
    this.jpaths = opts.jpaths ?? [];
    this.remainingMs = opts.timeoutMs ?? 10_000;
    const extVars = new Map<string, () => Value>();
    for (const [name, v] of Object.entries(opts.extVars ?? {})) extVars.set(name, this.extVarThunk(`<extvar:${name}>`, v));
    this.st = {
      deadline: 0,
      steps: 0,
      depth: 0,
      maxDepth: opts.maxDepth ?? 500,
      maxArray: opts.maxArray ?? 1 << 22,
      extVars,
      natives: opts.natives ?? new Map(),
      importer: this,
      trace: opts.trace ?? (() => undefined),
      timeoutMessage: opts.timeoutMessage ?? `evaluation took longer than ${opts.timeoutMs ?? 10_000} ms`,
    };
  }

  private extVarThunk(name: string, v: ExtVar): () => Value {
    let value: Value | undefined;
    return () => {
      if (value !== undefined) return value;
      switch (v.kind) {
        case 'string':
          value = v.value;
          break;
        case 'json':
          value = fromJson(v.value, v.secret === true, true);
          break;
        case 'code': {
          const f = this.engine.compile(name, v.value);
          value = f.code([undefined, stdFor(name)]);
          break;
        }
      }
      return value;
    };
  }

  /** Runs one slice of the evaluation: sets the time limit, turns JS stack and size faults into RuntimeErrors. */
  run<T>(fn: () => T): T {
    const prev = setState(this.st);
    const started = monotonicMs();
    this.st.deadline = started + this.remainingMs;
    this.st.depth = 0;
    try {
      return fn();
    } catch (e) {
      if (e instanceof RangeError) {
        if (/call stack/i.test(e.message)) throw new RuntimeError('max stack frames exceeded.');
        throw new RuntimeError(`value too large: ${/string/i.test(e.message) ? 'a string' : 'an array'} longer than the JavaScript limit`);
      }
      throw e;
    } finally {
      this.remainingMs -= monotonicMs() - started;
      setState(prev);
    }
  }

  /** A file's value (a top-level function is called with the top-level arguments). */
  evaluateFile(path: string): Value {
    return this.top(this.load(path));
  }

  evaluateSnippet(name: string, text: string): Value {
    const f = this.engine.compile(name, text);
    return this.top(f.code([undefined, stdFor(name)]));
  }

  private top(v: Value): Value {
    if (!(v instanceof JFunction)) return v;
    const named = new Map<string, Lazy>();
    for (const [name, t] of Object.entries(this.opts.tlas ?? {})) {
      const th = this.extVarThunk(`<top-level-arg:${name}>`, t);
      named.set(name, new Thunk(() => th(), []));
    }
    return call(v, [], named, undefined);
  }

  private load(path: string): Value {
    let text: string;
    try {
      text = readRegularFileSync(this.abs(path), MAX_CONFIG_FILE_BYTES).toString('utf8');
    } catch (err) {
      throw new RuntimeError(`couldn't open ${path}: ${err instanceof ReadFileError ? err.reason : 'error'}`);
    }
    const f = this.engine.compile(path, text);
    const th = new Thunk(f.code, [undefined, stdFor(path)]);
    this.imports.set(this.abs(path), th);
    return th.get();
  }

  private abs(path: string): string {
    return this.opts.cwd === undefined ? resolve(path) : resolve(this.opts.cwd, path);
  }

  /** Importer: the importing file's directory first, then the library paths in order. */
  import(kind: 'import' | 'importstr' | 'importbin', path: string, loc: Loc): Value {
    const candidates = isAbsolute(path) ? [path] : [join(dirname(loc.src.name), path), ...this.jpaths.map((d) => join(d, path))];
    for (const file of candidates) {
      const key = this.abs(file);
      if (kind === 'import') {
        const cached = this.imports.get(key);
        if (cached !== undefined) return cached.get();
      } else {
        const cached = this.strings.get(`${kind}:${key}`);
        if (cached !== undefined) return cached;
      }
      let bytes: Buffer;
      try {
        bytes = readRegularFileSync(key, MAX_CONFIG_FILE_BYTES);
      } catch (err) {
        // Not there (or not readable): the next candidate. A FIFO, a device or a huge file is refused, never read.
        if (err instanceof ReadFileError && (err.code === 'ENOTREG' || err.code === 'EFBIG')) {
          throw new RuntimeError(`couldn't open import ${quoteString(path)}: ${file} ${err.reason}`, loc);
        }
        continue;
      }
      if (kind === 'importbin') {
        const v = new JArray([...bytes]);
        this.strings.set(`${kind}:${key}`, v);
        return v;
      }
      const text = bytes.toString('utf8');
      if (kind === 'importstr') {
        this.strings.set(`${kind}:${key}`, text);
        return text;
      }
      // a static error in an imported file is reported as such, with its own file:line:column
      const compiled: CompiledFile = this.engine.compile(file, text);
      const th = new Thunk(compiled.code, [undefined, stdFor(file)], loc);
      this.imports.set(key, th);
      return th.get();
    }
    throw new RuntimeError(`couldn't open import ${quoteString(path)}: no match locally or in the Jsonnet library paths.`, loc);
  }

  /** Multi-file output (jsonnet -m): the top-level object's visible fields, in order. */
  multi(top: Value): string[] {
    if (!(top instanceof JObject)) {
      throw new RuntimeError(`multi mode: top-level object was a ${typeOf(top)}, should be an object whose keys are filenames and values hold the JSON for that file.`);
    }
    top.checkAsserts();
    return top.fields();
  }

  field(top: JObject, key: string): Value {
    return top.get(key);
  }

  /**
   * A file's bytes: a string as UTF-8 (a final newline added when missing, as rconfd), binary content
   * (std.native('base64Bytes')) exactly, anything else as JSON with a final newline.
   */
  fileContent(v: Value): Buffer {
    if (v instanceof JObject && v.bytes !== undefined) return Buffer.from(v.bytes);
    if (typeof v === 'string' || (v instanceof Tainted && typeof v.v === 'string')) {
      const s = typeof v === 'string' ? v : (v.v as string);
      return Buffer.from(s.endsWith('\n') ? s : s + '\n', 'utf8');
    }
    return Buffer.from(manifestJson(v) + '\n', 'utf8');
  }

  /** The output of `jsonnet FILE`: the value as JSON. */
  manifest(v: Value): string {
    return manifestJson(force(v));
  }
}

/** The import paths of a syntax tree (any node `{ k: 'import', path }`, at any depth). */
function importsOf(ast: Node): string[] {
  const out: string[] = [];
  const walk = (n: unknown): void => {
    if (Array.isArray(n)) {
      for (const x of n) walk(x);
    } else if (n !== null && typeof n === 'object') {
      if ((n as { k?: unknown }).k === 'import' && typeof (n as { path?: unknown }).path === 'string') out.push((n as { path: string }).path);
      for (const v of Object.values(n)) if (typeof v === 'object') walk(v);
    }
  };
  walk(ast);
  return out;
}

export function currentState(): EvalState {
  return state;
}
