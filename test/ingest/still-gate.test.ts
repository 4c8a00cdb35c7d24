import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { blockMeans, StillGate } from '../../src/ingest/still-gate.js';
import { IndexStore } from '../../src/index/index-store.js';
import { ingestFile } from '../../src/ingest/ingest-file.js';
import { DEFAULT_DASR_CONFIG } from '../../src/detect/config.js';
import type { Detection } from '../../src/detect/dasr.js';
import type { Detector } from '../../src/detect/detector.js';
import type { DecodedImage } from '../../src/image/load.js';
import { createLogger } from '../../src/log.js';
import { mulberry32 } from '../support/random.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** A grey frame of the given level, with an optional square of another level. */
function frame(width: number, height: number, level: number, square?: { x: number; y: number; side: number; level: number }): { width: number; height: number; data: Uint8Array } {
  const data = new Uint8Array(width * height * 3).fill(level);
  if (square) {
    for (let y = square.y; y < square.y + square.side; y++) for (let x = square.x; x < square.x + square.side; x++) data.fill(square.level, (y * width + x) * 3, (y * width + x) * 3 + 3);
  }
  return { width, height, data };
}

describe('still gate', () => {
  it('averages luma and half the chroma over blocks, partial ones at the edges', () => {
    const f = frame(10, 9, 0, { x: 8, y: 0, side: 2, level: 255 });
    f.data[(1 * 10 + 9) * 3 + 2] = 0; // one pixel of the white square is yellow (no blue)
    const means = blockMeans(f, 8);
    expect(means.length).toBe(4 * 3);
    expect([...means.subarray(0, 3)]).toEqual([0, 0, 0]);
    // the 2×8 column block holds the square: 3 white pixels, one yellow (Y 225.93, Cb −127.5, Cr 20.73), 12 black
    expect(means[3]).toBeCloseTo((3 * 255 + 0.886 * 255) / 16, 3);
    expect(means[4]).toBeCloseTo((0.5 * -0.5 * 255) / 16, 3);
    expect(means[5]).toBeCloseTo((0.5 * 0.081312 * 255) / 16, 3);
    expect([...means.subarray(9)]).toEqual([0, 0, 0]);
  });

  it('sees a coloured object of the background\'s luma by its chroma', () => {
    const gate = new StillGate({ threshold: 4 });
    expect(gate.needsAnalysis(frame(32, 32, 76))).toBe(true);
    const red = frame(32, 32, 76);
    for (let y = 8; y < 16; y++) for (let x = 8; x < 16; x++) red.data.set([255, 0, 0], (y * 32 + x) * 3); // luma 76
    expect(gate.needsAnalysis(red)).toBe(true);
  });

  it('lets through the first frame, a changed block, a new size; holds still ones and noise; adds up slow drift', () => {
    const gate = new StillGate({ threshold: 4 });
    expect(gate.needsAnalysis(frame(64, 48, 100))).toBe(true);
    expect(gate.needsAnalysis(frame(64, 48, 100))).toBe(false);
    const random = mulberry32(1);
    const noisy = frame(64, 48, 100);
    noisy.data.forEach((v, i) => (noisy.data[i] = v + Math.round((random() - 0.5) * 6)));
    expect(gate.needsAnalysis(noisy)).toBe(false);
    // a 7×7 square straddling four blocks (the worst place), 30 levels brighter: its largest share is 16 of 64 pixels
    expect(gate.needsAnalysis(frame(64, 48, 100, { x: 12, y: 12, side: 7, level: 130 }))).toBe(true);
    expect(gate.needsAnalysis(frame(64, 48, 100, { x: 12, y: 12, side: 7, level: 130 }))).toBe(false);
    expect(gate.needsAnalysis(frame(32, 48, 100))).toBe(true);
    const drifting = new StillGate({ threshold: 4 });
    const analysed = [100, 101, 102, 103, 104, 105, 106].map((level) => drifting.needsAnalysis(frame(16, 16, level)));
    expect(analysed).toEqual([true, false, false, false, false, true, false]);
    const off = new StillGate({ threshold: 0 });
    expect([off.needsAnalysis(frame(8, 8, 1)), off.needsAnalysis(frame(8, 8, 1))]).toEqual([true, true]);
  });
});

