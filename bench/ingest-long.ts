/**
 * `npm run bench -- ingest-long [minutes]`: the commit path over a long file (default an hour at 1 keyframe/s).
 * DASR is replaced by a detector that reads the frame index from the striped test video, so what is measured is
 * decoding, tracking and committing: the time per keyframe must not grow with the position in the video (it did
 * while ended tracks stayed in the state written with every keyframe).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { IndexStore } from '../src/index/index-store.js';
import { ingestFile } from '../src/ingest/ingest-file.js';
import { createLogger } from '../src/log.js';
import { DEFAULT_SCENE, StripedSceneDetector, writeStripedVideo, type StripedScene } from '../test/support/striped-video.js';

export async function run(args: string[]): Promise<void> {
  const minutes = Number(args[0] ?? 60);
  if (!(minutes > 0)) throw new Error('usage: npm run bench -- ingest-long [minutes > 0]');
  // One frame a second, every frame a keyframe; an object enters every 5 s and stays 30 s (6 in view).
  const scene: StripedScene = { ...DEFAULT_SCENE, frames: Math.round(minutes * 60), fps: 1 };
  const dir = mkdtempSync(join(tmpdir(), 'dasr-bench-long-'));
  try {
    const video = join(dir, 'striped.mp4');
    await writeStripedVideo(video, scene);
    const store = await IndexStore.open(join(dir, 'data'), { logger: createLogger('error'), dim: scene.featureDim });
    const tenth = Math.max(1, Math.floor(scene.frames / 10));
    const marks: number[] = [];
    let videoId = -1;
    let largestState = 0;
    const started = performance.now();
    const result = await ingestFile(video, new StripedSceneDetector(scene), store, {
      interval: 1,
      logger: createLogger('error'),
      onVideo: (id) => (videoId = id),
      onProgress: (p) => {
        if (p.keyframes > 0 && p.keyframes % tenth === 0 && marks.length < p.keyframes / tenth) marks.push(performance.now());
        const state = store.db.videoState(videoId)?.trackerState;
        if (typeof state === 'string') largestState = Math.max(largestState, state.length);
      },
    });
    const total = performance.now() - started;
    if (marks.length < 10) marks.push(started + total);
    await store.close();
    process.stdout.write(`${result.keyframes} keyframes (${minutes} min at 1 keyframe/s), ${result.regions} regions: ${(total / 1000).toFixed(1)} s, ${(minutes * 60 * 1000 / total).toFixed(0)}× real time\n`);
    process.stdout.write(`largest tracker state written: ${largestState} bytes\n`);
    process.stdout.write('ms per keyframe, by tenth of the video:\n');
    let previous = started;
    marks.forEach((mark, i) => {
      process.stdout.write(`  ${String(i + 1).padStart(2)}: ${((mark - previous) / tenth).toFixed(2)}\n`);
      previous = mark;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
