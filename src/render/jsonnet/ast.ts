/** Jsonnet's abstract syntax, as parsed (before the compiler resolves variables). s/e: source offsets. */

interface At {
  readonly s: number;
  readonly e: number;
}

export type Node =
  | (At & { readonly k: 'null' | 'true' | 'false' | 'self' | 'dollar' })
  | (At & { readonly k: 'num'; readonly v: number })
  | (At & { readonly k: 'str'; readonly v: string })
  | (At & { readonly k: 'var'; readonly name: string })
  | (At & { readonly k: 'arr'; readonly items: readonly Node[] })
  | (At & { readonly k: 'arrcomp'; readonly body: Node; readonly specs: readonly Spec[] })
  | (At & { readonly k: 'obj'; readonly members: readonly Member[] })
  | (At & {
      readonly k: 'objcomp';
      readonly locals: readonly Bind[];
      readonly key: Node;
      readonly value: Node;
      readonly plus: boolean;
      readonly hide: Hide;
      readonly specs: readonly Spec[];
    })
  | (At & { readonly k: 'index'; readonly target: Node; readonly index: Node; readonly id: string | undefined })
  | (At & { readonly k: 'superindex'; readonly index: Node; readonly id: string | undefined })
  | (At & { readonly k: 'insuper'; readonly name: Node })
  | (At & { readonly k: 'slice'; readonly target: Node; readonly from: Node | undefined; readonly to: Node | undefined; readonly step: Node | undefined })
  | (At & { readonly k: 'apply'; readonly fn: Node; readonly args: readonly Node[]; readonly named: readonly NamedArg[]; readonly tailstrict: boolean })
  | (At & { readonly k: 'applybrace'; readonly left: Node; readonly obj: Node })
  | (At & { readonly k: 'bin'; readonly op: string; readonly l: Node; readonly r: Node })
  | (At & { readonly k: 'un'; readonly op: string; readonly x: Node })
  | (At & { readonly k: 'if'; readonly cond: Node; readonly then: Node; readonly else: Node | undefined })
  | (At & { readonly k: 'fn'; readonly params: readonly Param[]; readonly body: Node; readonly name?: string })
  | (At & { readonly k: 'local'; readonly binds: readonly Bind[]; readonly body: Node })
  | (At & { readonly k: 'assert'; readonly cond: Node; readonly msg: Node | undefined; readonly rest: Node })
  | (At & { readonly k: 'error'; readonly x: Node })
  | (At & { readonly k: 'import' | 'importstr' | 'importbin'; readonly path: string });

/** 0: `:` (inherit), 1: `::` (hidden), 2: `:::` (forced visible) */
export type Hide = 0 | 1 | 2;

export interface Param extends At {
  readonly name: string;
  readonly def: Node | undefined;
}
export interface NamedArg extends At {
  readonly name: string;
  readonly value: Node;
}
export interface Bind extends At {
  readonly name: string;
  readonly body: Node;
}
export type Spec = (At & { readonly k: 'for'; readonly name: string; readonly arr: Node }) | (At & { readonly k: 'if'; readonly cond: Node });

export type FieldName = { readonly k: 'fixed'; readonly v: string } | { readonly k: 'expr'; readonly x: Node };

export type Member =
  | (At & { readonly k: 'field'; readonly name: FieldName; readonly hide: Hide; readonly plus: boolean; readonly body: Node })
  | (At & { readonly k: 'local'; readonly bind: Bind })
  | (At & { readonly k: 'assert'; readonly cond: Node; readonly msg: Node | undefined });
