#!/usr/bin/env node
// A client for run.sh: connects to the server every second, verifying its certificate against the CA, and prints the
// certificate it is served whenever that changes (and the server's pid, to show it was reloaded, not restarted).
//   node examples/pki-tls/client.mjs PORT CA.pem
import { readFileSync } from 'node:fs';
import { request } from 'node:https';

const [port, caFile] = process.argv.slice(2);
if (!port || !caFile) {
  console.error('usage: client.mjs PORT CA.pem');
  process.exit(2);
}
const ca = readFileSync(caFile);
const say = (msg) => process.stdout.write(`[client ${new Date().toISOString().slice(11, 23)}] ${msg}\n`);

let last;
function probe() {
  const req = request({ host: '127.0.0.1', servername: 'localhost', port: Number(port), path: '/', ca, agent: false }, (res) => {
    const cert = res.socket.getPeerCertificate();
    let body = '';
    res.setEncoding('utf8').on('data', (d) => (body += d));
    res.on('end', () => {
      if (cert.serialNumber !== last) {
        const left = Math.round((Date.parse(cert.valid_to) - Date.now()) / 1000);
        say(`https://localhost:${port}/ presents serial ${cert.serialNumber}, verified against the CA, expires in ${left}s; says: ${body.trim()}`);
        last = cert.serialNumber;
      }
    });
  });
  req.on('error', (err) => say(`https://localhost:${port}/: ${err.message}`));
  req.end();
}
probe();
setInterval(probe, 1000);
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
