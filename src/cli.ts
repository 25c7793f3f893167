import { main } from './main.js';

// dist/cli.js, the entry point (scripts/build.mjs), has set up the process before this runs: libuv's thread pool size
// and V8's Liftoff-only WebAssembly compilation for undici's HTTP parser.

// The environment as given, for the command and the hooks: without what dist/cli.js added for tconfd itself.
const env = { ...process.env };
for (const name of (globalThis as { __tconfdAddedEnv?: string[] }).__tconfdAddedEnv ?? []) delete env[name];

const setCommandLine = (args: readonly string[]): void => {
  // Node rewrites the whole argv area, which is what /proc/PID/cmdline shows.
  process.title = [...process.argv.slice(0, 2), ...args].join(' ');
};

main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env, setCommandLine }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`tconfd: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 70;
  },
);
