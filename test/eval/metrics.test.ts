import { describe, expect, it } from 'vitest';
import { averagePrecisionAll, averagePrecisionAtK, meanAveragePrecision, nsScore, rankByScore } from '../../src/eval/metrics.js';

const T = true;
const F = false;

describe('Top-K AP: n = min(K, |relevant|), hits at rank ≤ n, divided by n', () => {
  it('is 1 for a perfect ranking, whatever K', () => {
    expect(averagePrecisionAtK([T, T, T, F, F], 3, 50)).toBe(1);
    expect(averagePrecisionAtK([T, T, T, F, F], 3, 100)).toBe(1);
    expect(averagePrecisionAtK([T, T], 2, 1)).toBe(1);
    // |relevant| = 80 > K = 50: the first 50 all relevant is perfect.
    expect(averagePrecisionAtK(Array<boolean>(80).fill(T), 80, 50)).toBe(1);
  });

  it('|relevant| = 3, K = 50: divides by 3 and ignores a hit at rank 4', () => {
    // hits at ranks 1, 3, 4: precision@1 = 1, precision@3 = 2/3; rank 4 > n = 3 does not count.
    expect(averagePrecisionAtK([T, F, T, T, F], 3, 50)).toBeCloseTo((1 + 2 / 3) / 3, 12);
    // the same ranking without its rank-4 hit gives the same value
    expect(averagePrecisionAtK([T, F, T, F, F], 3, 50)).toBeCloseTo(5 / 9, 12);
  });

  it('|relevant| = 80, K = 50: divides by 50 and ignores the hits below rank 50', () => {
    // ranks 1..40 relevant, 41..50 not, 51..60 relevant
    const ranking = [...Array<boolean>(40).fill(T), ...Array<boolean>(10).fill(F), ...Array<boolean>(10).fill(T)];
    expect(averagePrecisionAtK(ranking, 80, 50)).toBeCloseTo(40 / 50, 12);
    // K = 100: n = 80; hits at ranks 51..60 have precision (40 + j) / (50 + j), j = 1..10
    let tail = 0;
    for (let j = 1; j <= 10; j++) tail += (40 + j) / (50 + j);
    expect(averagePrecisionAtK(ranking, 80, 100)).toBeCloseTo((40 + tail) / 80, 12);
  });

  it('K smaller than |relevant| counts only the first K ranks', () => {
    // K = 2, |relevant| = 5: n = 2; the hit at rank 2 has precision 1/2; rank 3 is past n
    expect(averagePrecisionAtK([F, T, T], 5, 2)).toBeCloseTo(0.25, 12);
  });

  it('is 0 without hits, without relevant items, or for an empty ranking', () => {
    expect(averagePrecisionAtK([F, F, F], 2, 50)).toBe(0);
    expect(averagePrecisionAtK([F, F], 0, 50)).toBe(0);
    expect(averagePrecisionAtK([], 4, 50)).toBe(0);
  });

  it('rejects inconsistent input', () => {
    expect(() => averagePrecisionAtK([T, T], 1, 50)).toThrow(RangeError);
    expect(() => averagePrecisionAtK([T], 1, 0)).toThrow(RangeError);
    expect(() => averagePrecisionAtK([T], -1, 5)).toThrow(RangeError);
  });
});

describe('All AP: Σ precision@r over every ranked hit, divided by |relevant|', () => {
  it('is 1 for a perfect ranking', () => {
    expect(averagePrecisionAll([T, T, T, F], 3)).toBe(1);
  });

  it('counts hits at any depth', () => {
    // hits at ranks 1, 3, 4 of |relevant| = 3: (1 + 2/3 + 3/4) / 3 = 29/36
    expect(averagePrecisionAll([T, F, T, T, F], 3)).toBeCloseTo(29 / 36, 12);
    const ranking = [...Array<boolean>(40).fill(T), ...Array<boolean>(10).fill(F), ...Array<boolean>(10).fill(T)];
    let tail = 0;
    for (let j = 1; j <= 10; j++) tail += (40 + j) / (50 + j);
    expect(averagePrecisionAll(ranking, 80)).toBeCloseTo((40 + tail) / 80, 12);
  });

  it('counts relevant items that were never ranked (score ≤ 0) as misses', () => {
    // 4 relevant, 2 ranked, at ranks 1 and 3
    expect(averagePrecisionAll([T, F, T], 4)).toBeCloseTo((1 + 2 / 3) / 4, 12);
  });

  it('is 0 without hits or without relevant items', () => {
    expect(averagePrecisionAll([F, F], 3)).toBe(0);
    expect(averagePrecisionAll([], 0)).toBe(0);
  });
});

describe('ranking', () => {
  it('ranks by score, highest first, leaving out scores ≤ 0 and NaN', () => {
    const items = [
      { score: 0.2, relevant: T },
      { score: 0, relevant: T },
      { score: 0.7, relevant: F },
      { score: -0.3, relevant: T },
      { score: Number.NaN, relevant: T },
      { score: 0.9, relevant: T },
    ];
    expect(rankByScore(items)).toEqual([5, 2, 0]);
  });

  it('breaks ties pessimistically (non-relevant first), then by input order', () => {
    expect(rankByScore([{ score: 0.5, relevant: T }, { score: 0.5, relevant: F }])).toEqual([1, 0]);
    expect(rankByScore([{ score: 0.5, relevant: F }, { score: 0.5, relevant: T }])).toEqual([0, 1]);
    expect(rankByScore([{ score: 0.5, relevant: T }, { score: 0.5, relevant: T }, { score: 0.5, relevant: F }])).toEqual([2, 0, 1]);
    // A scorer that cannot tell anything apart earns the worst AP, not the best.
    const items = [{ score: 1, relevant: T }, { score: 1, relevant: F }, { score: 1, relevant: F }];
    const relevance = rankByScore(items).map((i) => items[i]!.relevant);
    expect(relevance).toEqual([F, F, T]);
    expect(averagePrecisionAll(relevance, 1)).toBeCloseTo(1 / 3, 12);
    expect(averagePrecisionAtK(relevance, 1, 50)).toBe(0);
  });
});

describe('mAP and the UKBench N-S score', () => {
  it('mAP is the mean of the per-query APs', () => {
    expect(meanAveragePrecision([1, 0.5, 0])).toBeCloseTo(0.5, 12);
    expect(meanAveragePrecision([])).toBeNaN();
  });

  it('N-S counts same-group images in the top 4 (the query included) and averages over queries', () => {
    expect(nsScore([[T, T, T, T, F]])).toBe(4);
    expect(nsScore([[T, T, T, T], [T, F, T, F, T], [F, F, F, F, T, T, T, T]])).toBeCloseTo((4 + 2 + 0) / 3, 12);
    // fewer than 4 ranked images
    expect(nsScore([[T, T]])).toBe(2);
    expect(nsScore([])).toBeNaN();
  });
});
