import { clipBox, scaleBox } from '../detect/box.js';
import type { Region } from '../detect/dasr.js';
import type { CommitResult, TrackUpdate } from '../index/database.js';
import type { RegionStore } from '../index/region-store.js';
import type { Track, TrackAssignment, Tracker } from '../track/tracker.js';
import { encodeTrackerState } from '../track/state.js';
import type { TrackIdReserve } from './track-ids.js';

/** Regions detected on a decoded (scaled) frame, with boxes mapped to the video's display pixels. */
export function regionsInVideoPixels(regions: readonly Region[], frame: { width: number; height: number }, width: number, height: number): Region[] {
  const sx = width / frame.width;
  const sy = height / frame.height;
  return regions.map((r) => ({ ...r, box: clipBox(scaleBox(r.box, sx, sy), width, height) }));
}

/**
 * Links one keyframe's regions to tracks and commits them in one transaction together with the tracks'
 * best-region choices, the tracker state and the resume point `t`, so a crash never separates them.
 *
 * Tracks that can no longer continue are handed out (`ended`) before the state is written: their rows are
 * already in the index, and keeping them in the state would grow it, and the write on every keyframe, with the
 * length of the video.
 */
export async function trackAndCommit(
  store: RegionStore,
  videoId: number,
  tracker: Tracker,
  keyframe: { t: number; width: number; height: number; regions: readonly Region[] },
  options: {
    /** the store's track ids for a tracker that allocates from it, topped up here */
    trackIds?: TrackIdReserve;
    /** the writer epoch the commit is fenced by (RegionStore.takeWriter) */
    writerEpoch?: number;
    /** save the tracker state with the keyframe (default); not for a range of a split file, whose ranges run at once */
    keepState?: boolean;
  } = {},
): Promise<{ assignments: TrackAssignment[]; committed: CommitResult; ended: Track[] }> {
  const { t, regions } = keyframe;
  // Checked before the tracker moves on: the database would refuse the regions only after it had.
  const wrong = regions.find((r) => r.feature.length !== store.dim);
  if (wrong) {
    throw new Error(
      `the detector's descriptors are ${wrong.feature.length}-d but this data directory indexes ${store.dim}-d ones ` +
        '(a whitening with another output dimension, or none): index into a data directory of its own',
    );
  }
  // The tracker follows one region per peak; a peak's wider extents are the same object and share its track.
  const followed = regions.flatMap((r, j) => (r.widens === undefined ? [j] : []));
  const { trackIds, writerEpoch, keepState = true } = options;
  await trackIds?.ensure(followed.length);
  const tracked = tracker.update({ t, regions: followed.map((j) => regions[j]!) });
  const byRegion = new Map(followed.map((j, k) => [j, tracked[k]!]));
  const assignments = regions.map((r, j) => byRegion.get(r.widens ?? j)!);
  const ended = tracker.ended(t);
  const active = new Map(tracker.activeTracks().map((track) => [track.id, track]));
  // A region is its track's best when the tracker just took it as such (same keyframe, same score).
  const trackUpdates: TrackUpdate[] = followed.flatMap((j): TrackUpdate[] => {
    const track = active.get(assignments[j]!.trackId);
    return track && track.best.t === t && track.best.score === regions[j]!.score ? [{ id: track.id, bestRegion: { keyframe: 0, region: j } }] : [];
  });
  const committed = await store.commit(
    videoId,
    [{ t, width: keyframe.width, height: keyframe.height, regions: regions.map((r, j) => ({ box: r.box, score: r.score, feature: r.feature, trackId: assignments[j]!.trackId })) }],
    trackUpdates,
    keepState ? encodeTrackerState(tracker.snapshot()) : undefined,
    t,
    writerEpoch,
  );
  return { assignments, committed, ended };
}
