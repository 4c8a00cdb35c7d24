import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { drawDetections, encodeImage, escapeXml } from '../../src/image/annotate.js';
import { decodeImage, type DecodedImage } from '../../src/image/load.js';

function solidImage(width: number, height: number, rgb: [number, number, number]): DecodedImage {
  const data = Buffer.alloc(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

function pixel(img: DecodedImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [...img.data.subarray(i, i + 3)];
}

const GREY: [number, number, number] = [128, 128, 128];

describe('drawDetections', () => {
  it('returns a PNG of the same size, changes pixels on box edges and the peak, leaves far pixels alone', async () => {
    const src = solidImage(200, 150, GREY);
    const png = await drawDetections(src, [
      { box: [20, 40, 80, 100], score: 0.91, peak: [50, 70], label: 'cat' },
      { box: [120, 30, 180, 120], score: 0.42 },
    ]);
    const meta = await sharp(png).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([200, 150]);

    const out = await decodeImage(png);
    expect([out.width, out.height]).toEqual([200, 150]);
    // On the box edges (stroke is drawn inside the box, starting at the edge).
    expect(pixel(out, 20, 70)).not.toEqual(GREY); // left edge, box 1
    expect(pixel(out, 79, 70)).not.toEqual(GREY); // right edge, box 1
    expect(pixel(out, 50, 99)).not.toEqual(GREY); // bottom edge, box 1
    expect(pixel(out, 120, 75)).not.toEqual(GREY); // left edge, box 2
    expect(pixel(out, 150, 119)).not.toEqual(GREY); // bottom edge, box 2
    // The peak dot.
    expect(pixel(out, 50, 70)).not.toEqual(GREY);
    // Different boxes get different colours.
    expect(pixel(out, 20, 70)).not.toEqual(pixel(out, 120, 75));
    // Far from any box, label or dot: unchanged.
    expect(pixel(out, 5, 145)).toEqual(GREY);
    expect(pixel(out, 195, 145)).toEqual(GREY);
    expect(pixel(out, 100, 140)).toEqual(GREY);
    // Inside a box, away from its edges, label and peak: unchanged.
    expect(pixel(out, 35, 90)).toEqual(GREY);
  });

  it('writes JPEG on request', async () => {
    const src = solidImage(64, 48, GREY);
    const jpeg = await drawDetections(src, [{ box: [8, 8, 40, 40], score: 1 }], { format: 'jpeg' });
    const meta = await sharp(jpeg).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([64, 48]);
  });

  it('survives hostile label text and out-of-range boxes', async () => {
    const src = solidImage(100, 80, GREY);
    const png = await drawDetections(src, [
      { box: [-10, -10, 500, 500], score: 0.5, label: '</text><script>alert("x")</script> & \'quotes\' \u0000\u0007' },
      { box: [90, 70, 60, 50], score: 0.7, peak: [75, 60], label: 'reversed corners' },
    ]);
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([100, 80]);
    const out = await decodeImage(png);
    // Clamped whole-image box: its stroke covers the image border.
    expect(pixel(out, 0, 40)).not.toEqual(GREY);
    expect(pixel(out, 99, 40)).not.toEqual(GREY);
  });

  it('returns the unchanged picture when there are no regions', async () => {
    const src = solidImage(10, 10, GREY);
    const out = await decodeImage(await drawDetections(src, []));
    expect(Buffer.compare(out.data, src.data)).toBe(0);
  });

  it('rejects non-finite boxes', async () => {
    await expect(drawDetections(solidImage(10, 10, GREY), [{ box: [0, 0, Number.NaN, 5], score: 1 }])).rejects.toThrow(RangeError);
  });
});

describe('escapeXml', () => {
  it('escapes markup characters and drops XML-forbidden controls', () => {
    expect(escapeXml(`a<b>&"c'\u0001`)).toBe('a&lt;b&gt;&amp;&quot;c&apos;');
    expect(escapeXml('chien 🐕')).toBe('chien 🐕');
  });
});

describe('encodeImage', () => {
  it('round-trips PNG losslessly', async () => {
    const src: DecodedImage = { width: 2, height: 1, data: Buffer.from([1, 2, 3, 250, 251, 252]) };
    const out = await decodeImage(await encodeImage(src, 'png'));
    expect(Buffer.compare(out.data, src.data)).toBe(0);
    const jpeg = await encodeImage(src, 'jpeg', 80);
    expect((await sharp(jpeg).metadata()).format).toBe('jpeg');
  });
});
