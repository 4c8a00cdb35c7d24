/**
 * Deterministic random numbers for tests, benches and fixture scripts, built on the product's seeded PRNG
 * (src/util/random.ts). Tests use fixed seeds: change nothing here without rechecking them.
 */
export { mulberry32 } from '../../src/util/random.js';

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
