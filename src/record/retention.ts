import type { SegmentRecord } from '../index/database.js';

/** How often age-based retention of live recordings runs on its own (the service, a cluster worker that records). */
export const RETENTION_PERIOD_MS = 60_000;

export interface RetentionLimits {
  /** segments older than this go (seconds since they were recorded) */
  maxAgeSeconds: number;
  /** the oldest segments go while all of them together hold more than this */
  maxBytes: number;
}

/**
 * The segments retention removes, from every recorded segment oldest first: those past the age limit, then the
 * oldest while the rest is over the size limit. Per live run, everything before the last one of them goes with it
 * (its regions too: IndexStore.trimVideoBefore), so the result is also given as a cut time per run.
 */
export function expiredSegments(oldestFirst: readonly SegmentRecord[], limits: RetentionLimits, now: number): { segments: SegmentRecord[]; cuts: Map<number, number> } {
  let total = oldestFirst.reduce((sum, s) => sum + s.bytes, 0);
  const segments: SegmentRecord[] = [];
  for (const segment of oldestFirst) {
    const tooOld = now - segment.createdAt > limits.maxAgeSeconds * 1000;
    if (!tooOld && total <= limits.maxBytes) break;
    segments.push(segment);
    total -= segment.bytes;
  }
  const cuts = new Map<number, number>();
  for (const s of segments) cuts.set(s.videoId, Math.max(cuts.get(s.videoId) ?? -Infinity, s.tEnd));
  return { segments, cuts };
}
