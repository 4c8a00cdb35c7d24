import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IndexDatabase, type SegmentRecord } from '../../src/index/database.js';
import { IndexStore } from '../../src/index/index-store.js';
import { createLogger } from '../../src/log.js';
import { applyRetention, LiveRecording, recoverRecordings } from '../../src/record/live-recording.js';
import { parseSegmentList } from '../../src/record/segment-list.js';
import { retentionCuts } from '../../src/record/retention.js';
import { recordedSpan } from '../../src/record/recorded-span.js';
import { mulberry32, randomUnitVector } from '../support/random.js';
import { fixture } from '../video/fixtures.js';

const segment = (id: number, videoId: number, connection: number, tStart: number, tEnd: number, bytes: number, createdAt: number): SegmentRecord => ({
  id,
  videoId,
  path: `recordings/${videoId}/${connection}/seg-${String(id).padStart(6, '0')}.ts`,
  tStart,
  tEnd,
  bytes,
  createdAt,
});

describe('the segment list', () => {
  it('reads finished lines and leaves a half-written last line for later', () => {
    expect(parseSegmentList('seg-000000.ts,0.000000,1.080000\nseg-000001.ts,1.080000,2.040000\nseg-000002.ts,2.04')).toEqual([
      { file: 'seg-000000.ts', start: 0, end: 1.08 },
      { file: 'seg-000001.ts', start: 1.08, end: 2.04 },
    ]);
    expect(parseSegmentList('')).toEqual([]);
    expect(parseSegmentList('garbage\nseg-1.ts,2,1\n"a,b.ts",3,4\n')).toEqual([{ file: 'a,b.ts', start: 3, end: 4 }]);
  });
});

describe('a recorded span', () => {
  it("joins only the segments of the connection that recorded the moment", () => {
    const overlapping = [segment(1, 1, 0, 0, 10, 1, 0), segment(2, 1, 0, 10, 20, 1, 0), segment(3, 1, 1, 22, 30, 1, 0)];
    expect(recordedSpan(overlapping, 12)).toEqual({ segments: overlapping.slice(0, 2), tStart: 0, tEnd: 20 });
    expect(recordedSpan(overlapping, 25)).toEqual({ segments: [overlapping[2]], tStart: 22, tEnd: 30 });
    expect(recordedSpan(overlapping, 21)).toBeNull();
  });
});

describe('retentionCuts', () => {
  it('cuts each run at the end of its last segment that goes', () => {
    const expiring = [segment(1, 1, 0, 0, 10, 100, 0), segment(3, 2, 0, 5, 15, 100, 0), segment(2, 1, 0, 10, 20, 100, 0)];
    expect([...retentionCuts(expiring)]).toEqual([[1, 20], [2, 15]]);
    expect(retentionCuts([]).size).toBe(0);
  });
});

describe('IndexDatabase.trimVideoBefore', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('removes keyframes, regions and segments before the cut in one go, and keeps the tracks that go on whole', () => {
    dir = mkdtempSync(join(tmpdir(), 'dasr-trim-'));
    const db = IndexDatabase.open(dir, { dim: 8 });
    try {
      const random = mulberry32(7);
      const video = db.addVideo({ path: 'rtsp://camera/1', sourceKind: 'live', status: 'indexing' });
      const region = (trackId: number, score: number) => ({ box: [0, 0, 10, 10] as [number, number, number, number], score, feature: randomUnitVector(random, 8), trackId });
      // track 1 lives at t = 0, 1; track 2 at t = 1, 2, 3 (its best region at t = 1)
      const committed = db.commitKeyframes(video.id, [
        { t: 0, width: 64, height: 64, regions: [region(1, 0.5)] },
        { t: 1, width: 64, height: 64, regions: [region(1, 0.5), region(2, 0.9)] },
        { t: 2, width: 64, height: 64, regions: [region(2, 0.6)] },
        { t: 3, width: 64, height: 64, regions: [region(2, 0.7)] },
      ], [{ id: 2, bestRegion: { keyframe: 1, region: 1 } }]);
      db.addSegments(video.id, [
        { path: 'recordings/1/0/seg-000000.ts', tStart: 0, tEnd: 1.5, bytes: 10 },
        { path: 'recordings/1/0/seg-000001.ts', tStart: 1.5, tEnd: 3.5, bytes: 10 },
      ]);
      const trimmed = db.trimVideoBefore(video.id, 1.5);
      expect(trimmed.regionIds).toEqual([...committed.regionIds[0]!, ...committed.regionIds[1]!]);
      expect(trimmed.segments.map((s) => s.path)).toEqual(['recordings/1/0/seg-000000.ts']);
      expect(db.keyframesOfVideo(video.id).map((k) => k.t)).toEqual([2, 3]);
      expect(db.segmentsOfVideo(video.id).map((s) => s.tStart)).toEqual([1.5]);
      expect(db.getTrack(1)).toBeUndefined();
      // track 2 starts at its first remaining keyframe, and its best region is the best one left
      expect(db.getTrack(2)).toMatchObject({ firstT: 2, lastT: 3, keyframes: 2, bestRegionId: committed.regionIds[3]![0] });
      // the tracker still names the removed best region: the track keeps the one it has
      db.commitKeyframes(video.id, [{ t: 4, width: 64, height: 64, regions: [region(2, 0.4)] }], [{ id: 2, bestRegion: { regionId: committed.regionIds[1]![1]! } }]);
      expect(db.getTrack(2)).toMatchObject({ firstT: 2, lastT: 4, keyframes: 3, bestRegionId: committed.regionIds[3]![0] });
    } finally {
      db.close();
    }
  });
});

