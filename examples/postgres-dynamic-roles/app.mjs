#!/usr/bin/env node
// The example's application (/usr/bin/application in the image): it knows nothing about Vault. It reads the file
// tconfd rendered (APP_CONFIG, default /run/application/database.json), connects to db1 with the role and password
// in it, creates its table if needed and inserts a row every APP_INTERVAL ms (default 2000), each row recording the
// role that wrote it.
// SIGHUP (tconfd: the credentials were rotated): read the file again, connect with the new role, then close the old
// connection; rows keep coming, now from the new role. SIGTERM/SIGINT: close and exit with APP_EXIT_STATUS (0).
import { readFileSync } from 'node:fs';
import pg from 'pg';

const file = process.env.APP_CONFIG ?? '/run/application/database.json';
const interval = Number(process.env.APP_INTERVAL ?? 2000);
const exitStatus = Number(process.env.APP_EXIT_STATUS ?? 0);
const log = (msg) => process.stdout.write(`app: ${msg}\n`);

let client; // the current connection
let user; // its role
let timer;
let stopping = false;

async function connect() {
  const conf = JSON.parse(readFileSync(file, 'utf8'));
  if (client && conf.user === user) return log(`${file} unchanged, still ${user}`);
  // (conf.dsn is the same for libpq clients: psql "$(jq -r .dsn database.json)")
  const next = new pg.Client({ host: conf.host, port: conf.port, database: conf.dbname, user: conf.user, password: conf.password });
  next.on('error', (err) => log(`connection error (${conf.user}): ${err.message}`));
  await next.connect();
  // The first role to get here creates the table; the event trigger gives it to db1_grp at once.
  await next.query(`CREATE TABLE IF NOT EXISTS visits (
    id serial PRIMARY KEY,
    username text NOT NULL DEFAULT current_user,
    at timestamptz NOT NULL DEFAULT now())`);
  const old = client;
  [client, user] = [next, conf.user];
  log(`connected as ${user}`);
  await old?.end().catch(() => undefined);
}

async function insert() {
  if (stopping) return;
  try {
    const { rows } = await client.query('INSERT INTO visits DEFAULT VALUES RETURNING id, username');
    log(`row ${rows[0].id} written by ${rows[0].username}`);
  } catch (err) {
    log(`insert failed as ${user}: ${err.message}`);
  }
}

// Inserts, reloads and the stop run one after the other: a reload never overlaps an insert.
let queue = Promise.resolve();
const serial = (fn) => (queue = queue.then(fn).catch((err) => log(`reload failed: ${err.message}`)));

function stop() {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  setTimeout(() => process.exit(exitStatus), 5000).unref(); // a hung query must not hold the exit
  serial(async () => {
    await client?.end().catch(() => undefined);
    log(`stopped, exit status ${exitStatus}`);
    process.exit(exitStatus);
  });
}

process.on('SIGHUP', () =>
  serial(async () => {
    if (stopping) return;
    log('SIGHUP: reading the configuration again');
    await connect();
  }),
);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

try {
  queue = connect(); // a SIGHUP arriving meanwhile waits for it
  await queue;
} catch (err) {
  log(`cannot start: ${err.message}`);
  process.exit(1);
}
await serial(insert);
timer = setInterval(() => serial(insert), interval);
