/**
 * Native functions available to every template through std.native(NAME):
 *   sha256(text)                      -> lowercase hex SHA-256 of the UTF-8 text
 *   bcrypt(password, cost)            -> a bcrypt hash ("$2y$" form, as Apache's htpasswd -B writes; nginx accepts it)
 *   htpasswd(user, password, cost)    -> one "user:$2y$..." line for an nginx/Apache basic-auth file
 *   base64Bytes(data)                 -> binary file content: as a file's whole value, the decoded bytes are written
 *                                        exactly (a PKCS#12 keystore, a DER certificate, a Kerberos keytab...)
 * cost is 4..15 (10 is htpasswd's default; pass null for it). bcrypt salts are random, so the same password would give a
 * new hash, a "changed" file and a reload at every rendering: a hash is remembered (in memory, keyed by a SHA-256 of
 * cost and password) and reused while the password stays the same.
 */
import bcryptjs from 'bcryptjs';
import { nodeCrypto } from '../builtins.js';
import { JObject, RuntimeError, nativeArgs, nativeFunction, type JFunction, type Value } from './jsonnet/index.js';

const hashes = new Map<string, string>();

export function bcryptHash(password: Value, cost: Value): string {
  if (typeof password !== 'string') throw new Error('bcrypt: the password must be a string');
  const rounds = cost === null || cost === undefined ? 10 : Number(cost);
  if (!Number.isInteger(rounds) || rounds < 4 || rounds > 15) throw new Error('bcrypt: cost must be a whole number from 4 to 15');
  const key = nodeCrypto().createHash('sha256').update(`${rounds}\0${password}`).digest('hex');
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = bcryptjs.hashSync(password, rounds).replace(/^\$2[ab]\$/, '$2y$');
    hashes.set(key, hash);
  }
  return hash;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Standard base64 (RFC 4648 §4, padded); line breaks and spaces are ignored, anything else is an error. */
export function decodeBase64Strict(data: string): Buffer | undefined {
  const compact = data.replace(/[\r\n\t ]+/g, '');
  if (!BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** Errors of native functions never quote an argument; a secret-derived argument makes the result secret-derived. */
function native(name: string, params: string[], impl: (args: Value[]) => Value): JFunction {
  return nativeFunction(name, params, (args, loc) => {
    const values = nativeArgs(args);
    try {
      return impl(values);
    } catch (err) {
      if (err instanceof RuntimeError) throw err;
      throw new RuntimeError((err as Error).message, loc);
    }
  });
}

export function nativeFunctions(): Map<string, JFunction> {
  return new Map([
    ['sha256', native('sha256', ['text'], ([text]) => nodeCrypto().createHash('sha256').update(String(text ?? '')).digest('hex'))],
    ['bcrypt', native('bcrypt', ['password', 'cost'], ([password, cost]) => bcryptHash(password ?? null, cost ?? null))],
    [
      'htpasswd',
      native('htpasswd', ['user', 'password', 'cost'], ([user, password, cost]) => {
        if (typeof user !== 'string' || user === '' || user.includes(':')) {
          throw new Error('htpasswd: the user must be a non-empty string without ":"');
        }
        return `${user}:${bcryptHash(password ?? null, cost ?? null)}`;
      }),
    ],
    [
      'base64Bytes',
      native('base64Bytes', ['data'], ([data]) => {
        if (typeof data !== 'string') throw new Error("std.native('base64Bytes'): the data must be a string");
        const bytes = decodeBase64Strict(data);
        if (bytes === undefined) throw new Error("std.native('base64Bytes'): the data is not valid base64");
        const o = new JObject([{ fields: new Map(), env: [], locals: [], asserts: [] }]);
        o.bytes = bytes;
        return o;
      }),
    ],
  ]);
}
