import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/detect/box.js';
import { nonMaximumSuppression } from '../../src/detect/nms.js';

interface Region {
  name: string;
  box: Box;
  score: number;
}

const names = (regions: Region[]): string[] => regions.map((region) => region.name);

describe('nonMaximumSuppression', () => {
  it('returns the kept items by score descending', () => {
    const regions: Region[] = [
      { name: 'low', box: [20, 20, 30, 30], score: 0.1 },
      { name: 'high', box: [0, 0, 10, 10], score: 0.9 },
      { name: 'mid', box: [40, 40, 50, 50], score: 0.5 },
    ];
    expect(names(nonMaximumSuppression(regions, 0.3))).toEqual(['high', 'mid', 'low']);
  });

  it('suppresses an item overlapping a better kept one above the threshold', () => {
    const regions: Region[] = [
      { name: 'a', box: [0, 0, 10, 10], score: 0.9 },
      { name: 'b', box: [1, 0, 11, 10], score: 0.8 }, // IoU with a = 90/110
    ];
    expect(names(nonMaximumSuppression(regions, 0.3))).toEqual(['a']);
  });

  it('keeps an item whose IoU equals the threshold exactly', () => {
    const regions: Region[] = [
      { name: 'a', box: [0, 0, 3, 1], score: 0.9 },
      { name: 'b', box: [1, 0, 4, 1], score: 0.8 }, // intersection 2, union 4 → IoU 0.5 exactly
    ];
    expect(names(nonMaximumSuppression(regions, 0.5))).toEqual(['a', 'b']);
    expect(names(nonMaximumSuppression(regions, 0.49))).toEqual(['a']);
  });

  it('only lets kept items suppress (greedy)', () => {
    const regions: Region[] = [
      { name: 'a', box: [0, 0, 4, 1], score: 0.9 },
      { name: 'b', box: [2, 0, 6, 1], score: 0.8 }, // IoU(a, b) = 2/6: suppressed
      { name: 'c', box: [4, 0, 8, 1], score: 0.7 }, // IoU(b, c) = 2/6 but b is gone; IoU(a, c) = 0
    ];
    expect(names(nonMaximumSuppression(regions, 0.3))).toEqual(['a', 'c']);
  });

  it('keeps the input order among equal scores and does not mutate the input', () => {
    const regions: Region[] = [
      { name: 'first', box: [0, 0, 10, 10], score: 0.5 },
      { name: 'second', box: [0, 0, 10, 10], score: 0.5 },
      { name: 'third', box: [20, 0, 30, 10], score: 0.5 },
    ];
    const copy = [...regions];
    expect(names(nonMaximumSuppression(regions, 0.3))).toEqual(['first', 'third']);
    expect(regions).toEqual(copy);
  });

  it('never suppresses boxes without area (IoU 0)', () => {
    const regions: Region[] = [
      { name: 'a', box: [1, 1, 1, 1], score: 0.9 },
      { name: 'b', box: [1, 1, 1, 1], score: 0.8 },
    ];
    expect(names(nonMaximumSuppression(regions, 0))).toEqual(['a', 'b']);
  });

  it('returns an empty list for no items', () => {
    expect(nonMaximumSuppression([], 0.3)).toEqual([]);
  });
});
