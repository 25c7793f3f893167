/**
 * A Vault stand-in for tests: an HTTP server on a random loopback port speaking Vault's HTTP API (the /v1 paths,
 * JSON bodies, X-Vault-Token), configured through that same API, plus test controls that a real Vault does not
 * have (request log, fault injection, going down and coming back, restarting empty, inspection of leases, tokens
 * and database users). Start it with startVaultStandin(); tests that should also run against a real `vault server -dev`
 * use test/vault/target.ts instead.
 */
import { createHttpServer, type HttpRequest, type HttpResponse } from './http.js';
import { Core } from './core.js';
import { DatabaseBackend, type DatabaseUserInfo } from './database.js';
import { PkiBackend } from './pki.js';
import type { LeaseInfo } from './leases.js';
import type { TokenInfo } from './tokens.js';

export type { LeaseInfo } from './leases.js';
export type { TokenInfo } from './tokens.js';
export type { DatabaseUserInfo } from './database.js';

export interface RequestRecord {
  method: string;
  /** API path without /v1/ and without the query: `secret/data/foo`. */
  path: string;
  status: number;
  /** ms since the epoch, when the request arrived. */
  at: number;
  /** Accessor of the token the request carried, when it was a valid token. */
  tokenAccessor?: string;
}

export interface RequestFilter {
  method?: string;
  /** Exact path (without /v1/), or a pattern. */
  path?: string | RegExp;
}

export interface FaultOptions {
  /** Only requests whose path (without /v1/) starts with this. */
  pathPrefix?: string;
  /** Body to answer instead of `{"errors":[...]}`: a string is sent as is, anything else as JSON. */
  body?: unknown;
}

export interface VaultStandin {
  readonly addr: string;
  readonly port: number;
  readonly rootToken: string;
  /** Every request answered, in order (faults included). */
  readonly requests: RequestRecord[];
  count(filter?: RequestFilter): number;
  clearRequests(): void;
  /** The next n matching requests fail with status and a Vault-style error body, without being processed. */
  failNext(n: number, status: number, opts?: FaultOptions): void;
  /** The next n matching requests are held for ms before being processed. */
  delayNext(n: number, ms: number, opts?: Omit<FaultOptions, 'body'>): void;
  /** Close the listener and every connection: clients get connection refused. */
  goDown(): Promise<void>;
  /** Listen again on the same port. */
  comeBack(): Promise<void>;
  /**
   * What restarting `vault server -dev` does: down for a moment (connection refused), then back on the same address
   * with nothing of its state (tokens, leases, mounts and their data, policies: a fresh dev server, root token and
   * `secret/` only). Tokens issued before answer 403 `permission denied`; nothing revokes the leases issued before
   * (their database users are left behind). The request log and the fault rules are the test's, and are kept.
   */
  restartEmpty(): Promise<void>;
  readonly isDown: boolean;
  leases(): LeaseInfo[];
  tokens(): TokenInfo[];
  databaseUsers(): DatabaseUserInfo[];
  /** Serial numbers of PKI certificates revoked (lease revocation or pki/revoke). */
  revokedCertificates(): string[];
  stop(): Promise<void>;
}

export interface StandinOptions {
  /** Root token id (default `root`, like `vault server -dev -dev-root-token-id=root`). */
  rootToken?: string;
  /** Port to listen on (default: a free one). */
  port?: number;
}

interface FailRule {
  remaining: number;
  status: number;
  prefix: string;
  body: unknown;
}

interface DelayRule {
  remaining: number;
  ms: number;
  prefix: string;
}

const DEFAULT_FAULT_MESSAGES: Record<number, string> = {
  400: 'injected fault',
  403: 'permission denied',
  429: 'rate limit quota exceeded',
  500: 'internal error',
  502: 'bad gateway',
  503: 'Vault is sealed',
  504: 'gateway timeout',
};