/** `use` with an index (8-d) in a fresh directory holding one live run, removed afterwards. */
async function withLiveRun(use: (store: IndexStore, video: { id: number }, dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-live-run-'));
  const store = await IndexStore.open(dir, { dim: 8, logger: createLogger('error') });
  try {
    await use(store, store.db.addVideo({ path: 'rtsp://camera/1', sourceKind: 'live', status: 'ready' }), dir);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('applyRetention', () => {
  it('removes recordings past the age limit with what was indexed from them, and leaves recordings within the limits untouched', async () => {
    await withLiveRun(async (store, video, dir) => {
      const random = mulberry32(9);
      await store.commit(video.id, [0, 1, 2, 3].map((t) => ({ t, width: 64, height: 64, regions: [{ box: [0, 0, 10, 10] as [number, number, number, number], score: 1, feature: randomUnitVector(random, 8), trackId: null }] })));
      const paths = ['recordings/1/0/seg-000000.ts', 'recordings/1/0/seg-000001.ts'];
      mkdirSync(join(dir, 'recordings/1/0'), { recursive: true });
      for (const path of paths) writeFileSync(join(dir, path), Buffer.alloc(100));
      store.db.addSegments(video.id, [
        { path: paths[0]!, tStart: 0, tEnd: 2, bytes: 100 },
        { path: paths[1]!, tStart: 2, tEnd: 4, bytes: 100 },
      ]);
      expect(store.db.segmentTotals()).toMatchObject({ bytes: 200 });
      const limits = { maxAgeSeconds: 60, maxBytes: 1000 };
      const logger = createLogger('error');

      await applyRetention(store, dir, limits, logger, Date.now());
      expect(store.db.segmentsOfVideo(video.id)).toHaveLength(2);
      expect(store.db.regionCount()).toBe(4);

      // two minutes later, nothing recording: both segments are too old
      await applyRetention(store, dir, limits, logger, Date.now() + 120_000);
      expect(store.db.segmentsOfVideo(video.id)).toEqual([]);
      expect(store.db.segmentTotals()).toEqual({ bytes: 0, oldestCreatedAt: null });
      expect(store.db.regionCount()).toBe(0);
      for (const path of paths) expect(existsSync(join(dir, path))).toBe(false);
    });
  });
});

describe('LiveRecording', () => {
  it("names a taken-over run's connection folders after the writer's epoch, keeps each connection's offset there, and commits what ffmpeg listed on the run's timeline", async () => {
    await withLiveRun(async (store, video, dir) => {
      const options = { dataDir: dir, segmentSeconds: 2, maxAgeSeconds: 3600, maxBytes: 2 ** 30 };
      const recording = new LiveRecording(store, video.id, options, createLogger('error'), 4);
      const first = recording.nextConnection()!;
      expect(first).toEqual({ dir: join(dir, 'recordings', String(video.id), 'w4-0'), segmentSeconds: 2, onFailure: expect.any(Function) });
      // before its first keyframe a connection has no offset: nothing is written
      await recording.sync(undefined);
      expect(existsSync(join(first.dir, 'offset.json'))).toBe(false);
      await recording.sync(7.25);
      expect(readFileSync(join(first.dir, 'offset.json'), 'utf8')).toBe('7.25\n');
      writeFileSync(join(first.dir, 'seg-000000.ts'), Buffer.alloc(40));
      writeFileSync(join(first.dir, 'segments.csv'), 'seg-000000.ts,0.000000,2.000000\n');
      await recording.sync(7.25);
      expect(store.db.segmentsOfVideo(video.id).map((s) => [s.path, s.tStart, s.tEnd, s.bytes])).toEqual([[`recordings/${video.id}/w4-0/seg-000000.ts`, 7.25, 9.25, 40]]);
      const second = recording.nextConnection()!;
      expect(second.dir).toBe(join(dir, 'recordings', String(video.id), 'w4-1'));
      // ffmpeg gave up this connection's recording (a full disk) after one listed segment, and the decode went on to
      // t = 40: the listed segment is committed, the file it gave up is removed, not stretched to the connection's end
      second.onFailure!('No space left on device');
      writeFileSync(join(second.dir, 'seg-000000.ts'), Buffer.alloc(30));
      writeFileSync(join(second.dir, 'seg-000001.ts'), Buffer.alloc(10));
      writeFileSync(join(second.dir, 'segments.csv'), 'seg-000000.ts,0.000000,2.000000\n');
      await recording.sync(20, 40);
      expect(existsSync(join(second.dir, 'offset.json'))).toBe(false);
      expect(store.db.segmentsOfVideo(video.id).map((s) => [s.path, s.tStart, s.tEnd])).toEqual([
        [`recordings/${video.id}/w4-0/seg-000000.ts`, 7.25, 9.25],
        [`recordings/${video.id}/w4-1/seg-000000.ts`, 20, 22],
      ]);
      expect(existsSync(join(second.dir, 'seg-000001.ts'))).toBe(false);
      // storage that fails: the connection goes unrecorded, and its syncs do nothing
      const blocked = join(dir, 'blocked');
      writeFileSync(blocked, 'a file where the recordings folder should be');
      const unrecorded = new LiveRecording(store, video.id, { ...options, dataDir: blocked }, createLogger('error'), 5);
      expect(unrecorded.nextConnection()).toBeUndefined();
      await unrecorded.sync(3);
      expect(store.db.segmentsOfVideo(video.id)).toHaveLength(2);
      // a run of the embedded service (no epoch) numbers its connections from 0
      expect(new LiveRecording(store, video.id, options, createLogger('error')).nextConnection()!.dir).toBe(join(dir, 'recordings', String(video.id), '0'));
    });
  });
});

/** A keyframe at `t` with one region. */
function keyframeAt(t: number) {
  return { t, width: 64, height: 64, regions: [{ box: [0, 0, 10, 10] as [number, number, number, number], score: 1, feature: randomUnitVector(mulberry32(t * 1000), 8), trackId: null }] };
}

describe('recoverRecordings', () => {
  it("places a writer's first segment by its connection's offset when the run has no committed segment yet", async () => {
    await withLiveRun(async (store, video, dir) => {
      // its first keyframe committed, then the offset kept (as LiveRecording.sync does)
      await store.commit(video.id, [keyframeAt(5)]);
      const folder = join(dir, 'recordings', String(video.id), 'w1-0');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'offset.json'), '4.5\n');
      execFileSync('ffmpeg', ['-loglevel', 'error', '-i', fixture('moving-object.mp4'), '-t', '1.5', '-c', 'copy', '-f', 'mpegts', join(folder, 'seg-000000.ts')]);
      await recoverRecordings(store, dir, createLogger('error'));
      expect(store.db.segmentsOfVideo(video.id).map((s) => [s.path, s.tStart, s.tEnd])).toEqual([[`recordings/${video.id}/w1-0/seg-000000.ts`, 4.5, expect.closeTo(6.1, 0)]]);
    });
  });

  it('commits the segments a crash left uncommitted on the run timeline, and removes what cannot be placed', async () => {
    await withLiveRun(async (store, video, dir) => {
      const run = join(dir, 'recordings', String(video.id));
      mkdirSync(join(run, '0'), { recursive: true });
      mkdirSync(join(run, '1'), { recursive: true });
      // connection 0: ffmpeg finished segments 0 and 1 (listed), segment 0 was committed at index time 10; the crash
      // came while it wrote segment 2 (a real 1.5 s MPEG-TS file, never listed)
      writeFileSync(join(run, '0', 'segments.csv'), 'seg-000000.ts,0.000000,2.000000\nseg-000001.ts,2.000000,4.000000\n');
      writeFileSync(join(run, '0', 'seg-000000.ts'), Buffer.alloc(10));
      writeFileSync(join(run, '0', 'seg-000001.ts'), Buffer.alloc(20));
      execFileSync('ffmpeg', ['-loglevel', 'error', '-i', fixture('moving-object.mp4'), '-t', '1.5', '-c', 'copy', '-f', 'mpegts', join(run, '0', 'seg-000002.ts')]);
      store.db.addSegments(video.id, [{ path: `recordings/${video.id}/0/seg-000000.ts`, tStart: 10, tEnd: 12, bytes: 10 }]);
      await store.commit(video.id, [keyframeAt(10.5)]);
      // connection 00: retention removed its segment from the index (cut at 10), and the crash came before the file
      mkdirSync(join(run, '00'), { recursive: true });
      writeFileSync(join(run, '00', 'offset.json'), '2\n');
      writeFileSync(join(run, '00', 'segments.csv'), 'seg-000000.ts,0.000000,8.000000\n');
      writeFileSync(join(run, '00', 'seg-000000.ts'), Buffer.alloc(5));
      // connection 1: nothing of it was committed, so its offset is unknown
      writeFileSync(join(run, '1', 'seg-000000.ts'), Buffer.alloc(30));
      // connection w3-0 (a cluster writer): killed while it wrote its first segment, after its first keyframe placed
      // the connection at index time 30
      mkdirSync(join(run, 'w3-0'), { recursive: true });
      writeFileSync(join(run, 'w3-0', 'offset.json'), '30\n');
      execFileSync('ffmpeg', ['-loglevel', 'error', '-i', fixture('moving-object.mp4'), '-t', '1.5', '-c', 'copy', '-f', 'mpegts', join(run, 'w3-0', 'seg-000000.ts')]);

      await recoverRecordings(store, dir, createLogger('error'));
      const segments = store.db.segmentsOfVideo(video.id);
      expect(segments.map((s) => [s.path, s.tStart, s.tEnd])).toEqual([
        [`recordings/${video.id}/0/seg-000000.ts`, 10, 12],
        [`recordings/${video.id}/0/seg-000001.ts`, 12, 14],
        // ends where ffprobe says the file does: 1.5 s cut at a keyframe by the stream copy, 1.68 s
        [`recordings/${video.id}/0/seg-000002.ts`, 14, expect.closeTo(15.6, 0)],
        [`recordings/${video.id}/w3-0/seg-000000.ts`, 30, expect.closeTo(31.6, 0)],
      ]);
      expect(segments[1]!.bytes).toBe(20);
      expect(existsSync(join(run, '1', 'seg-000000.ts'))).toBe(false);
      expect(existsSync(join(run, '00', 'seg-000000.ts'))).toBe(false);
      // a second pass finds nothing more to do
      await recoverRecordings(store, dir, createLogger('error'));
      expect(store.db.segmentsOfVideo(video.id)).toHaveLength(4);
    });
  });

  it('removes the files of a run that retention emptied (no keyframe left) and a crash left behind', async () => {
    await withLiveRun(async (store, video, dir) => {
      await store.commit(video.id, [keyframeAt(5)]);
      const folder = join(dir, 'recordings', String(video.id), '0');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'offset.json'), '4.5\n');
      writeFileSync(join(folder, 'segments.csv'), 'seg-000000.ts,0.000000,2.000000\n');
      writeFileSync(join(folder, 'seg-000000.ts'), Buffer.alloc(10));
      store.db.addSegments(video.id, [{ path: `recordings/${video.id}/0/seg-000000.ts`, tStart: 4.5, tEnd: 6.5, bytes: 10 }]);
      // retention cut the whole run from the index; the crash came before its files went
      await store.trimVideoBefore(video.id, 6.5);
      expect(await store.videoSummary(video.id)).toMatchObject({ keyframeCount: 0 });
      await recoverRecordings(store, dir, createLogger('error'));
      expect(store.db.segmentsOfVideo(video.id)).toEqual([]);
      expect(existsSync(join(dir, 'recordings', String(video.id)))).toBe(false);
    });
  });
});
