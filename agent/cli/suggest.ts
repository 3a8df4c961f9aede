/** Edit distance (insert, delete, substitute, swap of neighbours): how far a typo is from a word. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known word closest to `word`, when it is close enough to be a typo (at most a third of
 * its letters off) or `word` starts it ("stat" → "status"); otherwise undefined.
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  const prefixed = known.filter((k) => w.length >= 2 && k.startsWith(w));
  if (prefixed.length === 1) return prefixed[0];
  let best: { word: string; distance: number } | undefined;
  for (const k of known) {
    const distance = editDistance(w, k);
    if (best === undefined || distance < best.distance) best = { word: k, distance };
  }
  return best !== undefined && best.distance <= Math.max(1, Math.floor(w.length / 3)) ? best.word : undefined;
}
