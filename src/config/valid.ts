/**
 * Whether a parsed config file is valid, checked against schema/tconfd.schema.json: the JSON Schema that
 * `npm run schema` generates from the zod schema (./schema.ts, the single source of truth; a test checks the file is
 * current), plus the one rule JSON Schema cannot say, no NUL character in any string or key (the zod schema's
 * refinements). Building the zod schema costs several milliseconds of every start; this check costs microseconds. zod
 * is still what says what is wrong with a file that is not valid (load.ts), and what decides: a file this check does
 * not pass goes to zod. test/core/valid.test.ts holds both to the same answer.
 *
 * Only the keywords the generated schema uses are understood; a schema with any other one makes every file go to zod.
 */
import schema from '../../schema/tconfd.schema.json' with { type: 'json' };

interface Node {
  readonly type?: string;
  readonly properties?: Readonly<Record<string, Node>>;
  readonly additionalProperties?: Node | boolean;
  readonly propertyNames?: Node;
  readonly pattern?: string;
  readonly minLength?: number;
  readonly enum?: readonly unknown[];
}

const KNOWN = new Set(['$schema', 'title', 'description', 'type', 'properties', 'additionalProperties', 'propertyNames', 'pattern', 'minLength', 'enum']);
const patterns = new Map<string, RegExp>();

/** True when `value` is a valid config file (what zod would accept); false when zod must look at it. */
export function isValidConfig(value: unknown): boolean {
  return check(value, schema as Node);
}

function check(value: unknown, node: Node): boolean {
  for (const key of Object.keys(node)) if (!KNOWN.has(key)) return false;
  if (node.enum !== undefined && !node.enum.includes(value)) return false;
  switch (node.type) {
    case 'string':
      return typeof value === 'string' && checkString(value, node);
    case 'boolean':
      return typeof value === 'boolean';
    case 'object':
      return checkObject(value, node);
    default:
      return false;
  }
}

function checkString(value: string, node: Node): boolean {
  if (value.includes('\0')) return false;
  // minLength counts code points; the generated schema only says 1, where code points and UTF-16 units agree
  if (node.minLength !== undefined && [...value].length < node.minLength) return false;
  if (node.pattern !== undefined) {
    let re = patterns.get(node.pattern);
    if (re === undefined) patterns.set(node.pattern, (re = new RegExp(node.pattern, 'u')));
    if (!re.test(value)) return false;
  }
  return true;
}

function checkObject(value: unknown, node: Node): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const [key, v] of Object.entries(value)) {
    if (node.propertyNames !== undefined ? !check(key, node.propertyNames) : key.includes('\0')) return false;
    const known = node.properties !== undefined && Object.hasOwn(node.properties, key) ? node.properties[key] : undefined;
    if (known !== undefined) {
      if (!check(v, known)) return false;
    } else if (node.additionalProperties === undefined || node.additionalProperties === false) {
      return false;
    } else if (node.additionalProperties !== true && !check(v, node.additionalProperties)) {
      return false;
    }
  }
  return true;
}
