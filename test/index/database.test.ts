import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  blobToFeature,
  DATABASE_FILE,
  featureToBlob,
  fileContentKey,
  IndexDatabase,
  MIGRATIONS,
  type KeyframeInput,
} from '../../src/index/database.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 16;

function keyframes(rand: () => number, ts: number[], perFrame: number, trackIds: (number | null)[]): KeyframeInput[] {
  return ts.map((t) => ({
    t,
    width: 640,
    height: 360,
    regions: Array.from({ length: perFrame }, (_, j) => ({
      box: [10 * j, 20, 10 * j + 50, 80] as [number, number, number, number],
      score: 0.5 + j / 10,
      feature: randomUnitVector(rand, DIM),
      trackId: trackIds[j] ?? null,
    })),
  }));
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dasr-db-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('schema', () => {
  it('creates the schema with WAL, foreign keys and FULL sync', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    expect(db.schemaVersion).toBe(MIGRATIONS.length);
    expect(db.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    const tables = db.db
      .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
      .pluck()
      .all();
    expect(tables).toEqual(['finished_ranges', 'keyframes', 'meta', 'regions', 'segments', 'shot_vectors', 'tracks', 'video_state', 'videos']);
    expect(db.dim).toBe(DIM);
    expect(db.getMeta('dim')).toBe(String(DIM));
    expect(db.uuid).toMatch(/^[0-9a-f-]{36}$/);
    db.close();
  });

  it('reopening is idempotent and keeps meta', () => {
    const first = IndexDatabase.open(dir, { dim: DIM });
    const uuid = first.uuid;
    const schema = first.db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all();
    first.close();
    for (let i = 0; i < 3; i++) {
      const again = IndexDatabase.open(dir); // dim comes from meta
      expect(again.dim).toBe(DIM);
      expect(again.uuid).toBe(uuid);
      expect(again.schemaVersion).toBe(MIGRATIONS.length);
      expect(again.db.prepare('SELECT sql FROM sqlite_master ORDER BY name').pluck().all()).toEqual(schema);
      again.close();
    }
  });

  it('applies a later migration exactly once', () => {
    IndexDatabase.open(dir, { dim: DIM }).close();
    let runs = 0;
    const v2 = [
      ...MIGRATIONS,
      (db: Database.Database) => {
        runs++;
        db.exec('ALTER TABLE videos ADD COLUMN note TEXT');
      },
    ];
    const a = IndexDatabase.open(dir, { migrations: v2 });
    expect(a.schemaVersion).toBe(MIGRATIONS.length + 1);
    a.close();
    const b = IndexDatabase.open(dir, { migrations: v2 });
    expect(runs).toBe(1);
    const columns = b.db.prepare(`SELECT name FROM pragma_table_info('videos')`).pluck().all();
    expect(columns).toContain('note');
    b.close();
  });

  it('rolls back a failing migration', () => {
    IndexDatabase.open(dir, { dim: DIM }).close();
    const broken = [
      ...MIGRATIONS,
      (db: Database.Database) => {
        db.exec('CREATE TABLE half_done (x)');
        throw new Error('boom');
      },
    ];
    expect(() => IndexDatabase.open(dir, { migrations: broken })).toThrow('boom');
    const db = IndexDatabase.open(dir);
    expect(db.schemaVersion).toBe(MIGRATIONS.length);
    expect(db.db.prepare(`SELECT count(*) FROM sqlite_master WHERE name = 'half_done'`).pluck().get()).toBe(0);
    db.close();
  });

  it('refuses a newer schema and a different dimension', () => {
    IndexDatabase.open(dir, { dim: DIM }).close();
    expect(() => IndexDatabase.open(dir, { dim: DIM * 2 })).toThrow(/dimension/);
    const raw = new Database(join(dir, DATABASE_FILE));
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.close();
    expect(() => IndexDatabase.open(dir)).toThrow(/newer/);
  });
});

describe('videos, keyframes, regions, tracks', () => {
  it('commits, lists and reads back', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const rand = mulberry32(1);
    const v = db.addVideo({ path: '/v/a.mp4', sourceKind: 'file', contentKey: 'k1', width: 640, height: 360, fps: 25, config: { k: 7 } });
    expect(v).toMatchObject({ status: 'indexing', sourceKind: 'file', config: { k: 7 }, lastCommittedT: null });
    const batch = keyframes(rand, [0, 0.5, 1], 2, [1, 2]);
    const res = db.commitKeyframes(v.id, batch, [{ id: 1, bestRegion: { keyframe: 2, region: 0 } }], { next: 3 }, 1);
    expect(res.keyframeIds).toHaveLength(3);
    expect(res.regionIds.flat()).toHaveLength(6);

    const [summary] = db.listVideos();
    expect(summary).toMatchObject({ id: v.id, keyframeCount: 3, regionCount: 6, trackCount: 2, lastCommittedT: 1 });

    const tracks = db.tracksOfVideo(v.id);
    expect(tracks).toEqual([
      { id: 1, videoId: v.id, firstT: 0, lastT: 1, keyframes: 3, bestRegionId: res.regionIds[2][0] },
      { id: 2, videoId: v.id, firstT: 0, lastT: 1, keyframes: 3, bestRegionId: null },
    ]);
    // A second batch extends the tracks.
    const res2 = db.commitKeyframes(v.id, keyframes(rand, [1.5], 1, [2]), [{ id: 2, bestRegion: { regionId: res.regionIds[0][1] } }], { next: 4 });
    expect(db.getTrack(2)).toMatchObject({ lastT: 1.5, keyframes: 4, bestRegionId: res.regionIds[0][1] });
    expect(db.videoState(v.id)).toEqual({ videoId: v.id, lastCommittedT: 1.5, trackerState: { next: 4 } });
    expect(db.maxTrackId()).toBe(2);

    const ids = [res2.regionIds[0][0], res.regionIds[0][0], 999_999];
    const regions = db.regionsByIds(ids);
    expect(regions.map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect(regions[1]).toMatchObject({ videoId: v.id, trackId: 1, t: 0, box: [0, 20, 50, 80], score: 0.5 });
    const features = db.features([res.regionIds[1][1]]);
    expect(Array.from(features.get(res.regionIds[1][1])!)).toEqual(Array.from(batch[1].regions[1].feature));
    expect(db.regionsOfTrack(2).map((r) => r.t)).toEqual([0, 0.5, 1, 1.5]);
    expect(db.keyframesOfVideo(v.id).map((k) => k.t)).toEqual([0, 0.5, 1, 1.5]);
    expect(db.regionIds()).toEqual([...res.regionIds.flat(), ...res2.regionIds.flat()].sort((a, b) => a - b));

    db.setVideoStatus(v.id, 'ready');
    db.updateVideoInfo(v.id, { duration: 12.5 });
    expect(db.getVideo(v.id)).toMatchObject({ status: 'ready', duration: 12.5, error: null });
    expect(db.findVideoByContentKey('k1')?.id).toBe(v.id);
    expect(db.findVideoByContentKey('nope')).toBeUndefined();
    db.close();
  });

  it('a keyframe committed again is left as it was and its ids are returned', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const rand = mulberry32(3);
    const v = db.addVideo({ path: 'a', sourceKind: 'file' });
    const first = db.commitKeyframes(v.id, keyframes(rand, [0, 1], 2, [1, null]), [{ id: 1, bestRegion: { keyframe: 1, region: 0 } }], { s: 1 });
    expect(first.repeated).toEqual([]);

    // The whole batch again (a redelivered job): nothing changes, not even the tracker state or the resume point.
    const again = db.commitKeyframes(v.id, keyframes(rand, [0, 1], 2, [1, null]), [{ id: 1, bestRegion: { keyframe: 0, region: 0 } }], { s: 9 }, 7);
    expect(again).toEqual({ ...first, repeated: [0, 1] });
    expect(db.listVideos()[0]).toMatchObject({ keyframeCount: 2, regionCount: 4, lastCommittedT: 1 });
    expect(db.videoState(v.id)?.trackerState).toEqual({ s: 1 });
    expect(db.getTrack(1)).toMatchObject({ keyframes: 2, firstT: 0, lastT: 1, bestRegionId: first.regionIds[1]![0] });

    // A batch overlapping what was committed adds only its new keyframe.
    const overlap = db.commitKeyframes(v.id, keyframes(rand, [1, 2], 2, [1, null]), [], { s: 2 });
    expect(overlap.repeated).toEqual([0]);
    expect(overlap.keyframeIds[0]).toBe(first.keyframeIds[1]);
    expect(overlap.regionIds[0]).toEqual(first.regionIds[1]);
    expect(db.listVideos()[0]).toMatchObject({ keyframeCount: 3, regionCount: 6, lastCommittedT: 2 });
    expect(db.getTrack(1)).toMatchObject({ keyframes: 3, lastT: 2 });
    db.close();
  });

  it('a failing batch commits nothing', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const rand = mulberry32(2);
    const v = db.addVideo({ path: 'a', sourceKind: 'file' });
    db.commitKeyframes(v.id, keyframes(rand, [0], 1, [1]), [], { s: 1 });
    // A track update naming no track fails after both keyframes were inserted: they must roll back too.
    expect(() => db.commitKeyframes(v.id, keyframes(rand, [1, 2], 1, [1]), [{ id: 999, bestRegion: null }], { s: 2 }, 2)).toThrow(/track 999 does not exist/);
    expect(db.listVideos()[0]).toMatchObject({ keyframeCount: 1, regionCount: 1, lastCommittedT: 0 });
    expect(db.videoState(v.id)?.trackerState).toEqual({ s: 1 });
    expect(db.getTrack(1)).toMatchObject({ keyframes: 1, lastT: 0 });

    const w = db.addVideo({ path: 'b', sourceKind: 'live' });
    expect(() => db.commitKeyframes(w.id, keyframes(rand, [0], 1, [1]))).toThrow(/belongs to video/);
    expect(() => db.commitKeyframes(w.id, keyframes(rand, [0], 1, [null]), [{ id: 77, bestRegion: { keyframe: 0, region: 0 } }])).toThrow(/does not exist/);
    expect(() => db.commitKeyframes(w.id, [{ t: 0, width: 1, height: 1, regions: [{ box: [0, 0, 1, 1], score: 1, feature: new Float32Array(3), trackId: null }] }])).toThrow(/length 16/);
    expect(() => db.commitKeyframes(12345, keyframes(rand, [0], 1, [null]))).toThrow(/no video/);
    expect(db.listVideos().find((x) => x.id === w.id)).toMatchObject({ keyframeCount: 0, regionCount: 0, trackCount: 0 });
    db.close();
  });

  it('stores tracker state as bytes or JSON', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const v = db.addVideo({ path: 'a', sourceKind: 'file' });
    db.commitKeyframes(v.id, [], [], new Uint8Array([1, 2, 3, 250]), 4.5);
    const state = db.videoState(v.id)!;
    expect(state.trackerState).toBeInstanceOf(Uint8Array);
    expect(Array.from(state.trackerState as Uint8Array)).toEqual([1, 2, 3, 250]);
    expect(state.lastCommittedT).toBe(4.5);
    db.close();
  });

  it('deleting a video cascades to everything it owns', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const rand = mulberry32(3);
    const a = db.addVideo({ path: 'a', sourceKind: 'file' });
    const b = db.addVideo({ path: 'b', sourceKind: 'file' });
    const ra = db.commitKeyframes(a.id, keyframes(rand, [0, 1, 2], 3, [1, 2]), [{ id: 1, bestRegion: { keyframe: 1, region: 0 } }], { a: 1 });
    const rb = db.commitKeyframes(b.id, keyframes(rand, [0, 1], 2, [3]), [{ id: 3, bestRegion: { keyframe: 0, region: 0 } }], { b: 1 });

    const removed = db.deleteVideo(a.id);
    expect(removed?.sort((x, y) => x - y)).toEqual(ra.regionIds.flat().sort((x, y) => x - y));
    expect(db.deleteVideo(a.id)).toBeNull();
    const count = (table: string) => db.db.prepare(`SELECT count(*) FROM ${table}`).pluck().get();
    expect(count('keyframes')).toBe(2);
    expect(count('regions')).toBe(4);
    expect(count('tracks')).toBe(1);
    expect(count('video_state')).toBe(1);
    expect(db.listVideos().map((v) => v.id)).toEqual([b.id]);
    expect(db.regionIds()).toEqual(rb.regionIds.flat());
    expect(db.db.pragma('foreign_key_check')).toEqual([]);

    // Ids are never reused (AUTOINCREMENT): a new region gets a fresh id above every earlier one.
    const c = db.addVideo({ path: 'c', sourceKind: 'file' });
    const rc = db.commitKeyframes(c.id, keyframes(rand, [0], 1, [null]));
    expect(rc.regionIds[0][0]).toBeGreaterThan(Math.max(...ra.regionIds.flat(), ...rb.regionIds.flat()));
    expect(c.id).toBeGreaterThan(b.id);
    db.close();
  });

  it('filters region ids by video and detection score', () => {
    const db = IndexDatabase.open(dir, { dim: DIM });
    const rand = mulberry32(4);
    const a = db.addVideo({ path: 'a', sourceKind: 'file' });
    const b = db.addVideo({ path: 'b', sourceKind: 'file' });
    const ra = db.commitKeyframes(a.id, keyframes(rand, [0], 3, []));
    const rb = db.commitKeyframes(b.id, keyframes(rand, [0], 3, []));
    expect(db.regionIdsWhere({ videoIds: [b.id] })).toEqual(rb.regionIds[0]);
    expect(db.regionIdsWhere({ minRegionScore: 0.65 })).toEqual([ra.regionIds[0][2], rb.regionIds[0][2]]);
    expect(db.regionIdsWhere({ videoIds: [a.id], minRegionScore: 0.55 })).toEqual(ra.regionIds[0].slice(1));
    expect(db.regionIdsWhere({ videoIds: [] })).toEqual([]);
    db.close();
  });
});

describe('helpers', () => {
  it('round-trips features through float32 LE blobs', () => {
    const f = randomUnitVector(mulberry32(5), DIM);
    const blob = featureToBlob(f);
    expect(blob.byteLength).toBe(DIM * 4);
    expect(blob.readFloatLE(4)).toBe(f[1]);
    // An unaligned view, as SQLite may hand back.
    const shifted = Buffer.alloc(blob.length + 1);
    blob.copy(shifted, 1);
    expect(Array.from(blobToFeature(shifted.subarray(1)))).toEqual(Array.from(f));
  });

  it('content key recognises the same file', async () => {
    const p = join(dir, 'clip.bin');
    writeFileSync(p, Buffer.alloc(3 << 20, 7));
    const k1 = await fileContentKey(p);
    expect(k1).toMatch(/^3145728:\d+:[0-9a-f]{64}$/);
    expect(await fileContentKey(p)).toBe(k1);
  });
});
