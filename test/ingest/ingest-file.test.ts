import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backbone } from '../../src/model/backbone.js';
import { Dasr } from '../../src/detect/dasr.js';
import { IndexStore } from '../../src/index/index-store.js';
import { ingestFile } from '../../src/ingest/ingest-file.js';
import { DecodeError } from '../../src/decode/errors.js';
import { iou, type Box } from '../../src/detect/box.js';
import { fixture, movingObjectBoxAt } from '../video/fixtures.js';
import { createLogger } from '../../src/log.js';

const quiet = createLogger('error');
describe('file ingestion', () => {
  let dasr: Dasr;
  const dirs: string[] = [];
  const dataDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-ingest-'));
    dirs.push(dir);
    return dir;
  };
  beforeAll(async () => {
    dasr = new Dasr(await Backbone.load({ logger: quiet }), { longSide: 384 });
  });
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('turns the moving object into ONE track spanning its appearance, with boxes on it', async () => {
    const store = await IndexStore.open(dataDir(), { logger: quiet });
    const result = await ingestFile(fixture('moving-object.mp4'), dasr, store, { interval: 0.5, logger: quiet });
    expect(result.status).toBe('indexed');
    // Keyframes on the 0.5 s grid: the frame at or after each grid line (25 fps: 0, 0.52, 1, 1.52, …).
    const times = store.db.keyframesOfVideo(result.videoId).map((k) => k.t);
    expect(times.map((t) => Math.round(t * 100) / 100)).toEqual([0, 0.52, 1, 1.52, 2, 2.52, 3, 3.52, 4, 4.52, 5, 5.52]);

    // The track whose regions overlap the truth: exactly one, from the object's first to its last keyframe.
    const tracks = store.db.tracksOfVideo(result.videoId);
    const onObject = tracks.filter((track) =>
      store.db.regionsOfTrack(track.id).some((r) => {
        const truth = movingObjectBoxAt(r.t);
        return truth !== null && iou(r.box, truth) >= 0.3;
      }),
    );
    expect(onObject).toHaveLength(1);
    const track = onObject[0]!;
    expect(track.firstT).toBeCloseTo(1, 6);
    expect(track.lastT).toBeCloseTo(5, 6);
    const regions = store.db.regionsOfTrack(track.id);
    // Every region of that track is on the object while it is visible (never on the distractor).
    for (const region of regions) expect(movingObjectBoxAt(region.t)).not.toBeNull();
    const goodBoxes = regions.filter((r) => iou(r.box, movingObjectBoxAt(r.t)!) >= 0.3).length;
    expect(goodBoxes / regions.length).toBeGreaterThanOrEqual(0.6);
    await store.close();
  });

  it('rejects corrupt, truncated, empty, audio-only and non-video inputs and leaves the index untouched', async () => {
    const store = await IndexStore.open(dataDir(), { logger: quiet });
    for (const name of ['corrupt.mp4', 'truncated.mp4', 'zero-length.mp4', 'audio-only.m4a', 'not-video.txt']) {
      const error = await ingestFile(fixture(name), dasr, store, { interval: 1, logger: quiet }).catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(DecodeError);
      expect((error as Error).message.length).toBeGreaterThan(10);
    }
    await expect(ingestFile(fixture('no-such-file.mp4'), dasr, store, { interval: 1, logger: quiet })).rejects.toMatchObject({ code: 'not-found' });
    expect(store.db.listVideos()).toEqual([]);
    expect(store.db.regionCount()).toBe(0);
    await store.close();
  });

  it('resumes an interrupted ingestion where it stopped, and recognises a finished one', async () => {
    const dir = dataDir();
    const reference = await IndexStore.open(dataDir(), { logger: quiet });
    const full = await ingestFile(fixture('moving-object.mp4'), dasr, reference, { interval: 1, logger: quiet });
    const fullTracks = reference.db.tracksOfVideo(full.videoId).map((t) => [t.firstT, t.lastT, t.keyframes]);
    await reference.close();

    let store = await IndexStore.open(dir, { logger: quiet });
    const abort = new AbortController();
    await expect(
      ingestFile(fixture('moving-object.mp4'), dasr, store, {
        interval: 1,
        logger: quiet,
        signal: abort.signal,
        onProgress: (p) => p.keyframes >= 3 && abort.abort(),
      }),
    ).rejects.toThrow();
    const partial = store.db.listVideos()[0]!;
    expect(partial.status).toBe('indexing');
    expect(partial.keyframeCount).toBe(3);
    await store.close();

    store = await IndexStore.open(dir, { logger: quiet });
    const resumed = await ingestFile(fixture('moving-object.mp4'), dasr, store, { interval: 1, logger: quiet });
    expect(resumed.status).toBe('resumed');
    expect(resumed.keyframes).toBe(full.keyframes - 3);
    const video = store.db.listVideos()[0]!;
    expect(video.status).toBe('ready');
    expect(video.keyframeCount).toBe(full.keyframes);
    // The tracker state committed with each keyframe makes the resumed run identical to an uninterrupted one.
    expect(store.db.tracksOfVideo(video.id).map((t) => [t.firstT, t.lastT, t.keyframes])).toEqual(fullTracks);

    const again = await ingestFile(fixture('moving-object.mp4'), dasr, store, { interval: 1, logger: quiet });
    expect(again.status).toBe('already-indexed');
    expect(store.db.listVideos()).toHaveLength(1);
    await store.close();
  });

  it('takes a deleted video out of search', async () => {
    const store = await IndexStore.open(dataDir(), { logger: quiet });
    const { videoId } = await ingestFile(fixture('moving-object.mp4'), dasr, store, { interval: 2, logger: quiet });
    const someRegion = store.db.regionIdsOfVideo(videoId)[0]!;
    const feature = store.db.features([someRegion]).get(someRegion)!;
    expect((await store.search(feature, 1))[0]!.id).toBe(someRegion);
    expect(await store.deleteVideo(videoId)).toBe(true);
    expect(await store.search(feature, 5)).toEqual([]);
    expect(store.db.listVideos()).toEqual([]);
    await store.close();
  });
});
