#!/usr/bin/env node
// The demo's "application": the command tconfd supervises. It reads the JSON file tconfd renders (database
// credentials + lease facts + a KV value) at start and again on SIGHUP, and prints what it uses, with the password
// masked. SIGTERM/SIGINT: it says so and exits 0.
//   node examples/demo/app.mjs /path/to/app.json
import { readFileSync } from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: app.mjs CONFIG.json');
  process.exit(2);
}

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code, s) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const time = () => {
  const d = new Date();
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
};
// Lines shaped like tconfd's pretty logs: [12:00:00.000] APP: text
const say = (msg) => process.stdout.write(`${paint(2, `[${time()}]`)} ${paint(32, 'APP:')} ${msg}\n`);

/** Show that a password is there without showing it: its first 2 characters, then its length. */
function mask(password) {
  if (typeof password !== 'string' || password === '') return '(none)';
  return `${password.slice(0, 2)}${'*'.repeat(6)} (${password.length} chars)`;
}

function clock(iso) {
  if (!iso) return 'never';
  const d = new Date(iso);
  const inSec = Math.round((d.getTime() - Date.now()) / 1000);
  return `${d.toTimeString().slice(0, 8)} (in ${inSec}s)`;
}

let loads = 0;
function load(why) {
  let cfg;
  try {
    cfg = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    say(`${why}: cannot read ${file}: ${err.message}`);
    return;
  }
  loads += 1;
  say(
    `${why}: config #${loads}: user ${cfg.db.username}, password ${mask(cfg.db.password)}, ` +
      `lease ${cfg.lease.lease_duration}s expires ${clock(cfg.lease.expires_at)}, greeting "${cfg.greeting}"`,
  );
}

process.on('SIGHUP', () => load('SIGHUP, reloaded'));
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    say(`${sig}: stopping`);
    process.exit(0);
  });
}

say(`started (pid ${process.pid})`);
load('start');
setInterval(() => undefined, 1 << 30);
