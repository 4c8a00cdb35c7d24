import { describe, expect, it } from 'vitest';
import { averagePoolBox, overlapPoolBox, roiCells } from '../../src/detect/roi-pool.js';
import { cellBoxToPixels } from '../../src/detect/dasr.js';

describe('roiCells', () => {
  // a 512 × 512 network input → 16 × 16 res5 map at stride 32
  it('covers the whole map for the whole image', () => {
    expect(roiCells([0, 0, 512, 512], 32, 16, 16)).toEqual({ x0: 0, x1: 16, y0: 0, y1: 16 });
  });

  it('maps a box on cell boundaries to exactly those cells', () => {
    expect(roiCells([32, 64, 96, 128], 32, 16, 16)).toEqual({ x0: 1, x1: 3, y0: 2, y1: 4 });
  });

  it('includes every partly covered cell for a box off the boundaries', () => {
    // x: floor(40/32) = 1, ceil(100/32) = 4; y: floor(70/32) = 2, ceil(130/32) = 5
    expect(roiCells([40, 70, 100, 130], 32, 16, 16)).toEqual({ x0: 1, x1: 4, y0: 2, y1: 5 });
  });

  it('clamps a box partly outside the map', () => {
    expect(roiCells([-50, -10, 600, 100], 32, 16, 16)).toEqual({ x0: 0, x1: 16, y0: 0, y1: 4 });
  });

  it('gives a tiny box inside one cell that cell', () => {
    expect(roiCells([40, 40, 41, 41], 32, 16, 16)).toEqual({ x0: 1, x1: 2, y0: 1, y1: 2 });
  });

  it('falls back to the cell under the centre when the range is empty', () => {
    // zero-size box on a cell corner: floor = ceil = 2
    expect(roiCells([64, 64, 64, 64], 32, 16, 16)).toEqual({ x0: 2, x1: 3, y0: 2, y1: 3 });
    // entirely beyond the right/bottom edge → last cell; beyond the left/top edge → first cell
    expect(roiCells([600, 600, 700, 700], 32, 16, 16)).toEqual({ x0: 15, x1: 16, y0: 15, y1: 16 });
    expect(roiCells([-100, -100, -40, -40], 32, 16, 16)).toEqual({ x0: 0, x1: 1, y0: 0, y1: 1 });
  });

  it('rejects a non-finite box and an invalid stride or map', () => {
    expect(() => roiCells([0, 0, Number.NaN, 10], 32, 16, 16)).toThrow(RangeError);
    expect(() => roiCells([0, 0, 10, 10], 0, 16, 16)).toThrow(RangeError);
    expect(() => roiCells([0, 0, 10, 10], 32, 0, 16)).toThrow(RangeError);
  });
});

describe('averagePoolBox', () => {
  // 2 channels, width 3, height 2, stride 10:
  // channel 0: 1 2 3 / 4 5 6   channel 1: 10 20 30 / 40 50 60
  const features = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]);

  it('averages each channel over the cells under the box', () => {
    expect(Array.from(averagePoolBox(features, 2, 3, 2, 10, [0, 0, 20, 10]))).toEqual([1.5, 15]);
    expect(Array.from(averagePoolBox(features, 2, 3, 2, 10, [0, 0, 30, 20]))).toEqual([3.5, 35]);
    // x: floor(1.5) = 1 .. ceil(2.5) = 3; y: floor(0.5) = 0 .. ceil(2) = 2 → cells 2, 3, 5, 6
    expect(Array.from(averagePoolBox(features, 2, 3, 2, 10, [15, 5, 25, 20]))).toEqual([4, 40]);
  });

  it('pools a single cell for a degenerate box', () => {
    expect(Array.from(averagePoolBox(features, 2, 3, 2, 10, [20, 10, 20, 10]))).toEqual([6, 60]);
  });

  it('rejects a tensor of the wrong size', () => {
    expect(() => averagePoolBox(features, 3, 3, 2, 10, [0, 0, 10, 10])).toThrow(RangeError);
  });
});

