#!/usr/bin/env node
// Applies vault/requests.json (the requests of vault/setup.sh as HTTP API calls) to the Vault at VAULT_ADDR with
// VAULT_TOKEN, without the vault CLI. `${NAME}` and `${NAME:-default}` in string values come from the environment.
//   VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root DB_HOST=127.0.0.1 DB_PORT=5432 node vault/apply.mjs
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const file = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'requests.json');
const addr = (process.env.VAULT_ADDR ?? '').replace(/\/+$/, '').replace(/\/v1$/, '');
const token = process.env.VAULT_TOKEN ?? '';
if (!addr || !token) {
  console.error('apply.mjs: VAULT_ADDR and VAULT_TOKEN must be set');
  process.exit(2);
}

function substitute(value) {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g, (_, name, dflt) => {
      const v = process.env[name];
      if (v !== undefined && v !== '') return v;
      if (dflt !== undefined) return dflt;
      throw new Error(`${name} is not set`);
    });
  }
  if (Array.isArray(value)) return value.map(substitute);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
  return value;
}

for (const { method, path, body } of JSON.parse(readFileSync(file, 'utf8')).requests) {
  const res = await fetch(`${addr}/v1/${path}`, {
    method,
    headers: { 'X-Vault-Token': token, 'Content-Type': 'application/json' },
    body: JSON.stringify(substitute(body ?? {})),
  });
  const text = await res.text();
  if (!res.ok) {
    console.error(`apply.mjs: ${method} /v1/${path} answered ${res.status}: ${text.trim()}`);
    process.exit(1);
  }
  console.log(`${method} /v1/${path}: ${res.status}`);
}
