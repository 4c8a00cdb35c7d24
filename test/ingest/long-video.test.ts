import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexStore } from '../../src/index/index-store.js';
import { ingestFile } from '../../src/ingest/ingest-file.js';
import { decodeTrackerState } from '../../src/track/state.js';
import { createLogger } from '../../src/log.js';
import { DEFAULT_SCENE, StripedSceneDetector, writeStripedVideo } from '../support/striped-video.js';

const quiet = createLogger('error');

/** Everything a search can return about a video: keyframes, regions with their tracks, and the tracks. */
function indexedContent(store: IndexStore, videoId: number): unknown {
  const tracks = store.db.tracksOfVideo(videoId);
  return {
    keyframes: store.db.keyframesOfVideo(videoId).map((k) => k.t),
    tracks,
    regions: tracks.flatMap((track) => store.db.regionsOfTrack(track.id).map((r) => ({ t: r.t, box: r.box, score: r.score, trackId: r.trackId }))),
  };
}

describe('file ingestion of a long video', () => {
  const root = mkdtempSync(join(tmpdir(), 'dasr-long-'));
  const video = join(root, 'striped.mp4');
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeAll(() => writeStripedVideo(video));

  it(`keeps the persisted tracker state bounded over ${DEFAULT_SCENE.frames} keyframes, and a resume equals an uninterrupted run`, async () => {
    const interval = 1 / DEFAULT_SCENE.fps;
    const whole = await IndexStore.open(join(root, 'whole'), { logger: quiet, dim: DEFAULT_SCENE.featureDim });
    const detector = new StripedSceneDetector();
    let largestState = 0;
    let videoId = -1;
    const result = await ingestFile(video, detector, whole, {
      interval,
      logger: quiet,
      onVideo: (id) => (videoId = id),
      // Read between commits, as a crash would find it.
      onProgress: () => {
        const state = whole.db.videoState(videoId)?.trackerState;
        if (typeof state === 'string') largestState = Math.max(largestState, state.length);
      },
    });
    expect(result.keyframes).toBe(DEFAULT_SCENE.frames);
    expect(detector.seen).toEqual(Array.from({ length: DEFAULT_SCENE.frames }, (_, i) => i));
    const objects = Math.ceil(DEFAULT_SCENE.frames / DEFAULT_SCENE.spacing);
    expect(whole.db.tracksOfVideo(result.videoId)).toHaveLength(objects);
    // At most the objects in view plus those within the tracker's 2 s gap: about 10 tracks of 64-d vectors, never 200.
    expect(largestState).toBeGreaterThan(0);
    expect(largestState).toBeLessThan(12_000);
    const finalState = decodeTrackerState(whole.db.videoState(result.videoId)!.trackerState as string);
    expect(finalState.ended).toEqual([]);
    expect(finalState.tracks.length).toBeLessThanOrEqual(10);

    const interrupted = await IndexStore.open(join(root, 'interrupted'), { logger: quiet, dim: DEFAULT_SCENE.featureDim });
    const stop = new AbortController();
    const first = await ingestFile(video, new StripedSceneDetector(), interrupted, {
      interval,
      logger: quiet,
      signal: stop.signal,
      onProgress: (p) => p.keyframes >= 487 && stop.abort(),
    }).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Error);
    const resumedDetector = new StripedSceneDetector();
    const resumed = await ingestFile(video, resumedDetector, interrupted, { interval, logger: quiet });
    expect(resumed.status).toBe('resumed');
    expect(resumedDetector.seen[0]).toBeGreaterThanOrEqual(487);
    expect(indexedContent(interrupted, resumed.videoId)).toEqual(indexedContent(whole, result.videoId));
    await whole.close();
    await interrupted.close();
  }, 120_000);
});
