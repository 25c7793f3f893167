/**
 * The Vault a test talks to: a real `vault server -dev` when a `vault` binary is on PATH, the stand-in otherwise.
 * Set TCONFD_VAULT_TARGET=standin (or =real) to force one. Tests configure either one through the same HTTP API
 * (see setup.ts); tests that need stand-in-only controls use requireStandin(), which skips them visibly against a
 * real Vault.
 *
 * TCONFD_VAULT_TARGET=opaque runs the stand-in as if it were a real Vault: kind 'real' (database roles on a
 * throwaway PostgreSQL cluster) and no inside view (`standin` undefined, requireStandin() skips). Without a vault
 * binary, it shows which tests would touch the stand-in's controls against a real Vault; it says nothing about
 * where a real Vault answers differently (test/vault/README.md lists that).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { startVaultStandin, type VaultStandin } from './standin/index.js';

export interface VaultTarget {
  readonly kind: 'standin' | 'real';
  /** `http://127.0.0.1:<port>` (no /v1). */
  readonly addr: string;
  readonly rootToken: string;
  /** Present only for the stand-in. */
  readonly standin?: VaultStandin;
  stop(): Promise<void>;
}

export interface VaultTargetOptions {
  /** Default: TCONFD_VAULT_TARGET, else `real` when `vault` is on PATH, else `standin` (`opaque`: see above). */
  kind?: 'standin' | 'real';
  rootToken?: string;
  /** How long to wait for a real Vault's sys/health (default 20 s). */
  startTimeoutMs?: number;
}

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

async function startRealVault(binary: string, rootToken: string, timeoutMs: number): Promise<VaultTarget> {
  const port = await freePort();
  const addr = `http://127.0.0.1:${port}`;
  const child = spawn(
    binary,
    ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VAULT_ADDR: addr } },
  );
  let output = '';
  const keep = (b: Buffer): void => {
    output = (output + b.toString('utf8')).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      process.off('exit', killOnExit);
      throw new Error(`vault server -dev exited with code ${child.exitCode}:\n${output}`);
    }
    try {
      const res = await fetch(`${addr}/v1/sys/health`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      process.off('exit', killOnExit);
      throw new Error(`vault server -dev did not become healthy within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    kind: 'real',
    addr,
    rootToken,
    async stop() {
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 2000);
      }
      process.off('exit', killOnExit);
    },
  };
}

export async function startVaultTarget(opts: VaultTargetOptions = {}): Promise<VaultTarget> {
  const rootToken = opts.rootToken ?? 'root';
  const env = process.env['TCONFD_VAULT_TARGET'];
  const wanted = opts.kind ?? (env === 'standin' || env === 'real' ? env : undefined);
  const binary = findOnPath('vault');
  if (wanted === 'real' && !binary) throw new Error('a real Vault was asked for but there is no `vault` binary on PATH');
  if (binary && wanted !== 'standin') return startRealVault(binary, rootToken, opts.startTimeoutMs ?? 20_000);
  const standin = await startVaultStandin({ rootToken });
  if (opts.kind === undefined && env === 'opaque') return { kind: 'real', addr: standin.addr, rootToken, stop: () => standin.stop() };
  return { kind: 'standin', addr: standin.addr, rootToken, standin, stop: () => standin.stop() };
}

/**
 * The stand-in of a target, for tests that need its controls (fault injection, request counts, inspection).
 * Against a real Vault this warns visibly and skips the test through ctx.skip().
 */
export function requireStandin(target: VaultTarget, ctx: { skip: (note?: string) => void }, what: string): VaultStandin {
  if (!target.standin) {
    const msg = `skipping "${what}": it needs the Vault stand-in (fault injection / inspection), not a real Vault`;
    console.warn(msg);
    ctx.skip(msg);
    throw new Error('unreachable: ctx.skip() returned');
  }
  return target.standin;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
export interface VaultApiResult {
  status: number;
  /** Parsed JSON; null for an empty body; a string for a non-JSON body. */
  body: any;
}

export type VaultHttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'LIST' | 'HEAD';

export type VaultApi = (
  method: VaultHttpMethod,
  path: string,
  body?: unknown,
  /** Default: the root token; null sends no token. */
  token?: string | null,
) => Promise<VaultApiResult>;

/** A small client for test setup: `api('POST', 'sys/mounts/kv', {type: 'kv'})`. Paths may start with /v1/. */
export function vaultApi(target: Pick<VaultTarget, 'addr' | 'rootToken'>): VaultApi {
  return async (method, path, body, token) => {
    const p = path.replace(/^\/+/, '').replace(/^v1\//, '');
    const headers: Record<string, string> = {};
    const tok = token === undefined ? target.rootToken : token;
    if (tok !== null) headers['X-Vault-Token'] = tok;
    let payload: string | undefined;
    if (body !== undefined && method !== 'GET' && method !== 'HEAD') {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const res = await fetch(`${target.addr}/v1/${p}`, { method, headers, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let parsed: any = null;
    if (text.trim() !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    return { status: res.status, body: parsed };
  };
}
