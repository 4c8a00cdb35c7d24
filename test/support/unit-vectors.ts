/** A `dim`-d unit vector along axis `k`. */
export function axis(k: number, dim: number): Float32Array {
  return Float32Array.from({ length: dim }, (_, i) => (i === k ? 1 : 0));
}

/** A `dim`-d unit vector whose cosine with axis 0 is `similarity`, the rest along axis `k`. */
export function towards(similarity: number, k: number, dim: number): Float32Array {
  const v = new Float32Array(dim);
  v[0] = similarity;
  v[k] = Math.sqrt(1 - similarity ** 2);
  return v;
}
