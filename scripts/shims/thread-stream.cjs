// pino's transports run in worker threads (thread-stream); tconfd uses none (JSON to fd 2, or pino-pretty as a
// synchronous stream), so the bundle leaves thread-stream out (scripts/build.mjs aliases it here).
'use strict';
module.exports = class ThreadStream {
  constructor() {
    throw new Error('pino transports are not available in tconfd');
  }
};
