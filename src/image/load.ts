/**
 * Image input: decode any image sharp understands into upright 8-bit sRGB RGB pixels, guard against huge inputs
 * before their pixels are decoded, and resize in plain TypeScript (synchronous, deterministic).
 */

import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { ImageInputError } from './errors.js';

/** Upright 8-bit sRGB pixels. */
export interface DecodedImage {
  width: number;
  height: number;
  /** RGB, 3 bytes per pixel, row-major, no padding: length === width * height * 3. */
  data: Buffer;
}

export interface DecodeOptions {
  /**
   * Reject images with more pixels than this (width × height, read from the file header before any pixel is
   * decoded). Default {@link DEFAULT_MAX_PIXELS}.
   */
  maxPixels?: number;
  /** Name used in error messages when `input` is a Buffer (e.g. the uploaded file's name). */
  name?: string;
}

/** 50 megapixels: well above any camera photo, far below what would exhaust memory (~150 MB as RGB). */
export const DEFAULT_MAX_PIXELS = 50_000_000;

/**
 * Transparent pixels are composited over white. Images with transparency are mostly logos, icons, stickers and
 * product cut-outs, which are authored to be seen on a light page; on white they look as the user sees them in a
 * browser or file viewer, whereas black would make dark artwork (text, outlines, black products) vanish.
 */
export const ALPHA_BACKGROUND = { r: 255, g: 255, b: 255 } as const;

/**
 * Decode `input` (a file path or the file's bytes) to upright RGB.
 *
 * - EXIF orientation is applied: `width`/`height` are those of the upright picture.
 * - Alpha is flattened onto white ({@link ALPHA_BACKGROUND}).
 * - Greyscale, CMYK, 16-bit and ICC-tagged images are converted to 8-bit sRGB.
 * - Multi-frame images (animated GIF/WebP, multi-page TIFF) give their first frame.
 *
 * Throws {@link ImageInputError}: 'unreadable' (missing/unreadable file, damaged pixel data), 'empty' (0 bytes),
 * 'not-image' (unrecognised bytes), 'too-large' (more than `maxPixels` pixels, checked from the header first).
 */
export async function decodeImage(input: string | Buffer, options: DecodeOptions = {}): Promise<DecodedImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(maxPixels >= 1)) throw new RangeError(`maxPixels must be at least 1, got ${maxPixels}`);

  const label = typeof input === 'string' ? `"${input}"` : options.name !== undefined ? `"${options.name}"` : 'The image data';
  const bytes = typeof input === 'string' ? await readImageFile(input) : input;
  if (bytes.length === 0) {
    throw new ImageInputError('empty', typeof input === 'string' ? `Image file ${label} is empty (0 bytes).` : `${label} is empty (0 bytes).`);
  }

  // Header only: sharp/libvips reads the dimensions without decoding any pixel.
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions in header');
    width = meta.width;
    height = meta.height;
  } catch (cause) {
    throw new ImageInputError(
      'not-image',
      `${label} is not an image that can be read (${formatBytes(bytes.length)} of unrecognised data); ` +
        'use a JPEG, PNG, WebP, GIF, TIFF or AVIF file.',
      { cause },
    );
  }

  const pixels = width * height;
  if (pixels > maxPixels) {
    throw new ImageInputError(
      'too-large',
      `${label} is ${width}×${height} pixels (${formatMegapixels(pixels)}), more than the limit of ` +
        `${formatMegapixels(maxPixels)}; downscale it and try again.`,
    );
  }

  try {
    const { data, info } = await sharp(bytes, {
      // Second line of defence: libvips refuses to allocate more than this even if the header lied.
      limitInputPixels: Number.isFinite(maxPixels) ? Math.floor(maxPixels) : false,
      autoOrient: true,
      failOn: 'error',
    })
      .flatten({ background: ALPHA_BACKGROUND })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
      throw new Error(`unexpected decoder output: ${info.width}×${info.height}×${info.channels}, ${data.length} bytes`);
    }
    return { width: info.width, height: info.height, data };
  } catch (cause) {
    if (cause instanceof Error && /exceeds pixel limit/i.test(cause.message)) {
      throw new ImageInputError(
        'too-large',
        `${label} has more pixels than the limit of ${formatMegapixels(maxPixels)}; downscale it and try again.`,
        { cause },
      );
    }
    throw new ImageInputError(
      'unreadable',
      `${label} could not be decoded: the image data is damaged or truncated` +
        (cause instanceof Error ? ` (${cause.message.trim().split('\n')[0]})` : '') +
        '.',
      { cause },
    );
  }
}

