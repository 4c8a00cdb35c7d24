import { l2Normalize } from '../detect/vector.js';

/**
 * Relevance feedback (Rocchio): the query moved towards the mean of the hits marked right and away from the mean
 * of those marked wrong, renormalised. β > γ: a right hit says more about the object than a wrong one says about
 * what it is not (a wrong hit is often the scene around it, which the right ones share).
 */
export const FEEDBACK_WEIGHTS = Object.freeze({ query: 1, right: 0.75, wrong: 0.25 });

export function applyFeedback(query: Float32Array, right: readonly Float32Array[], wrong: readonly Float32Array[], weights = FEEDBACK_WEIGHTS): Float32Array {
  const moved = Float32Array.from(query, (v) => v * weights.query);
  const add = (vectors: readonly Float32Array[], weight: number): void => {
    for (const v of vectors) {
      if (v.length !== query.length) throw new RangeError(`a feedback descriptor has ${v.length} dimensions, expected ${query.length}`);
      for (let i = 0; i < moved.length; i++) moved[i]! += (weight / vectors.length) * v[i]!;
    }
  };
  add(right, weights.right);
  add(wrong, -weights.wrong);
  return l2Normalize(moved);
}
