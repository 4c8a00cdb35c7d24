import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FeatureCache } from '../../src/eval/feature-cache.js';

const root = mkdtempSync(join(tmpdir(), 'dasr-eval-cache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('FeatureCache', () => {
  const image = join(root, 'a.jpg');
  writeFileSync(image, 'not really a jpeg');
  const regions = [{ box: [1, 2, 3, 4] as [number, number, number, number], feature: Float32Array.from([0.1, -0.2, 1e-7]) }];
  const vector = Float32Array.from([0.5, 0.25]);

  it('keeps regions and query vectors of the same image apart, in memory and on disk, bit for bit', async () => {
    const cache = new FeatureCache(join(root, 'c'));
    expect(await cache.regions('m', image, async () => regions)).toBe(regions);
    expect(await cache.vector('m', image, null, async () => vector)).toBe(vector);
    expect(await cache.vector('m', image, [0, 0, 1, 1], async () => Float32Array.from([9]))).toEqual(Float32Array.from([9]));
    expect(cache.misses).toBe(3);
    expect(await cache.regions('m', image, async () => [])).toBe(regions);
    expect(cache.hits).toBe(1);

    const reread = new FeatureCache(join(root, 'c'));
    const fail = async (): Promise<never> => {
      throw new Error('should come from disk');
    };
    expect(await reread.regions('m', image, fail)).toEqual(regions);
    expect(await reread.vector('m', image, null, fail)).toEqual(vector);
    expect(reread.misses).toBe(0);
    // another method key misses
    expect(await reread.regions('other', image, async () => [])).toEqual([]);
  });

  it("misses when the image's bytes changed, and hits for the same bytes at another path or modification time", async () => {
    const cache = new FeatureCache(join(root, 'd'));
    await cache.vector('m', image, null, async () => vector);
    const copy = join(root, 'copy.jpg');
    writeFileSync(copy, 'not really a jpeg');
    utimesSync(copy, new Date(), new Date(Date.now() + 5000));
    const again = new FeatureCache(join(root, 'd'));
    expect(await again.vector('m', copy, null, async () => Float32Array.from([1]))).toEqual(vector);
    // other bytes of the same length, at another modification time
    writeFileSync(copy, 'not quite a jpeg!');
    utimesSync(copy, new Date(), new Date(Date.now() + 10_000));
    expect(await again.vector('m', copy, null, async () => Float32Array.from([1]))).toEqual(Float32Array.from([1]));
    expect(again.misses).toBe(1);
  });
});
