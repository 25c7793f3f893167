import { pino } from 'pino';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Metrics,
  escapeLabelValue,
  parseListen,
  startHealthServer,
  type HealthServer,
  type HealthStatus,
} from '../../src/supervisor/index.js';

const logger = pino({ level: 'silent' });
const NOW = 1_700_000_000_000;

const servers: HealthServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(status: () => HealthStatus, metrics?: Metrics): Promise<HealthServer> {
  const s = await startHealthServer({
    listen: '127.0.0.1:0',
    status,
    ...(metrics ? { metrics } : {}),
    now: () => NOW,
    logger,
  });
  servers.push(s);
  return s;
}

async function get(s: HealthServer, p: string, method: 'GET' | 'HEAD' | 'POST' = 'GET') {
  const r = await request(`http://${s.address}${p}`, { method });
  return { status: r.statusCode, type: String(r.headers['content-type']), body: await r.body.text() };
}

const healthy: HealthStatus = {
  rendered: true,
  childExpected: true,
  childRunning: true,
  secrets: [
    { name: 'db', valid: true, expiresAt: NOW + 3_600_000 },
    { name: 'kv', valid: true, expiresAt: null },
  ],
};

/**
 * A strict reader for the Prometheus text format 0.0.4 as far as tconfd uses it: HELP and TYPE before the samples
 * of each family, samples `name{label="value",...} number`, label values with \\, \" and \n escapes only.
 */
function parseProm(text: string) {
  expect(text.endsWith('\n')).toBe(true);
  const types = new Map<string, string>();
  const helps = new Map<string, string>();
  const samples: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null;
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line))) {
      helps.set(m[1]!, m[2]!);
    } else if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      expect(helps.has(m[1]!), `HELP before TYPE for ${m[1]}`).toBe(true);
      types.set(m[1]!, m[2]!);
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line))) {
      const name = m[1]!;
      expect(types.has(name), `TYPE before sample ${line}`).toBe(true);
      const labels: Record<string, string> = {};
      if (m[2] !== undefined) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/gy;
        let pos = 0;
        let l: RegExpExecArray | null;
        while ((l = re.exec(m[2])) !== null) {
          labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
          pos = re.lastIndex;
          if (pos === m[2].length) break;
        }
        expect(pos, `label set ${m[2]}`).toBe(m[2].length);
      }
      const value = Number(m[3]);
      expect(Number.isNaN(value) && m[3] !== 'NaN', `value in ${line}`).toBe(false);
      samples.push({ name, labels, value });
    } else {
      throw new Error(`not Prometheus text: ${JSON.stringify(line)}`);
    }
  }
  return { types, helps, samples };
}

