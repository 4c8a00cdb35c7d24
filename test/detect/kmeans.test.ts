import { describe, expect, it } from 'vitest';
import { kMeans } from '../../src/detect/kmeans.js';
import { mulberry32, standardNormal } from '../support/random.js';

/** `perBlob` points around each of `centres` (2-d), spread σ; returns the points and each one's blob. */
function blobs(centres: [number, number][], perBlob: number, sigma: number, seed: number): { points: Float32Array; blob: number[] } {
  const random = mulberry32(seed);
  const points = new Float32Array(centres.length * perBlob * 2);
  const blob: number[] = [];
  let n = 0;
  for (let p = 0; p < perBlob; p++) {
    centres.forEach(([x, y], b) => {
      points[n++] = x + sigma * standardNormal(random);
      points[n++] = y + sigma * standardNormal(random);
      blob.push(b);
    });
  }
  return { points, blob };
}

describe('kMeans', () => {
  const centres: [number, number][] = [[0, 0], [10, 0], [0, 10], [10, 10]];

  it('finds well-separated blobs: one cluster per blob, centroids at the blob means', () => {
    const { points, blob } = blobs(centres, 50, 0.5, 7);
    const { centroids, assignments, iterations } = kMeans(points, 2, 4, { seed: 3 });
    expect(iterations).toBeLessThan(30);
    // the clustering is the blob partition (cluster numbers may be permuted)
    const clusterOfBlob = new Map<number, number>();
    blob.forEach((b, i) => {
      if (!clusterOfBlob.has(b)) clusterOfBlob.set(b, assignments[i]!);
      expect(assignments[i]).toBe(clusterOfBlob.get(b));
    });
    expect(new Set(clusterOfBlob.values()).size).toBe(4);
    for (const [b, c] of clusterOfBlob) {
      let sx = 0;
      let sy = 0;
      let count = 0;
      blob.forEach((bb, i) => {
        if (bb !== b) return;
        sx += points[2 * i]!;
        sy += points[2 * i + 1]!;
        count++;
      });
      expect(centroids[2 * c]).toBeCloseTo(sx / count, 4);
      expect(centroids[2 * c + 1]).toBeCloseTo(sy / count, 4);
    }
  });

  it('is deterministic for a seed; its assignment is to the nearest returned centroid, even when stopped by the iteration cap', () => {
    const { points } = blobs(centres, 30, 3, 11);
    for (const maxIterations of [1, 30]) {
      const a = kMeans(points, 2, 5, { seed: 9, maxIterations });
      const b = kMeans(points, 2, 5, { seed: 9, maxIterations });
      expect(Array.from(a.centroids)).toEqual(Array.from(b.centroids));
      // checked by brute force, point by point
      let inertia = 0;
      for (let i = 0; i < points.length / 2; i++) {
        const distances = [0, 1, 2, 3, 4].map((c) => (points[2 * i]! - a.centroids[2 * c]!) ** 2 + (points[2 * i + 1]! - a.centroids[2 * c + 1]!) ** 2);
        const best = Math.min(...distances);
        expect(distances[a.assignments[i]!]).toBeCloseTo(best, 9);
        inertia += best;
      }
      expect(a.inertia).toBeCloseTo(inertia, 6);
    }
    // more iterations never leave a worse clustering of the same start
    expect(kMeans(points, 2, 5, { seed: 9 }).inertia).toBeLessThanOrEqual(kMeans(points, 2, 5, { seed: 9, maxIterations: 1 }).inertia + 1e-9);
  });

  it('with k = n every point is its own centroid (inertia 0), duplicates included', () => {
    const points = Float32Array.from([1, 1, 1, 1, 5, 5, 9, 2]);
    const { inertia, assignments } = kMeans(points, 2, 4, { seed: 1 });
    expect(inertia).toBe(0);
    expect(new Set(assignments).size).toBeGreaterThanOrEqual(3);
  });

  it('refuses k outside 1..n and points that are not n × dim', () => {
    const points = new Float32Array(6);
    expect(() => kMeans(points, 2, 0)).toThrow(/k must be/);
    expect(() => kMeans(points, 2, 4)).toThrow(/k must be/);
    expect(() => kMeans(points, 4, 1)).toThrow(/not n × 4/);
  });
});
