/**
 * Native functions available to every template through std.native(NAME):
 *   sha256(text)                      -> lowercase hex SHA-256 of the UTF-8 text
 *   bcrypt(password, cost)            -> a bcrypt hash ("$2y$" form, as Apache's htpasswd -B writes; nginx accepts it)
 *   htpasswd(user, password, cost)    -> one "user:$2y$..." line for an nginx/Apache basic-auth file
 * cost is 4..15 (10 is htpasswd's default; pass null for it). bcrypt salts are random, so the same password would give a
 * new hash, a "changed" file and a reload at every rendering: a hash is remembered (in memory, keyed by a SHA-256 of
 * cost and password) and reused while the password stays the same.
 */
import { createHash } from 'node:crypto';
import bcryptjs from 'bcryptjs';
import type { Jsonnet, JsonnetPrimitiveValue } from '@hanazuki/node-jsonnet';

const hashes = new Map<string, string>();

function bcryptHash(password: JsonnetPrimitiveValue, cost: JsonnetPrimitiveValue): string {
  if (typeof password !== 'string') throw new Error('bcrypt: the password must be a string');
  const rounds = cost === null || cost === undefined ? 10 : Number(cost);
  if (!Number.isInteger(rounds) || rounds < 4 || rounds > 15) throw new Error('bcrypt: cost must be a whole number from 4 to 15');
  const key = createHash('sha256').update(`${rounds}\0${password}`).digest('hex');
  let hash = hashes.get(key);
  if (hash === undefined) {
    hash = bcryptjs.hashSync(password, rounds).replace(/^\$2[ab]\$/, '$2y$');
    hashes.set(key, hash);
  }
  return hash;
}

export function registerNatives(vm: Jsonnet): void {
  vm.nativeCallback('sha256', (text) => createHash('sha256').update(String(text ?? '')).digest('hex'), 'text');
  vm.nativeCallback('bcrypt', (password, cost) => bcryptHash(password, cost), 'password', 'cost');
  vm.nativeCallback(
    'htpasswd',
    (user, password, cost) => {
      if (typeof user !== 'string' || user === '' || user.includes(':')) {
        throw new Error('htpasswd: the user must be a non-empty string without ":"');
      }
      return `${user}:${bcryptHash(password, cost)}`;
    },
    'user',
    'password',
    'cost',
  );
}
