/**
 * A small HTTP client for Vault's API: one undici Agent (keep-alive, bounded connections, the TLS settings), JSON in
 * and out, the Vault headers, a timeout per attempt, and retries with exponential backoff and full jitter for the
 * failures that may go away by themselves. Errors are VaultError / VaultNetworkError (see errors.ts): they name the
 * method and path, never a token, a request body or response data.
 *
 * Also the token and lease operations that the lease scheduler needs (renew-self, revoke-self, lookup-self,
 * sys/leases/renew, sys/leases/revoke).
 */
import { Agent } from 'undici';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import { MAX_CONFIG_FILE_BYTES, readRegularFileSync, ReadFileError } from '../read-file.js';
import { DEFAULT_MAX_SECRET_BYTES, formatSize } from '../size.js';
import {
  TRANSIENT_STATUSES,
  VaultError,
  VaultNetworkError,
  VaultResponseTooLarge,
  safeVaultMessages,
  safeVaultWarnings,
  type Kv2Deleted,
} from './errors.js';

export type VaultHttpMethod = 'GET' | 'POST' | 'PUT' | 'LIST' | 'DELETE';

export interface RetryOptions {
  /** First backoff ceiling in ms (default 250). */
  readonly initialMs?: number;
  /** Largest backoff ceiling in ms (default 30000). */
  readonly maxMs?: number;
  /** Attempts in all, the first one included (default 6). */
  readonly maxAttempts?: number;
}

export interface VaultClientOptions {
  /** VAULT_ADDR style (`https://vault:8200`) or rconfd's VAULT_URL style (`https://vault:8200/v1`). */
  readonly addr: string;
  /** PEM file of the CA(s) that signed Vault's certificate (replaces the system CAs, like VAULT_CACERT). */
  readonly caCert?: string;
  /** PEM files of a client certificate and its key, for TLS client authentication. */
  readonly clientCert?: string;
  readonly clientKey?: string;
  /** Vault Enterprise namespace, sent as X-Vault-Namespace. */
  readonly namespace?: string;
  /** Do not verify Vault's certificate (the caller warns about it). */
  readonly skipVerify?: boolean;
  /** Time limit of one attempt (connect, headers and body), in ms (default 30000). Wall-clock time, not the Clock. */
  readonly timeoutMs?: number;
  /** Most connections kept open to Vault (default 8). */
  readonly maxConnections?: number;
  /** Largest answer body read, in bytes (default 4 MiB): a larger one is an error, read no further. */
  readonly maxResponseBytes?: number;
  readonly retry?: RetryOptions;
  /** Backoff sleeps go through clock.sleep. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Random numbers in [0, 1) for the jitter (default Math.random). */
  readonly rng?: () => number;
}

export interface VaultRequest {
  readonly method: VaultHttpMethod;
  /** API path after /v1/ (a leading `/` or `/v1/` is tolerated); may carry a `?query`. */
  readonly path: string;
  readonly token?: string;
  /** Sent as JSON (POST, PUT, DELETE). Not allowed with GET and LIST: use query. */
  readonly body?: unknown;
  /** Query parameters (merged with any in path). */
  readonly query?: Readonly<Record<string, string | number | boolean>>;
  /** Overrides the client's namespace for this request. */
  readonly namespace?: string;
  readonly signal?: AbortSignal;
  /** Retry transient failures (default true). */
  readonly retry?: boolean;
  /**
   * Clock time after which a retry is pointless (e.g. a lease renewal must not outlive the lease): no attempt starts
   * at or after it; the last failure is thrown instead.
   */
  readonly deadline?: number;
}

/** The answer to a request, with when the successful attempt was sent (Clock time, ms). */
export interface VaultExchange<T> {
  readonly status: number;
  /** Parsed JSON, or undefined for 204 / an empty body. */
  readonly body: T | undefined;
  /** Clock time just before the attempt that succeeded was sent: a lease's TTL started no earlier than this. */
  readonly sentAt: number;
  readonly attempts: number;
}

/** The `auth` block of login and token renew answers. */
export interface VaultAuthBlock {
  readonly client_token: string;
  readonly accessor?: string;
  readonly policies?: string[] | null;
  readonly token_policies?: string[] | null;
  readonly metadata?: Record<string, string> | null;
  readonly lease_duration: number;
  readonly renewable: boolean;
  readonly entity_id?: string;
  readonly token_type?: string;
  readonly orphan?: boolean;
}

