import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box } from '../../src/detect/box.js';
import { dot } from '../../src/detect/vector.js';
import { IndexStore } from '../../src/index/index-store.js';
import { combineExamples } from '../../src/search/examples.js';
import { DEFAULT_TRACK_WEIGHT, searchByExample } from '../../src/search/search.js';
import { sampleEvenly } from '../../src/search/track-sample.js';
import { createLogger } from '../../src/log.js';
import { axis as unitAxis, towards as unitTowards } from '../support/unit-vectors.js';

const DIM = 8;
const BOX: Box = [0, 0, 10, 10];
const NO_EXPANSION = { top: 0, alpha: 3 };
const axis = (k: number): Float32Array => unitAxis(k, DIM);
/** A unit vector whose cosine with axis 0 is `similarity`, the rest along axis `k`. */
const towards = (similarity: number, k: number): Float32Array => unitTowards(similarity, k, DIM);

/**
 * Track 1, the object: five keyframes, each 0.8 similar to the query (along different directions). Track 2, a
 * look-alike: one keyframe 0.85 similar, four 0.2. Track 3, for the sampling of long tracks: 64 keyframes, every
 * fourth (the 16 that search samples) 0.5 similar, keyframe 5 0.6, the others orthogonal to the query.
 */
describe('track-level evidence in search', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-track-weight-'));
  let store: IndexStore;
  const query = axis(0);
  const objectFeatures = [1, 2, 3, 4, 5].map((k) => towards(0.8, k));
  const lookAlikeFeatures = [towards(0.85, 6), ...[1, 2, 3, 4].map((k) => towards(0.2, k))];
  beforeAll(async () => {
    store = await IndexStore.open(dir, { dim: DIM, logger: createLogger('error') });
    const video = store.db.addVideo({ path: '/videos/a.mp4', sourceKind: 'file', width: 320, height: 240, duration: 64, fps: 1, status: 'ready' });
    const keyframes = Array.from({ length: 64 }, (_, t) => ({
      t,
      width: 320,
      height: 240,
      regions: [
        ...(t < 5 ? [{ box: BOX, score: 1, feature: objectFeatures[t]!, trackId: 1 }, { box: BOX, score: 1, feature: lookAlikeFeatures[t]!, trackId: 2 }] : []),
        { box: BOX, score: 1, feature: t % 4 === 0 ? towards(0.5, 7) : t === 5 ? towards(0.6, 6) : axis(7), trackId: 3 },
      ],
    }));
    await store.commit(video.id, keyframes);
  });
  afterAll(async () => {
    await store.close({ saveVectors: false });
    rmSync(dir, { recursive: true, force: true });
  });

  it('ranks by the best region alone at weight 0: the look-alike\'s one close keyframe first', async () => {
    const hits = await searchByExample(store, query, { top: 3, expand: NO_EXPANSION, trackWeight: 0 });
    expect(hits.map((h) => h.track)).toEqual([2, 1, 3]);
    hits.forEach((h) => expect(h.score).toBe(h.similarity));
    expect(hits[2]!.similarity).toBeCloseTo(0.6, 6);
    expect(hits[0]!.similarity).toBeCloseTo(0.85, 6);
  });

  it('ranks the object that matches throughout above the look-alike by default, its best region still the box', async () => {
    const hits = await searchByExample(store, query, { top: 2, expand: NO_EXPANSION });
    expect(hits.map((h) => h.track)).toEqual([1, 2]);
    const w = DEFAULT_TRACK_WEIGHT;
    expect(hits[0]!.score).toBeCloseTo((1 - w) * 0.8 + w * dot(query, combineExamples(objectFeatures)), 6);
    expect(hits[1]!.score).toBeCloseTo((1 - w) * 0.85 + w * dot(query, combineExamples(lookAlikeFeatures)), 6);
    expect(hits[0]!.similarity).toBeCloseTo(0.8, 6);
    expect(hits[0]!.best.t).toBe(0);
  });

  it('averages a long track over 16 of its regions evenly spaced', async () => {
    const [hit] = await searchByExample(store, query, { top: 1, expand: NO_EXPANSION, trackWeight: 0.5, from: 5 });
    expect(hit!.track).toBe(3);
    expect(hit!.similarity).toBeCloseTo(0.6, 6);
    // keyframes 0, 4, …, 60 are all the one 0.5-similar vector, so their mean is that vector itself
    expect(hit!.score).toBeCloseTo(0.5 * 0.6 + 0.5 * 0.5, 6);
  });

  it('refuses a weight outside [0, 1]', async () => {
    await expect(searchByExample(store, query, { trackWeight: 1.5 })).rejects.toThrow(RangeError);
  });
});

describe('sampleEvenly', () => {
  const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
  it('keeps every ⌈n / count⌉-th item from the first, as RegionStore.trackSamples does', () => {
    expect(sampleEvenly(range(64), 16)).toEqual(range(16).map((i) => 4 * i));
    expect(sampleEvenly(range(17), 16)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16]);
    expect(sampleEvenly(range(3), 16)).toEqual([0, 1, 2]);
    expect(sampleEvenly([], 16)).toEqual([]);
    expect(() => sampleEvenly(range(3), 0)).toThrow(RangeError);
  });
});
