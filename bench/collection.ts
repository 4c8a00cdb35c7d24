/**
 * Synthetic region collections for the vector-index benchmarks: real DASR region features as seeds, repeated with
 * seeded noise, and the exact top 10 of each query kept while the collection streams past.
 */
import { DetectorThread } from '../src/detect/detector-thread.js';
import { dot, l2Normalize } from '../src/detect/vector.js';
import { decodeImage } from '../src/image/load.js';
import { mulberry32, standardNormal } from '../test/support/random.js';

/** Deterministic standard-normal noise (Box–Muller over seeded mulberry32), so runs are comparable. */
export function gaussian(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => standardNormal(uniform);
}

/** The DASR region features (product defaults) of these images. */
export async function regionFeatures(paths: readonly string[], progress?: (done: number) => void): Promise<Float32Array[]> {
  const detector = await DetectorThread.start({ backbone: {}, config: {}, logLevel: 'warn' });
  const features: Float32Array[] = [];
  try {
    for (const [i, path] of paths.entries()) {
      const detection = await detector.detect(await decodeImage(path));
      features.push(...detection.regions.map((r) => r.feature));
      progress?.(i + 1);
    }
  } finally {
    await detector.close();
  }
  return features;
}

/** A copy of a seed feature with isotropic noise of norm ~`noise`, then unit length. */
export function noisyCopy(seed: Float32Array, noise: number, random: () => number): Float32Array {
  const v = new Float32Array(seed.length);
  const scale = noise / Math.sqrt(seed.length);
  for (let i = 0; i < seed.length; i++) v[i] = seed[i]! + scale * random();
  return l2Normalize(v);
}

/** The exact top 10 of each query, kept up to date as vectors stream past (no copy of the collection is kept). */
export class StreamingExactTop10 {
  private readonly best: { id: number; score: number }[][];

  constructor(private readonly queries: readonly Float32Array[]) {
    this.best = queries.map(() => []);
  }

  offer(id: number, vector: Float32Array): void {
    this.queries.forEach((query, q) => {
      const score = dot(vector, query);
      const top = this.best[q]!;
      if (top.length === 10 && score <= top[9]!.score) return;
      top.push({ id, score });
      top.sort((a, b) => b.score - a.score);
      if (top.length > 10) top.pop();
    });
  }

  ids(q: number): Set<number> {
    return new Set(this.best[q]!.map((entry) => entry.id));
  }
}