/** Vault's response envelope. */
export interface VaultResponse<D = unknown> {
  readonly request_id?: string;
  readonly lease_id?: string;
  readonly renewable?: boolean;
  readonly lease_duration?: number;
  readonly data?: D | null;
  readonly wrap_info?: unknown;
  readonly warnings?: string[] | null;
  readonly auth?: VaultAuthBlock | null;
}

/** Result of renewing a token or a lease. */
export interface Renewal {
  /** New TTL in seconds, from now (Vault may cap it at max_ttl and say so in warnings). */
  readonly durationSec: number;
  readonly renewable: boolean;
  readonly warnings: string[];
  /** Clock time just before the renew request was sent. */
  readonly sentAt: number;
}

/** What auth/token/lookup-self says about a token (never the token itself). */
export interface TokenInfo {
  readonly accessor: string | undefined;
  /** Remaining TTL in seconds; 0 for a token that never expires (root). */
  readonly ttlSec: number;
  readonly renewable: boolean;
  readonly expireTime: string | null;
  readonly policies: string[];
  readonly displayName: string | undefined;
  readonly sentAt: number;
}

/** Split a Vault address into the origin and the path prefix in front of `/v1`. */
export function parseVaultAddr(addr: string): { origin: string; prefix: string; display: string } {
  let url: URL;
  try {
    url = new URL(addr.trim());
  } catch {
    throw new Error(`Vault address "${addr}" is not a URL (expected e.g. https://vault:8200)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`Vault address "${addr}" must start with https:// or http://`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('the Vault address must not contain a user name or password');
  }
  // rconfd's VAULT_URL ends in /v1; VAULT_ADDR does not. Keep any other prefix (Vault behind a path-routing proxy).
  const prefix = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return { origin: url.origin, prefix, display: `${url.origin}${prefix}` };
}

const RETRYABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'TIMEOUT',
]);

export class VaultClient {
  /** The address without credentials or /v1, for logs. */
  readonly addr: string;
  private readonly origin: string;
  private readonly prefix: string;
  private readonly agent: Agent;
  private readonly namespace: string | undefined;
  private readonly timeoutMs: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly maxAttempts: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly rng: () => number;
  private readonly maxResponseBytes: number;

  constructor(opts: VaultClientOptions) {
    this.maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_SECRET_BYTES;
    const { origin, prefix, display } = parseVaultAddr(opts.addr);
    this.origin = origin;
    this.prefix = prefix;
    this.addr = display;
    this.namespace = opts.namespace === '' ? undefined : opts.namespace;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.initialMs = opts.retry?.initialMs ?? 250;
    this.maxMs = opts.retry?.maxMs ?? 30_000;
    this.maxAttempts = Math.max(1, opts.retry?.maxAttempts ?? 6);
    this.clock = opts.clock;
    this.logger = opts.logger;
    this.rng = opts.rng ?? Math.random;
    if ((opts.clientCert === undefined) !== (opts.clientKey === undefined)) {
      throw new Error('a Vault client certificate needs its key, and a key its certificate');
    }
    const connect: Record<string, unknown> = {
      timeout: this.timeoutMs,
      rejectUnauthorized: opts.skipVerify !== true,
    };
    if (opts.caCert !== undefined) connect['ca'] = readPem(opts.caCert, 'Vault CA certificate');
    if (opts.clientCert !== undefined) connect['cert'] = readPem(opts.clientCert, 'Vault client certificate');
    if (opts.clientKey !== undefined) connect['key'] = readPem(opts.clientKey, 'Vault client key');
    this.agent = new Agent({
      connections: Math.max(1, opts.maxConnections ?? 8),
      pipelining: 1,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 300_000,
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      connect,
    });
  }

  /** Send a request and return the parsed JSON answer (undefined for 204 / an empty body). */
  async request<T = VaultResponse>(req: VaultRequest): Promise<T | undefined> {
    return (await this.exchange<T>(req)).body;
  }

