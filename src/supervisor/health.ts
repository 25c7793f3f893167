/**
 * The optional HTTP endpoint (--health-listen HOST:PORT): /healthz (alive), /readyz (files rendered, command running,
 * leases valid) and /metrics (Prometheus text format 0.0.4).
 *
 * /metrics is written by hand rather than with prom-client: tconfd exports a handful of counters and gauges, and the
 * text format for those is ~40 lines; a dependency (with its default process metrics and registry) is not worth it.
 *
 * Nothing here sees a secret value or a lease id: labels are template paths and secret NAMES from the config.
 */
import type { AddressInfo } from 'node:net';
import { nodeHttp } from '../builtins.js';
import type { Logger } from '../log.js';

/** What the caller knows about one secret (by name, as given in the config). */
export interface SecretHealth {
  /** The secret's name from the config (never a lease id). */
  readonly name: string;
  /** False when the value could not be fetched or renewed and the rendered files may hold a dead credential. */
  readonly valid: boolean;
  /** When the value expires (ms since the epoch, Clock time); null or absent when it does not expire. */
  readonly expiresAt?: number | null;
}

/** Plain data filled by the caller on each request. */
export interface HealthStatus {
  /** False when tconfd is going down (shutting down); /healthz then answers 503. Default true. */
  readonly alive?: boolean;
  /** True once every template has been rendered completely at least once. */
  readonly rendered: boolean;
  /** True when tconfd supervises a command (`-- myapp ...`). */
  readonly childExpected: boolean;
  /** True while that command runs. */
  readonly childRunning: boolean;
  readonly secrets: readonly SecretHealth[];
  /** Each template, and whether its files are current (false: its last rendering failed, or it is long overdue). */
  readonly templates?: readonly TemplateHealth[];
}

/** What the caller knows about one template (its path from the config; never an error text, which could quote a value). */
export interface TemplateHealth {
  readonly name: string;
  readonly current: boolean;
}

export interface Readiness {
  readonly ready: boolean;
  /** Short reasons for not being ready, one per line in /readyz (names only, no values). */
  readonly reasons: readonly string[];
}

/** Ready = rendered && (no command expected || it runs) && every secret valid and not expired && every template current. */
export function evaluateReadiness(status: HealthStatus, now: number): Readiness {
  const reasons: string[] = [];
  if (!status.rendered) reasons.push('templates not rendered yet');
  if (status.childExpected && !status.childRunning) reasons.push('command not running');
  for (const s of status.secrets) {
    if (!s.valid) reasons.push(`secret "${s.name}" not valid`);
    else if (s.expiresAt != null && s.expiresAt <= now) reasons.push(`secret "${s.name}" expired`);
  }
  for (const t of status.templates ?? []) {
    if (!t.current) reasons.push(`template "${t.name}" not current (its last rendering failed or is overdue)`);
  }
  return { ready: reasons.length === 0, reasons };
}

type Labelled = Map<string, number>;

/** Counters main updates as things happen; gauges are computed from HealthStatus at scrape time. */
export class Metrics {
  readonly renders: Labelled = new Map();
  readonly renderFailures: Labelled = new Map();
  readonly leaseRenewals: Labelled = new Map();
  readonly fetchFailures: Labelled = new Map();
  childRestarts = 0;

  /** Known templates and secrets start at 0, so that their series exist before the first event. */
  constructor(known?: { readonly templates?: readonly string[]; readonly secrets?: readonly string[] }) {
    for (const t of known?.templates ?? []) {
      this.renders.set(t, 0);
      this.renderFailures.set(t, 0);
    }
    for (const s of known?.secrets ?? []) {
      this.leaseRenewals.set(s, 0);
      this.fetchFailures.set(s, 0);
    }
  }

  incRenders(template: string, by = 1): void {
    add(this.renders, template, by);
  }
  incRenderFailures(template: string, by = 1): void {
    add(this.renderFailures, template, by);
  }
  incLeaseRenewals(secret: string, by = 1): void {
    add(this.leaseRenewals, secret, by);
  }
  incFetchFailures(secret: string, by = 1): void {
    add(this.fetchFailures, secret, by);
  }
  incChildRestarts(by = 1): void {
    this.childRestarts += by;
  }
}

function add(m: Labelled, key: string, by: number): void {
  m.set(key, (m.get(key) ?? 0) + by);
}

// --- Prometheus text format 0.0.4 ---

