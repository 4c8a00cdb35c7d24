/**
 * Deterministic random numbers for tests, benches and fixture scripts: one seeded PRNG and what is built on it.
 * The exact sequences matter (scripts/make-fixtures.ts writes fixtures/videos/corrupt.mp4 from
 * mulberry32(0xc0ffee), and tests use fixed seeds): change nothing here without rechecking those.
 */

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * One standard-normal sample (Box–Muller, cosine branch) from two draws of `random`, which must be uniform in
 * [0, 1): the first gives the radius (through 1 − u ∈ (0, 1], so the logarithm stays finite), the second the angle.
 */
export function standardNormal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/**
 * A uniformly distributed random unit vector: `dim` standard-normal samples (drawn in order) divided by their
 * norm, computed in double precision and rounded to float32 once at the end.
 */
export function randomUnitVector(random: () => number, dim: number): Float32Array {
  const v = Float64Array.from({ length: dim }, () => standardNormal(random));
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return Float32Array.from(v, (x) => x / norm);
}
