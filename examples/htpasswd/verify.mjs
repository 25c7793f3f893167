#!/usr/bin/env node
// Checks a password against a user's line of an htpasswd file, as nginx does; the password comes from the
// environment (PASSWORD), not the command line.
//   PASSWORD=... node examples/htpasswd/verify.mjs FILE USER
import { readFileSync } from 'node:fs';
import bcrypt from 'bcryptjs';

const [file, user] = process.argv.slice(2);
const password = process.env.PASSWORD;
if (!file || !user || password === undefined) {
  console.error('usage: PASSWORD=... verify.mjs FILE USER');
  process.exit(2);
}
const line = readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
if (!line) {
  console.log(`${user}: no such user in ${file}`);
  process.exit(1);
}
const hash = line.slice(user.length + 1);
// `htpasswd -B` and tconfd write $2y$ (PHP's name for the fixed $2a$); bcryptjs compares $2b$: the same algorithm.
const ok = bcrypt.compareSync(password, hash.replace(/^\$2y\$/, '$2b$'));
console.log(`${user}: ${ok ? 'password accepted' : 'password REJECTED'} (${hash.slice(0, 7)}... bcrypt cost ${hash.slice(4, 6)})`);
process.exit(ok ? 0 : 1);
