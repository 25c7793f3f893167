/**
 * Durations as Go and Vault write them: "500ms", "30s", "5m", "1h30m", "2h45m10s"; a bare number is seconds. Pure.
 */
const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(t)) !== null) {
    total += Number(m[1]) * UNITS[m[2]!]!;
    matched = re.lastIndex;
  }
  if (t === '' || matched !== t.length) {
    throw new Error(`"${text}" is not a duration (expected e.g. 500ms, 30s, 5m, 1h30m)`);
  }
  return Math.round(total);
}

/** "MIN[:MAX]" as consul-template's wait; MAX defaults to 4 x MIN like consul-template. */
export function parseWait(text: string): { minMs: number; maxMs: number } {
  const [a, b, extra] = text.split(':');
  if (extra !== undefined || a === undefined) throw new Error(`"${text}" is not a wait (expected MIN[:MAX], e.g. 2s:10s)`);
  const minMs = parseDuration(a);
  const maxMs = b === undefined ? minMs * 4 : parseDuration(b);
  if (maxMs < minMs) throw new Error(`"${text}": the maximum wait is shorter than the minimum`);
  return { minMs, maxMs };
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
