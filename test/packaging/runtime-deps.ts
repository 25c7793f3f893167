/**
 * What the built package loads from node_modules at run time, and which of those run an install script (a compiler
 * or a download at install time): shared by the package and Dockerfile tests.
 */
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';

/** Packages `require`d by name in a CommonJS bundle, other than Node's own modules. */
export function requiredPackages(code: string): string[] {
  const names = new Set<string>();
  for (const m of code.matchAll(/\brequire\(\s*["']([^"']+)["']\s*\)/g)) {
    const spec = m[1]!;
    if (spec.startsWith('node:') || spec.startsWith('.') || spec.startsWith('/') || builtinModules.includes(spec)) continue;
    names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return [...names].sort();
}

/**
 * Packages that `npm install --omit=dev` installs (the lockfile's non-dev entries) and that run an install script.
 */
export function runtimePackagesWithInstallScripts(root: string): string[] {
  const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; hasInstallScript?: boolean }>;
  };
  return Object.entries(lock.packages)
    .filter(([where, p]) => where !== '' && p.dev !== true && p.hasInstallScript === true)
    .map(([where]) => where.replace(/^.*node_modules\//, ''))
    .sort();
}

/**
 * The libjsonnet addon, while the built bundle (dist/tconfd.cjs, from `npm run build`) still loads it: until Jsonnet
 * is evaluated in TypeScript the code itself needs it, and no package can install without a compiler. Only this
 * addon, the project's test oracle, is waited for: any other native runtime dependency is an error. Empty once the
 * bundle no longer loads it (or when dist/ is not built).
 */
export function nativeStillLoaded(root: string): string[] {
  const bundle = path.join(root, 'dist', 'tconfd.cjs');
  if (!fs.existsSync(bundle)) return [];
  const loaded = new Set(requiredPackages(fs.readFileSync(bundle, 'utf8')));
  return runtimePackagesWithInstallScripts(root).filter((p) => p === JSONNET_ADDON && loaded.has(p));
}

const JSONNET_ADDON = '@hanazuki/node-jsonnet';
