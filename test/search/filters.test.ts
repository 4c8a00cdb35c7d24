import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexStore } from '../../src/index/index-store.js';
import { searchByExample } from '../../src/search/search.js';
import { dot } from '../../src/detect/vector.js';
import { createLogger } from '../../src/log.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 24;
const KEYFRAMES = 2000;
const PER_KEYFRAME = 10;

/**
 * 20 000 random regions, one keyframe a second: a filter that keeps 1 % of them must still return that 1 %'s true
 * best matches (the nearest-neighbour search used to run first and the filter after, over its 200 candidates).
 */
// The exact answers are the nearest neighbours of the query itself: no query expansion.
describe('search filters', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-filters-'));
  let store: IndexStore;
  let videoIds: number[];
  const features = new Map<number, { t: number; videoId: number; feature: Float32Array }>();
  beforeAll(async () => {
    store = await IndexStore.open(dir, { dim: DIM, logger: createLogger('error') });
    const random = mulberry32(7);
    videoIds = [0, 1].map((n) => store.db.addVideo({ path: `/videos/${n}.mp4`, sourceKind: 'file', width: 320, height: 240, duration: KEYFRAMES, fps: 1, status: 'ready' }).id);
    for (const videoId of videoIds) {
      const batch = Array.from({ length: KEYFRAMES / 2 }, (_, i) => ({
        t: i + (videoId === videoIds[1] ? KEYFRAMES / 2 : 0),
        width: 320,
        height: 240,
        regions: Array.from({ length: PER_KEYFRAME }, (_, j) => ({ box: [j, 0, j + 10, 10] as [number, number, number, number], score: 1, feature: randomUnitVector(random, DIM), trackId: null })),
      }));
      const { regionIds } = await store.commit(videoId, batch);
      regionIds.forEach((ids, i) => ids.forEach((id, j) => features.set(id, { t: batch[i]!.t, videoId, feature: batch[i]!.regions[j]!.feature })));
    }
  }, 60_000);
  afterAll(async () => {
    await store.close({ saveVectors: false });
    rmSync(dir, { recursive: true, force: true });
  });

  const truth = (query: Float32Array, keep: (r: { t: number; videoId: number }) => boolean, top: number): number[] =>
    [...features.entries()]
      .filter(([, r]) => keep(r))
      .map(([id, r]) => ({ id, score: dot(query, r.feature) }))
      .sort((a, b) => b.score - a.score || a.id - b.id)
      .slice(0, top)
      .map((h) => h.id);

  it('a time window holding 1 % of the regions returns its true best matches', async () => {
    const random = mulberry32(99);
    for (let q = 0; q < 5; q++) {
      const query = randomUnitVector(random, DIM);
      const from = 300 + q * 100;
      const to = from + KEYFRAMES / 100 - 1; // 20 keyframes: 200 of 20 000 regions
      const hits = await searchByExample(store, query, { top: 10, from, to, expand: { top: 0, alpha: 3 } });
      expect(hits.map((h) => h.best.regionId)).toEqual(truth(query, (r) => r.t >= from && r.t <= to, 10));
      for (const hit of hits) expect(hit.best.t).toBeGreaterThanOrEqual(from);
    }
  });

  it('a window inside one video, with a similarity floor, returns exactly the matches above it', async () => {
    const query = randomUnitVector(mulberry32(5), DIM);
    const [from, to] = [KEYFRAMES / 2 + 10, KEYFRAMES / 2 + 29];
    const expected = truth(query, (r) => r.videoId === videoIds[1] && r.t >= from && r.t <= to, 200).filter((id) => dot(query, features.get(id)!.feature) >= 0.3);
    expect(expected.length).toBeGreaterThan(3);
    const hits = await searchByExample(store, query, { top: 200, from, to, videoIds: [videoIds[1]!], minScore: 0.3, expand: { top: 0, alpha: 3 } });
    expect(hits.map((h) => h.best.regionId)).toEqual(expected);
    // the same window in the other video holds nothing
    expect(await searchByExample(store, query, { top: 10, from, to, videoIds: [videoIds[0]!] })).toEqual([]);
  });
});
