/**
 * Track-level evidence in the tracks-dev evaluation, as search weighs it (search.ts, DEFAULT_TRACK_WEIGHT): each
 * region scored (1 − weight) · cos(query, region) + weight · cos(query, its track's mean descriptor). Both terms are
 * linear in the query, so the blend is the query's dot product with one vector per region, made here once per
 * database.
 *
 * The tracks: those of the index for regions read back from one (video mode: every level of a peak in its track, as
 * search sees them); otherwise the product's tracker run over the sequence's frames in time order, every region
 * followed on its own (image mode keeps no peak of a region, so a wider extent makes a track of its own).
 */
import { combineExamples } from '../search/examples.js';
import { sampleEvenly, TRACK_SAMPLE } from '../search/track-sample.js';
import { Tracker } from '../track/tracker.js';
import type { DatabaseFrame } from './tracks-protocol.js';

/**
 * The frames of one sequence (in time order, `times` in seconds) with each region's feature replaced by its blend
 * vector. Frames for which `excluded` holds are neither tracked nor returned: a query's own frames are not in the
 * database, so they must not feed a track's mean. A region the index's tracker left alone (track id null) is its
 * own track.
 */
export function trackEvidenceFrames(frames: readonly DatabaseFrame[], times: readonly number[], weight: number, excluded: (frame: DatabaseFrame) => boolean): DatabaseFrame[] {
  if (!(weight >= 0 && weight <= 1)) throw new RangeError(`track weight must be in [0, 1], got ${weight}`);
  const kept = frames.flatMap((frame, i) => (excluded(frame) ? [] : [{ frame, t: times[i]! }]));
  const indexed = kept.every(({ frame }) => frame.regions.every((r) => r.trackId !== undefined));
  const tracker = new Tracker();
  const trackOf: string[][] = kept.map(({ frame, t }, i) =>
    indexed
      ? frame.regions.map((r, j) => (r.trackId === null ? `region ${i}.${j}` : `track ${r.trackId!}`))
      : tracker.update({ t, regions: frame.regions.map((r) => ({ box: r.box, score: 0, feature: r.feature })) }).map((a) => `track ${a.trackId}`),
  );
  const members = new Map<string, Float32Array[]>();
  kept.forEach(({ frame }, i) =>
    frame.regions.forEach((region, j) => {
      const key = trackOf[i]![j]!;
      const list = members.get(key);
      if (list) list.push(region.feature);
      else members.set(key, [region.feature]);
    }),
  );
  // As search takes a track's mean: over TRACK_SAMPLE of its regions, spread evenly over its time.
  const means = new Map([...members].map(([key, features]) => [key, combineExamples(sampleEvenly(features, TRACK_SAMPLE))]));
  return kept.map(({ frame }, i) => ({
    ...frame,
    regions: frame.regions.map((region, j) => {
      const mean = means.get(trackOf[i]![j]!)!;
      const blended = new Float32Array(region.feature.length);
      for (let k = 0; k < blended.length; k++) blended[k] = (1 - weight) * region.feature[k]! + weight * mean[k]!;
      // the index's tracks stay on the regions (localised AP ranks a track's regions in a frame once)
      return { box: region.box, feature: blended, ...(indexed && { trackId: region.trackId }) };
    }),
  }));
}
