/**
 * "Did you mean --dir?" for a mistyped option: the closest name of the option table, by edit distance (a swapped pair
 * of letters counts as one edit, as in `--dri`), or the one name the typed text begins. Pure; generic over the table.
 */

/** Edits (insertion, deletion, substitution, transposition of adjacent letters) between two strings. */
export function editDistance(a: string, b: string): number {
  // Optimal string alignment: three rows of the dynamic-programming table.
  let prev2: number[] = [];
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, prev2[j - 2]! + 1);
      cur.push(d);
    }
    prev2 = prev;
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * The option `typed` was probably meant to be, among `names` (without dashes): the only one at the smallest edit
 * distance when that is small for its length (1 edit up to 5 letters, 2 up to 8, 3 beyond), else the only one that
 * begins with `typed` (3 letters at least). Undefined when nothing is close or two names are equally close.
 */
export function closestName(typed: string, names: readonly string[]): string | undefined {
  if (typed.length < 2) return undefined;
  const limit = typed.length <= 5 ? 1 : typed.length <= 8 ? 2 : 3;
  let best: string[] = [];
  let bestDistance = Infinity;
  for (const name of new Set(names)) {
    const d = editDistance(typed, name);
    if (d < bestDistance) [best, bestDistance] = [[name], d];
    else if (d === bestDistance) best.push(name);
  }
  if (bestDistance <= limit) return best.length === 1 ? best[0] : undefined;
  const prefixed = typed.length >= 3 ? [...new Set(names)].filter((n) => n.startsWith(typed)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}
