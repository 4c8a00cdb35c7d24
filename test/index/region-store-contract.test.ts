/**
 * The RegionStore contract, run against both engines: the embedded index (SQLite + hnswlib-node) and the cluster's
 * (PostgreSQL + pgvector: PGlite served over the wire protocol, or a real server named by DASR_TEST_POSTGRES). Vectors are seeded random unit vectors in a
 * small dimension, so the exact ranking is known from their cosines.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { inTimeRange, type KeyframeInput } from '../../src/index/database.js';
import { IndexStore } from '../../src/index/index-store.js';
import { PostgresRegionStore } from '../../src/index/postgres-store.js';
import { EXACT_SEARCH_MAX, SupersededWriterError, type RegionStore } from '../../src/index/region-store.js';
import { REAL_POSTGRES_URL, startTestPostgres, type TestPostgres } from '../support/test-postgres.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 32;
/** halfvec keeps ~3 significant digits: a cosine moves by up to ~1e-3 */
const HALF_PRECISION = 2e-3;

interface Engine {
  name: string;
  /** tolerance of a stored vector's similarity */
  precision: number;
  /** an empty index */
  create(): Promise<RegionStore>;
  /** the same index again, after `store` ended without a clean close (its process died) */
  reopenAfterCrash(store: RegionStore): Promise<RegionStore>;
  /** the same index opened for another dimension */
  openWithDim(dim: number): Promise<RegionStore>;
  /** advisory locks held now in the index's database, where the engine takes them for claims */
  advisoryLocks?: () => Promise<number>;
  /** a second store on the same index whose claims a first one's exclude (a real server: a session per connection) */
  anotherWriter?: () => Promise<RegionStore>;
}

let server: TestPostgres;
let dirs: string[] = [];
const open: RegionStore[] = [];

