import { describe, expect, it } from 'vitest';
import { percentile } from '../../src/detect/percentile.js';

// Expected values are numpy 2.4 np.percentile(values, q) (method='linear'), printed with repr.
describe('percentile', () => {
  it('matches numpy on small inputs', () => {
    expect(percentile([1, 2, 3, 4], 95)).toBe(3.8499999999999996);
    expect(percentile([1, 2, 3, 4], 95)).toBeCloseTo(3.85, 12);
    expect(percentile([1, 2, 3, 4], 25)).toBe(1.75);
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([0.1, 0.2, 0.7], 37.5)).toBe(0.17500000000000002);
    expect(percentile([10, 20], 33.3)).toBe(13.33);
  });

  it('matches numpy on a larger unsorted input', () => {
    const values = Array.from({ length: 1000 }, (_, i) => ((i * 7919) % 1000) / 7);
    expect(percentile(values, 2.5)).toBe(3.567857142857143);
    expect(percentile(values, 33.3)).toBe(47.52385714285714);
    expect(percentile(values, 95)).toBe(135.57857142857142);
    expect(percentile(values, 99.9)).toBe(142.57157142857145);
  });

  it('returns the element of a single-element input for any q', () => {
    expect(percentile([7], 0)).toBe(7);
    expect(percentile([7], 30)).toBe(7);
    expect(percentile([7], 100)).toBe(7);
  });

  it('returns the minimum at q = 0 and the maximum at q = 100', () => {
    expect(percentile([3, -1, 2], 0)).toBe(-1);
    expect(percentile([3, -1, 2], 100)).toBe(3);
  });

  it('accepts a Float32Array and does not mutate its input', () => {
    const values = Float32Array.from([4, 3, 2, 1]);
    expect(percentile(values, 50)).toBe(2.5);
    expect(Array.from(values)).toEqual([4, 3, 2, 1]);
  });

  it('returns NaN when the input holds NaN, like numpy', () => {
    expect(percentile([1, Number.NaN, 3], 10)).toBeNaN();
  });

  it('interpolates between equal infinities without producing NaN', () => {
    expect(percentile([1, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY], 75)).toBe(Number.POSITIVE_INFINITY);
  });

  it('rejects an empty input and q outside [0, 100]', () => {
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile([1], -0.1)).toThrow(RangeError);
    expect(() => percentile([1], 100.1)).toThrow(RangeError);
    expect(() => percentile([1], Number.NaN)).toThrow(RangeError);
  });
});
