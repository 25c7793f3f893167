/**
 * run.sh's Vault set-up: configures the Vault at VAULT_ADDR (VAULT_TOKEN: an admin token) for the example and writes
 * OUT/ca.pem (the root CA, for clients) and OUT/token (a token with only the web-tls policy, mode 0600, for tconfd).
 *   node scripts/run-ts.mjs examples/pki-tls/setup.ts OUT
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configurePki } from './vault-config.js';

const out = process.argv[2];
const addr = process.env['VAULT_ADDR'];
const rootToken = process.env['VAULT_TOKEN'];
if (!out || !addr || !rootToken) {
  console.error('usage: VAULT_ADDR=... VAULT_TOKEN=... node scripts/run-ts.mjs examples/pki-tls/setup.ts OUT');
  process.exit(2);
}
const { caPem, token } = await configurePki({ addr, rootToken });
writeFileSync(join(out, 'ca.pem'), caPem);
writeFileSync(join(out, 'token'), token + '\n', { mode: 0o600 });
console.log('Vault: pki/ with a root CA, role "web" (localhost, max 72h), policy "web-tls", a token with that policy');
