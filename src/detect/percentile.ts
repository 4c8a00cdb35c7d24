/**
 * q-th percentile with numpy's default ('linear') method: position (n − 1)·q/100 in the sorted values,
 * interpolated between its two neighbours with numpy's two-sided lerp, so results match np.percentile
 * bit for bit on float64 input. Like numpy, any NaN in the input gives NaN.
 */
export function percentile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty array');
  if (!(q >= 0 && q <= 100)) throw new RangeError(`percentile: q must be in [0, 100], got ${q}`);

  const sorted = Float64Array.from(values).sort();
  const n = sorted.length;
  // Typed-array sort puts NaN last.
  if (Number.isNaN(sorted[n - 1])) return Number.NaN;

  const position = (n - 1) * (q / 100);
  const below = Math.floor(position);
  const above = Math.min(below + 1, n - 1);
  const fraction = position - below;
  const a = sorted[below];
  const b = sorted[above];
  if (a === b) return a; // also keeps ±Infinity from turning into NaN via Infinity − Infinity
  const difference = b - a;
  // numpy interpolates from the nearer end, which keeps the result monotonic in q.
  return fraction >= 0.5 ? b - difference * (1 - fraction) : a + difference * fraction;
}
