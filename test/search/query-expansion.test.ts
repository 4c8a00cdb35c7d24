import { describe, expect, it } from 'vitest';
import { expandQuery } from '../../src/search/query-expansion.js';

describe('αQE', () => {
  it('adds each of the top hits weighted by its similarity to the power α, then renormalises', () => {
    const query = Float32Array.of(1, 0, 0);
    const hits = [Float32Array.of(0.6, 0.8, 0), Float32Array.of(0, 0, 1), Float32Array.of(-1, 0, 0)];
    // α = 2: weights 0.36, 0, 0 (a negative similarity adds nothing); 1 + 0.216 = 1.216, 0.288
    const expanded = expandQuery(query, hits, 3, 2);
    const norm = Math.hypot(1.216, 0.288);
    expect(expanded[0]).toBeCloseTo(1.216 / norm, 6);
    expect(expanded[1]).toBeCloseTo(0.288 / norm, 6);
    expect(expanded[2]).toBe(0);
    // only the top ones count; none leaves the query as it was; the input is not changed
    expect([...expandQuery(query, hits, 0, 2)]).toEqual([1, 0, 0]);
    expect([...query]).toEqual([1, 0, 0]);
    // α = 0 is the plain average of query and hits
    const mean = expandQuery(query, hits.slice(0, 1), 1, 0);
    expect(mean[0]).toBeCloseTo(1.6 / Math.hypot(1.6, 0.8), 6);
    expect(() => expandQuery(query, hits, -1, 3)).toThrow(RangeError);
    expect(() => expandQuery(query, hits, 1, -1)).toThrow(RangeError);
  });
});
