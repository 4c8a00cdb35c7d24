/**
 * A file indexed in time ranges, one job each (dasr index --split, for several cluster workers), must give the index
 * a whole run gives: the same keyframes at the same times, the same regions. Only the tracks differ: each range
 * starts its tracker afresh. Run here in one process on the embedded index; the cluster test runs it on workers.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { IndexStore } from '../../src/index/index-store.js';
import { fileContentKey } from '../../src/index/database.js';
import { FileBusyError, ingestFile, splitFile, UnfinishableJobError, type IngestOptions } from '../../src/ingest/ingest-file.js';
import { createLogger } from '../../src/log.js';
import { fixture } from '../video/fixtures.js';

const quiet = createLogger('error');
/** Every keyframe analysed (no still-gate carry), so a range's first keyframe is not the only one that differs. */
const OPTIONS: IngestOptions = { interval: 0.5, stillThreshold: 0, logger: quiet };

let dasr: DetectorThread;
let dir: string;
let transportStream: string;

beforeAll(async () => {
  dasr = await DetectorThread.start({ backbone: {}, config: { longSide: 256, maxPeaks: 4 }, logLevel: 'error' });
  dir = mkdtempSync(join(tmpdir(), 'dasr-ranges-'));
  // The same video in MPEG-TS: it starts at 1.48 s of its own clock, and ffmpeg's seeks in it can land late.
  transportStream = join(dir, 'moving-object.ts');
  execFileSync('ffmpeg', ['-v', 'error', '-i', fixture('moving-object.mp4'), '-c', 'copy', transportStream]);
});

afterAll(async () => {
  await dasr.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openStore(name: string): Promise<IndexStore> {
  return IndexStore.open(join(dir, name), { dim: 2048, logger: quiet });
}

/** Every keyframe of the index's one video with its regions (time, box, score, track), in time order. */
function indexed(store: IndexStore) {
  const [video] = store.db.listVideos();
  const regions = store.db.regionsByIds(store.db.regionIdsOfVideo(video!.id));
  const keyframes = store.db.keyframesOfVideo(video!.id).map((k) => ({
    t: k.t,
    regions: regions.filter((r) => r.keyframeId === k.id).map((r) => ({ box: r.box, score: r.score })),
  }));
  return { video: video!, keyframes: keyframes.sort((a, b) => a.t - b.t), tracks: new Set(regions.map((r) => r.trackId)).size };
}

describe('a file indexed in time ranges', () => {
  it.each([
    ['MP4', () => fixture('moving-object.mp4')],
    ['MPEG-TS starting at 1.48 s', () => transportStream],
  ])('%s: ranges done in any order, one interrupted and resumed, give the keyframes and regions of a whole run', async (name, file) => {
    const whole = await openStore(`${name}-whole`);
    await ingestFile(file(), dasr, whole, OPTIONS);
    const expected = indexed(whole);
    await whole.close();
    expect(expected.keyframes).toHaveLength(12);

    const store = await openStore(`${name}-ranges`);
    const ranges = splitFile(6, 2);
    expect(ranges).toEqual([0, 1, 2].map((index) => ({ index, count: 3, seconds: 2 })));
    const last = await ingestFile(file(), dasr, store, { ...OPTIONS, range: ranges[2] });
    expect(last).toMatchObject({ status: 'indexed', keyframes: 4 });
    expect(store.db.getVideo(last.videoId)?.status).toBe('indexing');

    // The first range stopped after its second keyframe, as a worker that is stopped or dies: a keyframe or two is
    // committed (the next one's commit may already be under way when the stop comes).
    const stop = new AbortController();
    const stopped = ingestFile(file(), dasr, store, { ...OPTIONS, range: ranges[0], signal: stop.signal, onProgress: (p) => p.keyframes >= 2 && stop.abort() });
    await expect(stopped).rejects.toThrow();
    const times = expected.keyframes.map((k) => k.t);
    const firstRange = times.filter((t) => t < 2);
    const committed = store.db.keyframesOfVideo(last.videoId).map((k) => k.t).sort((a, b) => a - b);
    const done = committed.filter((t) => t < 2).length;
    expect(done).toBeGreaterThanOrEqual(2);
    expect(done).toBeLessThan(firstRange.length);
    expect(committed).toEqual([...firstRange.slice(0, done), ...times.filter((t) => t >= 4)]);
    expect(store.db.getVideo(last.videoId)?.status).toBe('indexing');

    expect(await ingestFile(file(), dasr, store, { ...OPTIONS, range: ranges[1] })).toMatchObject({ videoId: last.videoId, status: 'indexed', keyframes: 4 });
    expect(store.db.getVideo(last.videoId)?.status).toBe('indexing');
    expect(await ingestFile(file(), dasr, store, { ...OPTIONS, range: ranges[0] })).toMatchObject({ videoId: last.videoId, status: 'resumed', keyframes: firstRange.length - done });
    expect(store.db.getVideo(last.videoId)?.status).toBe('ready');
    // A range delivered again once the video is ready finds it indexed.
    expect(await ingestFile(file(), dasr, store, { ...OPTIONS, range: ranges[1] })).toMatchObject({ status: 'already-indexed', keyframes: 12 });

    const split = indexed(store);
    expect(split.keyframes).toEqual(expected.keyframes);
    // Tracks are cut where each range (and the resumed one) starts afresh: more of them, none across a cut.
    expect(split.tracks).toBeGreaterThan(expected.tracks);
    expect(split.video.config).toMatchObject({ split: 2 });
    await store.close();
  });

  it('refuses a forced range and a range that is not one; waits while the file is split otherwise; marks the split failed when the file is damaged', async () => {
    const store = await openStore('refusals');
    const video = join(dir, 'refusals.mp4');
    copyFileSync(fixture('moving-object.mp4'), video);
    await expect(ingestFile(video, dasr, store, { ...OPTIONS, force: true, range: { index: 0, count: 2, seconds: 3 } })).rejects.toThrow(UnfinishableJobError);
    await expect(ingestFile(video, dasr, store, { ...OPTIONS, range: { index: 2, count: 2, seconds: 3 } })).rejects.toThrow(/not a range of a split file/);
    expect(store.db.listVideos()).toEqual([]);

    // A split of the file with other settings still indexing: a range of this one waits rather than delete it.
    const contentKey = await fileContentKey(video);
    const other = await store.addVideo({ path: video, sourceKind: 'file', contentKey, status: 'indexing', config: { split: 5 } });
    await expect(ingestFile(video, dasr, store, { ...OPTIONS, range: { index: 0, count: 2, seconds: 3 } })).rejects.toThrow(FileBusyError);
    // A whole run of it left unfinished (nothing holds its claim): the range starts the file afresh.
    store.db.updateVideoInfo(other.id, { config: { interval: 1 } });
    const first = await ingestFile(video, dasr, store, { ...OPTIONS, range: { index: 0, count: 2, seconds: 3 } });
    expect(store.db.listVideos().map((v) => [v.id, v.status])).toEqual([[first.videoId, 'indexing']]);

    // The file damaged: the next range fails on it and marks the split failed, so that it can be removed.
    writeFileSync(video, Buffer.alloc(4096, 7));
    await expect(ingestFile(video, dasr, store, { ...OPTIONS, range: { index: 1, count: 2, seconds: 3 } })).rejects.toMatchObject({ code: 'corrupt' });
    expect(store.db.getVideo(first.videoId)).toMatchObject({ status: 'failed', error: expect.stringMatching(/refusals\.mp4/) });
    expect(await store.finishRange(first.videoId, { index: 1, count: 2 })).toBe(false);
    await store.close();
  });
});
