import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ImageInputError } from '../../src/image/errors.js';
import { assertMinimumSize, decodeImage, resizeLongSide, type DecodedImage } from '../../src/image/load.js';

type RGB = [number, number, number];

/** width×height RGB image from a per-pixel function. */
function makeRaw(width: number, height: number, pixel: (x: number, y: number) => RGB): Buffer {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set(pixel(x, y), (y * width + x) * 3);
  }
  return data;
}

function rawSharp(data: Buffer, width: number, height: number, channels: 1 | 2 | 3 | 4 = 3) {
  return sharp(data, { raw: { width, height, channels } });
}

function pixelAt(img: DecodedImage, x: number, y: number): RGB {
  const i = (y * img.width + x) * 3;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

function expectClose(actual: RGB, expected: RGB, tolerance: number): void {
  for (let c = 0; c < 3; c++) {
    expect(Math.abs(actual[c] - expected[c]), `channel ${c}: got ${actual} expected ${expected}`).toBeLessThanOrEqual(tolerance);
  }
}

async function expectInputError(promise: Promise<unknown>, code: ImageInputError['code']): Promise<ImageInputError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ImageInputError(${code}) but it resolved`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageInputError);
  expect((err as ImageInputError).code).toBe(code);
  expect((err as ImageInputError).name).toBe('ImageInputError');
  return err as ImageInputError;
}

/** PNG whose header declares width×height but which holds no valid pixel data at all. */
function headerOnlyPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(body) >>> 0);
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // truecolour
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from('not zlib data')),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// A 16×8 image with a distinct colour in each pixel (exact for lossless formats).
const W = 16;
const H = 8;
const gradient = makeRaw(W, H, (x, y) => [x * 16, y * 32, 255 - x * 8 - y * 4]);

// 64×32 image with flat quadrants (survives JPEG compression well away from the edges).
const QW = 64;
const QH = 32;
const RED: RGB = [255, 0, 0];
const GREEN: RGB = [0, 255, 0];
const BLUE: RGB = [0, 0, 255];
const WHITE: RGB = [255, 255, 255];
const quadrants = makeRaw(QW, QH, (x, y) => (y < QH / 2 ? (x < QW / 2 ? RED : GREEN) : x < QW / 2 ? BLUE : WHITE));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'image-load-test-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('decodeImage: formats', () => {
  it('decodes PNG exactly', async () => {
    const png = await rawSharp(gradient, W, H).png().toBuffer();
    const img = await decodeImage(png);
    expect(img.width).toBe(W);
    expect(img.height).toBe(H);
    expect(img.data.length).toBe(W * H * 3);
    expect(Buffer.compare(img.data, gradient)).toBe(0);
  });

  it('decodes a PNG file from a path', async () => {
    const file = join(dir, 'gradient.png');
    await rawSharp(gradient, W, H).png().toFile(file);
    const img = await decodeImage(file);
    expect([img.width, img.height]).toEqual([W, H]);
    expect(Buffer.compare(img.data, gradient)).toBe(0);
  });

  it('decodes lossless WebP exactly and lossy WebP approximately', async () => {
    const lossless = await decodeImage(await rawSharp(gradient, W, H).webp({ lossless: true }).toBuffer());
    expect([lossless.width, lossless.height]).toEqual([W, H]);
    expect(Buffer.compare(lossless.data, gradient)).toBe(0);

    const lossy = await decodeImage(await rawSharp(quadrants, QW, QH).webp({ quality: 95 }).toBuffer());
    expect([lossy.width, lossy.height]).toEqual([QW, QH]);
    expectClose(pixelAt(lossy, 8, 8), RED, 24);
    expectClose(pixelAt(lossy, 56, 8), GREEN, 24);
    expectClose(pixelAt(lossy, 8, 24), BLUE, 24);
    expectClose(pixelAt(lossy, 56, 24), WHITE, 24);
  });

  it('decodes JPEG within a tolerance', async () => {
    const img = await decodeImage(await rawSharp(quadrants, QW, QH).jpeg({ quality: 95 }).toBuffer());
    expect([img.width, img.height]).toEqual([QW, QH]);
    expect(img.data.length).toBe(QW * QH * 3);
    expectClose(pixelAt(img, 8, 8), RED, 16);
    expectClose(pixelAt(img, 56, 8), GREEN, 16);
    expectClose(pixelAt(img, 8, 24), BLUE, 16);
    expectClose(pixelAt(img, 56, 24), WHITE, 16);
  });

  it('decodes 16-bit PNG to 8-bit', async () => {
    const png16 = await rawSharp(gradient, W, H).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const img = await decodeImage(png16);
    expect(img.data.length).toBe(W * H * 3);
    expect(Buffer.compare(img.data, gradient)).toBe(0);
  });
});

describe('decodeImage: EXIF orientation', () => {
  // Stored landscape 64×32: TL red, TR green, BL blue, BR white.
  it('orientation 6 (rotate 90° clockwise) comes out upright, 32×64', async () => {
    const jpeg = await rawSharp(quadrants, QW, QH).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const img = await decodeImage(jpeg);
    expect([img.width, img.height]).toEqual([QH, QW]);
    // Rotating clockwise: stored BL -> TL, TL -> TR, TR -> BR, BR -> BL.
    expectClose(pixelAt(img, 4, 4), BLUE, 16);
    expectClose(pixelAt(img, 27, 4), RED, 16);
    expectClose(pixelAt(img, 27, 59), GREEN, 16);
    expectClose(pixelAt(img, 4, 59), WHITE, 16);
  });

  it('orientation 8 (rotate 90° counter-clockwise) comes out upright, 32×64', async () => {
    const jpeg = await rawSharp(quadrants, QW, QH).jpeg({ quality: 95 }).withMetadata({ orientation: 8 }).toBuffer();
    const img = await decodeImage(jpeg);
    expect([img.width, img.height]).toEqual([QH, QW]);
    // Rotating counter-clockwise: stored TR -> TL, BR -> TR, BL -> BR, TL -> BL.
    expectClose(pixelAt(img, 4, 4), GREEN, 16);
    expectClose(pixelAt(img, 27, 4), WHITE, 16);
    expectClose(pixelAt(img, 27, 59), BLUE, 16);
    expectClose(pixelAt(img, 4, 59), RED, 16);
  });
});

describe('decodeImage: channels and colour spaces', () => {
  it('flattens RGBA onto white and returns 3 channels', async () => {
    const rgba = Buffer.from([
      255, 0, 0, 255, // opaque red
      0, 0, 255, 0, // fully transparent (blue underneath)
      0, 0, 0, 128, // half-transparent black
      10, 20, 30, 255, // opaque
    ]);
    const png = await rawSharp(rgba, 2, 2, 4).png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(4);
    const img = await decodeImage(png);
    expect([img.width, img.height, img.data.length]).toEqual([2, 2, 12]);
    expect(pixelAt(img, 0, 0)).toEqual([255, 0, 0]);
    expect(pixelAt(img, 1, 0)).toEqual([255, 255, 255]);
    expectClose(pixelAt(img, 0, 1), [127, 127, 127], 1);
    expect(pixelAt(img, 1, 1)).toEqual([10, 20, 30]);
  });

  it('expands greyscale to RGB', async () => {
    const grey = Buffer.from([0, 64, 128, 255]);
    const png = await rawSharp(grey, 2, 2, 1).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(1);
    const img = await decodeImage(png);
    expect(img.data.length).toBe(12);
    expect([...img.data]).toEqual([0, 0, 0, 64, 64, 64, 128, 128, 128, 255, 255, 255]);
  });

  it('flattens greyscale+alpha and expands it to RGB', async () => {
    const greyAlpha = Buffer.from([0, 255, 200, 0, 100, 255, 0, 128]);
    const png = await rawSharp(greyAlpha, 2, 2, 2).toColourspace('b-w').png().toBuffer();
    expect((await sharp(png).metadata()).channels).toBe(2);
    const img = await decodeImage(png);
    expect(img.data.length).toBe(12);
    expect(pixelAt(img, 0, 0)).toEqual([0, 0, 0]);
    expect(pixelAt(img, 1, 0)).toEqual([255, 255, 255]);
    expect(pixelAt(img, 0, 1)).toEqual([100, 100, 100]);
    expectClose(pixelAt(img, 1, 1), [127, 127, 127], 1);
  });

  it('expands greyscale JPEG to RGB', async () => {
    const grey = Buffer.alloc(16 * 16, 100);
    const jpeg = await rawSharp(grey, 16, 16, 1).toColourspace('b-w').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(jpeg).metadata()).channels).toBe(1);
    const img = await decodeImage(jpeg);
    expect(img.data.length).toBe(16 * 16 * 3);
    expectClose(pixelAt(img, 8, 8), [100, 100, 100], 2);
  });

  it('converts CMYK JPEG to sRGB', async () => {
    const raw = makeRaw(16, 16, () => [200, 200, 200]);
    const jpeg = await rawSharp(raw, 16, 16).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    const meta = await sharp(jpeg).metadata();
    expect(meta.space).toBe('cmyk');
    expect(meta.channels).toBe(4);
    const img = await decodeImage(jpeg);
    expect(img.data.length).toBe(16 * 16 * 3);
    // Colour-managed round trip through CMYK is not exact.
    expectClose(pixelAt(img, 8, 8), [200, 200, 200], 20);
  });
});

describe('decodeImage: errors', () => {
  it("missing file -> 'unreadable' naming the file", async () => {
    const missing = join(dir, 'no-such-file.jpg');
    const err = await expectInputError(decodeImage(missing), 'unreadable');
    expect(err.message).toContain('no-such-file.jpg');
    expect(err.message).toMatch(/does not exist/);
  });

  it("directory -> 'unreadable'", async () => {
    const err = await expectInputError(decodeImage(dir), 'unreadable');
    expect(err.message).toMatch(/directory/);
  });

  it.skipIf(process.platform === 'win32' || process.getuid?.() === 0)("unreadable permissions -> 'unreadable'", async () => {
    const file = join(dir, 'secret.png');
    await writeFile(file, await rawSharp(gradient, W, H).png().toBuffer());
    await chmod(file, 0o000);
    const err = await expectInputError(decodeImage(file), 'unreadable');
    expect(err.message).toMatch(/permission denied/);
  });

  it("zero-length file and buffer -> 'empty'", async () => {
    const file = join(dir, 'empty.jpg');
    await writeFile(file, Buffer.alloc(0));
    const err = await expectInputError(decodeImage(file), 'empty');
    expect(err.message).toContain('empty.jpg');
    expect(err.message).toMatch(/0 bytes/);
    await expectInputError(decodeImage(Buffer.alloc(0)), 'empty');
  });

  it("non-image bytes -> 'not-image'", async () => {
    const file = join(dir, 'notes.jpg');
    await writeFile(file, 'this is a text file, not a JPEG\n');
    const err = await expectInputError(decodeImage(file), 'not-image');
    expect(err.message).toContain('notes.jpg');
    const err2 = await expectInputError(decodeImage(Buffer.from('hello world'), { name: 'upload.png' }), 'not-image');
    expect(err2.message).toContain('upload.png');
  });

  it("truncated image data -> 'unreadable'", async () => {
    const big = makeRaw(256, 256, (x, y) => [x, y, (x * y) & 255]);
    const jpeg = await rawSharp(big, 256, 256).jpeg({ quality: 95 }).toBuffer();
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const err = await expectInputError(decodeImage(truncated), 'unreadable');
    expect(err.message).toMatch(/damaged or truncated/);
  });

  it("more pixels than maxPixels -> 'too-large' with size and limit", async () => {
    // 10000×10000 solid colour: a highly compressible PNG of 100 megapixels.
    const bomb = await sharp({ create: { width: 10_000, height: 10_000, channels: 3, background: { r: 9, g: 99, b: 199 } } })
      .png({ compressionLevel: 9 })
      .toBuffer();
    expect(bomb.length).toBeLessThan(1_000_000);
    const err = await expectInputError(decodeImage(bomb, { maxPixels: 1_000_000 }), 'too-large');
    expect(err.message).toContain('10000×10000');
    expect(err.message).toMatch(/100 megapixels/);
    expect(err.message).toMatch(/1\.0 megapixels/);
  });

  it("rejects from the header alone, before decoding any pixels", async () => {
    // Header claims 100000×100000 (10 gigapixels, 30 GB as RGB); the pixel data is garbage. Decoding would fail
    // differently (or exhaust memory), so 'too-large' proves the check ran on the header.
    const err = await expectInputError(decodeImage(headerOnlyPng(100_000, 100_000)), 'too-large');
    expect(err.message).toContain('100000×100000');
    // The default limit (50 megapixels) applies without options.
    await expectInputError(decodeImage(headerOnlyPng(8000, 8000)), 'too-large');
    // Under the limit the same garbage gets as far as decoding and fails there.
    await expectInputError(decodeImage(headerOnlyPng(100, 100)), 'unreadable');
  });

  it('accepts an image of exactly maxPixels', async () => {
    const png = await rawSharp(gradient, W, H).png().toBuffer();
    const img = await decodeImage(png, { maxPixels: W * H });
    expect(img.width).toBe(W);
    await expectInputError(decodeImage(png, { maxPixels: W * H - 1 }), 'too-large');
  });
});

describe('resizeLongSide', () => {
  const solid = (w: number, h: number, c: RGB = [10, 200, 30]): DecodedImage => ({ width: w, height: h, data: makeRaw(w, h, () => c) });

  it.each([
    // [inW, inH, longSide, outW, outH]
    [640, 480, 224, 224, 168], // landscape 4:3
    [1920, 1080, 512, 512, 288], // landscape 16:9
    [480, 640, 224, 168, 224], // portrait
    [1000, 333, 300, 300, 100], // 99.9 -> 100
    [333, 1000, 300, 100, 300],
    [300, 300, 224, 224, 224], // square
    [100, 50, 3, 3, 2], // 1.5 rounds up
    [1000, 1, 100, 100, 1], // short side never below 1
    [1, 1000, 10, 1, 10],
    [32, 24, 64, 64, 48], // upscaling
  ])('%i×%i to long side %i -> %i×%i', (inW, inH, longSide, outW, outH) => {
    const out = resizeLongSide(solid(inW, inH), longSide);
    expect([out.width, out.height]).toEqual([outW, outH]);
    expect(out.data.length).toBe(outW * outH * 3);
    // A solid colour stays exactly that colour (weights are normalised).
    expect(pixelAt(out, 0, 0)).toEqual([10, 200, 30]);
    expect(pixelAt(out, outW - 1, outH - 1)).toEqual([10, 200, 30]);
  });

  it('is a no-op when already at that size', () => {
    const img = solid(224, 100);
    expect(resizeLongSide(img, 224)).toBe(img);
    const portrait = solid(50, 224);
    expect(resizeLongSide(portrait, 224)).toBe(portrait);
  });

  it('averages when downscaling by 2 and preserves left/right structure', () => {
    // 4×2: columns 0,1 black, columns 2,3 white -> 2×1: black, white.
    const img: DecodedImage = { width: 4, height: 2, data: makeRaw(4, 2, (x) => (x < 2 ? [0, 0, 0] : [255, 255, 255])) };
    const out = resizeLongSide(img, 2);
    expect([out.width, out.height]).toEqual([2, 1]);
    const left = pixelAt(out, 0, 0);
    const right = pixelAt(out, 1, 0);
    expect(left[0]).toBeLessThan(80);
    expect(right[0]).toBeGreaterThan(175);
    expect(left[0] + right[0]).toBe(255); // symmetric filter
  });

  it('interpolates when upscaling', () => {
    const img: DecodedImage = { width: 2, height: 1, data: Buffer.from([0, 0, 0, 200, 200, 200]) };
    const out = resizeLongSide(img, 4);
    expect([out.width, out.height]).toEqual([4, 2]);
    const row = [0, 1, 2, 3].map((x) => pixelAt(out, x, 0)[0]);
    expect(row).toEqual([0, 50, 150, 200]);
    expect(pixelAt(out, 2, 1)[0]).toBe(150);
  });

  it('rejects a bad long side', () => {
    expect(() => resizeLongSide(solid(4, 4), 0)).toThrow(RangeError);
    expect(() => resizeLongSide(solid(4, 4), 2.5)).toThrow(RangeError);
  });
});

describe('assertMinimumSize', () => {
  it("throws 'too-small' naming the size and the minimum", () => {
    const img = { width: 20, height: 500 };
    let err: unknown;
    try {
      assertMinimumSize(img, 32, 'tiny.png');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ImageInputError);
    expect((err as ImageInputError).code).toBe('too-small');
    expect((err as ImageInputError).message).toContain('20×500');
    expect((err as ImageInputError).message).toContain('32');
    expect((err as ImageInputError).message).toContain('tiny.png');
    expect(() => assertMinimumSize({ width: 500, height: 31 }, 32)).toThrow(ImageInputError);
  });

  it('accepts images at or above the minimum', () => {
    expect(() => assertMinimumSize({ width: 32, height: 32 }, 32)).not.toThrow();
    expect(() => assertMinimumSize({ width: 1000, height: 64 }, 32)).not.toThrow();
  });
});
