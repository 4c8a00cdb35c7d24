import { describe, expect, it } from 'vitest';
import type { DecodedImage } from '../../src/image/load.js';
import { CAFFE_MEAN_BGR, toCaffeTensor } from '../../src/image/tensor.js';

describe('toCaffeTensor', () => {
  // 2×2, row-major RGB:  (0,0) = (10, 20, 30)   (1,0) = (40, 50, 60)
  //                      (0,1) = (70, 80, 90)   (1,1) = (255, 0, 128)
  const image: DecodedImage = {
    width: 2,
    height: 2,
    data: Buffer.from([10, 20, 30, 40, 50, 60, 70, 80, 90, 255, 0, 128]),
  };
  const [mB, mG, mR] = [103.939, 116.779, 123.68];

  it('uses the Keras caffe means in BGR order', () => {
    expect([...CAFFE_MEAN_BGR]).toEqual([mB, mG, mR]);
  });

  it('returns NCHW (N=1) float32, BGR, mean-subtracted, unscaled', () => {
    const t = toCaffeTensor(image);
    expect(t).toBeInstanceOf(Float32Array);
    expect(t.length).toBe(1 * 3 * 2 * 2);
    const f = Math.fround;
    // Channel 0 = B - 103.939 at offsets 0..3 (pixels in row-major order).
    expect([...t.subarray(0, 4)]).toEqual([f(30 - mB), f(60 - mB), f(90 - mB), f(128 - mB)]);
    // Channel 1 = G - 116.779 at offsets 4..7.
    expect([...t.subarray(4, 8)]).toEqual([f(20 - mG), f(50 - mG), f(80 - mG), f(0 - mG)]);
    // Channel 2 = R - 123.68 at offsets 8..11.
    expect([...t.subarray(8, 12)]).toEqual([f(10 - mR), f(40 - mR), f(70 - mR), f(255 - mR)]);
    // Spot checks by (c, y, x): offset = c*H*W + y*W + x.
    expect(t[0 * 4 + 1 * 2 + 1]).toBeCloseTo(128 - 103.939, 4); // B of (1,1)
    expect(t[2 * 4 + 0 * 2 + 1]).toBeCloseTo(40 - 123.68, 4); // R of (1,0)
  });

  it('handles non-square images (W ≠ H) with the right plane layout', () => {
    // 3×1: red, green, blue.
    const img: DecodedImage = { width: 3, height: 1, data: Buffer.from([255, 0, 0, 0, 255, 0, 0, 0, 255]) };
    const t = toCaffeTensor(img);
    expect(t.length).toBe(9);
    expect(t[0]).toBeCloseTo(-mB, 4); // B plane, red pixel
    expect(t[2]).toBeCloseTo(255 - mB, 4); // B plane, blue pixel
    expect(t[3 + 1]).toBeCloseTo(255 - mG, 4); // G plane, green pixel
    expect(t[6 + 0]).toBeCloseTo(255 - mR, 4); // R plane, red pixel
  });

  it('rejects malformed images', () => {
    expect(() => toCaffeTensor({ width: 2, height: 2, data: Buffer.alloc(11) })).toThrow(TypeError);
  });
});
