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
 * Where retention cuts each live run, from the segments it removes (RegionStore.expiringSegments): at the end of the
 * run's last one, since everything indexed before it goes too (RegionStore.trimVideoBefore).
 */
export function retentionCuts(expiring: readonly SegmentRecord[]): Map<number, number> {
  const cuts = new Map<number, number>();
  for (const s of expiring) cuts.set(s.videoId, Math.max(cuts.get(s.videoId) ?? -Infinity, s.tEnd));
  return cuts;
}
