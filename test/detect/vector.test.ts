import { describe, expect, it } from 'vitest';
import { dot, dotRange, l2Normalize } from '../../src/detect/vector.js';

describe('l2Normalize', () => {
  it('returns a new unit-length vector', () => {
    const v = Float32Array.from([3, 4]);
    const unit = l2Normalize(v);
    expect(Array.from(unit)).toEqual([Math.fround(0.6), Math.fround(0.8)]);
    expect(Array.from(v)).toEqual([3, 4]);
    expect(unit).not.toBe(v);
  });

  it('keeps a zero vector zero instead of producing NaN', () => {
    expect(Array.from(l2Normalize(new Float32Array(3)))).toEqual([0, 0, 0]);
  });

  it('maps a vector with a non-finite norm to zero', () => {
    expect(Array.from(l2Normalize(Float32Array.from([1, Number.NaN])))).toEqual([0, 0]);
    expect(Array.from(l2Normalize(Float32Array.from([1, Number.POSITIVE_INFINITY])))).toEqual([0, 0]);
  });
});

describe('dot', () => {
  it('computes the inner product', () => {
    expect(dot(Float32Array.from([1, 2, 3]), Float32Array.from([4, 5, 6]))).toBe(32);
    expect(dot(new Float32Array(0), new Float32Array(0))).toBe(0);
  });

  it('rejects vectors of different lengths', () => {
    expect(() => dot(new Float32Array(2), new Float32Array(3))).toThrow(RangeError);
  });
});

describe('dotRange', () => {
  it('sums over the given ranges, including lengths that are not a multiple of four', () => {
    const a = Float64Array.from([9, 1, 2, 3, 4, 5, 6, 7]);
    const b = Float32Array.from([1, 1, 1, 1, 1, 1, 2, 5, 9]);
    expect(dotRange(a, 1, b, 0, 7)).toBe(1 + 2 + 3 + 4 + 5 + 6 + 14);
    expect(dotRange(a, 0, b, 8, 1)).toBe(81);
    expect(dotRange(a, 3, b, 3, 0)).toBe(0);
  });
});