  /** Like request(), with the status, the attempt count and when the successful attempt was sent. */
  async exchange<T = VaultResponse>(req: VaultRequest): Promise<VaultExchange<T>> {
    const { apiPath, query } = splitPath(req.path);
    const method = req.method;
    // LIST is sent as GET ?list=true: Vault treats both the same, and unlike the LIST verb it crosses every proxy and
    // HTTP parser (node:http refuses LIST).
    const httpMethod: 'GET' | 'POST' | 'PUT' | 'DELETE' = method === 'LIST' ? 'GET' : method;
    if (method === 'LIST') query.set('list', 'true');
    for (const [k, v] of Object.entries(req.query ?? {})) query.set(k, String(v));
    if (req.body !== undefined && httpMethod === 'GET') {
      throw new Error(`a Vault ${method} request cannot carry a body (${method} ${apiPath}); pass query parameters`);
    }
    const qs = query.toString();
    const urlPath = `${this.prefix}/v1/${encodePath(apiPath)}${qs === '' ? '' : `?${qs}`}`;
    const headers: Record<string, string> = { accept: 'application/json', 'x-vault-request': 'true' };
    if (req.token !== undefined) headers['x-vault-token'] = req.token;
    const ns = req.namespace ?? this.namespace;
    if (ns !== undefined && ns !== '') headers['x-vault-namespace'] = ns;
    let bodyText: string | undefined;
    if (req.body !== undefined) {
      bodyText = JSON.stringify(req.body);
      headers['content-type'] = 'application/json';
    }
    const maxAttempts = req.retry === false ? 1 : this.maxAttempts;

    for (let attempt = 1; ; attempt++) {
      if (req.signal?.aborted) throw req.signal.reason;
      const sentAt = this.clock.now();
      let failure: VaultError | VaultNetworkError;
      try {
        const res = await this.once(httpMethod, urlPath, headers, bodyText, req.signal, method, apiPath);
        const parsed = parseBody(res.text);
        if (res.status >= 200 && res.status < 300) {
          if (!parsed.ok) {
            throw new VaultError({ status: res.status, method, path: apiPath, errors: ['the answer is not JSON'] });
          }
          return { status: res.status, body: parsed.value as T | undefined, sentAt, attempts: attempt };
        }
        failure = toVaultError(res.status, method, apiPath, parsed, attempt);
      } catch (err) {
        if (err instanceof VaultError || err instanceof VaultResponseTooLarge) throw err;
        if (req.signal?.aborted) throw req.signal.reason;
        failure = toNetworkError(err, method, apiPath, this.timeoutMs, attempt);
      }
      const retryable =
        failure instanceof VaultNetworkError ? failure.transient : TRANSIENT_STATUSES.has(failure.status);
      if (!retryable || attempt >= maxAttempts) throw failure;
      const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** (attempt - 1));
      const delayMs = Math.floor(this.rng() * ceiling);
      if (req.deadline !== undefined && this.clock.now() + delayMs >= req.deadline) throw failure;
      this.logger.warn(
        {
          vault: { method, path: apiPath, status: failure.status, code: failure instanceof VaultNetworkError ? failure.code : undefined },
          attempt,
          maxAttempts,
          delayMs,
        },
        `Vault request ${method} ${apiPath} failed (${failure.status ?? failure.code ?? 'network error'}); retrying in ${delayMs} ms`,
      );
      await this.clock.sleep(delayMs, req.signal);
    }
  }

  private async once(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    callerSignal: AbortSignal | undefined,
    shownMethod: string,
    apiPath: string,
  ): Promise<{ status: number; text: string }> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const signal = callerSignal === undefined ? timeout : AbortSignal.any([callerSignal, timeout]);
    try {
      const res = await this.agent.request({
        origin: this.origin,
        path,
        method,
        headers,
        body: body ?? null,
        signal,
      });
      const text = await this.readBody(res, shownMethod, apiPath);
      return { status: res.statusCode, text };
    } catch (err) {
      if (timeout.aborted && callerSignal?.aborted !== true) throw new AttemptTimeout();
      throw err;
    }
  }

  /** The body, read up to the size limit: past it the connection is dropped and nothing more is read. */
  private async readBody(
    res: { headers: Record<string, string | string[] | undefined>; body: AsyncIterable<Buffer> & { destroy(err?: Error): unknown } },
    method: string,
    apiPath: string,
  ): Promise<string> {
    const limit = this.maxResponseBytes;
    const tooLarge = (): VaultResponseTooLarge => {
      const err = new VaultResponseTooLarge(method, apiPath, formatSize(limit));
      res.body.destroy();
      return err;
    };
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) throw tooLarge();
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > limit) throw tooLarge();
      chunks.push(chunk);
    }
    return Buffer.concat(chunks, total).toString('utf8');
  }

  // ---- token operations ------------------------------------------------------------------------------------------

  /** auth/token/lookup-self: what Vault knows of the token (TTL, renewable, policies). */
  async lookupSelf(token: string, signal?: AbortSignal): Promise<TokenInfo> {
    const res = await this.exchange<VaultResponse<Record<string, unknown>>>({
      method: 'GET',
      path: 'auth/token/lookup-self',
      token,
      ...(signal ? { signal } : {}),
    });
    const d = res.body?.data ?? {};
    return {
      accessor: typeof d['accessor'] === 'string' ? d['accessor'] : undefined,
      ttlSec: typeof d['ttl'] === 'number' ? d['ttl'] : 0,
      renewable: d['renewable'] === true,
      expireTime: typeof d['expire_time'] === 'string' ? d['expire_time'] : null,
      policies: Array.isArray(d['policies']) ? (d['policies'] as unknown[]).filter((p): p is string => typeof p === 'string') : [],
      displayName: typeof d['display_name'] === 'string' ? d['display_name'] : undefined,
      sentAt: res.sentAt,
    };
  }

  /** auth/token/renew-self; the answer is in the `auth` block. */
  async renewSelf(token: string, incrementSec?: number, signal?: AbortSignal, deadline?: number): Promise<Renewal> {
    const res = await this.exchange<VaultResponse>({
      method: 'POST',
      path: 'auth/token/renew-self',
      token,
      body: incrementSec === undefined ? {} : { increment: `${Math.round(incrementSec)}s` },
      ...(signal ? { signal } : {}),
      ...(deadline !== undefined ? { deadline } : {}),
    });
    const auth = res.body?.auth;
    return {
      durationSec: auth?.lease_duration ?? 0,
      renewable: auth?.renewable === true,
      warnings: safeVaultWarnings(res.body?.warnings ?? []),
      sentAt: res.sentAt,
    };
  }

  /** auth/token/revoke-self (204). */
  async revokeSelf(token: string, signal?: AbortSignal): Promise<void> {
    await this.request({ method: 'POST', path: 'auth/token/revoke-self', token, ...(signal ? { signal } : {}) });
  }

  // ---- lease operations ------------------------------------------------------------------------------------------

  /**
   * sys/leases/renew. With an increment the TTL becomes the increment from now; without one, the default TTL. Past
   * max_ttl Vault answers 200 with a capped TTL and a warning; at the limit 400 (see isLeaseGone). No retry starts
   * after `deadline` (Clock ms).
   */
  async renewLease(token: string, leaseId: string, incrementSec?: number, signal?: AbortSignal, deadline?: number): Promise<Renewal> {
    const body: Record<string, unknown> = { lease_id: leaseId };
    if (incrementSec !== undefined) body['increment'] = Math.round(incrementSec);
    const res = await this.exchange<VaultResponse>({
      method: 'PUT',
      path: 'sys/leases/renew',
      token,
      body,
      ...(signal ? { signal } : {}),
      ...(deadline !== undefined ? { deadline } : {}),
    });
    return {
      durationSec: res.body?.lease_duration ?? 0,
      renewable: res.body?.renewable === true,
      warnings: safeVaultWarnings(res.body?.warnings ?? []),
      sentAt: res.sentAt,
    };
  }

  /** sys/leases/revoke (204). */
  async revokeLease(token: string, leaseId: string, signal?: AbortSignal): Promise<void> {
    await this.request({
      method: 'PUT',
      path: 'sys/leases/revoke',
      token,
      body: { lease_id: leaseId },
      ...(signal ? { signal } : {}),
    });
  }

  /** Close the connections: waits for requests in flight up to timeoutMs (default 2000), then drops them. */
  async close(timeoutMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
      timer.unref();
    });
    const r = await Promise.race([this.agent.close().then(() => 'closed' as const), late]);
    clearTimeout(timer);
    if (r === 'late') await this.agent.destroy().catch(() => undefined);
  }
}

