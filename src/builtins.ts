/**
 * Node modules that a start may not need, loaded at their first use (each costs a few milliseconds and some memory
 * at every start): crypto (temporary file names, sha256, std.md5), http (the health endpoint), child_process (exe
 * secrets).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const nodeCrypto = (): typeof import('node:crypto') => require('node:crypto') as typeof import('node:crypto');
export const nodeHttp = (): typeof import('node:http') => require('node:http') as typeof import('node:http');
export const nodeChildProcess = (): typeof import('node:child_process') => require('node:child_process') as typeof import('node:child_process');
