/**
 * `npm ci` and a production install compile nothing: no dependency is a native addon or runs an install script (but
 * esbuild's, a devDependency whose script only checks its prebuilt binary; allowScripts keeps it off), and libjsonnet
 * is not a dependency at all: it is the test oracle, installed on demand by `npm test` (scripts/oracle.mjs).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
  scripts: Record<string, string>;
};
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
  packages: Record<string, { hasInstallScript?: boolean; dev?: boolean; gypfile?: boolean }>;
};

describe('install', () => {
  it('has no native addon and no install script but esbuild (dev only, not allowed to run)', () => {
    const scripted = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript === true || p.gypfile === true)
      .map(([name, p]) => ({ name, dev: p.dev === true }));
    expect(scripted).toEqual([{ name: 'node_modules/esbuild', dev: true }]);
    expect(Object.entries(pkg.allowScripts ?? {}).filter(([, allowed]) => allowed)).toEqual([]);
  });

  it('libjsonnet is no dependency: the test command fetches it as the oracle', () => {
    expect(Object.keys({ ...pkg.dependencies, ...pkg.devDependencies })).not.toContain('@hanazuki/node-jsonnet');
    expect(Object.keys(lock.packages).filter((p) => p.includes('node-jsonnet') || p.includes('cmake-js'))).toEqual([]);
    expect(pkg.scripts.test).toMatch(/node scripts\/oracle\.mjs && vitest run$/);
  });
});
