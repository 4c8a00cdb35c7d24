/**
 * The moving-object fixture's ground truth (manifest boxes) checked against the decoded pixels: the object patch
 * (moving-object-query.png) is exactly where the manifest says on the frames where it is visible, and absent
 * elsewhere. This validates both the fixture generator and the decoder's pixel layout.
 */
import { lastValueFrom, toArray } from 'rxjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { decodeFrames, type DecodedFrame } from '../../src/decode/frames.js';
import { fixture, manifest, type Box } from './fixtures.js';

/** Mean absolute difference (0..255) between a w×h rgb24 patch and the same-size region of a frame at (x, y). */
function patchDifference(frame: DecodedFrame, patch: DecodedFrame, x: number, y: number): number {
  let sum = 0;
  for (let row = 0; row < patch.height; row++) {
    const a = ((y + row) * frame.width + x) * 3;
    const b = row * patch.width * 3;
    for (let i = 0; i < patch.width * 3; i++) sum += Math.abs(frame.data[a + i]! - patch.data[b + i]!);
  }
  return sum / (patch.width * patch.height * 3);
}

const truth = manifest.files['moving-object.mp4'];
let frames: DecodedFrame[];
let query: DecodedFrame;

beforeAll(async () => {
  frames = await lastValueFrom(decodeFrames(fixture('moving-object.mp4'), { longSide: 640 }).pipe(toArray()));
  [query] = await lastValueFrom(decodeFrames(fixture('moving-object-query.png'), { longSide: 120 }).pipe(toArray()));
});

describe('moving-object.mp4 ground truth', () => {
  it('has the manifest frame count, size and timestamps', () => {
    expect(frames).toHaveLength(truth.frameCount);
    expect([frames[0]!.width, frames[0]!.height]).toEqual([truth.width, truth.height]);
    for (const box of truth.object.boxes) expect(frames[box.n]!.pts).toBeCloseTo(box.t, 6);
  });

  it('the query patch is at the manifest box on every visible frame (and matches nowhere near it)', () => {
    const { first, last } = truth.object.visibleFrames;
    expect(truth.object.boxes).toHaveLength(last - first + 1);
    for (const box of truth.object.boxes) {
      const frame = frames[box.n]!;
      const here = patchDifference(frame, query, box.x, box.y);
      // Compression (yuv420, crf 26) costs a few levels on average; the background is > 40 levels away.
      expect(here, `frame ${box.n}`).toBeLessThan(12);
      const shifted = patchDifference(frame, query, box.x + (box.x > 300 ? -12 : 12), box.y);
      expect(shifted, `frame ${box.n} shifted`).toBeGreaterThan(2 * here + 10);
    }
  });

  it('the object is absent before it enters and after it leaves', () => {
    const { first, last } = truth.object.visibleFrames;
    const firstBox = truth.object.boxes[0]!;
    const lastBox = truth.object.boxes.at(-1)!;
    for (const n of [0, first - 1]) expect(patchDifference(frames[n]!, query, firstBox.x, firstBox.y)).toBeGreaterThan(30);
    for (const n of [last + 1, truth.frameCount - 1]) expect(patchDifference(frames[n]!, query, lastBox.x, lastBox.y)).toBeGreaterThan(30);
  });

  it('half-second boxes follow the linear formula and agree with the per-frame boxes on frame times', () => {
    for (const b of truth.object.boxesEveryHalfSecond) {
      expect(b.x).toBeCloseTo(40 + 100 * (b.t - 1), 9);
      expect(b.y).toBeCloseTo(220 - 50 * (b.t - 1), 9);
      if (b.onFrame) {
        const perFrame = truth.object.boxes.find((f) => Math.abs(f.t - b.t) < 1e-9)!;
        expect({ x: perFrame.x, y: perFrame.y }).toEqual({ x: b.x, y: b.y });
      }
    }
  });

  it('the distractor is static and does not overlap the object path', () => {
    const d: Box = truth.distractor.box;
    const crop = (f: DecodedFrame): DecodedFrame => {
      const data = Buffer.alloc(d.w * d.h * 3);
      for (let r = 0; r < d.h; r++) f.data.copy(data, r * d.w * 3, ((d.y + r) * f.width + d.x) * 3, ((d.y + r) * f.width + d.x + d.w) * 3);
      return { ...f, width: d.w, height: d.h, data };
    };
    const reference = crop(frames[0]!);
    for (const n of [30, 75, 149]) {
      // Re-encoded high-frequency texture: a few levels of difference where it is, far more one cell-size off.
      const here = patchDifference(frames[n]!, reference, d.x, d.y);
      expect(here).toBeLessThan(12);
      expect(patchDifference(frames[n]!, reference, d.x - 8, d.y - 8)).toBeGreaterThan(3 * here);
    }
    for (const b of truth.object.boxes) {
      const overlap = b.x < d.x + d.w && d.x < b.x + b.w && b.y < d.y + d.h && d.y < b.y + b.h;
      expect(overlap).toBe(false);
    }
  });

  it('moving-object-query-scene.png holds the patch at its manifest box', async () => {
    const sceneTruth = manifest.files['moving-object-query-scene.png'];
    const [scene] = await lastValueFrom(decodeFrames(fixture('moving-object-query-scene.png'), { longSide: 320 }).pipe(toArray()));
    expect([scene!.width, scene!.height]).toEqual([sceneTruth.width, sceneTruth.height]);
    expect(patchDifference(scene!, query, sceneTruth.box.x, sceneTruth.box.y)).toBeLessThan(1);
    expect(patchDifference(scene!, query, sceneTruth.box.x + 40, sceneTruth.box.y + 20)).toBeGreaterThan(20);
  });

  it('fixtures stay small', () => {
    expect(manifest.totalBytes).toBeLessThan(3 * 1024 * 1024);
  });
});
