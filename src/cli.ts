import { setFlagsFromString } from 'node:v8';
import { main } from './main.js';

// undici parses HTTP with llhttp compiled to WebAssembly; V8's optimising WebAssembly tier costs ~35 MB of memory and
// ~40 ms of CPU at the first request, for a parser that handles a few small Vault answers a minute. The baseline
// compiler (Liftoff) is plenty. Set before the Vault client is loaded; it touches nothing else.
setFlagsFromString('--liftoff-only');

// The environment as given, for the command and the hooks: without what dist/cli.js added for tconfd itself.
const env = { ...process.env };
for (const name of (globalThis as { __tconfdAddedEnv?: string[] }).__tconfdAddedEnv ?? []) delete env[name];

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tconfd: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
