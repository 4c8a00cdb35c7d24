import { describe, expect, it } from 'vitest';
import { groupObjects } from '../../src/detect/object-regions.js';

/** A width × height map: a Gaussian bump of the given height at (cx, cy) with spread `sigma` (cells). */
function bump(width: number, height: number, cx: number, cy: number, sigma: number, peak = 1): Float32Array {
  return Float32Array.from({ length: width * height }, (_, i) => {
    const x = i % width;
    const y = Math.floor(i / width);
    return peak * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma * sigma));
  });
}

describe('groupObjects', () => {
  // A 40 × 20 map with two objects, each seen by two peaks on two of its parts: a "person" at x 6–13 (head and
  // body) and a "car" at x 26–35 (front and back wheel). Each part's salient area is its top 5 % of cells.
  const W = 40;
  const H = 20;
  const parts = [bump(W, H, 9, 5, 1.5), bump(W, H, 9, 9, 1.5), bump(W, H, 28, 12, 1.5, 3), bump(W, H, 33, 12, 1.5, 2)];

  it('gives one group per object, its parts as members and a box covering both parts', () => {
    const groups = groupObjects(parts, W, H, 95);
    expect(groups.map((g) => g.members)).toEqual([[0, 1], [2, 3]]);
    const [person, car] = groups.map((g) => g.box);
    // 5 % of 800 cells = 40 cells per part: a disc of radius ~3.5 around each centre
    for (const [box, parts] of [[person!, [[9, 5], [9, 9]]], [car!, [[28, 12], [33, 12]]]] as const) {
      for (const [cx, cy] of parts) {
        expect(box[0]).toBeLessThanOrEqual(cx - 3);
        expect(box[2]).toBeGreaterThanOrEqual(cx + 4);
        expect(box[1]).toBeLessThanOrEqual(cy - 3);
        expect(box[3]).toBeGreaterThanOrEqual(cy + 4);
      }
    }
    // the two objects stay apart
    expect(person![2]).toBeLessThan(car![0]);
  });

  it('returns no group for peaks whose areas do not touch, nor for a single peak', () => {
    expect(groupObjects([parts[0]!, parts[2]!], W, H, 95)).toEqual([]);
    expect(groupObjects([parts[0]!], W, H, 95)).toEqual([]);
  });

  it('joins areas that only touch diagonally, and counts a peak in every component its area reaches', () => {
    const a = new Float32Array(W * H);
    const b = new Float32Array(W * H);
    const c = new Float32Array(W * H);
    a[2 * W + 2] = 1; // (2, 2)
    b[3 * W + 3] = 1; // (3, 3): diagonal neighbour of a
    c[10 * W + 10] = 1; // far away, and c also holds (4, 4), touching b
    c[4 * W + 4] = 1;
    expect(groupObjects([a, b, c], W, H, 99)).toEqual([{ members: [0, 1, 2], box: [2, 2, 5, 5] }]);
  });

  it('rejects a map of the wrong size', () => {
    expect(() => groupObjects([new Float32Array(10)], W, H, 95)).toThrow(RangeError);
  });
});
