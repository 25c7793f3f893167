/**
 * Durations as Go and Vault write them. Pure.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parse a Go-style duration into milliseconds: `500ms`, `2s`, `1m30s`, `1.5h`; a bare number is seconds (`30`). Units:
 * ns, us, ms, s, m, h, d. Negative durations are refused. Throws an Error naming the bad value.
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  const bad = (why: string): Error =>
    new Error(`invalid duration "${text}": ${why} (examples: "500ms", "2s", "1m30s", or a number of seconds)`);
  if (s === '') throw bad('empty');
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1_000);
  const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h|d)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    pos = re.lastIndex;
  }
  if (pos !== s.length || pos === 0) {
    if (s.startsWith('-')) throw bad('must not be negative');
    throw bad('expected numbers with units ns, us, ms, s, m, h or d');
  }
  return Math.round(total);
}

export interface WaitSpec {
  readonly minMs: number;
  readonly maxMs: number;
}

/**
 * Parse consul-template's wait: `MIN` or `MIN:MAX` (`"2s:10s"`, `"500ms"`). Without MAX, MAX is 4 × MIN as in
 * consul-template. MAX must not be below MIN. Throws an Error naming the bad value.
 */
export function parseWait(text: string): WaitSpec {
  const parts = text.split(':');
  if (parts.length > 2) throw new Error(`invalid wait "${text}": expected MIN or MIN:MAX, such as "2s:10s"`);
  let minMs: number;
  let maxMs: number;
  try {
    minMs = parseDuration(parts[0]!);
    maxMs = parts.length === 2 ? parseDuration(parts[1]!) : minMs * 4;
  } catch (err) {
    throw new Error(`invalid wait "${text}": ${(err as Error).message}`, { cause: err });
  }
  if (maxMs < minMs) throw new Error(`invalid wait "${text}": max (${parts[1]}) is shorter than min (${parts[0]})`);
  return { minMs, maxMs };
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
