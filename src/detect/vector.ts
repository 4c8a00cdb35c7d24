/** Unit-length copy of v. A vector without a direction (zero, or a non-finite norm) maps to the zero vector, so
 * it scores 0 against everything instead of spreading NaN through a ranking. */
export function l2Normalize(v: Float32Array): Float32Array {
  const norm = Math.sqrt(dot(v, v));
  const out = new Float32Array(v.length);
  if (!(norm > 0 && Number.isFinite(norm))) return out;
  for (let i = 0; i < v.length; i++) out[i] = v[i] / norm;
  return out;
}

/** Inner product accumulated in double precision. */
export function dot(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new RangeError(`dot: length mismatch (${a.length} vs ${b.length})`);
  return dotRange(a, 0, b, 0, a.length);
}

/**
 * Σ a[aStart + k] · b[bStart + k] for k < length, in double precision. Four independent partial sums, because a
 * single running sum is bound by the latency of floating-point addition: this is the inner loop of the d × d
 * covariance and eigen-decomposition in whitening, where it runs ~1.5× faster.
 */
export function dotRange(
  a: Float32Array | Float64Array,
  aStart: number,
  b: Float32Array | Float64Array,
  bStart: number,
  length: number,
): number {
  let sum0 = 0;
  let sum1 = 0;
  let sum2 = 0;
  let sum3 = 0;
  let k = 0;
  for (; k + 3 < length; k += 4) {
    sum0 += a[aStart + k] * b[bStart + k];
    sum1 += a[aStart + k + 1] * b[bStart + k + 1];
    sum2 += a[aStart + k + 2] * b[bStart + k + 2];
    sum3 += a[aStart + k + 3] * b[bStart + k + 3];
  }
  for (; k < length; k++) sum0 += a[aStart + k] * b[bStart + k];
  return sum0 + sum1 + (sum2 + sum3);
}
