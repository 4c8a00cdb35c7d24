import { l2Normalize } from '../detect/vector.js';

/**
 * One query from several views of the object (front and side, two frames of a clip): the mean of their unit
 * descriptors, renormalised. Each view counts the same however large its descriptor's norm was; a region that
 * resembles any of them scores by how much it resembles all of them on average.
 */
export function combineExamples(descriptors: readonly Float32Array[]): Float32Array {
  if (descriptors.length === 0) throw new RangeError('at least one example is needed');
  const dim = descriptors[0]!.length;
  const sum = new Float32Array(dim);
  for (const [i, d] of descriptors.entries()) {
    if (d.length !== dim) throw new RangeError(`example ${i} has ${d.length} dimensions, expected ${dim}`);
    const unit = l2Normalize(d);
    for (let k = 0; k < dim; k++) sum[k]! += unit[k]!;
  }
  return l2Normalize(sum);
}
