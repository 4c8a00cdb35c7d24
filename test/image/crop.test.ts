import { describe, expect, it } from 'vitest';
import { cropImage, type DecodedImage } from '../../src/image/load.js';

/** 5×4 image whose pixel (x, y) is [10x, 10y, 7]. */
function coded(width = 5, height = 4): DecodedImage {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([10 * x, 10 * y, 7], (y * width + x) * 3);
  return { width, height, data };
}

const pixels = (image: DecodedImage): number[][] => Array.from({ length: image.width * image.height }, (_, i) => [...image.data.subarray(3 * i, 3 * i + 3)]);

describe('cropImage', () => {
  it('keeps every pixel the box touches: columns floor(x1)..ceil(x2)-1, rows floor(y1)..ceil(y2)-1', () => {
    const crop = cropImage(coded(), [1.5, 0.2, 3, 2.01]);
    expect([crop.width, crop.height]).toEqual([2, 3]);
    expect(pixels(crop)).toEqual([
      [10, 0, 7], [20, 0, 7],
      [10, 10, 7], [20, 10, 7],
      [10, 20, 7], [20, 20, 7],
    ]);
  });

  it('clips a box that overhangs the image', () => {
    const crop = cropImage(coded(), [-2, -2, 2, 1]);
    expect([crop.width, crop.height]).toEqual([2, 1]);
    expect(pixels(crop)).toEqual([[0, 0, 7], [10, 0, 7]]);
    const corner = cropImage(coded(), [4, 3, 9, 9]);
    expect([corner.width, corner.height, ...corner.data]).toEqual([1, 1, 40, 30, 7]);
  });

  it('returns a copy equal to the image for the whole-image box', () => {
    const image = coded();
    const crop = cropImage(image, [0, 0, 5, 4]);
    expect(crop.data).toEqual(image.data);
    expect(crop.data).not.toBe(image.data);
  });

  it('rejects boxes without area inside the image and non-finite boxes', () => {
    expect(() => cropImage(coded(), [5, 0, 7, 2])).toThrow(RangeError);
    expect(() => cropImage(coded(), [2, 2, 2, 3])).toThrow(RangeError);
    expect(() => cropImage(coded(), [0, 0, Number.NaN, 2])).toThrow(RangeError);
  });
});
