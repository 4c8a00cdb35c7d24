import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Region } from '../../src/detect/dasr.js';
import { IndexStore } from '../../src/index/index-store.js';
import { trackAndCommit } from '../../src/ingest/commit-keyframe.js';
import { TrackIdReserve } from '../../src/ingest/track-ids.js';
import { createLogger } from '../../src/log.js';
import { Tracker } from '../../src/track/tracker.js';

const quiet = createLogger('error');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const region = (feature: number[]): Region => ({ box: [10, 10, 50, 50], score: 1, peak: [30, 30], feature: Float32Array.from(feature) });

describe('descriptor dimension against the data directory', () => {
  it('refuses descriptors of another length (e.g. a reduced whitening) before the tracker moves on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-commit-dim-'));
    dirs.push(dir);
    const store = await IndexStore.open(dir, { dim: 4, logger: quiet });
    try {
      const videoId = store.db.addVideo({ path: 'x.mp4', sourceKind: 'file', contentKey: 'k', width: 64, height: 64, duration: 1, fps: 25, status: 'indexing', config: {} }).id;
      const tracker = new Tracker();
      await expect(trackAndCommit(store, videoId, tracker, { t: 0, width: 64, height: 64, regions: [region([1, 0, 0])] })).rejects.toThrow(
        /descriptors are 3-d but this data directory indexes 4-d ones/,
      );
      expect(tracker.activeTracks()).toHaveLength(0);
      const { committed } = await trackAndCommit(store, videoId, tracker, { t: 0, width: 64, height: 64, regions: [region([1, 0, 0, 0])] });
      expect(committed).toBeDefined();
      expect(store.db.regionCount()).toBe(1);
    } finally {
      await store.close();
    }
    await expect(IndexStore.open(dir, { dim: 3, logger: quiet })).rejects.toThrow(/index dimension mismatch: .* holds 4-d descriptors but 3-d ones were requested/);
    // Opening without a dimension (search, listing) takes the stored one.
    const again = await IndexStore.open(dir, { logger: quiet });
    expect(again.dim).toBe(4);
    await again.close();
  });
});

describe('wider extents of a peak', () => {
  it('share the track of the region they widen, across keyframes; the tracker follows only that region', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-commit-extents-'));
    dirs.push(dir);
    const store = await IndexStore.open(dir, { dim: 4, logger: quiet });
    try {
      const videoId = (await store.addVideo({ path: 'x.mp4', sourceKind: 'file', width: 64, height: 64 })).id;
      const tracker = new Tracker({}, {}, () => store.allocateTrackId());
      const part = (x: number, feature: number[]): Region => ({ box: [x, 10, x + 10, 20], score: 1, peak: [x + 5, 15], feature: Float32Array.from(feature) });
      const wider = (x: number, feature: number[], widens: number): Region => ({ box: [x - 5, 5, x + 15, 25], score: 1, peak: [x + 5, 15], feature: Float32Array.from(feature), widens });
      const keyframe = (t: number) => ({ t, width: 64, height: 64, regions: [part(10, [1, 0, 0, 0]), part(40, [0, 1, 0, 0]), wider(10, [0.9, 0.1, 0, 0], 0), wider(40, [0, 0.9, 0.1, 0], 1), wider(10, [0.8, 0.2, 0, 0], 0)] });
      const first = await trackAndCommit(store, videoId, tracker, keyframe(0));
      const second = await trackAndCommit(store, videoId, tracker, keyframe(1));
      for (const { assignments } of [first, second]) {
        expect(assignments.map((a) => a.trackId)).toEqual([assignments[0]!.trackId, assignments[1]!.trackId, assignments[0]!.trackId, assignments[1]!.trackId, assignments[0]!.trackId]);
        expect(assignments[0]!.trackId).not.toBe(assignments[1]!.trackId);
      }
      // The tracks continue from one keyframe to the next, and only the two followed regions made tracks.
      expect(second.assignments.map((a) => a.trackId)).toEqual(first.assignments.map((a) => a.trackId));
      expect(tracker.activeTracks()).toHaveLength(2);
      const track = store.db.getTrack(first.assignments[0]!.trackId)!;
      expect(track).toMatchObject({ firstT: 0, lastT: 1, keyframes: 2 });
      expect(store.db.regionsOfTrack(track.id)).toHaveLength(6);
    } finally {
      await store.close();
    }
  });
});

describe('track ids reserved ahead', () => {
  it('takes ids from a store that allocates asynchronously only as reserved, and asks a synchronous one id by id', async () => {
    const given: number[][] = [];
    let next = 100;
    const shared = { allocateTrackIds: async (count: number) => { const ids = Array.from({ length: count }, () => next++); given.push(ids); return ids; } };
    const reserve = new TrackIdReserve(shared);
    expect(() => reserve.take()).toThrow(/no track id reserved/);
    await reserve.ensure(3);
    expect(reserve.take()).toBe(100);
    await reserve.ensure(3); // two left: one more is asked for
    expect(given).toEqual([[100, 101, 102], [103]]);
    expect([reserve.take(), reserve.take(), reserve.take()]).toEqual([101, 102, 103]);

    let counter = 7;
    const embedded = { allocateTrackIds: async () => { throw new Error('not used'); }, allocateTrackId: () => counter++ };
    const direct = new TrackIdReserve(embedded);
    await direct.ensure(5);
    expect([direct.take(), direct.take()]).toEqual([7, 8]);
  });
});