/**
 * Resize so that the longer side is `longSide` pixels, keeping the aspect ratio; the shorter side is rounded to
 * the nearest integer (halves round up) and is at least 1. Upscaling is allowed (small images are enlarged).
 * Returns `image` itself when it already has that size.
 *
 * Kernel: separable triangle (bilinear) filter whose support widens with the reduction factor, i.e. an
 * antialiased bilinear resize like Pillow's BILINEAR. Downscaling averages every source pixel (no aliasing or
 * skipped detail), upscaling is plain bilinear interpolation, and unlike Lanczos/bicubic there is no ringing or
 * overshoot. Pixel centres are aligned (half-pixel convention).
 */
export function resizeLongSide(image: DecodedImage, longSide: number): DecodedImage {
  assertDecodedImage(image);
  if (!Number.isInteger(longSide) || longSide < 1) {
    throw new RangeError(`longSide must be a positive integer, got ${longSide}`);
  }
  const { width, height } = image;
  const long = Math.max(width, height);
  const short = Math.min(width, height);
  // round(short * longSide / long) in exact integer arithmetic.
  const newShort = Math.max(1, Math.floor((2 * short * longSide + long) / (2 * long)));
  const outW = width >= height ? longSide : newShort;
  const outH = width >= height ? newShort : longSide;
  if (outW === width && outH === height) return image;
  return resizeRgb(image, outW, outH);
}

/**
 * The pixels of `image` covered by `box` ([x1, y1, x2, y2] in continuous pixel coordinates: pixel (i, j) covers
 * [i, i+1) × [j, j+1)) as an image of their own — what a user who crops the object out of a picture gets. Every
 * pixel the box touches is kept (columns floor(x1) .. ceil(x2) − 1, likewise rows), after clipping to the image.
 * Throws a RangeError when the box has no area inside the image.
 */
export function cropImage(image: DecodedImage, box: readonly [x1: number, y1: number, x2: number, y2: number]): DecodedImage {
  assertDecodedImage(image);
  if (box.length !== 4 || !box.every(Number.isFinite)) throw new RangeError(`a crop box needs four finite numbers, got [${box.join(', ')}]`);
  const x0 = Math.max(0, Math.floor(box[0]));
  const y0 = Math.max(0, Math.floor(box[1]));
  const x1 = Math.min(image.width, Math.ceil(box[2]));
  const y1 = Math.min(image.height, Math.ceil(box[3]));
  if (x1 <= x0 || y1 <= y0) throw new RangeError(`crop box [${box.join(', ')}] has no area inside the ${image.width}×${image.height} image`);
  const width = x1 - x0;
  const height = y1 - y0;
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((y0 + y) * image.width + x0) * 3;
    image.data.copy(data, y * width * 3, from, from + width * 3);
  }
  return { width, height, data };
}

/**
 * Throw 'too-small' unless both sides are at least `minSide` pixels. ResNet-50 needs at least 32 px per side
 * (five stride-2 stages); the caller chooses the actual minimum. `name` is used in the message.
 */
export function assertMinimumSize(image: Pick<DecodedImage, 'width' | 'height'>, minSide: number, name?: string): void {
  if (image.width >= minSide && image.height >= minSide) return;
  const label = name !== undefined ? `"${name}"` : 'The image';
  throw new ImageInputError(
    'too-small',
    `${label} is ${image.width}×${image.height} pixels; each side must be at least ${minSide} pixels.`,
  );
}