/** Finds the red square of the generated clip: the only strongly red pixels on a grey picture. */
class RedSquareDetector implements Detector {
  readonly config = { ...DEFAULT_DASR_CONFIG };
  readonly featureDim = 4;
  passes = 0;

  detect(image: DecodedImage): Promise<Detection> {
    this.passes++;
    let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const i = (y * image.width + x) * 3;
        if (image.data[i]! > 120 && image.data[i]! > image.data[i + 1]! + 60 && image.data[i]! > image.data[i + 2]! + 60) {
          [x1, y1, x2, y2] = [Math.min(x1, x), Math.min(y1, y), Math.max(x2, x + 1), Math.max(y2, y + 1)];
        }
      }
    }
    const regions = x2 > x1 ? [{ box: [x1, y1, x2, y2] as [number, number, number, number], score: 1, peak: [(x1 + x2) / 2, (y1 + y2) / 2] as [number, number], feature: Float32Array.of(1, 0, 0, 0) }] : [];
    return Promise.resolve({ image: { width: image.width, height: image.height }, input: { width: image.width, height: image.height }, peaks: regions.length, regions, timings: { networkMs: 0, boxesMs: 0, poolingMs: 0 } });
  }

  describe(): Promise<Float32Array> {
    return Promise.resolve(Float32Array.of(1, 0, 0, 0));
  }

  describeCrop(): Promise<Float32Array> {
    return Promise.resolve(Float32Array.of(1, 0, 0, 0));
  }
}

describe('still keyframes in file ingestion', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-still-'));
  const video = join(dir, 'static-camera.mp4');
  beforeAll(() => {
    // A static camera: a grey photo under temporal sensor noise, H.264; a 16-px red square enters at 4 s and moves.
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-loop', '1', '-i', join(ROOT, 'fixtures/photos/chelsea.png'),
      '-f', 'lavfi', '-i', 'color=c=red:s=16x16:r=25',
      '-filter_complex', `[0]scale=1280:720,format=gray,format=rgb24,noise=alls=8:allf=t[bg];[bg][1]overlay=x='if(lt(t,4),-100,600+(t-4)*30)':y=400,format=yuv420p[v]`,
      '-map', '[v]', '-t', '8', '-r', '25', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', video,
    ]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('carries the regions of still keyframes without a DASR pass, and finds the object entering exactly as a pass on every keyframe does', async () => {
    const run = async (name: string, stillThreshold?: number) => {
      const store = await IndexStore.open(join(dir, name), { dim: 4, logger: createLogger('error') });
      const detector = new RedSquareDetector();
      const result = await ingestFile(video, detector, store, { interval: 0.5, stillThreshold, logger: createLogger('error') });
      const keyframes = store.db.keyframesOfVideo(result.videoId).map((k) => k.t);
      const regions = store.db.tracksOfVideo(result.videoId).flatMap((t) => store.db.regionsOfTrack(t.id).map((r) => ({ t: r.t, box: r.box, track: r.trackId })));
      await store.close();
      return { result, passes: detector.passes, keyframes, regions };
    };
    const every = await run('every', 0);
    const gated = await run('gated');
    expect(every.keyframes).toHaveLength(16);
    expect(every.passes).toBe(16);
    expect(every.result.carried).toBe(0);
    // the square is seen from some keyframe after the start to the end, moving right
    const entry = every.keyframes.indexOf(every.regions[0]!.t);
    expect(entry).toBeGreaterThan(3);
    expect(every.regions.map((r) => r.t)).toEqual(every.keyframes.slice(entry));
    for (let i = 1; i < every.regions.length; i++) expect(every.regions[i]!.box[0]).toBeGreaterThan(every.regions[i - 1]!.box[0]);

    // gated: the still keyframes before the entry carry the first one's (empty) result; the rest are analysed
    expect(gated.keyframes).toEqual(every.keyframes);
    expect(gated.result.carried).toBe(entry - 1);
    expect(gated.passes).toBe(16 - (entry - 1));
    expect(gated.regions).toEqual(every.regions);
  }, 60_000);
});
