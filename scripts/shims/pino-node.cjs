// Two Node modules that pino and sonic-boom require at load time for one small use each, and that cost ~2.5 ms of
// every start to load (scripts/build.mjs points those two packages' requires here, and no one else's):
// - worker_threads, for isMainThread: tconfd logs from its main thread only;
// - assert, for one argument check in sonic-boom.
'use strict';
exports.worker_threads = { isMainThread: true };
exports.assert = function assert(value, message) {
  if (!value) throw new Error(message ?? 'assertion failed');
};