class AttemptTimeout extends Error {}

function readPem(path: string, what: string): string {
  let text: string;
  try {
    text = readRegularFileSync(path, MAX_CONFIG_FILE_BYTES).toString('utf8');
  } catch (err) {
    const why = err instanceof ReadFileError ? (err.code === 'ENOENT' || err.code === 'EACCES' ? err.code : err.reason) : (err as Error).message;
    throw new Error(`cannot read the ${what} file ${path}: ${why}`);
  }
  if (!text.includes('-----BEGIN')) throw new Error(`the ${what} file ${path} is not PEM`);
  return text;
}

function splitPath(path: string): { apiPath: string; query: URLSearchParams } {
  const q = path.indexOf('?');
  let apiPath = q < 0 ? path : path.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : path.slice(q + 1));
  apiPath = apiPath.replace(/^\/+/, '').replace(/^v1\//, '');
  return { apiPath, query };
}

/** Percent-encode what may not appear in a URL path, leaving `/` and existing %XX escapes alone. */
function encodePath(path: string): string {
  return path.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c));
}

type Parsed = { ok: true; value: unknown } | { ok: false };

function parseBody(text: string): Parsed {
  if (text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Vault's error answer -> a VaultError carrying only safe summaries of what Vault said (see vaultMessage). */
function toVaultError(status: number, method: string, path: string, parsed: Parsed, attempts: number): VaultError {
  let errors: string[] = [];
  let hidden = 0;
  let warnings: string[] | undefined;
  let kv2Deleted: Kv2Deleted | undefined;
  if (parsed.ok && parsed.value !== null && typeof parsed.value === 'object') {
    const v = parsed.value as Record<string, unknown>;
    if (Array.isArray(v['errors'])) ({ shown: errors, hidden } = safeVaultMessages(v['errors']));
    if (Array.isArray(v['warnings'])) warnings = safeVaultWarnings(v['warnings']);
    kv2Deleted = status === 404 ? detectKv2Deleted(v['data']) : undefined;
  }
  return new VaultError({
    status,
    method,
    path,
    errors,
    hidden,
    ...(warnings ? { warnings } : {}),
    ...(kv2Deleted ? { kv2Deleted } : {}),
    attempts,
  });
}

/** KV v2 answers 404 with a full envelope whose data.data is null for a deleted or destroyed version. */
export function detectKv2Deleted(data: unknown): Kv2Deleted | undefined {
  if (data === null || typeof data !== 'object') return undefined;
  const d = data as Record<string, unknown>;
  if (!('data' in d) || d['data'] !== null) return undefined;
  const meta = d['metadata'];
  if (meta === null || typeof meta !== 'object') return undefined;
  const m = meta as Record<string, unknown>;
  return {
    version: typeof m['version'] === 'number' ? m['version'] : undefined,
    destroyed: m['destroyed'] === true,
  };
}

function toNetworkError(err: unknown, method: string, path: string, timeoutMs: number, attempts: number): VaultNetworkError {
  if (err instanceof AttemptTimeout) {
    return new VaultNetworkError({ method, path, reason: `no answer within ${timeoutMs} ms`, code: 'TIMEOUT', transient: true, attempts });
  }
  const e = err as { code?: unknown; message?: unknown; errors?: unknown };
  let code = typeof e?.code === 'string' ? e.code : undefined;
  let message = typeof e?.message === 'string' ? e.message : String(err);
  // Happy eyeballs (localhost → ::1 and 127.0.0.1) fails with an AggregateError whose message is empty.
  if (Array.isArray(e?.errors) && e.errors.length > 0) {
    const first = e.errors[0] as { code?: unknown; message?: unknown };
    code ??= typeof first?.code === 'string' ? first.code : undefined;
    if (message === '') message = (e.errors as { message?: unknown }[]).map((x) => String(x?.message ?? x)).join('; ');
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    message = `no answer within ${timeoutMs} ms (${message})`;
  }
  const tls = code !== undefined && isTlsCode(code);
  if (tls) message = `TLS verification failed: ${message} (check the Vault CA certificate)`;
  const transient = !tls && (code === undefined ? false : RETRYABLE_CODES.has(code));
  return new VaultNetworkError({
    method,
    path,
    reason: message === '' ? (code ?? 'network error') : message,
    ...(code !== undefined ? { code } : {}),
    transient,
    attempts,
    cause: err,
  });
}

function isTlsCode(code: string): boolean {
  return (
    /^(CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|ERR_TLS_|ERR_SSL_|HOSTNAME_MISMATCH)/.test(code) ||
    code === 'ERR_TLS_CERT_ALTNAME_INVALID'
  );
}
