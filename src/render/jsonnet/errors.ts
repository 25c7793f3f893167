/**
 * Sources, locations and the two errors of the evaluator: StaticError (lexing, parsing, unbound variables) and
 * RuntimeError (evaluation). Locations are formatted as libjsonnet does: file:line:column, or file:line:col1-col2 for a
 * range on one line, or file:(l1:c1)-(l2:c2).
 *
 * Error messages never quote a runtime string value: only text from the template's source (identifiers, literal field
 * names), type names and numbers derived from the program's structure. The one exception is the message of the
 * template's own `error`/`assert`, which the caller shows only when it is not derived from a secret (see taint.ts).
 */

export class Source {
  private lineStarts: number[] | undefined;
  constructor(
    /** the file name as shown in messages */
    readonly name: string,
    readonly text: string,
  ) {}

  position(offset: number): { line: number; col: number } {
    if (this.lineStarts === undefined) {
      const starts = [0];
      for (let i = this.text.indexOf('\n'); i >= 0; i = this.text.indexOf('\n', i + 1)) starts.push(i + 1);
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - starts[lo]! + 1 };
  }
}

export interface Loc {
  readonly src: Source;
  readonly s: number;
  readonly e: number;
}

export function formatLoc(loc: Loc): string {
  const b = loc.src.position(loc.s);
  if (loc.e <= loc.s) return `${loc.src.name}:${b.line}:${b.col}`;
  const e = loc.src.position(loc.e);
  if (b.line === e.line) return `${loc.src.name}:${b.line}:${b.col}-${e.col}`;
  return `${loc.src.name}:(${b.line}:${b.col})-(${e.line}:${e.col})`;
}

export class StaticError extends Error {
  override readonly name = 'StaticError';
  readonly where: string;
  constructor(
    src: Source,
    offset: number,
    readonly detail: string,
    end?: number,
  ) {
    const where = formatLoc({ src, s: offset, e: end ?? offset });
    super(`STATIC ERROR: ${where}: ${detail}`);
    this.where = where;
  }
}

/** One frame of the Jsonnet stack: where, and in what (function <name>, object <name>). */
export interface Frame {
  readonly loc: Loc | undefined;
  readonly name: string;
}

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
  /** innermost first; the last line is `pending` (the outermost location), added by render() */
  readonly frames: Frame[] = [];
  pending: Loc | undefined;
  constructor(
    readonly detail: string,
    readonly loc?: Loc,
    /**
     * The message is the template's own (`error`, `assert`, std.assertEqual): its text may be a runtime value. It is
     * `secret` when derived from a secret: then it is never shown.
     */
    readonly origin: 'evaluator' | 'template' | 'secret' = 'evaluator',
  ) {
    super(`RUNTIME ERROR: ${detail}`);
    this.pending = loc;
  }

  /** Leaving a call (or a field) named `name`, made at `at`. */
  unwind(name: string, at: Loc | undefined): void {
    this.frames.push({ loc: this.pending, name });
    if (at !== undefined) this.pending = at;
  }

  /** The message with its location and stack: libjsonnet's layout, one line per frame, innermost first. */
  render(maxFrames = 20, detail = this.detail): string {
    const lines = [`RUNTIME ERROR: ${detail}`];
    const frames: Frame[] = [...this.frames, { loc: this.pending, name: '' }];
    const shown = frames.length > maxFrames ? [...frames.slice(0, maxFrames / 2), undefined, ...frames.slice(-maxFrames / 2)] : frames;
    for (const f of shown) lines.push(f === undefined ? '\t...' : `\t${f.loc ? formatLoc(f.loc) : ''}\t${f.name}`);
    return lines.join('\n');
  }
}

/** A compact one-line stack: "file:3:5-9 in function <f>, file:9:1-12", innermost first, at most 8 entries. */
export function formatStack(frames: readonly Frame[]): string {
  const dedup: string[] = [];
  let last = '';
  for (const f of frames) {
    if (f.loc === undefined) continue;
    const loc = formatLoc(f.loc);
    if (loc === last) continue; // a field or a thunk evaluated where it is used: one entry
    last = loc;
    dedup.push(f.name === '' || f.name === 'object <anonymous>' ? loc : `${loc} in ${f.name}`);
  }
  return dedup.length > 8 ? [...dedup.slice(0, 4), '...', ...dedup.slice(-3)].join(', ') : dedup.join(', ');
}
