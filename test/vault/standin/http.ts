/**
 * A minimal HTTP/1.1 server on node:net. node:http cannot be used: its parser (llhttp) rejects the `LIST` method
 * that Vault clients send, with a 400 before any handler runs. Supports keep-alive, Content-Length and chunked
 * request bodies, `Expect: 100-continue`, HEAD, and closing every connection at once (goDown).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface HttpRequest {
  method: string;
  /** The request target as sent: `/v1/secret/data/foo?version=1`. */
  url: string;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  remoteAddress: string;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type HttpHandler = (req: HttpRequest) => Promise<HttpResponse>;

const REASONS: Record<number, string> = {
  100: 'Continue',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  301: 'Moved Permanently',
  307: 'Temporary Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  473: 'Performance Standby',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

const MAX_HEADER = 64 * 1024;
const MAX_BODY = 32 * 1024 * 1024;

class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Parsed {
  req: Omit<HttpRequest, 'remoteAddress'>;
  consumed: number;
  keepAlive: boolean;
}

/** Try to parse one full request from buf; undefined if more bytes are needed. */
function parseRequest(buf: Buffer, onContinue: () => void): Parsed | undefined {
  const headEnd = buf.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (buf.length > MAX_HEADER) throw new BadRequest(431, 'request headers too large');
    return undefined;
  }
  const lines = buf.subarray(0, headEnd).toString('latin1').split('\r\n');
  const m = /^([A-Za-z-]+) (\S+) HTTP\/(1\.[01])$/.exec(lines[0] ?? '');
  if (!m) throw new BadRequest(400, 'malformed request line');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const idx = line.indexOf(':');
    if (idx <= 0) throw new BadRequest(400, 'malformed header');
    const name = line.slice(0, idx).trim().toLowerCase();
    const value = line.slice(idx + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const version = m[3] as string;
  const conn = (headers['connection'] ?? '').toLowerCase();
  const keepAlive = version === '1.1' ? !conn.includes('close') : conn.includes('keep-alive');
  let pos = headEnd + 4;
  let body: Buffer;
  const te = (headers['transfer-encoding'] ?? '').toLowerCase();
  if (te.includes('chunked')) {
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd < 0) {
        onContinue();
        return undefined;
      }
      const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1').split(';')[0] ?? '', 16);
      if (!Number.isFinite(size) || size < 0) throw new BadRequest(400, 'malformed chunk size');
      if (size === 0) {
        // trailers until an empty line
        let p = lineEnd + 2;
        for (;;) {
          const e = buf.indexOf('\r\n', p);
          if (e < 0) {
            onContinue();
            return undefined;
          }
          if (e === p) {
            pos = e + 2;
            break;
          }
          p = e + 2;
        }
        break;
      }
      if (buf.length < lineEnd + 2 + size + 2) {
        onContinue();
        return undefined;
      }
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size));
      total += size;
      if (total > MAX_BODY) throw new BadRequest(413, 'request body too large');
      pos = lineEnd + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else {
    const len = headers['content-length'] !== undefined ? Number(headers['content-length']) : 0;
    if (!Number.isInteger(len) || len < 0) throw new BadRequest(400, 'malformed content-length');
    if (len > MAX_BODY) throw new BadRequest(413, 'request body too large');
    if (buf.length < pos + len) {
      if (len > 0) onContinue();
      return undefined;
    }
    body = Buffer.from(buf.subarray(pos, pos + len));
    pos += len;
  }
  return { req: { method: (m[1] as string).toUpperCase(), url: m[2] as string, headers, body }, consumed: pos, keepAlive };
}

function serialize(method: string, res: HttpResponse, keepAlive: boolean): Buffer {
  const body = Buffer.from(res.body, 'utf8');
  const lines = [`HTTP/1.1 ${res.status} ${REASONS[res.status] ?? 'Status'}`];
  const headers: Record<string, string> = { ...res.headers, Date: new Date().toUTCString() };
  if (res.status !== 204 && res.status !== 304) headers['Content-Length'] = String(body.length);
  if (!keepAlive) headers['Connection'] = 'close';
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1');
  if (method === 'HEAD' || res.status === 204 || res.status === 304) return head;
  return Buffer.concat([head, body]);
}

export interface MiniHttpServer {
  listen(port: number): Promise<number>;
  /** Stop listening and destroy every open connection. */
  close(): Promise<void>;
  readonly port: number | undefined;
}

export function createHttpServer(handler: HttpHandler): MiniHttpServer {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port: number | undefined;

  const onConnection = (socket: Socket): void => {
    sockets.add(socket);
    socket.unref();
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    let continued = false;
    let closed = false;
    socket.on('close', () => {
      closed = true;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);

    const pump = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        while (!closed) {
          let parsed: Parsed | undefined;
          try {
            parsed = parseRequest(buf, () => {
              if (!continued && /100-continue/i.test(buf.toString('latin1', 0, Math.min(buf.length, MAX_HEADER)))) {
                continued = true;
                socket.write('HTTP/1.1 100 Continue\r\n\r\n');
              }
            });
          } catch (err) {
            const e = err as BadRequest;
            socket.end(
              serialize('GET', { status: e.status ?? 400, headers: { 'Content-Type': 'text/plain' }, body: e.message }, false),
            );
            return;
          }
          if (!parsed) return;
          buf = buf.subarray(parsed.consumed);
          continued = false;
          let res: HttpResponse;
          try {
            res = await handler({ ...parsed.req, remoteAddress: socket.remoteAddress ?? '127.0.0.1' });
          } catch (err) {
            res = {
              status: 500,
              headers: { 'Content-Type': 'application/json' },
              body: JSON.stringify({ errors: [(err as Error).message] }) + '\n',
            };
          }
          if (closed) return;
          const out = serialize(parsed.req.method, res, parsed.keepAlive);
          if (parsed.keepAlive) socket.write(out);
          else {
            socket.end(out);
            return;
          }
        }
      } finally {
        busy = false;
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      void pump().then(() => {
        // bytes that arrived while a request was being handled
        if (!closed && buf.length && !busy) void pump();
      });
    });
  };

  return {
    get port() {
      return port;
    },
    listen(p: number) {
      return new Promise<number>((resolve, reject) => {
        const srv = createServer(onConnection);
        srv.once('error', reject);
        srv.listen(p, '127.0.0.1', () => {
          srv.off('error', reject);
          srv.unref();
          server = srv;
          port = (srv.address() as AddressInfo).port;
          resolve(port);
        });
      });
    },
    close() {
      return new Promise<void>((resolve) => {
        const srv = server;
        server = undefined;
        for (const s of sockets) s.destroy();
        sockets.clear();
        if (!srv) return resolve();
        srv.close(() => resolve());
      });
    },
  };
}
