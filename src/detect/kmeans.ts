/**
 * k-means (Lloyd's iterations from a k-means++ start) on packed vectors, seeded so that a codebook learned twice
 * from the same data is the same codebook.
 */
import { mulberry32 } from '../util/random.js';

export interface KMeansOptions {
  /** PRNG seed of the k-means++ start (default 1) */
  seed?: number;
  /** Lloyd iterations at most (default 30); it stops earlier once no point changes cluster */
  maxIterations?: number;
}

export interface KMeansResult {
  /** k × dim, row-major */
  centroids: Float32Array;
  /** the cluster of each point */
  assignments: Int32Array;
  /** Σ squared distance of each point to its centroid */
  inertia: number;
  iterations: number;
}

/** `points` is n × dim row-major, n ≥ k ≥ 1. */
export function kMeans(points: Float32Array, dim: number, k: number, options: KMeansOptions = {}): KMeansResult {
  const n = points.length / dim;
  if (!Number.isInteger(dim) || dim < 1 || !Number.isInteger(n)) throw new RangeError(`kMeans: ${points.length} values are not n × ${dim}`);
  if (!Number.isInteger(k) || k < 1 || k > n) throw new RangeError(`kMeans: k must be an integer from 1 to the ${n} points, got ${k}`);
  const random = mulberry32(options.seed ?? 1);
  const centroids = kMeansPlusPlus(points, dim, n, k, random);
  const assignments = new Int32Array(n).fill(-1);
  const distances = new Float64Array(n);
  const maxIterations = options.maxIterations ?? 30;
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const { index, distance } = nearest(points, i * dim, centroids, k, dim);
      distances[i] = distance;
      if (assignments[i] !== index) {
        assignments[i] = index;
        changed++;
      }
    }
    if (changed === 0) break;
    updateCentroids(points, dim, n, k, assignments, distances, centroids);
  }
  // the assignment to the centroids returned (after the last update, when the iteration cap was reached)
  let inertia = 0;
  for (let i = 0; i < n; i++) {
    const { index, distance } = nearest(points, i * dim, centroids, k, dim);
    assignments[i] = index;
    inertia += distance;
  }
  return { centroids, assignments, inertia, iterations };
}

/** The centroid closest to the vector at `points[offset …]`, and its squared distance. */
export function nearest(points: Float32Array, offset: number, centroids: Float32Array, k: number, dim: number): { index: number; distance: number } {
  let index = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let c = 0; c < k; c++) {
    const distance = squaredDistance(points, offset, centroids, c * dim, dim);
    if (distance < best) {
      best = distance;
      index = c;
    }
  }
  return { index, distance: best };
}

function squaredDistance(a: Float32Array, aStart: number, b: Float32Array, bStart: number, dim: number): number {
  let sum = 0;
  for (let j = 0; j < dim; j++) {
    const d = a[aStart + j]! - b[bStart + j]!;
    sum += d * d;
  }
  return sum;
}

/** Arthur & Vassilvitskii's seeding: each next centre drawn with probability ∝ squared distance to the chosen ones. */
function kMeansPlusPlus(points: Float32Array, dim: number, n: number, k: number, random: () => number): Float32Array {
  const centroids = new Float32Array(k * dim);
  const first = Math.floor(random() * n);
  centroids.set(points.subarray(first * dim, first * dim + dim), 0);
  const closest = new Float64Array(n);
  for (let i = 0; i < n; i++) closest[i] = squaredDistance(points, i * dim, centroids, 0, dim);
  for (let c = 1; c < k; c++) {
    let total = 0;
    for (let i = 0; i < n; i++) total += closest[i]!;
    let chosen = n - 1;
    if (total > 0) {
      let target = random() * total;
      for (let i = 0; i < n; i++) {
        target -= closest[i]!;
        if (target < 0) {
          chosen = i;
          break;
        }
      }
    } else {
      // every point coincides with a centre already: any point will do
      chosen = Math.floor(random() * n);
    }
    centroids.set(points.subarray(chosen * dim, chosen * dim + dim), c * dim);
    for (let i = 0; i < n; i++) closest[i] = Math.min(closest[i]!, squaredDistance(points, i * dim, centroids, c * dim, dim));
  }
  return centroids;
}

/**
 * Each centroid moves to the mean of its points. A cluster left empty takes the point farthest from its
 * centroid (then no longer counted as far), so k clusters stay in use.
 */
function updateCentroids(
  points: Float32Array,
  dim: number,
  n: number,
  k: number,
  assignments: Int32Array,
  distances: Float64Array,
  centroids: Float32Array,
): void {
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  for (let i = 0; i < n; i++) {
    const c = assignments[i]!;
    counts[c]!++;
    for (let j = 0; j < dim; j++) sums[c * dim + j] += points[i * dim + j]!;
  }
  for (let c = 0; c < k; c++) {
    if (counts[c]! > 0) {
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j]! / counts[c]!;
      continue;
    }
    let farthest = 0;
    for (let i = 1; i < n; i++) if (distances[i]! > distances[farthest]!) farthest = i;
    distances[farthest] = 0;
    centroids.set(points.subarray(farthest * dim, farthest * dim + dim), c * dim);
  }
}
