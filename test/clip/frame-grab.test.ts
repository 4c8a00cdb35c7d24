import { describe, expect, it } from 'vitest';

import { DecodeError } from '../../src/decode/errors.js';
import { readFrames } from '../../src/decode/frames.js';
import { ClipError } from '../../src/clip/errors.js';
import { grabFrame } from '../../src/clip/frame-grab.js';
import { frameIndexAt, seekBefore } from '../../src/clip/frame-times.js';
import { decodeImage } from '../../src/image/load.js';
import { fixture, manifest } from '../video/fixtures.js';
import { meanAbsDiff } from './helpers.js';

const VIDEO = fixture('moving-object.mp4');
const object = manifest.files['moving-object.mp4'].object;

function boxAt(t: number): { x: number; y: number; w: number; h: number } {
  const b = object.boxes.find((box) => Math.abs(box.t - t) < 1e-9);
  if (!b) throw new Error(`no manifest box at t=${t}`);
  return b;
}

describe('frameIndexAt / seekBefore', () => {
  const times = [0, 0.04, 0.08, 0.12];
  it('picks the last frame at or before t, the first before the first frame', () => {
    expect(frameIndexAt(times, 0.05)).toBe(1);
    expect(frameIndexAt(times, 0.08)).toBe(2);
    expect(frameIndexAt(times, 0.0799999999)).toBe(2); // within the tolerance: the same instant
    expect(frameIndexAt(times, 0.0799)).toBe(1);
    expect(frameIndexAt(times, 5)).toBe(3);
    expect(frameIndexAt([0.5, 1], 0.1)).toBe(0);
    expect(frameIndexAt([], 1)).toBe(-1);
  });
  it('seeks 1 ms before the frame, or half the gap to the previous one', () => {
    expect(seekBefore(2, 1.96)).toBeCloseTo(1.999, 9);
    expect(seekBefore(2, 1.9995)).toBeCloseTo(1.99975, 9);
    expect(seekBefore(0)).toBeCloseTo(-0.001, 9);
  });
});

describe('grabFrame', () => {
  it('returns the frame at t = 3 with the object at its manifest box (display size)', async () => {
    const frame = await grabFrame(VIDEO, 3);
    expect(frame.width).toBe(640);
    expect(frame.height).toBe(360);
    expect(frame.data.length).toBe(640 * 360 * 3);
    expect(frame.pts).toBeCloseTo(3, 6);
    const query = await decodeImage(fixture('moving-object-query.png'));
    const box = boxAt(3);
    const inside = meanAbsDiff(frame, box, query);
    expect(inside).toBeLessThan(15);
    // One frame earlier or later the patch sits 4 px away: much worse.
    expect(meanAbsDiff(frame, { ...boxAt(2.96) }, query)).toBeGreaterThan(inside + 8);
    expect(meanAbsDiff(frame, { ...boxAt(3.04) }, query)).toBeGreaterThan(inside + 8);
  });

  it('returns the frame shown at t (last frame at or before t), not the next one', async () => {
    expect((await grabFrame(VIDEO, 1.5, { width: 64 })).pts).toBeCloseTo(1.48, 6);
    expect((await grabFrame(VIDEO, 2.999, { width: 64 })).pts).toBeCloseTo(2.96, 6);
    expect((await grabFrame(VIDEO, 0, { width: 64 })).pts).toBeCloseTo(0, 6);
    expect((await grabFrame(VIDEO, 6, { width: 64 })).pts).toBeCloseTo(5.96, 6);
  });

  it('gives exactly the pixels the indexer decodes for that frame', async () => {
    const grabbed = await grabFrame(VIDEO, 2.53);
    let decoded: Buffer | undefined;
    for await (const frame of readFrames(VIDEO, { longSide: 640 })) {
      if (Math.abs(frame.pts - 2.52) < 1e-6) decoded = frame.data;
    }
    expect(decoded).toBeDefined();
    expect(grabbed.pts).toBeCloseTo(2.52, 6);
    expect(meanAbsDiff(grabbed, { x: 0, y: 0, w: 640, h: 360 }, { width: 640, height: 360, data: decoded! })).toBeLessThan(0.5);
  });

  it('scales to the requested width, keeping the aspect ratio', async () => {
    const frame = await grabFrame(VIDEO, 3, { width: 320 });
    expect([frame.width, frame.height]).toEqual([320, 180]);
    expect(frame.data.length).toBe(320 * 180 * 3);
  });

  it('follows the real timestamps of a variable-frame-rate video', async () => {
    const pts = (manifest.files['vfr.mkv'] as { pts: number[] }).pts;
    for (const t of [0.55, 1.1, 1.7, 2.5]) {
      const expected = pts.filter((p) => p <= t + 1e-9).at(-1)!;
      expect((await grabFrame(fixture('vfr.mkv'), t, { width: 32 })).pts).toBeCloseTo(expected, 6);
    }
  });

  it('rejects times outside the video and bad arguments with a ClipError', async () => {
    for (const t of [-0.5, 6.5]) {
      const error = await grabFrame(VIDEO, t).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ClipError);
      expect((error as ClipError).code).toBe('out-of-range');
      expect((error as ClipError).message).toMatch(/outside the video/);
    }
    await expect(grabFrame(VIDEO, Number.NaN)).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(grabFrame(VIDEO, 1, { width: 0 })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(grabFrame(VIDEO, 1, { width: 10.5 })).rejects.toMatchObject({ code: 'invalid-argument' });
  });

  it('reports missing and unreadable files as DecodeErrors', async () => {
    const missing = await grabFrame(fixture('does-not-exist.mp4'), 1).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(DecodeError);
    expect((missing as DecodeError).code).toBe('not-found');
    const text = await grabFrame(fixture('not-video.txt'), 0).catch((e: unknown) => e);
    expect(text).toBeInstanceOf(DecodeError);
    const corrupt = await grabFrame(fixture('corrupt.mp4'), 0).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(Error);
    expect(corrupt instanceof DecodeError || corrupt instanceof ClipError).toBe(true);
  });
});
