import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveDasrConfig } from '../../src/detect/config.js';
import type { Detection } from '../../src/detect/dasr.js';
import type { Detector } from '../../src/detect/detector.js';
import type { DecodedImage } from '../../src/image/load.js';
import { IndexStore } from '../../src/index/index-store.js';
import { createLogger } from '../../src/log.js';
import { VideoJobs } from '../../src/serve/video-jobs.js';
import { fixture } from '../video/fixtures.js';
import { waitFor } from '../support/serve.js';

const quiet = createLogger('error');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A detector that finds one region in the middle of every frame, slowly enough to catch jobs mid-way. */
function slowDetector(delayMs: number): Detector {
  return {
    config: resolveDasrConfig({ longSide: 64 }),
    async detect(image: DecodedImage): Promise<Detection> {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      const feature = new Float32Array(2048).fill(1 / Math.sqrt(2048));
      const box: [number, number, number, number] = [image.width / 4, image.height / 4, (3 * image.width) / 4, (3 * image.height) / 4];
      return { image, input: image, peaks: 1, regions: [{ box, score: 1, peak: [image.width / 2, image.height / 2], feature }], timings: { networkMs: 0, boxesMs: 0, poolingMs: 0 } };
    },
    describe: async () => new Float32Array(2048),
    describeCrop: async () => new Float32Array(2048),
  };
}

async function setUp(): Promise<{ dataDir: string; store: IndexStore; jobs: VideoJobs }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dasr-jobs-'));
  dirs.push(dataDir);
  const store = await IndexStore.open(dataDir, { logger: quiet });
  return { dataDir, store, jobs: new VideoJobs(store, slowDetector(100), { dataDir, interval: 1, sceneThreshold: 0, logger: quiet }) };
}

describe('VideoJobs', () => {
  it('keeps unfinished jobs across a stop, and the next run finishes them', async () => {
    const first = await setUp();
    const a = first.jobs.submit(fixture('moving-object.mp4'), false);
    const b = first.jobs.submit(fixture('cfr-testsrc.mp4'), false);
    await waitFor(() => (first.jobs.list().find((j) => j.id === a.id)!.keyframes >= 1 ? true : undefined), 30_000, 'the first keyframe');
    await first.jobs.close();
    expect(first.jobs.saved()).toEqual([
      { path: fixture('moving-object.mp4'), uploaded: false, videoId: expect.any(Number) },
      { path: fixture('cfr-testsrc.mp4'), uploaded: false, videoId: null },
    ]);
    expect(first.jobs.list().find((j) => j.id === b.id)!.state).toBe('queued');
    await first.store.close();

    const store = await IndexStore.open(first.dataDir, { logger: quiet });
    const jobs = new VideoJobs(store, slowDetector(0), { dataDir: first.dataDir, interval: 1, sceneThreshold: 0, logger: quiet });
    for (const saved of jobs.saved()) jobs.submit(saved.path, saved.uploaded, saved.videoId);
    await waitFor(() => (jobs.pendingCount() === 0 ? true : undefined), 60_000, 'the resumed jobs');
    expect(jobs.list().map((j) => j.state)).toEqual(['done', 'done']);
    expect(store.db.listVideos().map((v) => [v.status, v.keyframeCount])).toEqual([['ready', 6], ['ready', 4]]);
    expect(jobs.saved()).toEqual([]);
    await jobs.close();
    await store.close();
  });

  it('cancels a queued job of a deleted video without waiting for the rest of the queue, and removes a duplicate upload', async () => {
    const { dataDir, store, jobs } = await setUp();
    const running = jobs.submit(fixture('moving-object.mp4'), false);
    await waitFor(() => (jobs.list()[0]!.videoId !== null ? true : undefined), 30_000, 'the video row');
    const started = Date.now();
    await jobs.cancelVideo(store.db.getVideo(jobs.list()[0]!.videoId!)!);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(jobs.list().find((j) => j.id === running.id)!.state).toBe('cancelled');
    await store.deleteVideo(jobs.list()[0]!.videoId!);

    // An upload whose content is indexed already: its copy is not kept. Both files get the same whole-second
    // modification time (part of the content key) so that no float rounding of sub-millisecond times differs.
    const sameTime = 1_700_000_000;
    const kept = join(dataDir, 'original.mp4');
    copyFileSync(fixture('cfr-testsrc.mp4'), kept);
    utimesSync(kept, sameTime, sameTime);
    const original = jobs.submit(kept, false);
    await waitFor(() => (jobs.list().find((j) => j.id === original.id)!.state === 'done' ? true : undefined), 30_000, 'the original');
    const uploadDir = join(dataDir, 'uploads', 'copy');
    mkdirSync(uploadDir, { recursive: true });
    copyFileSync(kept, join(uploadDir, 'same.mp4'));
    utimesSync(join(uploadDir, 'same.mp4'), sameTime, sameTime);
    const copy = jobs.submit(join(uploadDir, 'same.mp4'), true);
    await waitFor(() => (jobs.list().find((j) => j.id === copy.id)!.state === 'done' ? true : undefined), 30_000, 'the copy');
    expect(jobs.list().find((j) => j.id === copy.id)).toMatchObject({ state: 'done', error: null });
    expect(existsSync(uploadDir)).toBe(false);
    await jobs.close();
    await store.close();
  });
});