function normalizePrefix(p: string | undefined): string {
  return (p ?? '').replace(/^\/+/, '').replace(/^v1\//, '');
}

function answer(status: number, contentType: string, body: string): HttpResponse {
  return { status, headers: { 'Content-Type': contentType, 'Cache-Control': 'no-store' }, body };
}

export async function startVaultStandin(opts: StandinOptions = {}): Promise<VaultStandin> {
  const rootToken = opts.rootToken ?? 'root';
  let core = new Core(rootToken);
  const requests: RequestRecord[] = [];
  const fails: FailRule[] = [];
  const delays: DelayRule[] = [];
  let down = false;
  let stopped = false;

  const takeRule = <T extends { remaining: number; prefix: string }>(rules: T[], path: string): T | undefined => {
    const rule = rules.find((r) => r.remaining > 0 && path.startsWith(r.prefix));
    if (rule) {
      rule.remaining -= 1;
      if (rule.remaining === 0) rules.splice(rules.indexOf(rule), 1);
    }
    return rule;
  };

  const handler = async (req: HttpRequest): Promise<HttpResponse> => {
    const at = Date.now();
    const method = req.method;
    const url = new URL(req.url, 'http://127.0.0.1');
    let rawPath: string;
    try {
      rawPath = decodeURIComponent(url.pathname);
    } catch {
      rawPath = url.pathname;
    }
    const path = rawPath.startsWith('/v1/') ? rawPath.slice(4) : rawPath.replace(/^\/+/, '');
    const record = (status: number, tokenAccessor?: string): void => {
      requests.push({ method, path, status, at, ...(tokenAccessor ? { tokenAccessor } : {}) });
    };

    const delay = takeRule(delays, path);
    if (delay) await new Promise((r) => setTimeout(r, delay.ms));

    const fail = takeRule(fails, path);
    if (fail) {
      let body: string;
      let contentType = 'application/json';
      if (fail.status === 204) body = '';
      else if (fail.body === undefined) {
        body = JSON.stringify({ errors: [DEFAULT_FAULT_MESSAGES[fail.status] ?? `injected fault (HTTP ${fail.status})`] }) + '\n';
      } else if (typeof fail.body === 'string') {
        body = fail.body;
        if (!/^\s*[[{]/.test(body)) contentType = 'text/plain; charset=utf-8';
      } else body = JSON.stringify(fail.body) + '\n';
      record(fail.status);
      return answer(fail.status, contentType, body);
    }

    if (!rawPath.startsWith('/v1/')) {
      record(404);
      return answer(404, 'application/json', JSON.stringify({ errors: [] }) + '\n');
    }

    let body: unknown;
    const bodyText = req.body.toString('utf8');
    if (bodyText.trim() !== '') {
      try {
        body = JSON.parse(bodyText);
      } catch (err) {
        record(400);
        return answer(400, 'application/json', JSON.stringify({ errors: [`failed to parse JSON input: ${(err as Error).message}`] }) + '\n');
      }
    }
    let token = req.headers['x-vault-token'];
    const authz = req.headers['authorization'];
    if (!token && authz && /^bearer\s+/i.test(authz)) token = authz.replace(/^bearer\s+/i, '').trim();

    const out = await core.handle({
      method,
      path,
      query: url.searchParams,
      body,
      token: token || undefined,
      remoteAddr: req.remoteAddress,
    });
    record(out.status, out.tokenAccessor);
    return answer(out.status, out.contentType, out.body);
  };

  const server = createHttpServer(handler);
  const port = await server.listen(opts.port ?? 0);
  const addr = `http://127.0.0.1:${port}`;

  const standin: VaultStandin = {
    addr,
    port,
    rootToken,
    requests,
    count(filter = {}) {
      return requests.filter((r) => {
        if (filter.method && r.method !== filter.method.toUpperCase()) return false;
        if (filter.path !== undefined) {
          if (typeof filter.path === 'string' ? r.path !== normalizePrefix(filter.path) : !filter.path.test(r.path)) {
            return false;
          }
        }
        return true;
      }).length;
    },
    clearRequests() {
      requests.length = 0;
    },
    failNext(n, status, o = {}) {
      if (n > 0) fails.push({ remaining: n, status, prefix: normalizePrefix(o.pathPrefix), body: o.body });
    },
    delayNext(n, ms, o = {}) {
      if (n > 0) delays.push({ remaining: n, ms, prefix: normalizePrefix(o.pathPrefix) });
    },
    async goDown() {
      if (down || stopped) return;
      down = true;
      await server.close();
    },
    async comeBack() {
      if (!down || stopped) return;
      // The port was ours a moment ago; retry briefly in case the kernel has not released it yet.
      for (let attempt = 0; ; attempt++) {
        try {
          await server.listen(port);
          break;
        } catch (err) {
          if (attempt >= 20) throw err;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
      down = false;
    },
    async restartEmpty() {
      if (stopped) return;
      await standin.goDown();
      const forgotten = core;
      core = new Core(rootToken);
      await forgotten.close();
      await standin.comeBack();
    },
    get isDown() {
      return down;
    },
    leases: () => core.leases.info(),
    tokens: () => core.tokens.info(),
    databaseUsers() {
      const out: DatabaseUserInfo[] = [];
      for (const m of core.mounts.values()) {
        if (m.backend instanceof DatabaseBackend) out.push(...m.backend.userInfo());
      }
      return out.sort((a, b) => a.createdAt - b.createdAt);
    },
    revokedCertificates() {
      const out: string[] = [];
      for (const m of core.mounts.values()) if (m.backend instanceof PkiBackend) out.push(...m.backend.revokedSerials());
      return out;
    },
    async stop() {
      if (stopped) return;
      if (!down) await server.close();
      down = true;
      stopped = true;
      await core.close();
    },
  };
  return standin;
}
