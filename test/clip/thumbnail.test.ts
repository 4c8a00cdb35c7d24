import sharp from 'sharp';
import { describe, expect, it } from 'vitest';

import { CLIP_BOX_COLOUR } from '../../src/clip/clip.js';
import { ClipError } from '../../src/clip/errors.js';
import { contactSheet, hitThumbnail, sheetLayout, type ThumbnailHit } from '../../src/clip/thumbnail.js';
import { DecodeError } from '../../src/decode/errors.js';
import type { Box } from '../../src/detect/box.js';
import type { DecodedImage } from '../../src/image/load.js';
import { fixture } from '../video/fixtures.js';
import { columnFraction, hexToRgb, rowFraction } from './helpers.js';

const VIDEO = fixture('moving-object.mp4');
const COLOUR = hexToRgb(CLIP_BOX_COLOUR);

function trueBox(t: number): Box {
  const x = 40 + 100 * (t - 1);
  const y = 220 - 50 * (t - 1);
  return [x, y, x + 120, y + 120];
}

function hit(t: number, rank: number, path = VIDEO): ThumbnailHit {
  return { path, track: rank, score: 0.9 - rank * 0.01, best: { t, box: trueBox(t) } };
}

async function decode(bytes: Buffer): Promise<DecodedImage & { format: string | undefined }> {
  const format = (await sharp(bytes).metadata()).format;
  const { data, info } = await sharp(bytes).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data, format };
}

describe('hitThumbnail', () => {
  it('is a JPEG of the best frame at display size with the box drawn', async () => {
    const image = await decode(await hitThumbnail(hit(3, 1)));
    expect(image.format).toBe('jpeg');
    expect([image.width, image.height]).toEqual([640, 360]);
    // drawDetections' rank-1 colour, 2 px stroke inside the box [240, 120, 360, 240].
    expect(columnFraction(image, 240, 130, 230, COLOUR, 40)).toBeGreaterThan(0.9);
    expect(columnFraction(image, 359, 130, 230, COLOUR, 40)).toBeGreaterThan(0.9);
    expect(rowFraction(image, 239, 250, 350, COLOUR, 40)).toBeGreaterThan(0.9);
    // The label sits above the box: its background is the box colour too.
    expect(rowFraction(image, 112, 245, 300, COLOUR, 60)).toBeGreaterThan(0.3);
  });

  it('scales frame and box to the requested width', async () => {
    const image = await decode(await hitThumbnail(hit(3, 1), { width: 320 }));
    expect([image.width, image.height]).toEqual([320, 180]);
    expect(columnFraction(image, 120, 65, 115, COLOUR, 40)).toBeGreaterThan(0.9);
  });

  it('passes on the errors of grabbing the frame', async () => {
    await expect(hitThumbnail(hit(3, 1, fixture('missing.mp4')))).rejects.toBeInstanceOf(DecodeError);
    await expect(hitThumbnail({ ...hit(3, 1), best: { t: 60, box: trueBox(3) } })).rejects.toMatchObject({ code: 'out-of-range' });
  });
});

describe('contactSheet', () => {
  it('lays out one tile per hit under a header, with the expected size', async () => {
    const hits = [hit(1.5, 1), hit(2.5, 2), hit(3.5, 3)];
    const bytes = await contactSheet(hits, { columns: 2, thumbWidth: 160, title: 'moving <object>' });
    const image = await decode(bytes);
    expect(image.format).toBe('jpeg');
    const layout = sheetLayout(3, 2, 160, 90);
    expect([image.width, image.height]).toEqual([layout.width, layout.height]);
    expect(layout.rows).toBe(2);
    expect(image.width).toBeGreaterThanOrEqual(2 * 160);
    // Tile 2 (second row, first column) shows hit 3.5: its box's left edge, scaled by 1/4, lies at x = 72.5.
    const { left, top } = layout.tile(2);
    const [x1, y1, , y2] = trueBox(3.5).map((v) => v / 4);
    expect(columnFraction(image, left + Math.ceil(x1), top + Math.ceil(y1) + 3, top + Math.floor(y2) - 3, COLOUR, 50)).toBeGreaterThan(0.8);
  });

  it('renders a placeholder for a hit whose video cannot be read, and PNG on request', async () => {
    const bytes = await contactSheet([hit(2, 1), hit(2, 2, fixture('missing.mp4'))], { format: 'png' });
    const image = await decode(bytes);
    expect(image.format).toBe('png');
    const layout = sheetLayout(2, 2, 240, 135);
    expect([image.width, image.height]).toEqual([layout.width, layout.height]);
  });

  it('handles one hit, no hits and many hits sensibly', async () => {
    const one = await decode(await contactSheet([hit(2, 1)]));
    expect([one.width, one.height]).toEqual([sheetLayout(1, 1, 240, 135).width, sheetLayout(1, 1, 240, 135).height]);
    const none = await decode(await contactSheet([]));
    expect(none.width).toBeGreaterThan(0);
    const many = Array.from({ length: 12 }, (_, i) => hit(1 + (i % 9) * 0.5, i + 1));
    const sheet = await decode(await contactSheet(many, { thumbWidth: 64 }));
    const layout = sheetLayout(12, 4, 64, 36); // ⌈√12⌉ = 4 columns
    expect([sheet.width, sheet.height]).toEqual([layout.width, layout.height]);
    // 100 hits: 8 columns (the default cap), 13 rows.
    const big = sheetLayout(100, Math.min(8, Math.ceil(Math.sqrt(100))), 240, 135);
    expect([big.columns, big.rows]).toEqual([8, 13]);
    expect(big.height).toBeLessThan(32767);
  });

  it('rejects bad options', async () => {
    await expect(contactSheet([hit(2, 1)], { thumbWidth: 8 })).rejects.toBeInstanceOf(ClipError);
    await expect(contactSheet([hit(2, 1)], { columns: 0 })).rejects.toMatchObject({ code: 'invalid-argument' });
  });
});
