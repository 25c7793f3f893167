#!/usr/bin/env node
// The example's application (/usr/bin/pipeline in the image): it knows nothing about Vault. It reads the file
// tconfd rendered (APP_CONFIG, default /run/pipeline/database.json), connects to MySQL/MariaDB with the user and
// password in it, creates its table if needed and inserts a row every APP_INTERVAL ms (default 2000), each row
// recording the user that wrote it.
// SIGHUP (tconfd: the credentials were rotated): read the file again, connect as the new user, then close the old
// connection; rows keep coming, now from the new user. SIGTERM/SIGINT: close and exit with APP_EXIT_STATUS (0).
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';

const file = process.env.APP_CONFIG ?? '/run/pipeline/database.json';
const interval = Number(process.env.APP_INTERVAL ?? 2000);
const exitStatus = Number(process.env.APP_EXIT_STATUS ?? 0);
const log = (msg) => process.stdout.write(`app: ${msg}\n`);

let conn; // the current connection
let user; // its MySQL user
let timer;
let stopping = false;

async function connect() {
  const conf = JSON.parse(readFileSync(file, 'utf8'));
  if (conn && conf.user === user) return log(`${file} unchanged, still ${user}`);
  const next = await mysql.createConnection({
    host: conf.host,
    port: conf.port,
    user: conf.user,
    password: conf.password,
    database: conf.database,
  });
  next.on('error', (err) => log(`connection error (${conf.user}): ${err.message}`));
  await next.query(`CREATE TABLE IF NOT EXISTS events (
    id INT AUTO_INCREMENT PRIMARY KEY,
    username VARCHAR(80) NOT NULL,
    at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)`);
  const old = conn;
  [conn, user] = [next, conf.user];
  log(`connected as ${user}`);
  await old?.end().catch(() => undefined);
}

async function insert() {
  if (stopping) return;
  try {
    const [res] = await conn.query(`INSERT INTO events (username) VALUES (SUBSTRING_INDEX(CURRENT_USER(), '@', 1))`);
    const [rows] = await conn.query('SELECT username FROM events WHERE id = ?', [res.insertId]);
    log(`row ${res.insertId} written by ${rows[0].username}`);
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
    await conn?.end().catch(() => undefined);
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
