/**
 * Readiness notification, s6 style (`notification-fd`): the supervisor (s6-supervise, or anything that reads a pipe)
 * gives tconfd a file descriptor; after the first complete rendering tconfd writes one newline to it and closes it.
 * See https://skarnet.org/software/s6/notifywhenup.html.
 */
import * as fs from 'node:fs';

export class ReadinessNotifier {
  readonly fd: number;
  #done = false;

  /** Throws when fd is not an integer >= 3 (0-2 are stdio) or is not open. */
  constructor(fd: number) {
    if (!Number.isInteger(fd) || fd < 3) {
      throw new Error(
        `invalid readiness notification fd ${String(fd)}: must be an integer >= 3 (0, 1 and 2 are stdin, stdout and stderr)`,
      );
    }
    try {
      fs.fstatSync(fd);
    } catch (err) {
      throw new Error(
        `readiness notification fd ${fd} is not open (${(err as NodeJS.ErrnoException).code ?? String(err)}): ` +
          'the process that starts tconfd must pass it open',
        { cause: err },
      );
    }
    this.fd = fd;
  }

  /** True once notify() has run. */
  get notified(): boolean {
    return this.#done;
  }

  /**
   * Tell the supervisor tconfd is ready: write "\n" and close the fd. Only the first call does anything, so later
   * calls never write to a closed fd or to another file that reused its number. Returns true when it wrote.
   */
  notify(): boolean {
    if (this.#done) return false;
    this.#done = true;
    try {
      fs.writeSync(this.fd, '\n');
    } finally {
      // Closed even when the write failed (EPIPE: the reader went away), so that the number is not written to later.
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed by someone else: nothing to do
      }
    }
    return true;
  }
}