/** Label values: backslash, double quote and newline are escaped. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function family(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: Iterable<readonly [labels: Record<string, string> | undefined, value: number]>,
): string {
  let out = `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
  for (const [labels, value] of samples) {
    const l = labels
      ? `{${Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabelValue(v)}"`)
          .join(',')}}`
      : '';
    out += `${name}${l} ${formatValue(value)}\n`;
  }
  return out;
}

function labelled(m: Labelled, label: string): Array<readonly [Record<string, string>, number]> {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [{ [label]: k }, v] as const);
}

/** The /metrics body. */
export function formatMetrics(metrics: Metrics, status: HealthStatus, now: number): string {
  const expiry = status.secrets
    .filter((s) => s.expiresAt != null)
    .map((s) => [{ secret: s.name }, (s.expiresAt! - now) / 1000] as const)
    .sort(([a], [b]) => (a.secret < b.secret ? -1 : a.secret > b.secret ? 1 : 0));
  return [
    family('tconfd_renders_total', 'counter', 'Renderings of a template that completed.', labelled(metrics.renders, 'template')),
    family(
      'tconfd_render_failures_total',
      'counter',
      'Renderings of a template that failed.',
      labelled(metrics.renderFailures, 'template'),
    ),
    family(
      'tconfd_lease_renewals_total',
      'counter',
      'Successful lease renewals of a secret.',
      labelled(metrics.leaseRenewals, 'secret'),
    ),
    family('tconfd_fetch_failures_total', 'counter', 'Failed fetches of a secret.', labelled(metrics.fetchFailures, 'secret')),
    family('tconfd_child_restarts_total', 'counter', 'Restarts of the supervised command.', [
      [undefined, metrics.childRestarts],
    ]),
    family('tconfd_child_up', 'gauge', '1 while the supervised command runs.', [[undefined, status.childRunning ? 1 : 0]]),
    family('tconfd_secret_expiry_seconds', 'gauge', 'Seconds until a secret expires (absent when it does not).', expiry),
    family(
      'tconfd_template_current',
      'gauge',
      '1 when the files of a template are rendered from its current inputs, 0 while its rendering fails.',
      [...(status.templates ?? [])]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((t) => [{ template: t.name }, t.current ? 1 : 0] as const),
    ),
    family('tconfd_ready', 'gauge', '1 when /readyz answers 200.', [[undefined, evaluateReadiness(status, now).ready ? 1 : 0]]),
    family('tconfd_process_resident_memory_bytes', 'gauge', 'Resident memory of the tconfd process.', [
      [undefined, process.memoryUsage.rss()],
    ]),
    family('tconfd_process_heap_used_bytes', 'gauge', 'JavaScript heap in use by the tconfd process.', [
      [undefined, process.memoryUsage().heapUsed],
    ]),
  ].join('');
}

// --- HTTP server ---

export interface ListenAddress {
  /** undefined: all interfaces (":PORT"). */
  readonly host: string | undefined;
  readonly port: number;
}

/** Parse "HOST:PORT", "[::1]:PORT" or ":PORT". Throws an Error naming the bad value. */
export function parseListen(text: string): ListenAddress {
  const bad = (why: string): Error =>
    new Error(`invalid listen address "${text}": ${why} (expected HOST:PORT, [IPv6]:PORT or :PORT)`);
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (host === '') throw bad('empty IPv6 address');
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) throw bad('missing port');
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (host.includes(':')) throw bad('IPv6 addresses must be in brackets');
  }
  if (!/^\d+$/.test(portText) || Number(portText) > 65535) throw bad('port must be a number from 0 to 65535');
  return { host: host === '' ? undefined : host, port: Number(portText) };
}

export interface HealthServerOptions {
  /** "HOST:PORT", "[::1]:PORT" or ":PORT" (port 0: any free port). */
  readonly listen: string;
  /** Called on each request. */
  readonly status: () => HealthStatus;
  /** Counters for /metrics (default: all zero). */
  readonly metrics?: Metrics;
  /** Current time in ms (default Date.now; pass clock.now for the injected Clock). */
  readonly now?: () => number;
  readonly logger: Logger;
}

export interface HealthServer {
  /** The address actually bound, as HOST:PORT ([IPv6]:PORT). */
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

const TEXT = 'text/plain; charset=utf-8';
const PROM = 'text/plain; version=0.0.4; charset=utf-8';

/** Start the health/metrics server; resolves once it listens (rejects when it cannot, e.g. EADDRINUSE). */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const { host, port } = parseListen(opts.listen);
  const log = opts.logger.child({ component: 'health' });
  const metrics = opts.metrics ?? new Metrics();
  const now = opts.now ?? Date.now;

  const server = nodeHttp().createServer((req, res) => {
    const send = (code: number, body: string, type = TEXT): void => {
      res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      send(405, 'method not allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0];
    try {
      switch (path) {
        case '/healthz': {
          const alive = opts.status().alive !== false;
          send(alive ? 200 : 503, alive ? 'ok\n' : 'shutting down\n');
          return;
        }
        case '/readyz': {
          const r = evaluateReadiness(opts.status(), now());
          send(r.ready ? 200 : 503, r.ready ? 'ready\n' : r.reasons.map((x) => `${x}\n`).join(''));
          return;
        }
        case '/metrics':
          send(200, formatMetrics(metrics, opts.status(), now()), PROM);
          return;
        default:
          send(404, 'not found: try /healthz, /readyz or /metrics\n');
      }
    } catch (err) {
      log.error({ err, path }, 'health endpoint failed');
      if (!res.headersSent) send(500, 'internal error\n');
      else res.destroy();
    }
  });
  // Keep-alive connections from scrapers must not hold close() up.
  server.keepAliveTimeout = 5_000;

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(new Error(`cannot listen on ${opts.listen}: ${err.message}`, { cause: err }));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'health server error'));

  const a = server.address() as AddressInfo;
  const address = a.family === 'IPv6' || a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
  log.info({ address }, 'health endpoint listening');
  return {
    address,
    port: a.port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
