import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box } from '../../src/detect/box.js';
import { IndexStore } from '../../src/index/index-store.js';
import { searchByExample } from '../../src/search/search.js';
import { createLogger } from '../../src/log.js';
import { towards as unitTowards } from '../support/unit-vectors.js';

const DIM = 8;
const BOX: Box = [0, 0, 10, 10];
const NO_EXPANSION = { top: 0, alpha: 3 };
/** A unit vector whose cosine with axis 0 is `similarity`, the rest along axis `k`. */
const towards = (similarity: number, k: number): Float32Array => unitTowards(similarity, k, DIM);

/**
 * Track 1: 400 keyframes, each region 0.9–0.95 similar to the query, more than the default pool of 200 candidates.
 * Tracks 2–4 and an untracked region: one region each, 0.5 / 0.4 / 0.3 / 0.2 similar.
 */
describe('search candidates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-candidates-'));
  let store: IndexStore;
  const query = towards(1, 1);
  beforeAll(async () => {
    store = await IndexStore.open(dir, { dim: DIM, logger: createLogger('error') });
    const video = store.db.addVideo({ path: '/videos/a.mp4', sourceKind: 'file', width: 320, height: 240, duration: 400, fps: 1, status: 'ready' });
    const others = [
      { feature: towards(0.5, 2), trackId: 2 },
      { feature: towards(0.4, 3), trackId: 3 },
      { feature: towards(0.3, 4), trackId: 4 },
      { feature: towards(0.2, 5), trackId: null },
    ];
    const keyframes = Array.from({ length: 400 }, (_, t) => ({
      t,
      width: 320,
      height: 240,
      regions: [{ box: BOX, score: 1, feature: towards(0.9 + (t % 6) / 100, 6 + (t % 2)), trackId: 1 }, ...(t < others.length ? [{ box: BOX, score: 1, ...others[t]! }] : [])],
    }));
    await store.commit(video.id, keyframes);
  });
  afterAll(async () => {
    await store.close({ saveVectors: false });
    rmSync(dir, { recursive: true, force: true });
  });

  it('widens the pool when one long appearance fills it, so every appearance asked for is returned', async () => {
    const hits = await searchByExample(store, query, { top: 5, expand: NO_EXPANSION, trackWeight: 0 });
    expect(hits.map((h) => h.track)).toEqual([1, 2, 3, 4, null]);
    expect(hits.map((h) => Number(h.similarity.toFixed(4)))).toEqual([0.95, 0.5, 0.4, 0.3, 0.2]);
    // from a pool of 10 as well, and a longer list stops at what the index holds
    expect((await searchByExample(store, query, { top: 5, candidates: 10, expand: NO_EXPANSION, trackWeight: 0 })).map((h) => h.track)).toEqual([1, 2, 3, 4, null]);
    expect(await searchByExample(store, query, { top: 20, expand: NO_EXPANSION })).toHaveLength(5);
    await expect(searchByExample(store, query, { candidates: 0 })).rejects.toThrow(/candidates must be a positive integer, got 0/);
  });
});
