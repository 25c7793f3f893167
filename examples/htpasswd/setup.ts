/**
 * run.sh's Vault set-up, against the Vault at VAULT_ADDR (VAULT_TOKEN: an admin token):
 *   node scripts/run-ts.mjs examples/htpasswd/setup.ts init OUT    KV secret (users alice and bob), policy, and
 *                                                                   OUT/token (mode 0600) for tconfd
 *   PASSWORD=... node scripts/run-ts.mjs examples/htpasswd/setup.ts set USER   change USER's password in Vault
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configureHtpasswd, setPassword } from './vault-config.js';

const [cmd, arg] = process.argv.slice(2);
const addr = process.env['VAULT_ADDR'];
const rootToken = process.env['VAULT_TOKEN'];
if (!addr || !rootToken || !arg || (cmd !== 'init' && cmd !== 'set')) {
  console.error('usage: VAULT_ADDR=... VAULT_TOKEN=... setup.ts init OUT | PASSWORD=... setup.ts set USER');
  process.exit(2);
}
const target = { addr, rootToken };
if (cmd === 'init') {
  const { token } = await configureHtpasswd(target, { alice: 'alice-first-password', bob: 'bob-password' });
  writeFileSync(join(arg, 'token'), token + '\n', { mode: 0o600 });
  console.log('Vault: secret/data/web/basic-auth = {alice, bob}, policy "web-basic-auth", a token with that policy');
} else {
  const password = process.env['PASSWORD'];
  if (!password) {
    console.error('PASSWORD is not set');
    process.exit(2);
  }
  await setPassword(target, arg, password);
  console.log(`Vault: new password for ${arg} in secret/data/web/basic-auth (a new KV v2 version)`);
}
