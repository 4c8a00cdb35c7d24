/**
 * How many of a track's regions its mean descriptor is taken over (track-level evidence, search.ts): enough to
 * describe an appearance, few enough that a search reads them for 60 tracks in milliseconds whatever their length.
 */
export const TRACK_SAMPLE = 16;

/**
 * Every ⌈n / count⌉-th of `items` from the first: at most `count`, spread evenly over them. The rule
 * RegionStore.trackSamples applies in SQL, for callers that hold a track's regions themselves.
 */
export function sampleEvenly<T>(items: readonly T[], count: number): T[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new RangeError(`count must be a positive integer, got ${count}`);
  const step = Math.ceil(items.length / count);
  return items.filter((_, i) => i % step === 0);
}
