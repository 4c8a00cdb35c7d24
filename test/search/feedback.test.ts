import { describe, expect, it } from 'vitest';
import { applyFeedback } from '../../src/search/feedback.js';

describe('relevance feedback', () => {
  it('adds 0.75 × the mean of the right hits, subtracts 0.25 × the mean of the wrong ones, renormalises', () => {
    const query = Float32Array.of(1, 0, 0);
    const right = [Float32Array.of(0, 1, 0), Float32Array.of(0, 0, 1)];
    const wrong = [Float32Array.of(1, 0, 0)];
    // (1 − 0.25, 0.375, 0.375)
    const moved = applyFeedback(query, right, wrong);
    const norm = Math.hypot(0.75, 0.375, 0.375);
    expect([...moved].map((v) => Number(v.toFixed(6)))).toEqual([0.75, 0.375, 0.375].map((v) => Number((v / norm).toFixed(6))));
    expect([...applyFeedback(query, [], [])]).toEqual([1, 0, 0]);
    expect(() => applyFeedback(query, [Float32Array.of(1, 0)], [])).toThrow(/2 dimensions/);
  });
});
