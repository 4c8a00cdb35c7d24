/**
 * Retrieval metrics, exactly as ../shared/docs/dasr-method.md ("Evaluation protocol") defines them. Every
 * function takes a ranking already cut to the items that are ranked at all (score > 0, see rankByScore), best
 * first, as one boolean per rank: true = a relevant item at that rank.
 *
 * precision@r = (relevant items among ranks 1..r) / r.
 */

/**
 * Top-K AP: n = min(K, |relevant|); AP = (Σ precision@r over the hits at rank r ≤ n) / n.
 * Only the first n ranks count (a hit below rank n adds nothing, even when n < K), so a perfect ranking gives 1
 * and the value never exceeds 1. No relevant item at all (n = 0) gives 0.
 */
export function averagePrecisionAtK(rankedRelevance: readonly boolean[], relevantCount: number, k: number): number {
  checkCount(relevantCount, 'relevantCount');
  checkHits(rankedRelevance, relevantCount);
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`k must be a positive integer, got ${k}`);
  const n = Math.min(k, relevantCount);
  if (n === 0) return 0;
  return sumPrecisionAtHits(rankedRelevance, n) / n;
}

/**
 * "All" AP: every database item with score > 0 is ranked; AP = (Σ precision@r over all hits) / |relevant|.
 * Relevant items that were not ranked (score ≤ 0) count as misses. No relevant item gives 0.
 */
export function averagePrecisionAll(rankedRelevance: readonly boolean[], relevantCount: number): number {
  checkCount(relevantCount, 'relevantCount');
  checkHits(rankedRelevance, relevantCount);
  if (relevantCount === 0) return 0;
  return sumPrecisionAtHits(rankedRelevance, rankedRelevance.length) / relevantCount;
}

/** The mean of per-query APs (NaN when there is no query). */
export function meanAveragePrecision(averagePrecisions: readonly number[]): number {
  if (averagePrecisions.length === 0) return Number.NaN;
  return averagePrecisions.reduce((sum, ap) => sum + ap, 0) / averagePrecisions.length;
}

/**
 * UKBench N-S score (Nistér & Stewénius 2006): for each query, the number of same-group images among the top
 * `depth` (4) of its ranking, averaged over the queries; 4.0 is perfect. As in the standard protocol the query
 * image is itself in the database, so its ranking includes it and it counts when it is retrieved in the top 4
 * (it is one of the 4 images of its group).
 */
export function nsScore(rankedRelevancePerQuery: readonly (readonly boolean[])[], depth = 4): number {
  if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`depth must be a positive integer, got ${depth}`);
  if (rankedRelevancePerQuery.length === 0) return Number.NaN;
  let total = 0;
  for (const ranking of rankedRelevancePerQuery) total += ranking.slice(0, depth).filter(Boolean).length;
  return total / rankedRelevancePerQuery.length;
}

/** A database item as scored against one query. */
export interface ScoredItem {
  score: number;
  relevant: boolean;
}

/**
 * The order of the ranking: highest score first, ties broken pessimistically — non-relevant before relevant — so
 * equal scores never earn precision they did not discriminate. Negative when `a` ranks before `b`.
 */
export function rankOrder(a: ScoredItem, b: ScoredItem): number {
  return b.score - a.score || Number(a.relevant) - Number(b.relevant);
}

/**
 * The ranking the metrics take: items with score > 0 only (a NaN score is not ranked either), in rankOrder;
 * remaining ties keep their input order (stable). Returns the indices into `items`.
 */
export function rankByScore(items: readonly ScoredItem[]): number[] {
  const ranked: number[] = [];
  items.forEach((item, i) => {
    if (item.score > 0) ranked.push(i);
  });
  return ranked.sort((a, b) => rankOrder(items[a]!, items[b]!) || a - b);
}

function sumPrecisionAtHits(rankedRelevance: readonly boolean[], depth: number): number {
  let hits = 0;
  let sum = 0;
  const end = Math.min(depth, rankedRelevance.length);
  for (let r = 1; r <= end; r++) {
    if (!rankedRelevance[r - 1]) continue;
    hits++;
    sum += hits / r;
  }
  return sum;
}

function checkCount(value: number, name: string): void {
  if (!Number.isInteger(value) || value < 0) throw new RangeError(`${name} must be a non-negative integer, got ${value}`);
}

/** More hits than relevant items means the caller counted relevance wrongly: fail rather than report AP > 1. */
function checkHits(rankedRelevance: readonly boolean[], relevantCount: number): void {
  const hits = rankedRelevance.filter(Boolean).length;
  if (hits > relevantCount) throw new RangeError(`the ranking has ${hits} relevant items but relevantCount is ${relevantCount}`);
}
