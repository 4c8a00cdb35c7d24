import { dotRange } from '../detect/vector.js';

/**
 * Cosine similarities of every subscription with every region of a keyframe, as one S × R matrix product
 * (row-major: scores[s * regionCount + r]). Both inputs are packed row-major unit vectors of `dim` floats, so
 * the product is the cosine. One pass over a keyframe serves every subscription at once.
 */
export function matchScores(subscriptions: Float32Array, regions: Float32Array, dim: number): Float32Array {
  if (!(Number.isInteger(dim) && dim > 0)) throw new RangeError(`bad dimension ${dim}`);
  if (subscriptions.length % dim !== 0 || regions.length % dim !== 0) throw new RangeError(`packed vectors must be a multiple of ${dim} floats`);
  const subscriptionCount = subscriptions.length / dim;
  const regionCount = regions.length / dim;
  const scores = new Float32Array(subscriptionCount * regionCount);
  for (let s = 0; s < subscriptionCount; s++) {
    for (let r = 0; r < regionCount; r++) scores[s * regionCount + r] = dotRange(subscriptions, s * dim, regions, r * dim, dim);
  }
  return scores;
}

/** Unit vectors laid end to end (the layout matchScores takes). */
export function packVectors(vectors: readonly Float32Array[], dim: number): Float32Array {
  const packed = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => {
    if (v.length !== dim) throw new RangeError(`vector ${i} has ${v.length} dimensions, expected ${dim}`);
    packed.set(v, i * dim);
  });
  return packed;
}
