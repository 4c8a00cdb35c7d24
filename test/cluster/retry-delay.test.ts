import { describe, expect, it } from 'vitest';
import { retryDelayMs } from '../../src/cluster/worker.js';

describe('retry delay of a failed job', () => {
  it('waits 5 s after the first delivery, doubles with each later one, and stays at 5 min', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(retryDelayMs)).toEqual([5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
    expect(retryDelayMs(0)).toBe(5_000); // a server that reports no count yet
  });
});
