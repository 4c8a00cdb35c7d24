import { describe, expect, it } from 'vitest';
import { boxAboveFraction, boxFromSaliency } from '../../src/detect/region-box.js';

/** width × height zero map with `value` on columns [x0, x1) and rows [y0, y1). */
function blobMap(width: number, height: number, x0: number, x1: number, y0: number, y1: number, value = 1): Float32Array {
  const map = new Float32Array(width * height);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) map[y * width + x] = value;
  return map;
}

// A run of 7 consecutive pixel centres has population variance (7² − 1)/12 = 4, so σ = 2 exactly and the box
// is mean ± 4. On a 20 × 20 map, 49 blob pixels exceed the top 5 %, so τ = 1 and exactly the blob is kept.
describe('boxFromSaliency', () => {
  it('boxes a uniform square blob at mean ± 2σ', () => {
    // columns/rows 5..11 → centres 5.5..11.5, mean 8.5
    expect(boxFromSaliency(blobMap(20, 20, 5, 12, 5, 12), 20, 20)).toEqual([4.5, 4.5, 12.5, 12.5]);
  });

  it('boxes an off-centre blob, x from columns and y from rows', () => {
    // columns 2..8 → mean 5.5; rows 10..16 → mean 13.5
    expect(boxFromSaliency(blobMap(20, 20, 2, 9, 10, 17), 20, 20)).toEqual([1.5, 9.5, 9.5, 17.5]);
  });

  it('uses separate σ per axis on a rectangular blob', () => {
    // 7 wide (σx = 2), 5 tall (variance (25 − 1)/12 = 2, σy = √2); 35 pixels still exceed the top 5 % of 400
    const box = boxFromSaliency(blobMap(20, 20, 3, 10, 6, 11), 20, 20);
    expect(box).not.toBeNull();
    const [x1, y1, x2, y2] = box!;
    expect([x1, x2]).toEqual([2.5, 10.5]);
    expect(y1).toBeCloseTo(8.5 - 2 * Math.SQRT2, 12);
    expect(y2).toBeCloseTo(8.5 + 2 * Math.SQRT2, 12);
  });

  it('is unweighted: kept pixels count the same whatever their saliency', () => {
    const map = blobMap(20, 20, 5, 12, 5, 12, 5);
    // 19 of the 49 pixels get a higher value; τ stays 5 (sorted offsets 28 and 29 of the blob are both 5)
    for (let k = 0; k < 19; k++) map[(5 + Math.floor(k / 7)) * 20 + 5 + (k % 7)] = 10;
    expect(boxFromSaliency(map, 20, 20)).toEqual([4.5, 4.5, 12.5, 12.5]);
  });

  it('keeps only pixels at or above the percentile', () => {
    // 10 × 10 map, values 0..99 in row-major order; τ = percentile(0..99, 95) = 94.05 → the last 5 pixels of row 9
    const map = Float32Array.from({ length: 100 }, (_, i) => i);
    const box = boxFromSaliency(map, 10, 10);
    expect(box).toBeNull(); // a single row has σy = 0: degenerate
    const quantileBox = boxFromSaliency(map, 10, 10, 80); // τ = 79.2 → pixels 80..99 = rows 8–9, all columns
    // columns: mean 5, variance (100 − 1)/12 = 8.25; rows 8.5 and 9.5: mean 9, σ = 0.5 → y from 8 to 10
    expect(quantileBox![0]).toBeCloseTo(0, 12); // 5 − 2√8.25 < 0 is clipped
    expect(quantileBox![2]).toBe(10);
    expect(quantileBox![1]).toBe(8);
    expect(quantileBox![3]).toBe(10);
  });

  it('clips the box to the map', () => {
    // columns/rows 0..6 → mean 3.5, σ = 2 → [−0.5, 7.5] clipped to [0, 7.5]
    expect(boxFromSaliency(blobMap(20, 20, 0, 7, 0, 7), 20, 20)).toEqual([0, 0, 7.5, 7.5]);
    expect(boxFromSaliency(blobMap(20, 20, 13, 20, 13, 20), 20, 20)).toEqual([12.5, 12.5, 20, 20]);
  });

  it('returns null for a single salient pixel', () => {
    expect(boxFromSaliency(blobMap(20, 20, 4, 5, 4, 5), 20, 20)).toBeNull();
  });

  it('returns null for an all-zero map and for a map without positive values', () => {
    expect(boxFromSaliency(new Float32Array(400), 20, 20)).toBeNull();
    expect(boxFromSaliency(new Float32Array(400).fill(-1), 20, 20)).toBeNull();
  });

  it('returns null for a box thinner than one pixel', () => {
    // two adjacent pixels in a row: σx = 0.5 → width 2, but σy = 0 → height 0
    expect(boxFromSaliency(blobMap(20, 20, 4, 6, 4, 5), 20, 20)).toBeNull();
  });

  it('ignores non-finite values instead of producing NaN', () => {
    const map = blobMap(20, 20, 5, 12, 5, 12);
    map[0] = Number.NaN;
    map[399] = Number.POSITIVE_INFINITY;
    map[7 * 20 + 7] = Number.NaN; // inside the blob: not kept, the other 48 are
    map[30] = Number.NEGATIVE_INFINITY;
    const box = boxFromSaliency(map, 20, 20);
    expect(box).not.toBeNull();
    expect(box!.every(Number.isFinite)).toBe(true);
    expect(boxFromSaliency(new Float32Array(400).fill(Number.NaN), 20, 20)).toBeNull();
  });

  it('gives the uniform-blob box when NaN lies outside the blob', () => {
    const map = blobMap(20, 20, 5, 12, 5, 12);
    map[0] = Number.NaN;
    expect(boxFromSaliency(map, 20, 20)).toEqual([4.5, 4.5, 12.5, 12.5]);
  });

  it('rejects a map of the wrong size', () => {
    expect(() => boxFromSaliency(new Float32Array(10), 4, 4)).toThrow(RangeError);
  });
});

