/**
 * "Did you mean …?": the closest candidate to what the user typed, only when it is close (a typo:
 * about one edit in three letters). Shared by the CLI's validators, the catalogue (variants,
 * analyses) and pydbg.yaml's field names; no imports, so every layer may use it.
 */

/** ` (Did you mean x?)` for the closest candidate, or ''. */
export function didYouMean(word: string, candidates: readonly string[]): string {
  const best = closestTo(word, candidates);
  return best ? ` (Did you mean ${best}?)` : '';
}

/** The candidate within max(1, 40% of its length) edits of `word`, or undefined (nothing is close). */
export function closestTo(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 64) return undefined; // nothing pydbg knows is that long
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best !== undefined && bestD <= Math.max(1, Math.floor(best.length * 0.4)) ? best : undefined;
}

/** Edits (insert, delete, substitute, swap two neighbours) from a to b: a typo is usually one. */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
