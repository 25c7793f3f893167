import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Above the 60 s default deadline of a wait (test/support/wait.ts), so that a wait that times out says what it was
    // waiting for.
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // Most test files spend their time waiting on timers and child processes (leases of seconds, tconfd runs), not on
    // the CPU: three at a time on a 2-core CI machine (vitest's default would be one).
    maxWorkers: 3,
    reporters: ['default'],
  },
});
