/**
 * bench/snapshot.ts's V8 startup snapshot of tconfd: every module main.ts loads is evaluated when the snapshot is
 * built (`node --snapshot-blob B --build-snapshot`), and the deserialised process runs what dist/cli.js and src/cli.ts
 * run (thread pool size, V8 flags, signals, main). Run as `node --snapshot-blob B dist/cli.js ARGS...`.
 */
import * as v8 from 'node:v8';
import { main, processIO } from '../src/main.js';
import { Lifecycle } from '../src/runtime/lifecycle.js';

v8.startupSnapshot.setDeserializeMainFunction(() => {
  globalThis.__tconfdLoaderStart = process.hrtime.bigint();
  const added = process.env.UV_THREADPOOL_SIZE === undefined;
  if (added) process.env.UV_THREADPOOL_SIZE = '2';
  v8.setFlagsFromString('--liftoff-only --semi-space-growth-factor=1');
  const lifecycle = Lifecycle.install(process);
  const env = { ...process.env };
  if (added) delete env.UV_THREADPOOL_SIZE;
  void main(process.argv.slice(2), processIO({ env, lifecycle })).then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(), 3_000).unref();
  });
});