beforeAll(async () => {
  server = await startTestPostgres();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

afterEach(async () => {
  for (const store of open.splice(0)) await store.close().catch(() => undefined);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function kept<T extends RegionStore>(store: T): T {
  open.push(store);
  return store;
}

const embedded: Engine = {
  name: 'embedded (SQLite + hnswlib-node)',
  precision: 1e-5,
  async create() {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-contract-'));
    dirs.push(dir);
    return kept(await IndexStore.open(dir, { dim: DIM }));
  },
  async reopenAfterCrash(store) {
    const { dataDir } = store as IndexStore;
    // A crash leaves the graph file unsaved (older than SQLite); the writer lock goes with the process.
    await (store as IndexStore).close({ saveVectors: false });
    return kept(await IndexStore.open(dataDir, { dim: DIM }));
  },
  async openWithDim(dim) {
    const dir = dirs.at(-1)!;
    for (const store of open.splice(0)) await store.close();
    return kept(await IndexStore.open(dir, { dim }));
  },
};

const postgres: Engine = {
  name: 'cluster (PostgreSQL + pgvector)',
  precision: HALF_PRECISION,
  async create() {
    // A fresh index: the previous test's schema goes.
    await server.dropIndex();
    return kept(await PostgresRegionStore.open(server.url, { dim: DIM }));
  },
  async reopenAfterCrash(store) {
    // The server keeps what was committed; a connection that dies mid-transaction is rolled back.
    await store.close();
    return kept(await PostgresRegionStore.open(server.url, { dim: DIM }));
  },
  async openWithDim(dim) {
    return kept(await PostgresRegionStore.open(server.url, { dim }));
  },
  async advisoryLocks() {
    return Number((await server.query<{ n: string }>(`SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`))[0]!.n);
  },
  // PGlite serves every connection from one session, in which advisory locks are re-entrant.
  ...(REAL_POSTGRES_URL ? { anotherWriter: async () => kept(await PostgresRegionStore.open(server.url, { dim: DIM })) } : {}),
};

/** `frames` keyframes from t0 every 0.5 s, `perFrame` regions each, region j on track `tracks[j]` (null: untracked). */
function keyframes(random: () => number, t0: number, frames: number, perFrame: number, tracks: (number | null)[] = []): KeyframeInput[] {
  return Array.from({ length: frames }, (_, i) => ({
    t: t0 + i * 0.5,
    width: 320,
    height: 240,
    regions: Array.from({ length: perFrame }, (_, j) => ({
      box: [j * 20, 10, j * 20 + 40, 90] as [number, number, number, number],
      score: 0.25 + 0.25 * j,
      feature: randomUnitVector(random, DIM),
      trackId: tracks[j] ?? null,
    })),
  }));
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** A video committed as `batch`, and every region with its feature and place, for exact rankings. */
async function indexed(store: RegionStore, batch: KeyframeInput[], path = 'a.mp4') {
  const video = await store.addVideo({ path, sourceKind: 'file', width: 320, height: 240 });
  const result = await store.commit(video.id, batch, [], { seen: batch.length });
  const regions = batch.flatMap((kf, i) => kf.regions.map((r, j) => ({ id: result.regionIds[i]![j]!, t: kf.t, feature: r.feature, score: r.score })));
  return { video, result, regions };
}

describe.each([embedded, postgres])('RegionStore contract: $name', (engine) => {
  it('search ranks regions by cosine, exactly as computed, and returns their rows', async () => {
    const store = await engine.create();
    const random = mulberry32(11);
    const { video, regions } = await indexed(store, keyframes(random, 0, 10, 4));
    const query = regions[17]!.feature;
    const hits = await store.search(query, 5);
    const expected = [...regions].sort((a, b) => dot(query, b.feature) - dot(query, a.feature)).slice(0, 5);
    expect(hits.map((h) => h.id)).toEqual(expected.map((r) => r.id));
    hits.forEach((hit, i) => expect(hit.similarity).toBeCloseTo(dot(query, expected[i]!.feature), engine.precision < 1e-4 ? 4 : 2));
    expect(Math.abs(hits[0]!.similarity - 1)).toBeLessThanOrEqual(engine.precision);
    expect(hits[0]).toMatchObject({ videoId: video.id, t: regions[17]!.t, box: [20, 10, 60, 90], score: 0.5, trackId: null });
    expect(await store.regionsByIds([regions[3]!.id, 99_999, regions[0]!.id])).toMatchObject([{ id: regions[3]!.id }, { id: regions[0]!.id }]);
    expect(await store.regionCount()).toBe(40);
    const stored = await store.features([regions[3]!.id, 99_999]);
    expect([...stored.keys()]).toEqual([regions[3]!.id]);
    stored.get(regions[3]!.id)!.forEach((v, i) => expect(Math.abs(v - regions[3]!.feature[i]!)).toBeLessThanOrEqual(engine.precision));
  });

  it('filters restrict the search itself: video, time window, detection score, similarity', async () => {
    const store = await engine.create();
    const random = mulberry32(12);
    const a = await indexed(store, keyframes(random, 0, 10, 4), 'a.mp4');
    const b = await indexed(store, keyframes(random, 0, 10, 4), 'b.mp4');
    const query = a.regions[5]!.feature;
    const exactTop = (pool: typeof a.regions, k: number) => [...pool].sort((x, y) => dot(query, y.feature) - dot(query, x.feature)).slice(0, k).map((r) => r.id);

    expect((await store.search(query, 6, { videoIds: [b.video.id] })).map((h) => h.id)).toEqual(exactTop(b.regions, 6));
    const window = a.regions.concat(b.regions).filter((r) => r.t >= 1 && r.t <= 2);
    expect((await store.search(query, 6, { from: 1, to: 2 })).map((h) => h.id)).toEqual(exactTop(window, 6));
    const strong = a.regions.concat(b.regions).filter((r) => r.score >= 0.75);
    expect((await store.search(query, 6, { minRegionScore: 0.75 })).map((h) => h.id)).toEqual(exactTop(strong, 6));
    // A threshold halfway between the 5th and 6th most similar regions: exactly 5 pass, whatever the rounding.
    const cosines = a.regions.concat(b.regions).map((r) => dot(query, r.feature)).sort((x, y) => y - x);
    const threshold = (cosines[4]! + cosines[5]!) / 2;
    const similar = await store.search(query, 80, { minScore: threshold });
    expect(similar.map((h) => h.id)).toEqual(exactTop(a.regions.concat(b.regions), 5));
    expect(await store.search(query, 5, { videoIds: [b.video.id], from: 100 })).toEqual([]);
  });

  it('a filter wider than the exact-search bound goes to the approximate search and still keeps to the filter', async () => {
    const store = await engine.create();
    const random = mulberry32(19);
    const perFrame = 16;
    const a = await indexed(store, keyframes(random, 0, Math.ceil((EXACT_SEARCH_MAX + 100) / perFrame), perFrame), 'a.mp4');
    const b = await indexed(store, keyframes(random, 0, 4, 4), 'b.mp4');
    // The query is one of b's regions: unfiltered, it is the best hit; filtered to a, it must not appear.
    const query = b.regions[2]!.feature;
    expect((await store.search(query, 1))[0]!.id).toBe(b.regions[2]!.id);
    const hits = await store.search(query, 5, { videoIds: [a.video.id] });
    const exact = [...a.regions].sort((x, y) => dot(query, y.feature) - dot(query, x.feature)).slice(0, 5).map((r) => r.id);
    expect(hits).toHaveLength(5);
    expect(hits.every((hit) => hit.videoId === a.video.id)).toBe(true);
    // A graph search is approximate (PostgreSQL's planner may also scan this few rows exactly): of the best five of
    // 4 208 regions it misses one at most.
    expect(hits.filter((hit) => exact.includes(hit.id)).length).toBeGreaterThanOrEqual(4);
  });

  it('videos: found by content key (the newest not deleted), summarised with their counts, their settings counted', async () => {
    const store = await engine.create();
    const random = mulberry32(18);
    const old = await store.addVideo({ path: 'a.mp4', sourceKind: 'file', contentKey: 'k1', duration: 9.5, fps: 25, config: { interval: 1 } });
    const newer = await store.addVideo({ path: 'a-copy.mp4', sourceKind: 'file', contentKey: 'k1' });
    expect(old).toMatchObject({ path: 'a.mp4', sourceKind: 'file', contentKey: 'k1', duration: 9.5, fps: 25, status: 'indexing', error: null, lastCommittedT: null, config: { interval: 1 } });
    expect((await store.findVideoByContentKey('k1'))?.id).toBe(newer.id);
    await store.setVideoStatus(newer.id, 'deleted');
    expect((await store.findVideoByContentKey('k1'))?.id).toBe(old.id);
    expect(await store.findVideoByContentKey('k2')).toBeUndefined();
    await expect(store.setVideoStatus(9_999, 'ready')).rejects.toThrow(/no video 9999/);

    const [track] = (await store.allocateTrackIds(1)) as [number];
    await store.commit(old.id, keyframes(random, 0, 3, 2, [track]));
    expect(await store.videoSummary(old.id)).toMatchObject({ id: old.id, keyframeCount: 3, regionCount: 6, trackCount: 1, lastCommittedT: 1 });
    expect(await store.videoSummary(newer.id)).toMatchObject({ status: 'deleted', keyframeCount: 0, regionCount: 0, trackCount: 0 });
    expect(await store.videoSummary(9_999)).toBeUndefined();
    const sized = await store.addVideo({ path: 'b.mp4', sourceKind: 'file', width: 1280, height: 720 });
    await store.addVideo({ path: 'c.mp4', sourceKind: 'file', width: 640, height: 360, status: 'deleted' });
    expect(await store.frameSizes()).toEqual([{ width: 1280, height: 720 }]);
    expect(await store.frameSizes([old.id])).toEqual([]);
    expect(await store.frameSizes([sized.id, old.id])).toEqual([{ width: 1280, height: 720 }]);
    await store.addVideo({ path: 'd.mp4', sourceKind: 'file', config: { interval: 1 }, status: 'ready' });
    expect(await store.videoSettings()).toEqual([
      { config: { interval: 1 }, videos: 2 },
      { config: null, videos: 1 },
    ]);
    expect(await store.videoSettings([sized.id, newer.id])).toEqual([{ config: null, videos: 1 }]);
    expect((await store.listVideos()).map((v) => [v.path, v.status, v.keyframeCount, v.regionCount, v.trackCount])).toEqual([
      ['a.mp4', 'indexing', 3, 6, 1],
      ['b.mp4', 'indexing', 0, 0, 0],
      ['d.mp4', 'ready', 0, 0, 0],
    ]);
    expect(await store.videoCount()).toBe(3);
  });

  it('live videos: the ones still indexing are listed oldest first, and a stream size is recorded once known', async () => {
    const store = await engine.create();
    const file = await store.addVideo({ path: 'a.mp4', sourceKind: 'file' });
    const camera = await store.addVideo({ path: 'rtsp://cam/1', sourceKind: 'live', config: { interval: 0.5 } });
    const stopped = await store.addVideo({ path: 'rtsp://cam/2', sourceKind: 'live' });
    const later = await store.addVideo({ path: 'http://cam/3', sourceKind: 'live' });
    await store.setVideoStatus(stopped.id, 'ready');
    expect((await store.liveVideosIndexing()).map((v) => [v.id, v.path, v.config])).toEqual([[camera.id, 'rtsp://cam/1', { interval: 0.5 }], [later.id, 'http://cam/3', null]]);
    await store.setVideoStatus(later.id, 'deleted');
    expect((await store.liveVideosIndexing()).map((v) => v.id)).toEqual([camera.id]);

    expect(await store.frameSizes([camera.id])).toEqual([]);
    await store.setVideoSize(camera.id, { width: 1280, height: 720 });
    expect(await store.getVideo(camera.id)).toMatchObject({ width: 1280, height: 720, status: 'indexing', config: { interval: 0.5 } });
    expect(await store.frameSizes([camera.id, file.id])).toEqual([{ width: 1280, height: 720 }]);
    await expect(store.setVideoSize(9_999, { width: 1, height: 1 })).rejects.toThrow(/no video 9999/);
  });

  it('a repeated commit adds nothing and returns the ids it has; a batch overlapping it adds only what is new', async () => {
    const store = await engine.create();
    const random = mulberry32(13);
    const batch = keyframes(random, 0, 3, 2);
    const { video, result } = await indexed(store, batch);
    const again = await store.commit(video.id, batch, [], { seen: 99 }, 50);
    expect(again).toEqual({ ...result, repeated: [0, 1, 2] });
    expect(await store.videoState(video.id)).toEqual({ videoId: video.id, lastCommittedT: 1, trackerState: { seen: 3 } });

    const overlap = await store.commit(video.id, [...batch.slice(2), ...keyframes(random, 1.5, 1, 2)], [], { seen: 4 });
    expect(overlap.repeated).toEqual([0]);
    expect(overlap.regionIds[0]).toEqual(result.regionIds[2]);
    expect(await store.videoState(video.id)).toEqual({ videoId: video.id, lastCommittedT: 1.5, trackerState: { seen: 4 } });
    // Every region is found once: no duplicate came in.
    const all = await store.search(batch[0]!.regions[0]!.feature, 100);
    expect(all).toHaveLength(8);
    expect(new Set(all.map((h) => h.id)).size).toBe(8);
  });

  it('a writer taken over cannot commit: its batch is refused whole and the new writer continues from what it left', async () => {
    const store = await engine.create();
    const random = mulberry32(17);
    const camera = await store.addVideo({ path: 'rtsp://cam/1', sourceKind: 'live' });
    const first = await store.takeWriter(camera.id);
    await store.commit(camera.id, keyframes(random, 0, 2, 2), [], { seen: 2 }, undefined, first);
    const second = await store.takeWriter(camera.id);
    expect(second).toBe(first + 1);

    const stale = store.commit(camera.id, keyframes(random, 1, 1, 2), [], { seen: 3 }, undefined, first);
    await expect(stale).rejects.toBeInstanceOf(SupersededWriterError);
    await expect(stale).rejects.toThrow(`video ${camera.id} was taken over by another writer`);
    expect(await store.videoState(camera.id)).toEqual({ videoId: camera.id, lastCommittedT: 0.5, trackerState: { seen: 2 } });
    expect(await store.videoSummary(camera.id)).toMatchObject({ keyframeCount: 2, regionCount: 4 });

    await store.commit(camera.id, keyframes(random, 1, 1, 2), [], { seen: 3 }, undefined, second);
    expect(await store.videoState(camera.id)).toEqual({ videoId: camera.id, lastCommittedT: 1, trackerState: { seen: 3 } });
    // A commit with no epoch is not fenced (an embedded ingestion, the only writer of its index).
    await store.commit(camera.id, keyframes(random, 1.5, 1, 1));
    expect(await store.videoSummary(camera.id)).toMatchObject({ keyframeCount: 4, regionCount: 7 });
    await expect(store.takeWriter(9_999)).rejects.toThrow(/no video 9999/);
  });

  it('a file indexed in ranges: each range resumes after its own last keyframe, and the video is ready once all are finished', async () => {
    const store = await engine.create();
    const random = mulberry32(19);
    const video = await store.addVideo({ path: 'long.mp4', sourceKind: 'file', status: 'indexing' });
    // Ranges [0, 2), [2, 4), [4, ∞); the middle one committed first, the first one only in part.
    await store.commit(video.id, keyframes(random, 2, 4, 1));
    await store.commit(video.id, keyframes(random, 0, 2, 1));
    expect(await store.lastKeyframeTime(video.id, { start: 0, end: 2 })).toBe(0.5);
    expect(await store.lastKeyframeTime(video.id, { start: 2, end: 4 })).toBe(3.5);
    expect(await store.lastKeyframeTime(video.id, { start: 4, end: Infinity })).toBeNull();

    expect(await store.finishRange(video.id, { index: 1, count: 3 })).toBe(false);
    expect(await store.finishRange(video.id, { index: 1, count: 3 })).toBe(false);
    expect(await store.finishRange(video.id, { index: 0, count: 3 })).toBe(false);
    expect((await store.getVideo(video.id))?.status).toBe('indexing');
    await store.commit(video.id, keyframes(random, 4, 3, 1));
    expect(await store.lastKeyframeTime(video.id, { start: 4, end: Infinity })).toBe(5);
    expect(await store.finishRange(video.id, { index: 2, count: 3 })).toBe(true);
    expect((await store.getVideo(video.id))?.status).toBe('ready');
    // A finished range redelivered changes nothing.
    expect(await store.finishRange(video.id, { index: 2, count: 3 })).toBe(true);
    await expect(store.finishRange(9_999, { index: 0, count: 1 })).rejects.toThrow(/no video 9999/);

    // A keyframe a rounding below a range's start belongs to that range, as inTimeRange tells.
    const edge = await store.addVideo({ path: 'edge.mp4', sourceKind: 'file', status: 'indexing' });
    await store.commit(edge.id, [{ ...keyframes(random, 0, 1, 1)[0]!, t: 2 - 1e-9 }]);
    expect(inTimeRange(2 - 1e-9, { start: 2, end: 4 })).toBe(true);
    expect(await store.lastKeyframeTime(edge.id, { start: 0, end: 2 })).toBeNull();
    expect(await store.lastKeyframeTime(edge.id, { start: 2, end: 4 })).toBe(2 - 1e-9);
  });

  it('a file\'s video is made once by writers that find none at the same moment', async () => {
    const store = await engine.create();
    const video = { path: 'long.mp4', sourceKind: 'file' as const, contentKey: 'k1', status: 'indexing' as const, config: { split: 2 } };
    const made = await Promise.all([store.findOrAddVideo(video), store.findOrAddVideo(video), store.findOrAddVideo(video)]);
    expect(made.filter((m) => m.added)).toHaveLength(1);
    expect(new Set(made.map((m) => m.video.id)).size).toBe(1);
    expect(made[0]!.video).toMatchObject({ path: 'long.mp4', contentKey: 'k1', status: 'indexing', config: { split: 2 } });
    expect((await store.listVideos()).map((v) => v.id)).toEqual([made[0]!.video.id]);
  });

  it('track ids come from the store, unique across videos; tracks follow their regions', async () => {
    const store = await engine.create();
    const random = mulberry32(14);
    const ids = [...(await store.allocateTrackIds(2)), ...(await store.allocateTrackIds(1))];
    expect(new Set(ids).size).toBe(3);
    const [one, two] = ids as [number, number];
    const video = await store.addVideo({ path: 'a.mp4', sourceKind: 'file' });
    const first = await store.commit(video.id, keyframes(random, 0, 2, 2, [one, two]), [{ id: one, bestRegion: { keyframe: 1, region: 0 } }]);
    await store.commit(video.id, keyframes(random, 1, 1, 1, [one]), [{ id: two, bestRegion: null }]);
    expect(await store.getTrack(one)).toEqual({ id: one, videoId: video.id, firstT: 0, lastT: 1, keyframes: 3, bestRegionId: first.regionIds[1]![0] });
    expect(await store.getTrack(two)).toEqual({ id: two, videoId: video.id, firstT: 0, lastT: 0.5, keyframes: 2, bestRegionId: null });
    expect((await store.regionsOfTrack(one)).map((r) => [r.t, r.trackId, r.box])).toEqual([
      [0, one, [0, 10, 40, 90]],
      [0.5, one, [0, 10, 40, 90]],
      [1, one, [0, 10, 40, 90]],
    ]);
    expect(await store.regionsOfTrack(9_999)).toEqual([]);
    // Samples in time order: all three of track one's regions at 3 per track; at 2, every second from the first.
    const regionsOf = async (track: number): Promise<Float32Array[]> => {
      const ids = (await store.regionsOfTrack(track)).map((r) => r.id);
      const features = await store.features(ids);
      return ids.map((id) => features.get(id)!);
    };
    const [a, , c] = await regionsOf(one);
    const [twoFirst] = await regionsOf(two);
    expect(await store.trackSamples([one, two, 9_999], 3)).toEqual(new Map([[one, await regionsOf(one)], [two, await regionsOf(two)]]));
    expect(await store.trackSamples([one, two], 2)).toEqual(new Map([[one, [a, c]], [two, await regionsOf(two)]]));
    expect(await store.trackSamples([two, one], 1)).toEqual(new Map([[one, [a]], [two, [twoFirst]]]));
    expect(await store.trackSamples([], 4)).toEqual(new Map());

    const other = await store.addVideo({ path: 'b.mp4', sourceKind: 'file' });
    await expect(store.commit(other.id, keyframes(random, 0, 1, 1, [one]))).rejects.toThrow(/belongs to video/);
    await expect(store.commit(video.id, keyframes(random, 5, 1, 1), [{ id: 424_242, bestRegion: null }])).rejects.toThrow(/does not exist/);
    // The failed commit left nothing behind.
    expect((await store.videoState(video.id))?.lastCommittedT).toBe(1);
    expect(await store.search(randomUnitVector(random, DIM), 100, { from: 5 })).toEqual([]);
  });

  it("a live run's recording: segments added once, found by time, totalled, and trimmed with what was indexed before the cut", async () => {
    const store = await engine.create();
    const random = mulberry32(16);
    const [one, two] = (await store.allocateTrackIds(2)) as [number, number];
    const camera = await store.addVideo({ path: 'rtsp://camera/1', sourceKind: 'live', status: 'indexing' });
    const region = (trackId: number, score: number) => ({ box: [0, 0, 10, 10] as [number, number, number, number], score, feature: randomUnitVector(random, DIM), trackId });
    // track one at t = 0, 0.5; track two at t = 0.5, 1, 1.5, its best region at t = 0.5
    const batch = [[region(one, 0.5)], [region(one, 0.5), region(two, 0.9)], [region(two, 0.6)], [region(two, 0.7)]].map((regions, i) => ({ t: i * 0.5, width: 64, height: 64, regions }));
    const committed = await store.commit(camera.id, batch, [{ id: two, bestRegion: { keyframe: 1, region: 1 } }]);
    const before = Date.now();
    await store.addSegments(camera.id, [
      { path: `recordings/${camera.id}/a/seg-000000.ts`, tStart: 0, tEnd: 0.75, bytes: 100 },
      { path: `recordings/${camera.id}/a/seg-000001.ts`, tStart: 0.75, tEnd: 1.75, bytes: 50 },
    ]);
    // a segment recorded again keeps its start and takes the longer end: a retried sync changes nothing, and a
    // segment committed as far as a successor found it is completed by its own writer's commit
    await store.addSegments(camera.id, [{ path: `recordings/${camera.id}/a/seg-000001.ts`, tStart: 0.7, tEnd: 1.5, bytes: 1 }]);
    await store.addSegments(camera.id, []);
    const segments = await store.segmentsOfVideo(camera.id);
    expect(segments.map((s) => [s.videoId, s.path, s.tStart, s.tEnd, s.bytes])).toEqual([
      [camera.id, `recordings/${camera.id}/a/seg-000000.ts`, 0, 0.75, 100],
      [camera.id, `recordings/${camera.id}/a/seg-000001.ts`, 0.75, 1.75, 50],
    ]);
    expect(segments.every((s) => s.createdAt >= before && s.createdAt <= Date.now())).toBe(true);
    expect((await store.segmentsOfVideo(camera.id, 0.8, 1)).map((s) => s.tStart)).toEqual([0.75]);
    expect((await store.segmentsOfVideo(camera.id, 0.75, 0.75)).map((s) => s.tStart)).toEqual([0.75]);
    expect(await store.segmentTotals()).toEqual({ bytes: 150, oldestCreatedAt: Math.min(...segments.map((s) => s.createdAt)) });
    // retention's choice, made by the engine: the oldest while they and the newer ones are over the size limit, and
    // all past the age limit
    const expiring = async (maxBytes: number, maxAgeSeconds = 3600, now = Date.now()) => (await store.expiringSegments({ maxAgeSeconds, maxBytes }, now)).map((s) => s.path);
    expect(await expiring(150)).toEqual([]);
    expect(await expiring(149)).toEqual([segments[0]!.path]);
    expect(await expiring(49)).toEqual(segments.map((s) => s.path));
    expect(await expiring(1e12, 60, Date.now() + 120_000)).toEqual(segments.map((s) => s.path));
    // an age limit that is no whole number of ms (--record-hours 0.1 and the like), and one past any date
    expect(await expiring(1e12, 60.0004, Date.now() + 120_000.5)).toEqual(segments.map((s) => s.path));
    expect(await expiring(1e12, 1e16)).toEqual([]);
    expect((await store.expiringSegments({ maxAgeSeconds: 60, maxBytes: 1e12 }, Date.now()))).toEqual([]);

    const trimmed = await store.trimVideoBefore(camera.id, 0.75);
    expect(trimmed.map((s) => s.path)).toEqual([`recordings/${camera.id}/a/seg-000000.ts`]);
    expect((await store.segmentsOfVideo(camera.id)).map((s) => s.tStart)).toEqual([0.75]);
    expect(await store.segmentTotals()).toMatchObject({ bytes: 50 });
    // the regions before the cut leave the index and the search
    expect(await store.regionsByIds(committed.regionIds.flat())).toHaveLength(2);
    expect((await store.search(batch[0]!.regions[0]!.feature, 100)).map((h) => h.t)).toEqual(expect.not.arrayContaining([0, 0.5]));
    // track one is gone; track two starts at its first remaining keyframe with the best region left
    expect(await store.getTrack(one)).toBeUndefined();
    expect(await store.getTrack(two)).toEqual({ id: two, videoId: camera.id, firstT: 1, lastT: 1.5, keyframes: 2, bestRegionId: committed.regionIds[3]![0] });
    // the tracker still names the removed best region: the track keeps the one it has
    await store.commit(camera.id, keyframes(random, 2, 1, 1, [two]), [{ id: two, bestRegion: { regionId: committed.regionIds[1]![1]! } }]);
    expect(await store.getTrack(two)).toMatchObject({ firstT: 1, lastT: 2, keyframes: 3, bestRegionId: committed.regionIds[3]![0] });
    expect(await store.trimVideoBefore(424_242, 1)).toEqual([]);

    const later = `recordings/${camera.id}/b/seg-000000.ts`;
    await store.addSegments(camera.id, [{ path: later, tStart: 5, tEnd: 6, bytes: 10 }]);
    await store.addSegments(camera.id, [{ path: later, tStart: 5, tEnd: 7.5, bytes: 30 }]);
    expect((await store.segmentsOfVideo(camera.id, 5, 5)).map((s) => [s.tStart, s.tEnd, s.bytes])).toEqual([[5, 7.5, 30]]);

    // deleting the run deletes its segments' records
    await store.deleteVideo(camera.id);
    expect(await store.segmentTotals()).toEqual({ bytes: 0, oldestCreatedAt: null });
  });

  it('a deleted video leaves the search at once, with its tracks and state', async () => {
    const store = await engine.create();
    const random = mulberry32(15);
    const [trackId] = (await store.allocateTrackIds(1)) as [number];
    const a = await indexed(store, keyframes(random, 0, 4, 2, [trackId]), 'a.mp4');
    const b = await indexed(store, keyframes(random, 0, 4, 2), 'b.mp4');
    expect(await store.deleteVideo(a.video.id)).toBe(true);
    expect(await store.deleteVideo(a.video.id)).toBe(false);
    const hits = await store.search(a.regions[0]!.feature, 100);
    expect(hits.map((h) => h.videoId)).toEqual(b.regions.map(() => b.video.id));
    expect(await store.getVideo(a.video.id)).toBeUndefined();
    expect(await store.getTrack(trackId)).toBeUndefined();
    expect(await store.videoState(a.video.id)).toBeUndefined();
    await expect(store.commit(a.video.id, keyframes(random, 9, 1, 1))).rejects.toThrow(/no video/);
  });

  it('what was committed survives a crash: status, resume point, tracker state and search', async () => {
    let store = await engine.create();
    const random = mulberry32(16);
    const { video, regions } = await indexed(store, keyframes(random, 0, 6, 3));
    await store.setVideoStatus(video.id, 'failed', 'decoder died');
    store = await engine.reopenAfterCrash(store);
    expect(await store.getVideo(video.id)).toMatchObject({ status: 'failed', error: 'decoder died', lastCommittedT: 2.5, width: 320 });
    expect(await store.videoState(video.id)).toEqual({ videoId: video.id, lastCommittedT: 2.5, trackerState: { seen: 6 } });
    const hits = await store.search(regions[10]!.feature, 3);
    expect(hits[0]!.id).toBe(regions[10]!.id);
    expect(Math.abs(hits[0]!.similarity - 1)).toBeLessThanOrEqual(engine.precision);
    // Track ids keep rising past those given out before the crash.
    const [before] = (await store.allocateTrackIds(1)) as [number];
    expect(Math.min(...(await store.allocateTrackIds(3)))).toBeGreaterThan(before);
  });

  it('a file can be claimed, released and claimed again', async () => {
    // Exclusion between holders needs two server sessions (a real PostgreSQL server, DASR_TEST_POSTGRES): PGlite serves
    // every connection from one, and the embedded index has one writer process.
    const store = await engine.create();
    const other = await engine.anotherWriter?.();
    const claim = await store.claim('content-key');
    expect(claim).not.toBeNull();
    if (engine.advisoryLocks) expect(await engine.advisoryLocks()).toBe(1);
    if (other) expect(await other.claim('content-key')).toBeNull();
    await claim!.release();
    if (engine.advisoryLocks) expect(await engine.advisoryLocks()).toBe(0);
    const again = await (other ?? store).claim('content-key');
    expect(again).not.toBeNull();
    await again!.release();
  });

  it('an index made for one dimension refuses another', async () => {
    await engine.create();
    await expect(engine.openWithDim(DIM * 2)).rejects.toThrow(new RegExp(`${DIM}`));
  });
});

it('both engines return the same hits for the same regions', async () => {
  const stores = [await embedded.create(), await postgres.create()];
  const rankings = await Promise.all(
    stores.map(async (store) => {
      const random = mulberry32(17);
      const { regions } = await indexed(store, keyframes(random, 0, 12, 4));
      const hits = await store.search(regions[20]!.feature, 10, { from: 0.5 });
      return hits.map((h) => ({ t: h.t, box: h.box, score: h.score, similarity: h.similarity }));
    }),
  );
  expect(rankings[1]!.map(({ similarity: _s, ...place }) => place)).toEqual(rankings[0]!.map(({ similarity: _s, ...place }) => place));
  rankings[1]!.forEach((hit, i) => expect(Math.abs(hit.similarity - rankings[0]![i]!.similarity)).toBeLessThanOrEqual(HALF_PRECISION));
});
