// The first module evaluated: it takes over every signal before anything else runs (SIGUSR1 would otherwise open
// Node's inspector; SIGTERM, SIGINT and SIGHUP would end tconfd without revoking what it obtained). Everything else is
// loaded afterwards, by the dynamic import below.
import { Lifecycle } from './runtime/lifecycle.js';

const lifecycle = Lifecycle.install(process);

// dist/cli.js, the entry point (scripts/build.mjs), has set up the process before this runs: libuv's thread pool size
// and V8's Liftoff-only WebAssembly compilation for undici's HTTP parser.

// The environment as given, for the command and the hooks: without what dist/cli.js added for tconfd itself.
const env = { ...process.env };
for (const name of (globalThis as { __tconfdAddedEnv?: string[] }).__tconfdAddedEnv ?? []) delete env[name];

const setCommandLine = (args: readonly string[]): void => {
  // Node rewrites the whole argv area, which is what /proc/PID/cmdline shows.
  process.title = [...process.argv.slice(0, 2), ...args].join(' ');
};

/**
 * After main's clean-up, the exit is not held up by a stray handle: after this grace it is forced, and when a file
 * operation is still blocked in the kernel (which process.exit() would wait for), by a signal (runtime/exit.ts).
 */
const EXIT_GRACE_MS = 3_000;

const finish = async (code: number): Promise<void> => {
  process.exitCode = code;
  const [{ finalExit, processExitDeps }, { pendingInThreadPool }] = await Promise.all([import('./runtime/exit.js'), import('./thread-pool.js')]);
  setTimeout(() => finalExit(code, processExitDeps(pendingInThreadPool)), EXIT_GRACE_MS).unref();
};

import('./main.js')
  .then(({ main, processIO }) => main(process.argv.slice(2), processIO({ env, lifecycle, setCommandLine })))
  .then(
    (code) => finish(code),
    (err: unknown) => {
      process.stderr.write(`tconfd: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
      return finish(70);
    },
  );