describe('boxAboveFraction', () => {
  // A peak of 10 on a 6 × 4 blob with a fainter halo of 3 around it, and one cell of 1 far away.
  const map = blobMap(30, 20, 8, 16, 6, 12, 3);
  for (let y = 7; y < 11; y++) for (let x = 9; x < 15; x++) map[y * 30 + x] = 10;
  map[19 * 30 + 29] = 1;

  it('takes the tight bounds (exclusive ends) of the cells at or above the fraction of the maximum', () => {
    expect(boxAboveFraction(map, 30, 20, 0.5)).toEqual([9, 7, 15, 11]);
    expect(boxAboveFraction(map, 30, 20, 0.3)).toEqual([8, 6, 16, 12]);
    expect(boxAboveFraction(map, 30, 20, 0.1)).toEqual([8, 6, 30, 20]);
  });

  it('follows the object whatever its share of the map, where a percentile keeps a fixed share', () => {
    // The same object on a map four times larger: the same box, while the 95th percentile keeps 5 % of the cells.
    const large = new Float32Array(60 * 40);
    for (let y = 0; y < 20; y++) large.set(map.subarray(y * 30, y * 30 + 29), y * 60);
    expect(boxAboveFraction(large, 60, 40, 0.3)).toEqual([8, 6, 16, 12]);
  });

  it('ignores infinities and non-positive values; null when the map has no positive value', () => {
    const odd = blobMap(10, 10, 2, 4, 2, 4, 5);
    odd[99] = Number.POSITIVE_INFINITY;
    odd[0] = Number.NaN;
    expect(boxAboveFraction(odd, 10, 10, 0.5)).toEqual([2, 2, 4, 4]);
    expect(boxAboveFraction(new Float32Array(100).fill(-1), 10, 10, 0.5)).toBeNull();
    expect(() => boxAboveFraction(new Float32Array(5), 10, 10, 0.5)).toThrow(RangeError);
  });
});
