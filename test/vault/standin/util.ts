/**
 * Small helpers shared by the Vault stand-in: Vault-style errors, random identifiers, Go-formatted times and
 * durations, duration parsing like Vault's parseutil, and the TTL arithmetic of Vault's framework.CalculateTTL.
 */
import { randomBytes, randomUUID } from 'node:crypto';

/** An error that becomes a Vault error answer: `{"errors": [...]}` with the given status. */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join('; ') || `HTTP ${status}`);
    this.name = 'VaultError';
  }
}

/** Vault's multierror wrapping, as seen in policy denials and router errors. */
export function multiError(message: string): string {
  return `1 error occurred:\n\t* ${message}\n\n`;
}

export const badRequest = (message: string): VaultError => new VaultError(400, [message]);
export const serverError = (message: string): VaultError => new VaultError(500, [message]);
export const permissionDenied = (): VaultError => new VaultError(403, ['permission denied']);
export const policyDenied = (): VaultError => new VaultError(403, [multiError('permission denied')]);
export const unsupportedPath = (): VaultError => new VaultError(404, [multiError('unsupported path')]);
export const unsupportedOperation = (): VaultError => new VaultError(405, [multiError('unsupported operation')]);

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Uniformly random string over the given alphabet (rejection sampling). */
export function randomString(length: number, alphabet: string = ALNUM): string {
  let out = '';
  const limit = 256 - (256 % alphabet.length);
  while (out.length < length) {
    for (const b of randomBytes(length * 2)) {
      if (b >= limit) continue;
      out += alphabet[b % alphabet.length];
      if (out.length === length) break;
    }
  }
  return out;
}

export const randomAlnum = (length: number): string => randomString(length, ALNUM);
export const uuid = (): string => randomUUID();

/** A password like Vault's database engine generates: 20 chars of A-Za-z0-9 and '-'. */
export function randomDbPassword(): string {
  for (;;) {
    const p = randomString(20, ALNUM + '-');
    if (/[A-Z]/.test(p) && /[a-z]/.test(p) && /[0-9]/.test(p) && p.includes('-')) return p;
  }
}

export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** Wall-clock milliseconds with a sub-millisecond part, so timestamps print with nanoseconds like Go's. */
export function preciseNow(): number {
  const sub = Number(process.hrtime.bigint() % 1_000_000n) / 1e6;
  return Date.now() + sub;
}

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
export function goTime(ms: number): string {
  const whole = Math.floor(ms);
  const nanos = Math.round((ms - whole) * 1e6); // 0..1e6
  const d = new Date(whole);
  const base = d.toISOString().slice(0, 19);
  let frac = (d.getUTCMilliseconds() * 1e6 + Math.min(nanos, 999_999)).toString().padStart(9, '0');
  frac = frac.replace(/0+$/, '');
  return frac ? `${base}.${frac}Z` : `${base}Z`;
}

export const unixSeconds = (ms: number): number => Math.floor(ms / 1000);

/** Go's time.Duration.String() for a whole number of seconds: 1h0m0s, 5m0s, 16s, 0s. */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const neg = seconds < 0;
  let s = Math.abs(seconds);
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const secs = Number.isInteger(s) ? String(s) : String(Number(s.toFixed(9)));
  const out = h > 0 ? `${h}h${m}m${secs}s` : m > 0 ? `${m}m${secs}s` : `${secs}s`;
  return neg ? `-${out}` : out;
}

/** Vault's framework humanDuration: Go's form with the zero minutes/seconds parts dropped (1h, 5m, 1m30s). */
export function humanDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  let s = goDuration(seconds);
  if (s.endsWith('m0s')) s = s.slice(0, -2);
  const idx = s.indexOf('h0m');
  if (idx > 0) s = s.slice(0, idx + 1) + s.slice(idx + 3);
  return s;
}

const UNIT_SECONDS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
};

/**
 * Vault's parseutil.ParseDurationSecond: a number is seconds; a string is either a number of seconds or a Go
 * duration (`1h30m`, `90s`, `1.5h`, also `d` for days). Fractions of a second are dropped. Throws VaultError 400.
 */
export function parseDurationSeconds(raw: unknown, field = 'duration'): number {
  if (raw === undefined || raw === null || raw === '') return 0;
  if (typeof raw === 'number') {
    if (!Number.isFinite(raw)) throw badRequest(`invalid ${field}`);
    return Math.trunc(raw);
  }
  if (typeof raw !== 'string') throw badRequest(`error converting input ${JSON.stringify(raw)} for field "${field}"`);
  const str = raw.trim();
  if (/^-?\d+$/.test(str)) return parseInt(str, 10);
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  let neg = false;
  let body = str;
  if (body.startsWith('-')) {
    neg = true;
    body = body.slice(1);
  }
  re.lastIndex = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(body)) !== null) {
    total += parseFloat(match[1] ?? '0') * (UNIT_SECONDS[match[2] ?? 's'] ?? 1);
    consumed = re.lastIndex;
  }
  if (consumed !== body.length || body.length === 0) {
    throw badRequest(`error converting input ${str} for field "${field}": time: invalid duration "${str}"`);
  }
  return Math.trunc(neg ? -total : total);
}

