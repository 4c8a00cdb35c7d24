import { describe, expect, it } from 'vitest';
import { combineExamples } from '../../src/search/examples.js';

describe('several examples of one object', () => {
  it('is the renormalised mean of the unit descriptors, each view counting the same', () => {
    // (3, 4) and (0, 2) are (0.6, 0.8) and (0, 1) as unit vectors: mean direction (0.6, 1.8)
    const combined = combineExamples([Float32Array.of(3, 4), Float32Array.of(0, 2)]);
    const norm = Math.hypot(0.6, 1.8);
    expect(combined[0]).toBeCloseTo(0.6 / norm, 6);
    expect(combined[1]).toBeCloseTo(1.8 / norm, 6);
    expect([...combineExamples([Float32Array.of(0, 5)])]).toEqual([0, 1]);
    expect(() => combineExamples([])).toThrow(RangeError);
    expect(() => combineExamples([Float32Array.of(1, 0), Float32Array.of(1, 0, 0)])).toThrow(/3 dimensions/);
  });
});
