/** Sizes in bytes: --max-secret-size as written ("4MiB", "512KiB", "65536") and as shown in messages ("4 MiB"). Pure. */

/** Default --max-secret-size: the largest secret (a Vault answer, a file, an exe's output). */
export const DEFAULT_MAX_SECRET_BYTES = 4 * 1024 * 1024;

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3 };

/** "4MiB", "512KiB", "1MB", "65536" -> bytes. Throws with a message meant to follow the option's name. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new Error(`"${text}" is not a size (e.g. 4MiB, 512KiB, 65536)`);
  const bytes = Math.floor(Number(m[1]) * unit);
  if (bytes < 1) throw new Error(`"${text}" is less than one byte`);
  return bytes;
}

/** bytes -> "4 MiB", "1.5 KiB", "1000 bytes" */
export function formatSize(bytes: number): string {
  for (const [unit, n] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= n && bytes % (n / 1024) === 0) return `${+(bytes / n).toFixed(2)} ${unit}`;
  }
  return `${bytes} bytes`;
}