/** Vault's TypeStringSlice / TypeCommaStringSlice: a list, or a comma-separated string. */
export function parseStringList(raw: unknown, splitCommas = true): string[] {
  if (raw === undefined || raw === null) return [];
  if (Array.isArray(raw)) return raw.map((v) => String(v).trim()).filter((v) => v !== '');
  if (typeof raw === 'string') {
    if (raw.trim() === '') return [];
    return (splitCommas ? raw.split(',') : [raw]).map((v) => v.trim()).filter((v) => v !== '');
  }
  return [String(raw)];
}

export function parseBool(raw: unknown, dflt: boolean): boolean {
  if (raw === undefined || raw === null || raw === '') return dflt;
  if (typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return raw !== 0;
  if (typeof raw === 'string') {
    const s = raw.toLowerCase();
    if (['1', 't', 'true'].includes(s)) return true;
    if (['0', 'f', 'false'].includes(s)) return false;
  }
  throw badRequest(`cannot parse '${String(raw)}' as bool`);
}

export function parseInteger(raw: unknown, dflt: number): number {
  if (raw === undefined || raw === null || raw === '') return dflt;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isFinite(n)) throw badRequest(`cannot parse '${String(raw)}' as int`);
  return Math.trunc(n);
}

export function asString(raw: unknown): string {
  if (raw === undefined || raw === null) return '';
  return typeof raw === 'string' ? raw : String(raw);
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sort the keys of a plain object, as Go's encoding/json does for maps. */
export function sortKeys<T extends Record<string, unknown>>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(obj).sort()) out[k] = obj[k];
  return out as T;
}

/** The system default and maximum lease TTL of a dev server: 32 days. */
export const SYSTEM_MAX_TTL = 32 * 24 * 3600;

export interface TtlInputs {
  /** The mount's default and maximum TTLs (seconds), already resolved against the system ones. */
  sysDefault: number;
  sysMax: number;
  increment: number;
  backendTtl: number;
  period: number;
  backendMaxTtl: number;
  explicitMaxTtl: number;
  /** When the lease or token was issued (ms); undefined = now. */
  startMs?: number;
  nowMs: number;
}

export class PastMaxTtlError extends Error {
  constructor() {
    super('past the max TTL, cannot renew');
  }
}

/** Vault's sdk/framework CalculateTTL, in whole seconds, with its warnings. */
export function calculateTtl(i: TtlInputs): { ttl: number; warnings: string[] } {
  const warnings: string[] = [];
  const now = Math.floor(i.nowMs / 1000);
  const start = i.startMs === undefined ? now : Math.floor(i.startMs / 1000);
  let maxTtl = i.sysMax;
  if (i.backendMaxTtl > 0 && i.backendMaxTtl < maxTtl) maxTtl = i.backendMaxTtl;
  if (i.explicitMaxTtl > 0 && i.explicitMaxTtl < maxTtl) maxTtl = i.explicitMaxTtl;
  if (maxTtl <= 0) throw new Error('max TTL must be greater than zero');
  let ttl: number;
  let maxValid: number | undefined;
  if (i.period > 0) {
    let period = i.period;
    if (period > maxTtl) {
      warnings.push(
        `period of "${humanDuration(period)}" exceeded the effective max_ttl of "${humanDuration(maxTtl)}"; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    ttl = period;
    if (i.explicitMaxTtl > 0) maxValid = start + i.explicitMaxTtl;
  } else {
    ttl = i.increment > 0 ? i.increment : i.backendTtl > 0 ? i.backendTtl : i.sysDefault;
    maxValid = start + maxTtl;
  }
  if (maxValid !== undefined) {
    const maxValidTtl = maxValid - now;
    if (maxValidTtl <= 0) throw new PastMaxTtlError();
    if (maxValidTtl - ttl < 0) {
      warnings.push(
        `TTL of "${humanDuration(ttl)}" exceeded the effective max_ttl of "${humanDuration(maxValidTtl)}"; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings };
}

/** Vault's policyutil.SanitizePolicies: trim, lowercase, dedupe, add `default` unless root, sort. */
export function sanitizePolicies(policies: string[], addDefault: boolean): string[] {
  const set = new Set(policies.map((p) => p.trim().toLowerCase()).filter((p) => p !== ''));
  if (set.has('root')) return ['root'];
  if (addDefault) set.add('default');
  return [...set].sort();
}

/** setTimeout that never keeps the process alive and copes with delays above Node's 2^31-1 ms limit. */
export function unrefTimer(dueMs: number, fn: () => void): { cancel(): void } {
  const MAX = 2_147_000_000;
  let handle: NodeJS.Timeout | undefined;
  let cancelled = false;
  const arm = (): void => {
    if (cancelled) return;
    const left = dueMs - Date.now();
    handle = setTimeout(left > MAX ? arm : fn, Math.max(0, Math.min(left, MAX)));
    handle.unref();
  };
  arm();
  return {
    cancel: () => {
      cancelled = true;
      if (handle) clearTimeout(handle);
    },
  };
}

/** Glob matching like Vault's strutil.GlobbedStringsMatch (only `*` wildcards). */
export function globMatch(pattern: string, value: string): boolean {
  if (!pattern.includes('*')) return pattern === value;
  const re = new RegExp('^' + pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*') + '$');
  return re.test(value);
}
