import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { IndexDatabase, type KeyframeInput } from '../../src/index/database.js';
import { IndexStore, ShotCodebookBusyError, ShotSearchUnavailableError, shotCodebookFile, type IndexStoreOptions } from '../../src/index/index-store.js';
import { encodeVlad, fitVladCodebook, saveVladCodebook } from '../../src/detect/vlad.js';
import { Tracker } from '../../src/track/tracker.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 24;
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** `frames` keyframes starting at t0, `perFrame` regions each, region j on track trackBase + j. */
function batch(rand: () => number, t0: number, frames: number, perFrame: number, trackBase: number): KeyframeInput[] {
  return Array.from({ length: frames }, (_, i) => ({
    t: t0 + i * 0.5,
    width: 320,
    height: 240,
    regions: Array.from({ length: perFrame }, (_, j) => ({
      box: [j * 20, 10, j * 20 + 40, 90] as [number, number, number, number],
      score: 0.3 + 0.2 * j,
      feature: randomUnitVector(rand, DIM),
      trackId: trackBase + j,
    })),
  }));
}

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level}: ${m}`);
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

let dir: string;
let stores: IndexStore[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dasr-store-'));
});
afterEach(async () => {
  for (const s of stores) await s.close({ saveVectors: false }).catch(() => undefined);
  stores = [];
  rmSync(dir, { recursive: true, force: true });
});

async function open(options: IndexStoreOptions = {}): Promise<IndexStore> {
  const store = await IndexStore.open(dir, { dim: DIM, logger: capture(), verifySample: 'all', ...options });
  stores.push(store);
  return store;
}

/** SQLite's region ids equal the live HNSW ids, and every stored vector equals its SQLite feature. */
async function expectAgreement(store: IndexStore): Promise<void> {
  const sqlIds = store.db.regionIds();
  const live = (await store.vectors.ids()).sort((a, b) => a - b);
  expect(live).toEqual(sqlIds);
  expect(await store.vectors.size()).toBe(sqlIds.length);
  if (sqlIds.length) {
    const { ids, vectors } = store.db.packedFeatures(sqlIds);
    expect(await store.vectors.verify(ids, vectors)).toEqual([]);
  }
}

function vectorFiles(): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('vectors-'));
}

describe('IndexStore', () => {
  it('commits, searches with region details and filters', async () => {
    const store = await open();
    const rand = mulberry32(1);
    const a = store.db.addVideo({ path: 'a.mp4', sourceKind: 'file' });
    const b = store.db.addVideo({ path: 'b.mp4', sourceKind: 'file' });
    const ba = batch(rand, 0, 10, 3, 1);
    const bb = batch(rand, 0, 10, 3, 100);
    const ra = await store.commit(a.id, ba, [{ id: 1, bestRegion: { keyframe: 4, region: 0 } }], { next: 4 }, 4.5);
    const rb = await store.commit(b.id, bb);

    // Exact nearest neighbour of a stored vector is itself, with its SQLite details.
    const [hit] = await store.search(ba[3].regions[2].feature, 1);
    expect(hit).toMatchObject({ id: ra.regionIds[3][2], videoId: a.id, trackId: 3, t: 1.5, box: [40, 10, 80, 90] });
    expect(hit.similarity).toBeCloseTo(1, 5);
    expect(hit.score).toBeCloseTo(0.7, 6);

    const q = bb[7].regions[1].feature;
    const onlyA = await store.search(q, 5, { videoIds: [a.id] });
    expect(onlyA).toHaveLength(5);
    expect(onlyA.every((h) => h.videoId === a.id)).toBe(true);
    expect((await store.search(q, 1, { videoIds: [b.id] }))[0].id).toBe(rb.regionIds[7][1]);
    expect(await store.search(q, 5, { videoIds: [] })).toEqual([]);
    const confident = await store.search(q, 100, { minRegionScore: 0.6 });
    expect(confident).toHaveLength(20); // region 2 of every keyframe of both videos
    expect(confident.every((h) => h.score >= 0.6)).toBe(true);
    const close = await store.search(q, 100, { minScore: 0.99 });
    expect(close.map((h) => h.id)).toEqual([rb.regionIds[7][1]]);

    expect(store.db.listVideos().map((v) => v.regionCount)).toEqual([30, 30]);
    await store.saveVectors();
    expect(vectorFiles()).toEqual([`vectors-${store.db.uuid}.hnsw`]);
  });

  it('hands out track ids that no committed or allocated track has, for concurrent ingestions into one index', async () => {
    const store = await open();
    const rand = mulberry32(3);
    const a = store.db.addVideo({ path: 'a.mp4', sourceKind: 'file' });
    await store.commit(a.id, batch(rand, 0, 2, 2, 1)); // tracks 1 and 2
    expect([store.allocateTrackId(), store.allocateTrackId()]).toEqual([3, 4]);
    await store.commit(a.id, batch(rand, 1, 1, 1, 10)); // someone committed track 10 directly
    expect(store.allocateTrackId()).toBe(11);
    // Two trackers, as two live streams of one service, interleaving keyframes: never the same id.
    const one = new Tracker({}, {}, () => store.allocateTrackId());
    const two = new Tracker({}, {}, () => store.allocateTrackId());
    const region = () => ({ box: [0, 0, 10, 10] as [number, number, number, number], score: 1, feature: randomUnitVector(rand, DIM) });
    const ids: number[] = [];
    for (let k = 0; k < 3; k++) {
      for (const tracker of [one, two]) ids.push(...tracker.update({ t: k * 10, regions: [region(), region()] }).map((x) => x.trackId));
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.min(...ids)).toBe(12);
    await store.close();
  });

  it("a deleted video's vectors never come back from search", async () => {
    const store = await open();
    const rand = mulberry32(2);
    const a = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const b = store.db.addVideo({ path: 'b', sourceKind: 'live' });
    const ba = batch(rand, 0, 8, 4, 1);
    const ra = await store.commit(a.id, ba);
    await store.commit(b.id, batch(rand, 0, 8, 4, 100));
    await store.saveVectors();
    const deleted = new Set(ra.regionIds.flat());

    expect(await store.deleteVideo(a.id)).toBe(true);
    expect(await store.deleteVideo(a.id)).toBe(false);
    const check = async (s: IndexStore) => {
      for (const kf of ba)
        for (const r of kf.regions) {
          const hits = await s.search(r.feature, 64);
          expect(hits).toHaveLength(32);
          expect(hits.some((h) => deleted.has(h.id))).toBe(false);
          // Straight from the graph too, not only through the SQLite join.
          const raw = await s.vectors.search(r.feature, 64);
          expect(raw.some((h) => deleted.has(h.id))).toBe(false);
        }
    };
    await check(store);
    await store.close();

    // Also after a reopen, and after a reopen that lost the markDelete (file saved before the delete).
    const again = await open();
    await check(again);
    await expectAgreement(again);
  });

  it('(a) a crash after the SQLite commit but before the vector save loses nothing', async () => {
    const rand = mulberry32(3);
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const first = batch(rand, 0, 5, 2, 1);
    await store.commit(v.id, first);
    await store.saveVectors();
    const second = batch(rand, 2.5, 5, 2, 1);
    const r2 = await store.commit(v.id, second);
    await store.close({ saveVectors: false }); // "crash": the graph on disk lacks the second batch

    const again = await open();
    expect(again.reconciliation).toMatchObject({ source: 'file', added: 10, removed: 0, total: 20 });
    await expectAgreement(again);
    const [hit] = await again.search(second[4].regions[1].feature, 1);
    expect(hit.id).toBe(r2.regionIds[4][1]);
    expect(hit.similarity).toBeCloseTo(1, 5);
    await again.close();

    // The reconciled graph was saved: the next open has nothing to do.
    const third = await open();
    expect(third.reconciliation).toMatchObject({ source: 'file', added: 0, removed: 0, total: 20 });
  });

  it('(a) without any vector file, the graph is rebuilt from SQLite', async () => {
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    await store.commit(v.id, batch(mulberry32(4), 0, 6, 3, 1));
    await store.close({ saveVectors: false });
    expect(vectorFiles()).toEqual([]);

    const logger = capture();
    const again = await open({ logger });
    expect(again.reconciliation).toMatchObject({ source: 'rebuilt', added: 18, total: 18 });
    expect(logger.lines.join('\n')).toMatch(/missing.*rebuilding/);
    await expectAgreement(again);
    expect(vectorFiles()).toHaveLength(1);
  });

  it('(b) an older vector file plus deletions in SQLite are reconciled', async () => {
    const rand = mulberry32(5);
    const store = await open();
    const vids = [1, 2, 3].map((i) => store.db.addVideo({ path: `v${i}`, sourceKind: 'file' }).id);
    const batches = vids.map((id, i) => batch(rand, 0, 6, 3, 10 * (i + 1)));
    for (const [i, id] of vids.entries()) await store.commit(id, batches[i]);
    await store.saveVectors();
    const old = join(dir, 'old.bin');
    copyFileSync(store.vectorFile, old); // state S1: all three videos

    await store.deleteVideo(vids[0]);
    const v4 = store.db.addVideo({ path: 'v4', sourceKind: 'file' }).id;
    const b4 = batch(rand, 0, 4, 3, 40);
    const r4 = await store.commit(v4, b4);
    await store.commit(vids[2], batch(rand, 10, 2, 3, 30)); // extends video 3
    await store.saveVectors();
    await store.deleteVideo(vids[1]); // not saved
    const vectorFile = store.vectorFile;
    await store.close({ saveVectors: false });

    copyFileSync(old, vectorFile); // roll the cache back to S1
    const again = await open();
    expect(again.reconciliation).toMatchObject({ source: 'file', removed: 36, added: 12 + 6 });
    await expectAgreement(again);
    const deleted = new Set([...batches[0], ...batches[1]].flatMap((kf) => kf.regions.map((r) => r.feature)));
    for (const f of deleted) {
      const hits = await again.search(f, 10);
      expect(hits.every((h) => h.videoId !== vids[0] && h.videoId !== vids[1])).toBe(true);
      expect(hits[0].similarity).toBeLessThan(0.999);
    }
    expect((await again.search(b4[3].regions[0].feature, 1))[0].id).toBe(r4.regionIds[3][0]);
  });

  it('(c) a truncated vector file is rebuilt, with a logged message', async () => {
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const b = batch(mulberry32(6), 0, 10, 3, 1);
    const r = await store.commit(v.id, b);
    await store.close();
    const bytes = readFileSync(store.vectorFile);
    writeFileSync(store.vectorFile, bytes.subarray(0, Math.floor(bytes.length * 0.6)));

    const logger = capture();
    const again = await open({ logger });
    expect(again.reconciliation).toMatchObject({ source: 'rebuilt', added: 30, total: 30 });
    expect(again.reconciliation.reason).toMatch(/unreadable/);
    expect(logger.lines.some((l) => /^warn: .*unreadable.*rebuilding it from SQLite \(30 region vectors\)/.test(l))).toBe(true);
    await expectAgreement(again);
    expect((await again.search(b[9].regions[2].feature, 1))[0].id).toBe(r.regionIds[9][2]);
    await again.close();
    // The rebuilt graph was saved: the next open uses it as is.
    const third = await open();
    expect(third.reconciliation).toMatchObject({ source: 'file', added: 0, removed: 0 });
  });

  it('(c) a vector file with intact header but corrupt vectors fails the check and is rebuilt', async () => {
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    await store.commit(v.id, batch(mulberry32(7), 0, 10, 3, 1));
    await store.close();
    // hnswlib layout: a 96-byte header (cur_element_count at 16, size_data_per_element at 24, label_offset at 32,
    // offsetData at 40), then one record per element: [links][vector][label]. Negate every stored vector, keeping
    // the graph structure valid, as silent corruption of the payload would.
    const bytes = readFileSync(store.vectorFile);
    const count = Number(bytes.readBigUInt64LE(16));
    const stride = Number(bytes.readBigUInt64LE(24));
    const offsetData = Number(bytes.readBigUInt64LE(40));
    expect(Number(bytes.readBigUInt64LE(32)) - offsetData).toBe(DIM * 4);
    for (let e = 0; e < count; e++)
      for (let j = 0; j < DIM; j++) {
        const at = 96 + e * stride + offsetData + j * 4;
        bytes.writeFloatLE(-bytes.readFloatLE(at), at);
      }
    writeFileSync(store.vectorFile, bytes);

    const logger = capture();
    const again = await open({ logger });
    expect(again.reconciliation.source).toBe('rebuilt');
    expect(logger.lines.some((l) => l.startsWith('warn: ') && /rebuilding/.test(l))).toBe(true);
    await expectAgreement(again);
  });

  it('(c) a vector file of another dimension is rebuilt', async () => {
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    await store.commit(v.id, batch(mulberry32(8), 0, 4, 2, 1));
    const file = store.vectorFile;
    await store.close();
    // A graph of 2 × DIM dims under this database's name.
    const other = mkdtempSync(join(tmpdir(), 'dasr-other-'));
    try {
      const wide = await IndexStore.open(other, { dim: DIM * 2, logger: capture() });
      const w = wide.db.addVideo({ path: 'w', sourceKind: 'file' });
      await wide.commit(w.id, [{ t: 0, width: 1, height: 1, regions: [{ box: [0, 0, 1, 1], score: 1, feature: randomUnitVector(mulberry32(9), DIM * 2), trackId: null }] }]);
      await wide.close();
      copyFileSync(wide.vectorFile, file);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
    const again = await open();
    expect(again.reconciliation).toMatchObject({ source: 'rebuilt' });
    expect(again.reconciliation.reason).toMatch(/48 dims/);
    await expectAgreement(again);
  });

  it('cleans up temporary files of interrupted saves and caches of other databases', async () => {
    const store = await open();
    const v = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    await store.commit(v.id, batch(mulberry32(10), 0, 2, 2, 1));
    await store.close();
    const deadTmp = join(dir, `${store.vectorFile.split('/').pop()}.tmp-999999999-1`);
    writeFileSync(deadTmp, 'partial');
    const foreign = join(dir, 'vectors-00000000-0000-0000-0000-000000000000.hnsw');
    writeFileSync(foreign, 'x');
    const again = await open();
    expect(existsSync(deadTmp)).toBe(false);
    expect(existsSync(foreign)).toBe(false);
    expect(vectorFiles()).toEqual([`vectors-${again.db.uuid}.hnsw`]);
    await expectAgreement(again);
  });
});

describe('IndexStore shot vectors', () => {
  /** Keyframes of `scenes` scenes: each scene has 3 region directions, each keyframe shows them slightly moved. */
  function sceneBatch(rand: () => number, scenes: Float32Array[][], t0: number, perScene: number): KeyframeInput[] {
    return scenes.flatMap((directions, s) =>
      Array.from({ length: perScene }, (_, i) => ({
        t: t0 + (s * perScene + i) * 0.5,
        width: 320,
        height: 240,
        regions: directions.map((d, j) => ({
          box: [j * 20, 10, j * 20 + 40, 90] as [number, number, number, number],
          score: 0.5,
          feature: Float32Array.from(d, (x, k) => x + 0.05 * randomUnitVector(rand, DIM)[k]!),
          trackId: null,
        })),
      })),
    );
  }
  const rand = mulberry32(21);
  const scenes = Array.from({ length: 4 }, () => Array.from({ length: 3 }, () => randomUnitVector(rand, DIM)));

  /** SQLite's shot ids equal the live ids of the shot graph. */
  async function expectShotAgreement(store: IndexStore): Promise<void> {
    const ids = store.db.shotIds();
    expect((await store.shotVectorIndex!.ids({ live: true })).sort((a, b) => a - b)).toEqual(ids);
    for (const id of ids.slice(0, 5)) {
      const { vectors } = store.db.packedShotVectors([id], vectors0Dim(store));
      const [hit] = await store.searchShots(vectors, 1, {});
      expect(hit!.id).toBe(id);
    }
  }
  const vectors0Dim = (store: IndexStore) => store.db.shotCodebook()!.dim;

  /** A store holding one video of two keyframes per scene, and those keyframes' region features. */
  async function storeWithScenes(): Promise<{ store: IndexStore; video: { id: number }; features: Float32Array[][] }> {
    const store = await open();
    const video = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const keyframes = sceneBatch(rand, scenes, 0, 2);
    await store.commit(video.id, keyframes);
    return { store, video, features: keyframes.map((kf) => kf.regions.map((r) => r.feature)) };
  }

  it('a codebook gives every indexed keyframe with regions a shot vector, and new keyframes theirs at commit', async () => {
    const store = await open();
    const video = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const first = sceneBatch(rand, scenes, 0, 4);
    await store.commit(video.id, [...first, { t: 100, width: 320, height: 240, regions: [] }]);
    await expect(store.searchShots(new Float32Array(8), 1)).rejects.toThrow(/no shot codebook: run dasr shots learn/);

    const codebook = fitVladCodebook(first.map((kf) => kf.regions.map((r) => r.feature)), { k: 4, localDims: 8 });
    const progress: [number, number][] = [];
    await store.installShotCodebook(codebook, (done, total) => progress.push([done, total]));
    expect(progress.at(-1)).toEqual([16, 16]);
    expect(store.db.shotCount()).toBe(16); // the keyframe without regions has none
    await expectShotAgreement(store);

    const later = sceneBatch(rand, scenes, 200, 1);
    const committed = await store.commit(video.id, later);
    expect(store.db.shotCount()).toBe(20);
    // a new keyframe's shot search finds the keyframes of its scene first
    const query = encodeVlad(codebook, later[2]!.regions.map((r) => r.feature))!;
    const hits = await store.searchShots(query, 6);
    expect(hits[0]!.id).toBe(committed.keyframeIds[2]);
    expect(hits[0]!.similarity).toBeCloseTo(1, 5);
    const sceneOf = (t: number) => (t >= 200 ? Math.round((t - 200) / 0.5) : Math.floor(t / 0.5 / 4));
    expect(hits.slice(0, 5).map((h) => sceneOf(h.t))).toEqual([2, 2, 2, 2, 2]);
    // filters restrict the search itself
    expect((await store.searchShots(query, 3, { from: 0, to: 3 })).every((h) => h.t <= 3)).toBe(true);
    expect(await store.searchShots(query, 3, { videoIds: [video.id + 1] })).toEqual([]);
    expect((await store.searchShots(query, 30, { minScore: 0.9 })).every((h) => h.similarity >= 0.9)).toBe(true);
  });

  it('deletes and trims take shot vectors with their keyframes; a reopen reconciles, and finishes a cut-off fill', async () => {
    const store = await open();
    const a = store.db.addVideo({ path: 'a', sourceKind: 'file' });
    const b = store.db.addVideo({ path: 'b', sourceKind: 'live' });
    const keyframes = sceneBatch(rand, scenes, 0, 3);
    await store.commit(a.id, keyframes);
    await store.commit(b.id, keyframes);
    await store.installShotCodebook(fitVladCodebook(keyframes.map((kf) => kf.regions.map((r) => r.feature)), { k: 3, localDims: 8 }));
    expect(store.db.shotCount()).toBe(24);

    await store.trimVideoBefore(b.id, 3); // keyframes 0 … 2.5 s of b
    expect(store.db.shotCount()).toBe(18);
    await store.deleteVideo(a.id);
    expect(store.db.shotCount()).toBe(6);
    const query = encodeVlad(store.shotCodebook!, keyframes[0]!.regions.map((r) => r.feature))!;
    const hits = await store.searchShots(query, 24);
    expect(hits.map((h) => h.videoId)).toEqual(Array(6).fill(b.id));
    expect(hits.every((h) => h.t >= 3)).toBe(true);
    await store.close();

    // a crash part-way through a fill: some keyframes lost their shot vectors
    const raw = IndexDatabase.open(dir);
    raw.db.prepare('DELETE FROM shot_vectors WHERE keyframe_id IN (SELECT keyframe_id FROM shot_vectors ORDER BY keyframe_id LIMIT 4)').run();
    raw.close();
    const reader = await open({ access: 'read' });
    expect(reader.db.shotCount()).toBe(2); // a reader changes nothing
    await reader.close();
    const again = await open();
    expect(again.db.shotCount()).toBe(6);
    // the same vectors again, under the same keyframe ids: the saved graph still holds them
    expect(again.shotReconciliation).toMatchObject({ source: 'file', added: 0, removed: 0, total: 6 });
    await expectShotAgreement(again);
  });

  it('turns shot search off, with a warning, when the codebook file is missing or not the one the vectors were made with', async () => {
    const { store, video, features } = await storeWithScenes();
    await store.installShotCodebook(fitVladCodebook(features, { k: 3, localDims: 8 }));
    const installed = shotCodebookFile(dir, store.db.shotCodebook()!.fingerprint);
    await store.close();

    await saveVladCodebook(fitVladCodebook(features, { k: 2, localDims: 8 }), installed);
    const logger = capture();
    const changed = await open({ logger });
    expect(logger.lines.some((l) => /^warn: index: shot search is off: .*not the codebook the shot vectors were made with.*dasr shots learn/.test(l))).toBe(true);
    await expect(changed.searchShots(new Float32Array(8), 1)).rejects.toBeInstanceOf(ShotSearchUnavailableError);
    await changed.close();

    rmSync(installed);
    const missingLogger = capture();
    const missing = await open({ logger: missingLogger });
    expect(missingLogger.lines.some((l) => /shot search is off: .*ENOENT/.test(l))).toBe(true);
    expect(missing.shotCodebook).toBeNull();
  });

  it('keeps one codebook file: a new install replaces the old one, and a writer removes one a crash left unnamed', async () => {
    const { store, video, features } = await storeWithScenes();
    const codebookFiles = () => readdirSync(dir).filter((f) => f.startsWith('shot-codebook-')).sort();
    await store.installShotCodebook(fitVladCodebook(features, { k: 3, localDims: 8 }));
    const first = store.db.shotCodebook()!.fingerprint;
    // a second install while one runs is refused; one after it replaces it
    const running = store.installShotCodebook(fitVladCodebook(features, { k: 2, localDims: 8 }));
    await expect(store.installShotCodebook(fitVladCodebook(features, { k: 2, localDims: 6 }))).rejects.toBeInstanceOf(ShotCodebookBusyError);
    // commits wait for the install, then get the new codebook's vectors
    const committed = store.commit(video.id, sceneBatch(rand, scenes, 100, 1));
    await running;
    await committed;
    const second = store.db.shotCodebook()!;
    expect(second.fingerprint).not.toBe(first);
    expect(second.dim).toBe(16);
    expect(codebookFiles()).toEqual([`shot-codebook-${second.fingerprint}.vlad`]);
    expect(store.db.shotCount()).toBe(12);
    expect(store.db.packedShotVectors(store.db.shotIds(), 16).vectors.length).toBe(12 * 16);
    await store.close();

    // an install cut by a crash after writing its file, before SQLite named it
    await saveVladCodebook(fitVladCodebook(features, { k: 4, localDims: 8 }), shotCodebookFile(dir, '0123456789abcdef'));
    const again = await open();
    expect(codebookFiles()).toEqual([`shot-codebook-${second.fingerprint}.vlad`]);
    expect(again.shotCodebook).not.toBeNull();
  });
});

describe('IndexStore after kill -9', () => {
  /** Child: opens the store, commits batches in a bounded loop, saves now and then, deletes an old video once. */
  const CHILD = `
    import { IndexStore } from ${JSON.stringify(pathToFileURL(join(ROOT, 'src/index/index-store.ts')).href)};
    import { mulberry32 } from ${JSON.stringify(pathToFileURL(join(ROOT, 'test/support/random.ts')).href)};
    const [dataDir, seedText] = process.argv.slice(2);
    const rand = mulberry32(Number(seedText));
    const unit = () => { const v = new Float32Array(${DIM}); let s = 0;
      for (let i = 0; i < v.length; i++) { v[i] = rand() - 0.5; s += v[i] * v[i]; }
      s = Math.sqrt(s); for (let i = 0; i < v.length; i++) v[i] /= s; return v; };
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const store = await IndexStore.open(dataDir, { dim: ${DIM}, logger: quiet });
    const older = store.db.listVideos().map((v) => v.id);
    const video = store.db.addVideo({ path: 'clip-' + seedText, sourceKind: 'file' });
    let track = store.db.maxTrackId();
    const deleteAt = Math.floor(rand() * 60);
    for (let b = 0; b < 600; b++) {
      const frames = [];
      for (let f = 0; f < 2; f++) {
        const regions = [];
        const n = 1 + Math.floor(rand() * 4);
        for (let j = 0; j < n; j++) regions.push({ box: [0, 0, 10, 10], score: rand(), feature: unit(), trackId: track + 1 + j });
        frames.push({ t: b + f / 2, width: 64, height: 64, regions });
      }
      await store.commit(video.id, frames, [], { batch: b });
      if (b % 8 === 7) await store.saveVectors();
      if (b === deleteAt && older.length) await store.deleteVideo(older[0]);
      if (b % 10 === 9) track += 4;
      if (b === 0) process.stdout.write('ready\\n');
    }
    await store.close();
    process.stdout.write('done\\n');
  `;

  it('SQLite region ids equal the HNSW ids after each of 3 kills', { timeout: 180_000 }, async () => {
    const childFile = join(dir, 'child.mjs');
    writeFileSync(childFile, CHILD);
    const rand = mulberry32(Number(process.env.DASR_KILL_SEED ?? 2024));
    const outcomes: string[] = [];
    const rounds = Number(process.env.DASR_KILL_ROUNDS ?? 3);
    for (let round = 0; round < rounds; round++) {
      const delay = 10 + Math.floor(rand() * 500);
      const outcome = await new Promise<string>((resolvePromise, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', childFile, dir, String(round + 1)], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        let killed = false;
        const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (!killed && stdout.includes('ready')) {
            killed = true;
            setTimeout(() => child.kill('SIGKILL'), delay);
          }
        });
        child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
        child.on('error', reject);
        child.on('exit', (code, signal) => {
          clearTimeout(guard);
          if (signal === 'SIGKILL') resolvePromise(`killed after ${delay} ms`);
          else if (code === 0 && stdout.includes('done')) resolvePromise('finished before the kill');
          else reject(new Error(`child failed (code ${code}): ${stderr}`));
        });
      });
      outcomes.push(outcome);

      const store = await IndexStore.open(dir, { dim: DIM, logger: capture(), verifySample: 'all' });
      try {
        const { source, added, removed, total } = store.reconciliation;
        outcomes[round] += ` → reopen: ${source}, +${added} −${removed}, ${total} regions`;
        await expectAgreement(store);
        // The resume point matches what was committed.
        const latest = store.db.listVideos().at(-1)!;
        const kfs = store.db.keyframesOfVideo(latest.id);
        if (kfs.length) expect(latest.lastCommittedT).toBe(kfs.at(-1)!.t);
        // A committed vector is found as its own nearest neighbour.
        const ids = store.db.regionIds();
        if (ids.length) {
          const probe = ids[Math.floor(rand() * ids.length)];
          const [hit] = await store.search(store.db.features([probe]).get(probe)!, 1);
          expect(hit.id).toBe(probe);
        }
      } finally {
        await store.close();
      }
    }
    console.log(`kill -9 rounds:\n  ${outcomes.join('\n  ')}`);
  });
});
