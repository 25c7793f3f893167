/**
 * tconfd as PID 1 (the container's entrypoint without an init): Node reaps its own children, but it cannot reap
 * orphaned grandchildren (processes the application forked and abandoned), which the kernel reparents to PID 1. They
 * would stay zombies. Warn once and point to a real init.
 */
import type { Logger } from '../log.js';

let warned = false;

/** Warn once per process when running as PID 1. Returns true when it warned (this call). */
export function warnIfPid1(logger: Logger, pid: number = process.pid): boolean {
  if (pid !== 1 || warned) return false;
  warned = true;
  logger.warn(
    'tconfd runs as PID 1: it cannot reap orphaned grandchildren of the command (they would stay zombies); ' +
      'run it under an init: `docker run --init`, tini (ENTRYPOINT ["tini", "--", "tconfd", ...]) or s6-overlay',
  );
  return true;
}