/** Throw a TypeError unless `image` is a well-formed {@link DecodedImage}. */
export function assertDecodedImage(image: DecodedImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new TypeError(`invalid image size ${width}×${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new TypeError(`image data has ${data.length} bytes, expected ${width * height * 3} for ${width}×${height} RGB`);
  }
}

async function readImageFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT' ? 'the file does not exist'
      : code === 'EISDIR' ? 'it is a directory, not a file'
      : code === 'EACCES' || code === 'EPERM' ? 'permission denied'
      : (cause as Error).message;
    throw new ImageInputError('unreadable', `Cannot read image file "${path}": ${why}.`, { cause });
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} byte${n === 1 ? '' : 's'}`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function formatMegapixels(n: number): string {
  if (!Number.isFinite(n)) return 'unlimited';
  const mp = n / 1_000_000;
  return `${mp >= 10 ? mp.toFixed(0) : mp >= 0.1 ? mp.toFixed(1) : mp.toPrecision(2)} megapixels`;
}

// ---------------------------------------------------------------------------------------------------------------
// Resampling

interface Taps {
  /** First source index for each output index. */
  start: Int32Array;
  /** Number of taps for each output index. */
  count: Int32Array;
  /** `maxTaps` normalised weights per output index. */
  weights: Float32Array;
  maxTaps: number;
}

/** Triangle-filter taps mapping `inSize` samples onto `outSize` (antialiased when shrinking). */
function computeTaps(inSize: number, outSize: number): Taps {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1); // filter radius in source pixels
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * maxTaps);
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(centre - support));
    const hi = Math.min(inSize, Math.ceil(centre + support));
    let sum = 0;
    let n = 0;
    for (let i = lo; i < hi && n < maxTaps; i++, n++) {
      const w = Math.max(0, 1 - Math.abs((i + 0.5 - centre) / support));
      weights[o * maxTaps + n] = w;
      sum += w;
    }
    if (sum === 0) {
      // Cannot happen for support >= 1, but keep the output defined: nearest sample.
      weights[o * maxTaps] = 1;
      start[o] = Math.min(inSize - 1, Math.max(0, Math.floor(centre)));
      count[o] = 1;
      continue;
    }
    for (let k = 0; k < n; k++) weights[o * maxTaps + k] /= sum;
    start[o] = lo;
    count[o] = n;
  }
  return { start, count, weights, maxTaps };
}

function resizeRgb(image: DecodedImage, outW: number, outH: number): DecodedImage {
  const { width: inW, height: inH, data: src } = image;

  // Horizontal pass: inW×inH -> outW×inH (float, unrounded).
  let horiz: Float32Array;
  if (outW === inW) {
    horiz = Float32Array.from(src);
  } else {
    const t = computeTaps(inW, outW);
    horiz = new Float32Array(outW * inH * 3);
    for (let y = 0; y < inH; y++) {
      const rowIn = y * inW * 3;
      const rowOut = y * outW * 3;
      for (let x = 0; x < outW; x++) {
        let r = 0, g = 0, b = 0;
        const base = x * t.maxTaps;
        let p = rowIn + t.start[x] * 3;
        for (let k = 0, n = t.count[x]; k < n; k++, p += 3) {
          const w = t.weights[base + k];
          r += src[p] * w;
          g += src[p + 1] * w;
          b += src[p + 2] * w;
        }
        const q = rowOut + x * 3;
        horiz[q] = r;
        horiz[q + 1] = g;
        horiz[q + 2] = b;
      }
    }
  }

  // Vertical pass: outW×inH -> outW×outH, rounded and clamped to bytes.
  const out = Buffer.allocUnsafe(outW * outH * 3);
  const stride = outW * 3;
  if (outH === inH) {
    for (let i = 0; i < out.length; i++) out[i] = clampByte(horiz[i]);
  } else {
    const t = computeTaps(inH, outH);
    const acc = new Float32Array(stride);
    for (let y = 0; y < outH; y++) {
      acc.fill(0);
      const base = y * t.maxTaps;
      for (let k = 0, n = t.count[y]; k < n; k++) {
        const w = t.weights[base + k];
        const row = (t.start[y] + k) * stride;
        for (let i = 0; i < stride; i++) acc[i] += horiz[row + i] * w;
      }
      const rowOut = y * stride;
      for (let i = 0; i < stride; i++) out[rowOut + i] = clampByte(acc[i]);
    }
  }
  return { width: outW, height: outH, data: out };
}

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}
