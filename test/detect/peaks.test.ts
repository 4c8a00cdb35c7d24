import { describe, expect, it } from 'vitest';
import { findPeaks, responseMap } from '../../src/detect/peaks.js';

/** A width × height map of `fill`, with `cells` given as [x, y, value]. */
function mapWith(width: number, height: number, cells: [x: number, y: number, value: number][], fill = 0): Float32Array {
  const map = new Float32Array(width * height).fill(fill);
  for (const [x, y, value] of cells) map[y * width + x] = value;
  return map;
}

describe('findPeaks', () => {
  it('finds a single interior peak with its score', () => {
    const map = mapWith(5, 5, [[2, 2, 3]]);
    expect(findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 3 }]);
    expect(findPeaks(map, 5, 5, { variant: 'dasr' })).toEqual([{ x: 2, y: 2, score: 3 }]);
  });

  it('uses x for the column and y for the row on a non-square map', () => {
    const map = mapWith(7, 4, [[5, 1, 2]]);
    expect(findPeaks(map, 7, 4, { variant: 'dasr-star' })).toEqual([{ x: 5, y: 1, score: 2 }]);
  });

  it('keeps only the first cell of a plateau in row-major order', () => {
    const horizontal = mapWith(6, 6, [[2, 2, 5], [3, 2, 5]]);
    expect(findPeaks(horizontal, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 5 }]);
    const vertical = mapWith(6, 6, [[2, 2, 5], [2, 3, 5]]);
    expect(findPeaks(vertical, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 5 }]);
    const antiDiagonal = mapWith(6, 6, [[3, 2, 5], [2, 3, 5]]);
    expect(findPeaks(antiDiagonal, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 3, y: 2, score: 5 }]);
  });

  it('gives no peak when the first cell of a plateau lies on the border', () => {
    // (1,2) has an equal neighbour before it, (0,2) is on the border: the rule excludes both.
    const map = mapWith(5, 5, [[0, 2, 5], [1, 2, 5]]);
    expect(findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it('excludes maxima on the first/last row and column', () => {
    const map = mapWith(6, 5, [[0, 0, 9], [5, 2, 9], [3, 4, 9], [2, 0, 9]]);
    expect(findPeaks(map, 6, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it('does not let an interior cell next to a higher border cell be a peak', () => {
    const map = mapWith(5, 5, [[0, 2, 9], [1, 2, 4], [3, 3, 1]]);
    expect(findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([{ x: 3, y: 3, score: 1 }]);
  });

  it('excludes negative and zero maxima', () => {
    const negative = mapWith(5, 5, [[2, 2, -1]], -3);
    expect(findPeaks(negative, 5, 5, { variant: 'dasr-star' })).toEqual([]);
    const zero = mapWith(5, 5, [[2, 2, 0]], -3);
    expect(findPeaks(zero, 5, 5, { variant: 'dasr-star' })).toEqual([]);
    const flat = new Float32Array(25);
    expect(findPeaks(flat, 5, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it("'dasr' drops maxima below mean(R), 'dasr-star' keeps them", () => {
    const map = mapWith(7, 7, [[2, 2, 100], [4, 4, 1]]); // mean = 101/49 > 1
    expect(findPeaks(map, 7, 7, { variant: 'dasr' })).toEqual([{ x: 2, y: 2, score: 100 }]);
    expect(findPeaks(map, 7, 7, { variant: 'dasr-star' })).toEqual([
      { x: 2, y: 2, score: 100 },
      { x: 4, y: 4, score: 1 },
    ]);
  });

  it("'dasr' keeps a maximum exactly equal to the mean", () => {
    const map = mapWith(5, 5, [[1, 1, 24], [3, 3, 1]]); // mean = 25/25 = 1
    expect(findPeaks(map, 5, 5, { variant: 'dasr' })).toEqual([
      { x: 1, y: 1, score: 24 },
      { x: 3, y: 3, score: 1 },
    ]);
  });

  it('sorts by score descending, ties in row-major order, and truncates to maxPeaks', () => {
    const map = mapWith(7, 7, [[1, 1, 2], [3, 1, 5], [5, 1, 2], [1, 3, 5], [3, 5, 1]]);
    const all = [
      { x: 3, y: 1, score: 5 },
      { x: 1, y: 3, score: 5 },
      { x: 1, y: 1, score: 2 },
      { x: 5, y: 1, score: 2 },
      { x: 3, y: 5, score: 1 },
    ];
    expect(findPeaks(map, 7, 7, { variant: 'dasr-star' })).toEqual(all);
    expect(findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 3 })).toEqual(all.slice(0, 3));
    expect(findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 10 })).toEqual(all);
    expect(findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 0 })).toEqual([]);
  });

  it('rejects a map of the wrong size and an invalid maxPeaks', () => {
    expect(() => findPeaks(new Float32Array(24), 5, 5, { variant: 'dasr' })).toThrow(RangeError);
    expect(() => findPeaks(new Float32Array(25), 5, 5, { variant: 'dasr', maxPeaks: -1 })).toThrow(RangeError);
    expect(() => findPeaks(new Float32Array(25), 5, 5, { variant: 'dasr', maxPeaks: 1.5 })).toThrow(RangeError);
  });
});

describe('responseMap', () => {
  it('averages a CHW tensor over its channels', () => {
    // 3 channels, width 2, height 2
    const features = Float32Array.from([1, 2, 3, 4, 10, 20, 30, 40, 4, 8, 12, 16]);
    expect(Array.from(responseMap(features, 3, 2, 2))).toEqual([5, 10, 15, 20]);
  });

  it('keeps width as the fastest axis on a non-square map', () => {
    const features = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 14, 16]); // 2 channels, width 3, height 2
    expect(Array.from(responseMap(features, 2, 3, 2))).toEqual([3, 4.5, 6, 7.5, 9, 10.5]);
  });

  it('rejects a tensor of the wrong size', () => {
    expect(() => responseMap(new Float32Array(11), 3, 2, 2)).toThrow(RangeError);
  });
});
