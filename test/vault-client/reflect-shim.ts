/**
 * The few Reflect metadata functions that @peculiar/x509 (through tsyringe) needs, so that the tests can generate
 * certificates without installing reflect-metadata. Import this before @peculiar/x509.
 */
type Key = unknown;
const store = new WeakMap<object, Map<PropertyKey | undefined, Map<Key, unknown>>>();

function own(target: object, prop: PropertyKey | undefined, create: boolean): Map<Key, unknown> | undefined {
  let byProp = store.get(target);
  if (byProp === undefined) {
    if (!create) return undefined;
    byProp = new Map();
    store.set(target, byProp);
  }
  let m = byProp.get(prop);
  if (m === undefined && create) {
    m = new Map();
    byProp.set(prop, m);
  }
  return m;
}

const R = Reflect as unknown as Record<string, unknown>;
if (typeof R['getMetadata'] !== 'function') {
  R['defineMetadata'] = (key: Key, value: unknown, target: object, prop?: PropertyKey): void => {
    own(target, prop, true)!.set(key, value);
  };
  R['getOwnMetadata'] = (key: Key, target: object, prop?: PropertyKey): unknown => own(target, prop, false)?.get(key);
  R['hasOwnMetadata'] = (key: Key, target: object, prop?: PropertyKey): boolean =>
    own(target, prop, false)?.has(key) ?? false;
  R['getMetadata'] = (key: Key, target: object, prop?: PropertyKey): unknown => {
    for (let t: object | null = target; t !== null; t = Object.getPrototypeOf(t) as object | null) {
      const m = own(t, prop, false);
      if (m?.has(key)) return m.get(key);
    }
    return undefined;
  };
  R['hasMetadata'] = (key: Key, target: object, prop?: PropertyKey): boolean =>
    (R['getMetadata'] as (k: Key, t: object, p?: PropertyKey) => unknown)(key, target, prop) !== undefined;
  R['metadata'] =
    (key: Key, value: unknown) =>
    (target: object, prop?: PropertyKey): void => {
      own(target, prop, true)!.set(key, value);
    };
}

export {};
