import { spawn } from 'node:child_process';
import { DEFAULT_DASR_CONFIG, type DasrConfig } from '../../src/detect/config.js';
import type { Detection, Region } from '../../src/detect/dasr.js';
import type { Detector } from '../../src/detect/detector.js';
import type { Box } from '../../src/detect/box.js';
import type { DecodedImage } from '../../src/image/load.js';

/**
 * A long video whose frames say which frame they are, and a detector that reads it: for ingestion tests and
 * benches that need thousands of keyframes with objects entering and leaving, where DASR itself (a second a
 * keyframe) would only cost time. Each frame carries its index as 16 black-or-white vertical stripes, lossless.
 */
export const STRIPED_WIDTH = 256;
export const STRIPED_HEIGHT = 32;
const STRIPE_BITS = 16;
const STRIPE_WIDTH = STRIPED_WIDTH / STRIPE_BITS;

/** Object j is in frames [j·spacing, j·spacing + lifetime): a new one enters every `spacing` frames. */
export interface StripedScene {
  frames: number;
  fps: number;
  spacing: number;
  lifetime: number;
  featureDim: number;
}

export const DEFAULT_SCENE: StripedScene = { frames: 1000, fps: 10, spacing: 5, lifetime: 30, featureDim: 64 };

/** Writes the video (H.264, lossless) to `path`. */
export function writeStripedVideo(path: string, scene: StripedScene = DEFAULT_SCENE): Promise<void> {
  return new Promise((resolve, reject) => {
    const ffmpeg = spawn(
      'ffmpeg',
      ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${STRIPED_WIDTH}x${STRIPED_HEIGHT}`, '-r', String(scene.fps), '-i', '-', '-c:v', 'libx264', '-qp', '0', '-preset', 'ultrafast', '-pix_fmt', 'yuv444p', path],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let stderr = '';
    ffmpeg.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    ffmpeg.on('error', reject);
    ffmpeg.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}: ${stderr}`))));
    const frame = Buffer.alloc(STRIPED_WIDTH * STRIPED_HEIGHT);
    for (let i = 0; i < scene.frames; i++) {
      for (let x = 0; x < STRIPED_WIDTH; x++) frame.fill((i >> Math.floor(x / STRIPE_WIDTH)) & 1 ? 255 : 0, x, x + 1);
      for (let y = 1; y < STRIPED_HEIGHT; y++) frame.copy(frame, y * STRIPED_WIDTH, 0, STRIPED_WIDTH);
      ffmpeg.stdin.write(Buffer.from(frame));
    }
    ffmpeg.stdin.end();
  });
}

/** The frame index the stripes encode (each stripe's mean decides its bit, robust to scaling). */
export function stripedFrameIndex(image: DecodedImage): number {
  let index = 0;
  for (let bit = 0; bit < STRIPE_BITS; bit++) {
    const x = Math.floor(((bit + 0.5) * image.width) / STRIPE_BITS);
    let sum = 0;
    for (let y = 0; y < image.height; y++) sum += image.data[(y * image.width + x) * 3]!;
    if (sum / image.height > 127) index |= 1 << bit;
  }
  return index;
}

/** A detector that "finds" the scene's objects in a striped frame: a fixed descriptor per object, a drifting box. */
export class StripedSceneDetector implements Detector {
  readonly config: DasrConfig = { ...DEFAULT_DASR_CONFIG, longSide: STRIPED_WIDTH };
  readonly featureDim: number;
  /** frames it was asked about, in order */
  readonly seen: number[] = [];

  constructor(private readonly scene: StripedScene = DEFAULT_SCENE) {
    this.featureDim = scene.featureDim;
  }

  detect(image: DecodedImage): Promise<Detection> {
    const frame = stripedFrameIndex(image);
    this.seen.push(frame);
    const { spacing, lifetime } = this.scene;
    const regions: Region[] = [];
    for (let j = Math.max(0, Math.ceil((frame - lifetime + 1) / spacing)); j * spacing <= frame; j++) {
      const age = frame - j * spacing;
      const x = ((j * 37) % (image.width - 40)) + (age % 8);
      const box: Box = [x, 4, x + 24, 28];
      regions.push({ box, score: 1 + (j % 7) / 10, peak: [x + 12, 16], feature: this.descriptor(j) });
    }
    return Promise.resolve({ image: { width: image.width, height: image.height }, input: { width: image.width, height: image.height }, peaks: regions.length, regions, timings: { networkMs: 0, boxesMs: 0, poolingMs: 0 } });
  }

  describe(): Promise<Float32Array> {
    return Promise.resolve(this.descriptor(0));
  }

  describeCrop(): Promise<Float32Array> {
    return Promise.resolve(this.descriptor(0));
  }

  /**
   * Object j's descriptor: the (j mod featureDim)-th axis, so objects that are in view or within the tracker's gap
   * of each other are orthogonal and never share a track.
   */
  private descriptor(j: number): Float32Array {
    const d = new Float32Array(this.featureDim);
    d[j % this.featureDim] = 1;
    return d;
  }
}
