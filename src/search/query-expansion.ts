import { dot, l2Normalize } from '../detect/vector.js';

/**
 * α-weighted query expansion (αQE, Radenović et al.): the query moved towards its best matches, each weighted by
 * its similarity to the power α, then renormalised. The top hits of an instance query are mostly the object seen
 * again (other frames, other views), so their mean describes it better than one view; α keeps weak hits from
 * pulling the query away. `hits` are unit descriptors, best first; `top` of them are used.
 */
export function expandQuery(query: Float32Array, hits: readonly Float32Array[], top: number, alpha: number): Float32Array {
  if (!(Number.isInteger(top) && top >= 0)) throw new RangeError(`top must be a non-negative integer, got ${top}`);
  if (!(alpha >= 0)) throw new RangeError(`alpha must be non-negative, got ${alpha}`);
  const expanded = Float32Array.from(query);
  for (const hit of hits.slice(0, top)) {
    const weight = Math.max(0, dot(query, hit)) ** alpha;
    for (let i = 0; i < expanded.length; i++) expanded[i]! += weight * hit[i]!;
  }
  return l2Normalize(expanded);
}