describe('overlapPoolBox', () => {
  // The same map as above, the stride-10 map of a 30 × 20 input. A cell stands for the pixels nearest its centre
  // (10·i + 0.5): columns [0, 5.5), [5.5, 15.5), [15.5, 25.5); rows [0, 5.5), [5.5, 15.5).
  const features = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60]);
  const input = { width: 30, height: 20 };
  const pool = (box: [number, number, number, number]): number[] => Array.from(overlapPoolBox(features, 2, 3, 2, 10, input, box));
  const expectPooled = (box: [number, number, number, number], expected: [number, number]): void => {
    const pooled = pool(box);
    expect(pooled[0]).toBeCloseTo(expected[0], 5);
    expect(pooled[1]).toBeCloseTo(expected[1], 4);
  };

  it('pools exactly the cells a box was made of (cellBoxToPixels)', () => {
    expectPooled(cellBoxToPixels([1, 0, 2, 1], 10, 30, 20), [2, 20]);
    expectPooled(cellBoxToPixels([0, 0, 2, 1], 10, 30, 20), [1.5, 15]);
    expectPooled(cellBoxToPixels([1, 0, 2, 2], 10, 30, 20), [3.5, 35]);
    // the covering rule takes the column to the left too: floor(5.5 / 10) = 0
    expect(Array.from(averagePoolBox(features, 2, 3, 2, 10, cellBoxToPixels([1, 0, 2, 1], 10, 30, 20)))).toEqual([1.5, 15]);
  });

  it('weighs each cell by the share of it under the box', () => {
    // x ∈ [10.5, 30): half of column 1, all of column 2; row 0: (0.5 · 2 + 1 · 3) / 1.5
    expectPooled([10.5, 0, 30, 5.5], [8 / 3, 80 / 3]);
    // x ∈ [0.5, 20.5): 5 / 5.5 of column 0, column 1, half of column 2; row 0:
    // (10/11 · 1 + 2 + 0.5 · 3) / (10/11 + 1 + 0.5) = 48.5 / 26.5
    expectPooled([0.5, 0, 20.5, 5.5], [48.5 / 26.5, 485 / 26.5]);
    // one column, so only the rows' weights count: y ∈ [0, 10.5), row 0 whole, half of row 1: (1 · 2 + 0.5 · 5) / 1.5
    expectPooled([5.5, 0, 10.5, 10.5], [3, 30]);
  });

  it("clips the cells' spans to the input", () => {
    // a 21-px-wide input: column 2 spans [15.5, 21), all under the box; on the 30-px one it would be 5.5 / 10 of it
    const narrow = Array.from(overlapPoolBox(features, 2, 3, 2, 10, { width: 21, height: 20 }, [10.5, 0, 21, 5.5]));
    expect(narrow[0]).toBeCloseTo(8 / 3, 5);
    expectPooled([10.5, 0, 21, 5.5], [(0.5 * 2 + 0.55 * 3) / 1.05, (0.5 * 20 + 0.55 * 30) / 1.05]);
  });

  it('gives a box inside one cell exactly that cell', () => {
    expectPooled([11, 11, 13, 14], [5, 50]);
  });

  it('clamps a box partly outside the input, and falls back to the cell under the centre of one covering no cell', () => {
    expectPooled([-100, -100, 5.5, 100], [2.5, 25]);
    expectPooled([200, 200, 200, 200], [6, 60]);
    expectPooled([20, 10, 20, 10], [6, 60]);
  });

  it('rejects a tensor of the wrong size and a non-finite box', () => {
    expect(() => overlapPoolBox(features, 3, 3, 2, 10, input, [0, 0, 10, 10])).toThrow(RangeError);
    expect(() => overlapPoolBox(features, 2, 3, 2, 10, input, [0, 0, Number.NaN, 10])).toThrow(RangeError);
  });
});
