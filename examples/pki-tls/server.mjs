#!/usr/bin/env node
// A tiny HTTPS service whose certificate and key tconfd renders from Vault's PKI engine. On SIGHUP (tconfd's reload
// signal) it reads them again and swaps them in with server.setSecureContext(): new connections get the new
// certificate, open ones keep theirs, and the process and its listening socket stay.
//   node examples/pki-tls/server.mjs DIR [PORT]     DIR holds cert.pem and key.pem (PORT default 8443, 0: any free port)
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';

// Signal handlers first, before anything that takes time (reading files, creating the server): tconfd sends SIGHUP
// whenever the files change, which can be before this process has finished starting (a short certificate, a change
// during startup), and a SIGHUP that finds no handler kills a Node.js process (status 129). A reload asked for
// before the server exists is done once it does; reloads asked for during a reload are coalesced into one more.
const say = (msg) => process.stdout.write(`[server ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);
let server; // the HTTPS server, once created
let reloadWanted = false;
let reloading = false;
process.on('SIGHUP', () => {
  reloadWanted = true;
  if (server) void reload();
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    say(`${sig}: closing`);
    if (!server) process.exit(0);
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
    setTimeout(() => process.exit(0), 1000).unref();
  });
}

const dir = process.argv[2];
const port = Number(process.argv[3] ?? process.env.PORT ?? 8443);
if (!dir) {
  console.error('usage: server.mjs DIR [PORT]');
  process.exit(2);
}

/** cert.pem (the certificate, then its CA) and key.pem, checked to belong together. */
function load() {
  const cert = readFileSync(join(dir, 'cert.pem'));
  const key = readFileSync(join(dir, 'key.pem'));
  const leaf = new X509Certificate(cert); // the first certificate of the file
  if (!leaf.checkPrivateKey(createPrivateKey(key))) throw new Error('key.pem does not match cert.pem');
  return { cert, key, serial: leaf.serialNumber, notAfter: leaf.validTo };
}

/**
 * load(), tried again for up to 2 s: each file is replaced atomically, but cert.pem and key.pem are two files, so a
 * reader can catch a new certificate with the old key while tconfd is writing them (its SIGHUP comes after both).
 */
async function loadPair() {
  for (let attempt = 1; ; attempt++) {
    try {
      return load();
    } catch (err) {
      if (attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

let current = await loadPair();
let reloads = 0;
server = createServer({ cert: current.cert, key: current.key }, (req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello over TLS: certificate serial ${current.serial}, server pid ${process.pid}, reloads ${reloads}\n`);
});

/** Read cert.pem and key.pem again and swap them in; once more if another SIGHUP came meanwhile. */
async function reload() {
  if (reloading) return;
  reloading = true;
  try {
    while (reloadWanted) {
      reloadWanted = false;
      try {
        const next = await loadPair();
        server.setSecureContext({ cert: next.cert, key: next.key });
        reloads += 1;
        say(`SIGHUP: new certificate serial ${next.serial} (was ${current.serial}), valid until ${next.notAfter}; same process, same socket`);
        current = next;
      } catch (err) {
        // Keep serving with the previous certificate rather than dying: tconfd re-renders and signals again.
        say(`SIGHUP: could not reload (${err.message}); keeping serial ${current.serial}`);
      }
    }
  } finally {
    reloading = false;
  }
}

server.listen(port, '127.0.0.1', () => {
  const { port: p } = server.address();
  say(`pid ${process.pid} listening on https://localhost:${p}/ with certificate serial ${current.serial}, valid until ${current.notAfter}`);
  // A SIGHUP that came while starting: the files may be newer than what was loaded above.
  if (reloadWanted) void reload();
});
