import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { CLIP_BOX_COLOUR, cutClip, type CutClipResult } from '../../src/clip/clip.js';
import { ClipError } from '../../src/clip/errors.js';
import { grabFrame } from '../../src/clip/frame-grab.js';
import { probeVideo } from '../../src/decode/probe.js';
import type { Box } from '../../src/detect/box.js';
import { fixture, manifest } from '../video/fixtures.js';
import { columnFraction, hexToRgb, meanAbsDiff, rowFraction, tempDir } from './helpers.js';

const VIDEO = fixture('moving-object.mp4');
const FPS = manifest.files['moving-object.mp4'].frameRate;
const COLOUR = hexToRgb(CLIP_BOX_COLOUR);
/** Per-channel tolerance for the box colour after yuv420p + H.264 (measured within ~15). */
const TOL = 30;

/** The object's true box at t (manifest formula: x = 40 + 100(t − 1), y = 220 − 50(t − 1), 120 × 120). */
function trueBox(t: number): Box {
  const x = 40 + 100 * (t - 1);
  const y = 220 - 50 * (t - 1);
  return [x, y, x + 120, y + 120];
}

const tmp = tempDir('clip-test-');
afterAll(() => tmp.cleanup());

describe('cutClip', () => {
  let plain: CutClipResult;
  let boxed: CutClipResult;

  beforeAll(async () => {
    [plain, boxed] = await Promise.all([
      cutClip({ video: VIDEO, start: 2, end: 3, pad: 0.5, out: join(tmp.dir, 'plain.mp4') }),
      cutClip({
        video: VIDEO,
        start: 2,
        end: 3,
        pad: 0.5,
        out: join(tmp.dir, 'boxed.mp4'),
        boxes: [
          { t: 2, box: trueBox(2) },
          { t: 3, box: trueBox(3) },
        ],
      }),
    ]);
  });

  it('cuts [start − pad, end + pad] into a browser-friendly H.264 mp4 about 2 s long', async () => {
    expect(plain.out).toBe(join(tmp.dir, 'plain.mp4'));
    // The first frame is the one shown at 1.5 s (pts 1.48); the last one is shown until 3.52 s.
    expect(plain.start).toBeCloseTo(1.48, 6);
    expect(plain.end).toBeCloseTo(3.52, 6);
    const info = await probeVideo(plain.out);
    expect(info.codec).toBe('h264');
    expect([info.width, info.height]).toEqual([640, 360]);
    expect(Math.abs(info.duration - 2)).toBeLessThanOrEqual(1 / FPS + 1e-3);
    expect(info.frameCount).toBe(51);
    expect(info.formatName).toMatch(/mp4/);
  });

  it('writes pix_fmt yuv420p with the moov atom before the media data (+faststart)', async () => {
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(plain.out);
    const moov = bytes.indexOf('moov');
    const mdat = bytes.indexOf('mdat');
    expect(moov).toBeGreaterThan(0);
    expect(moov).toBeLessThan(mdat);
    const { spawnSync } = await import('node:child_process');
    const probe = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=pix_fmt', '-of', 'csv=p=0', plain.out], {
      encoding: 'utf8',
    });
    expect(probe.stdout.trim()).toBe('yuv420p');
  });

  it('starts at the right frame: its first frame is grabFrame(1.5), not the next one', async () => {
    const first = await grabFrame(plain.out, 0);
    const shownAt = await grabFrame(VIDEO, 1.5);
    const next = await grabFrame(VIDEO, 1.52);
    // Around the moving patch (x 88..208 at 1.48, y 196..316).
    const region = { x: 80, y: 186, w: 140, h: 140 };
    const same = meanAbsDiff(first, region, shownAt, region);
    expect(same).toBeLessThan(5);
    expect(meanAbsDiff(first, region, next, region)).toBeGreaterThan(same + 8);
  });

  it('draws the box interpolated linearly between the keyframes (t = 2.52: x = 192, y = 144)', async () => {
    // Source time 2.52 is clip time 2.52 − start.
    const frame = await grabFrame(boxed.out, 2.52 - boxed.start);
    expect(frame.pts + boxed.start).toBeCloseTo(2.52, 6);
    const [x1, y1, x2, y2] = trueBox(2.52); // [192, 144, 312, 264]
    // Left and top edges of the interpolated box (stroke inside the box, 3 px at 360p).
    expect(columnFraction(frame, x1 + 1, y1 + 8, y2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
    expect(rowFraction(frame, y1 + 1, x1 + 8, x2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
    expect(columnFraction(frame, x2 - 2, y1 + 8, y2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
    // Not at the t = 2 keyframe's edges (x = 140, y = 170), nor at the t = 3 one's (x = 240).
    const [ax1, ay1, , ay2] = trueBox(2);
    expect(columnFraction(frame, ax1 + 1, ay1 + 8, ay2 - 8, COLOUR, TOL)).toBeLessThan(0.1);
    const [bx1, by1, , by2] = trueBox(3);
    expect(columnFraction(frame, bx1 + 1, by1 + 8, by2 - 8, COLOUR, TOL)).toBeLessThan(0.1);
    // Outside the box nothing is drawn: 6 px left of it is background.
    expect(columnFraction(frame, x1 - 6, y1 + 8, y2 - 8, COLOUR, TOL)).toBeLessThan(0.1);
  });

  it('shows the box at the keyframes, holds it half an interval beyond them, and not before/after that', async () => {
    const at2 = await grabFrame(boxed.out, 2 - boxed.start);
    const [x1, y1, , y2] = trueBox(2);
    expect(columnFraction(at2, x1 + 1, y1 + 8, y2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
    // 1.48 (first frame) lies before 2 − 0.5: no box anywhere near the object.
    const first = await grabFrame(boxed.out, 0);
    const [fx1, fy1, , fy2] = trueBox(1.5);
    expect(columnFraction(first, Math.round(fx1) + 1, fy1 + 8, fy2 - 8, COLOUR, TOL)).toBeLessThan(0.1);
    expect(columnFraction(first, x1 + 1, y1 + 8, y2 - 8, COLOUR, TOL)).toBeLessThan(0.1);
    // 3.48 is within the hold after t = 3: the box stays at the t = 3 position.
    const last = await grabFrame(boxed.out, 3.48 - boxed.start);
    const [lx1, ly1, , ly2] = trueBox(3);
    expect(columnFraction(last, lx1 + 1, ly1 + 8, ly2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
  });

  it('writes a JPEG thumbnail <out>.jpg of the clip (the keyframe nearest the middle, with its box)', async () => {
    expect(boxed.thumbnail).toBe(`${boxed.out}.jpg`);
    const meta = await sharp(boxed.thumbnail).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([640, 360]);
    const { data, info } = await sharp(boxed.thumbnail).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const image = { width: info.width, height: info.height, data };
    const [x1, y1, , y2] = trueBox(2); // middle 2.5 → keyframes 2 and 3 tie, the earlier wins
    expect(columnFraction(image, x1 + 1, y1 + 8, y2 - 8, COLOUR, TOL)).toBeGreaterThan(0.8);
    expect(existsSync(plain.thumbnail)).toBe(true);
  });

  it('keeps a variable frame rate: exactly the source frames shown in the span', async () => {
    const pts = (manifest.files['vfr.mkv'] as { pts: number[] }).pts;
    const result = await cutClip({ video: fixture('vfr.mkv'), start: 1.1, end: 1.5, out: join(tmp.dir, 'vfr.mp4') });
    const expected = pts.filter((p, i) => (pts[i + 1] ?? Infinity) > 1.1 && p < 1.5);
    expect(result.start).toBeCloseTo(expected[0], 6);
    const info = await probeVideo(result.out);
    expect(info.frameCount).toBe(expected.length);
  });

  it('clamps the padding to the video', async () => {
    const result = await cutClip({ video: VIDEO, start: 0.2, end: 5.9, pad: 1, out: join(tmp.dir, 'whole.mp4') });
    expect(result.start).toBe(0);
    expect(result.end).toBeCloseTo(6, 6);
    expect((await probeVideo(result.out)).frameCount).toBe(150);
  });

  it('works when the temporary directory has characters special to ffmpeg filter graphs', async () => {
    const odd = join(tmp.dir, "odd ,dir;[x]'q':z\\w");
    mkdirSync(odd);
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = odd;
    try {
      const result = await cutClip({
        video: VIDEO,
        start: 2.4,
        end: 2.6,
        out: join(tmp.dir, 'odd.mp4'),
        boxes: [
          { t: 2, box: trueBox(2) },
          { t: 3, box: trueBox(3) },
        ],
      });
      const frame = await grabFrame(result.out, 2.52 - result.start);
      const [x1, y1, , y2] = trueBox(2.52);
      expect(columnFraction(frame, x1 + 1, y1 + 8, y2 - 8, COLOUR, TOL)).toBeGreaterThan(0.9);
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
    expect(readdirSync(odd)).toEqual([]); // the script directory was removed
  });

  it('rejects empty, reversed and out-of-range spans with clear errors', async () => {
    const out = join(tmp.dir, 'bad.mp4');
    const reversed = await cutClip({ video: VIDEO, start: 3, end: 2, out }).catch((e: unknown) => e);
    expect(reversed).toBeInstanceOf(ClipError);
    expect((reversed as ClipError).code).toBe('invalid-range');
    expect((reversed as ClipError).message).toMatch(/starts after it ends/);
    await expect(cutClip({ video: VIDEO, start: 2, end: 2, out })).rejects.toMatchObject({ code: 'invalid-range' });
    await expect(cutClip({ video: VIDEO, start: 2, end: 7, out })).rejects.toMatchObject({ code: 'out-of-range' });
    await expect(cutClip({ video: VIDEO, start: -1, end: 2, out })).rejects.toMatchObject({ code: 'out-of-range' });
    await expect(cutClip({ video: VIDEO, start: 1, end: 2, pad: -1, out })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(cutClip({ video: VIDEO, start: 1, end: Number.NaN, out })).rejects.toMatchObject({ code: 'invalid-argument' });
    await expect(cutClip({ video: VIDEO, start: 1, end: 2, out, boxes: [{ t: 1, box: [0, 0, 0, 10] }] })).rejects.toMatchObject({
      code: 'invalid-argument',
    });
    expect(existsSync(out)).toBe(false);
  });

  it('rejects outputs that cannot be written', async () => {
    const base = { video: VIDEO, start: 2, end: 2.2 };
    const missingDir = await cutClip({ ...base, out: join(tmp.dir, 'no-such-dir', 'x.mp4') }).catch((e: unknown) => e);
    expect(missingDir).toBeInstanceOf(ClipError);
    expect((missingDir as ClipError).code).toBe('not-writable');
    await expect(cutClip({ ...base, out: tmp.dir })).rejects.toMatchObject({ code: 'not-writable' });
    await expect(cutClip({ ...base, out: VIDEO })).rejects.toMatchObject({ code: 'not-writable' });
    await expect(cutClip({ ...base, video: fixture('missing.mp4'), out: join(tmp.dir, 'm.mp4') })).rejects.toMatchObject({ code: 'not-found' });
  });
});
