/**
 * Helpers for the Vault client tests: a tiny node:http(s) server answering with recorded Vault bodies, a fake clock
 * whose sleeps return at once (and are recorded), and a logger whose lines can be inspected.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Clock, TimerHandle } from '../../src/clock.js';
import type { Logger } from '../../src/log.js';

const FIXTURES = new URL('../fixtures/vault/', import.meta.url);

/** A recorded Vault response body (test/fixtures/vault/NAME), as text. */
export function fixture(name: string): string {
  return readFileSync(new URL(name, FIXTURES), 'utf8');
}

export function fixtureJson<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fixture(name)) as T;
}

export interface SeenRequest {
  readonly method: string;
  /** Full URL path with query, e.g. /v1/secret/data/foo?version=1 */
  readonly url: string;
  /** Path after /v1/ without query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly json: unknown;
}

export interface Reply {
  readonly status?: number;
  /** A fixture name, or a literal body (object → JSON). */
  readonly fixture?: string;
  readonly body?: unknown;
  /** Never answer (to test timeouts). */
  readonly hang?: boolean;
}

export type Handler = (req: SeenRequest) => Reply | Promise<Reply>;

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly requests: SeenRequest[];
  handler: Handler;
  close(): Promise<void>;
}

async function handle(
  requests: SeenRequest[],
  getHandler: () => Handler,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  const u = new URL(req.url ?? '/', 'http://x');
  let json: unknown;
  try {
    json = body === '' ? undefined : JSON.parse(body);
  } catch {
    json = undefined;
  }
  const seen: SeenRequest = {
    method: req.method ?? '',
    url: req.url ?? '',
    path: u.pathname.replace(/^\/v1\//, ''),
    query: u.searchParams,
    headers: req.headers,
    body,
    json,
  };
  requests.push(seen);
  const reply = await getHandler()(seen);
  if (reply.hang === true) return;
  const status = reply.status ?? 200;
  let text = '';
  if (reply.fixture !== undefined) text = fixture(reply.fixture);
  else if (typeof reply.body === 'string') text = reply.body;
  else if (reply.body !== undefined) text = JSON.stringify(reply.body);
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(text);
}

export async function startServer(handler: Handler, tls?: { key: string; cert: string; ca?: string }): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const state = { handler };
  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    handle(requests, () => state.handler, req, res).catch((err: unknown) => {
      res.writeHead(599);
      res.end(String(err));
    });
  };
  const server: Server =
    tls === undefined
      ? createServer(listener)
      : createHttpsServer(
          tls.ca === undefined
            ? { key: tls.key, cert: tls.cert }
            : { key: tls.key, cert: tls.cert, ca: tls.ca, requestCert: true, rejectUnauthorized: true },
          listener,
        );
  const sockets = new Set<import('node:net').Socket>();
  server.on('connection', (s: import('node:net').Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}`,
    port,
    requests,
    get handler() {
      return state.handler;
    },
    set handler(h: Handler) {
      state.handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port on which nothing listens (bound then released). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Clock whose sleep() returns at once, advancing now() and recording the delay. */
export class FakeClock implements Clock {
  t = 1_800_000_000_000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.t;
  }
  setTimer(ms: number, fn: () => void): TimerHandle {
    const h = setTimeout(() => {
      this.t += ms;
      fn();
    }, 0);
    return { cancel: () => clearTimeout(h) };
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve) => setImmediate(resolve));
  }
}

export interface CapturedLogger {
  readonly logger: Logger;
  readonly lines: () => Record<string, unknown>[];
  readonly text: () => string;
}

export function captureLogger(): CapturedLogger {
  const out: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'debug' }, dest);
  return {
    logger,
    text: () => out.join(''),
    lines: () =>
      out
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}