describe('health server', () => {
  it('/healthz answers 200 "ok" while alive, 503 when shutting down', async () => {
    let alive = true;
    const s = await serve(() => ({ ...healthy, rendered: false, alive }));
    expect(await get(s, '/healthz')).toMatchObject({ status: 200, body: 'ok\n' });
    alive = false;
    expect((await get(s, '/healthz')).status).toBe(503);
  });

  it('/readyz answers 200 when rendered, the command runs and every lease is valid', async () => {
    const s = await serve(() => healthy);
    expect(await get(s, '/readyz')).toMatchObject({ status: 200, type: 'text/plain; charset=utf-8' });
    expect((await get(s, '/readyz', 'HEAD')).status).toBe(200);
  });

  it('/readyz answers 200 without a command when none is expected', async () => {
    const s = await serve(() => ({ ...healthy, childExpected: false, childRunning: false }));
    expect((await get(s, '/readyz')).status).toBe(200);
  });

  it('/readyz answers 503 with the reasons (names only) otherwise', async () => {
    let status: HealthStatus = { ...healthy, rendered: false };
    const s = await serve(() => status);
    expect(await get(s, '/readyz')).toMatchObject({ status: 503, body: 'templates not rendered yet\n' });

    status = { ...healthy, childRunning: false };
    expect(await get(s, '/readyz')).toMatchObject({ status: 503, body: 'command not running\n' });

    status = {
      ...healthy,
      secrets: [
        { name: 'db', valid: false, expiresAt: NOW + 1_000 },
        { name: 'cert', valid: true, expiresAt: NOW - 1 },
        { name: 'kv', valid: true },
      ],
    };
    const r = await get(s, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toBe('secret "db" not valid\nsecret "cert" expired\n');

    status = { ...healthy, templates: [{ name: 'app.jsonnet', current: false }, { name: 'ok.jsonnet', current: true }] };
    expect(await get(s, '/readyz')).toMatchObject({
      status: 503,
      body: 'template "app.jsonnet" not current (its last rendering failed or is overdue)\n',
    });
  });

  it('/metrics: tconfd_template_current is 0 for a template whose rendering fails, 1 otherwise', async () => {
    const s = await serve(() => ({ ...healthy, templates: [{ name: 'b.jsonnet', current: true }, { name: 'a.jsonnet', current: false }] }));
    const { samples } = parseProm((await get(s, '/metrics')).body);
    expect(samples.filter((x) => x.name === 'tconfd_template_current')).toEqual([
      { name: 'tconfd_template_current', labels: { template: 'a.jsonnet' }, value: 0 },
      { name: 'tconfd_template_current', labels: { template: 'b.jsonnet' }, value: 1 },
    ]);
    expect(samples.find((x) => x.name === 'tconfd_ready')?.value).toBe(0);
  });

  it('/metrics is Prometheus text with counters, gauges and escaped label values', async () => {
    const metrics = new Metrics({ templates: ['app.jsonnet'], secrets: ['db'] });
    metrics.incRenders('app.jsonnet');
    metrics.incRenders('app.jsonnet');
    metrics.incRenderFailures('odd "quoted" \\ name\nx.jsonnet');
    metrics.incLeaseRenewals('db', 3);
    metrics.incFetchFailures('db');
    metrics.incChildRestarts();
    const s = await serve(() => healthy, metrics);
    const r = await get(s, '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    // The raw escaping, as written on the wire.
    expect(r.body).toContain(
      'tconfd_render_failures_total{template="odd \\"quoted\\" \\\\ name\\nx.jsonnet"} 1\n',
    );
    const { types, samples } = parseProm(r.body);
    expect(Object.fromEntries(types)).toEqual({
      tconfd_renders_total: 'counter',
      tconfd_render_failures_total: 'counter',
      tconfd_lease_renewals_total: 'counter',
      tconfd_fetch_failures_total: 'counter',
      tconfd_child_restarts_total: 'counter',
      tconfd_child_up: 'gauge',
      tconfd_secret_expiry_seconds: 'gauge',
      tconfd_template_current: 'gauge',
      tconfd_ready: 'gauge',
      tconfd_process_resident_memory_bytes: 'gauge',
      tconfd_process_heap_used_bytes: 'gauge',
    });
    const value = (name: string, labels: Record<string, string> = {}) =>
      samples.find((x) => x.name === name && JSON.stringify(x.labels) === JSON.stringify(labels))?.value;
    expect(value('tconfd_renders_total', { template: 'app.jsonnet' })).toBe(2);
    expect(value('tconfd_render_failures_total', { template: 'app.jsonnet' })).toBe(0);
    expect(value('tconfd_render_failures_total', { template: 'odd "quoted" \\ name\nx.jsonnet' })).toBe(1);
    expect(value('tconfd_lease_renewals_total', { secret: 'db' })).toBe(3);
    expect(value('tconfd_fetch_failures_total', { secret: 'db' })).toBe(1);
    expect(value('tconfd_child_restarts_total')).toBe(1);
    expect(value('tconfd_child_up')).toBe(1);
    expect(value('tconfd_ready')).toBe(1);
    // The process's own memory, for capacity planning: plausible byte counts.
    expect(value('tconfd_process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024);
    expect(value('tconfd_process_heap_used_bytes')).toBeGreaterThan(1024 * 1024);
    expect(value('tconfd_process_heap_used_bytes')).toBeLessThan(value('tconfd_process_resident_memory_bytes')!);
    expect(value('tconfd_secret_expiry_seconds', { secret: 'db' })).toBe(3600);
    // Non-expiring secrets have no expiry series.
    expect(samples.filter((x) => x.name === 'tconfd_secret_expiry_seconds')).toHaveLength(1);
  });

  it('/metrics shows the command down and not ready', async () => {
    const s = await serve(() => ({ ...healthy, childRunning: false }));
    const { samples } = parseProm((await get(s, '/metrics')).body);
    expect(samples.find((x) => x.name === 'tconfd_child_up')?.value).toBe(0);
    expect(samples.find((x) => x.name === 'tconfd_ready')?.value).toBe(0);
    expect(samples.find((x) => x.name === 'tconfd_child_restarts_total')?.value).toBe(0);
  });

  it('answers 404 for other paths and 405 for other methods; 500 when the status callback throws', async () => {
    let fail = false;
    const s = await serve(() => {
      if (fail) throw new Error('boom');
      return healthy;
    });
    expect((await get(s, '/')).status).toBe(404);
    expect((await get(s, '/readyz', 'POST')).status).toBe(405);
    fail = true;
    expect(await get(s, '/readyz')).toMatchObject({ status: 500, body: 'internal error\n' });
  });

  it('refuses a bad listen address and reports a busy port', async () => {
    await expect(startHealthServer({ listen: 'localhost', status: () => healthy, logger })).rejects.toThrow(
      /invalid listen address "localhost"/,
    );
    const s = await serve(() => healthy);
    await expect(
      startHealthServer({ listen: `127.0.0.1:${s.port}`, status: () => healthy, logger }),
    ).rejects.toThrow(/cannot listen on 127\.0\.0\.1:\d+.*EADDRINUSE/);
  });
});

describe('parseListen', () => {
  it('parses HOST:PORT, [IPv6]:PORT and :PORT', () => {
    expect(parseListen('127.0.0.1:9090')).toEqual({ host: '127.0.0.1', port: 9090 });
    expect(parseListen('localhost:8080')).toEqual({ host: 'localhost', port: 8080 });
    expect(parseListen('[::1]:9090')).toEqual({ host: '::1', port: 9090 });
    expect(parseListen('[::]:0')).toEqual({ host: '::', port: 0 });
    expect(parseListen(':9090')).toEqual({ host: undefined, port: 9090 });
  });

  it('names the bad value', () => {
    for (const bad of ['9090', 'host:', 'host:http', 'host:70000', '::1:9090', '[]:80', '[::1]9090']) {
      expect(() => parseListen(bad)).toThrow(`invalid listen address "${bad}"`);
    }
  });
});

describe('escapeLabelValue', () => {
  it('escapes backslash, double quote and newline', () => {
    expect(escapeLabelValue('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
  });
});
