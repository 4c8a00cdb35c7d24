import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Box } from '../../src/detect/box.js';
import { applyWhitening, fitWhitening, type Whitening } from '../../src/detect/whitening.js';
import { FeatureCache } from '../../src/eval/feature-cache.js';
import { methodRegions, methodVector, withWhitening, type EvalMethod } from '../../src/eval/methods.js';
import { evaluateTracks } from '../../src/eval/tracks-eval.js';
import type { DecodedImage } from '../../src/image/load.js';

const DIM = 6;

/** Deterministic pseudo-random numbers in [-1, 1). */
function lcg(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  };
}

function whiteningFrom(seed: number): Whitening {
  const next = lcg(seed);
  // positive, correlated features like post-ReLU pooling: a common offset plus noise of unequal scales
  return fitWhitening(Array.from({ length: 40 }, () => Float32Array.from({ length: DIM }, (_, i) => 1 + (i + 1) * 0.3 * next())), { layer: 'res5a' });
}

/** A raw method on generated numbers: the descriptor is a function of the image's mean colour and the box. */
function fakeMethod(calls: { detect: number; describe: number; sizes: [number, number][]; frames: [number, number][] }): EvalMethod {
  const vector = (image: DecodedImage, box: Box | undefined): Float32Array => {
    let r = 0;
    for (let i = 0; i < image.data.length; i += 3) r += image.data[i]!;
    const mean = r / (image.width * image.height) / 255;
    const [x1, y1] = box ?? [0, 0];
    return Float32Array.from({ length: DIM }, (_, i) => 1 + Math.sin(mean * 7 + i) + 0.01 * (x1 + 2 * y1 + i));
  };
  return {
    id: 'dasr-star',
    name: 'FAKE',
    cacheKey: 'fake-raw',
    postprocess: null,
    key: 'fake-raw',
    settings: {},
    async detect(image) {
      calls.detect++;
      return [{ box: [0, 0, image.width / 2, image.height], feature: vector(image, undefined) }, { box: [image.width / 2, 0, image.width, image.height], feature: vector(image, [5, 0, 0, 0]) }];
    },
    async describe(image, box) {
      calls.describe++;
      calls.sizes.push([image.width, image.height]);
      return vector(image, box);
    },
    async describeCrop(crop, frame) {
      calls.describe++;
      calls.sizes.push([crop.width, crop.height]);
      calls.frames.push([frame.width, frame.height]);
      return vector(crop, undefined);
    },
    dasr: null,
  };
}

const newCalls = () => ({ detect: 0, describe: 0, sizes: [] as [number, number][], frames: [] as [number, number][] });
const never = async (): Promise<never> => {
  throw new Error('should come from the cache');
};

let root: string;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'dasr-whiten-post-'));
  // A tiny tracks dataset: 2 sequences × 3 frames of 64×64; the object of "small" is 20 px.
  const sequences: { name: string; red: number; box: [number, number, number, number] }[] = [
    { name: 'big', red: 200, box: [8, 8, 40, 40] },
    { name: 'small', red: 60, box: [30, 30, 20, 20] },
  ];
  for (const seq of sequences) {
    const dir = join(root, 'data', 'seqs', seq.name);
    mkdirSync(dir, { recursive: true });
    const frames = [];
    for (let f = 0; f < 3; f++) {
      const data = Buffer.alloc(64 * 64 * 3);
      for (let p = 0; p < 64 * 64; p++) data.set([seq.red + 10 * f, (p * 7) % 256, (p * 13) % 256], 3 * p);
      const file = `00000${f}.png`;
      await sharp(data, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(join(dir, file));
      frames.push({ file, box: seq.box });
    }
    writeFileSync(join(dir, 'gt.json'), JSON.stringify({ name: seq.name, width: 64, height: 64, frames }));
  }
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('whitening as a post-step of the evaluation methods', () => {
  it('keeps the raw cache key, caches raw descriptors and whitens both sides after the cache', async () => {
    const path = join(root, 'data', 'seqs', 'big', '000000.png');
    const calls = newCalls();
    const raw = fakeMethod(calls);
    const w1 = whiteningFrom(1);
    const whitened = withWhitening(raw, w1);
    expect(whitened.cacheKey).toBe(raw.cacheKey);
    expect(whitened.key).not.toBe(raw.key);
    expect(raw.key).toBe(raw.cacheKey);
    expect(() => withWhitening(whitened, w1)).toThrow(/post-step/);

    const dir = join(root, 'cache');
    const regions = await methodRegions(whitened, new FeatureCache(dir), path);
    const box: Box = [8, 8, 40, 40];
    const query = await methodVector(whitened, new FeatureCache(dir), path, box, async () => raw.describe(await sharpDecode(path), box));
    expect(calls.detect).toBe(1);

    // what the cache holds is the raw method's output, under the raw key
    const rawRegions = await methodRegions(raw, new FeatureCache(dir), path);
    const rawQuery = await methodVector(raw, new FeatureCache(dir), path, box, never);
    expect(calls.detect).toBe(1);
    expect(regions.map((r) => r.box)).toEqual(rawRegions.map((r) => r.box));
    regions.forEach((r, i) => expect(Array.from(r.feature)).toEqual(Array.from(applyWhitening(w1, rawRegions[i]!.feature))));
    expect(Array.from(query)).toEqual(Array.from(applyWhitening(w1, rawQuery)));
    expect(Array.from(rawQuery)).not.toEqual(Array.from(query));

    // another whitening reuses the cached raw descriptors: nothing is recomputed
    const w2 = whiteningFrom(2);
    const other = withWhitening(raw, w2);
    const regions2 = await methodRegions(other, new FeatureCache(dir), path);
    const query2 = await methodVector(other, new FeatureCache(dir), path, box, never);
    expect(calls.detect).toBe(1);
    regions2.forEach((r, i) => expect(Array.from(r.feature)).toEqual(Array.from(applyWhitening(w2, rawRegions[i]!.feature))));
    expect(Array.from(query2)).toEqual(Array.from(applyWhitening(w2, rawQuery)));
  });

  it('evaluateTracks applies the post-step to every database region and query, cached or not', async () => {
    const calls = newCalls();
    const raw = fakeMethod(calls);
    const w = whiteningFrom(3);
    let post = 0;
    const counted: EvalMethod = { ...withWhitening(raw, w), postprocess: (v) => (post++, applyWhitening(w, v)) };
    const dir = join(root, 'cache-tracks');
    const run = () => evaluateTracks(join(root, 'data'), [counted], { querySets: ['first'], cache: new FeatureCache(dir) });
    const first = await run();
    expect([calls.detect, calls.describe, post]).toEqual([6, 2, 6 * 2 + 2]);
    const again = await run();
    expect([calls.detect, calls.describe, post]).toEqual([6, 2, 2 * (6 * 2 + 2)]);
    expect(again.rows).toEqual(first.rows);
    expect(first.rows[0]).toMatchObject({ view: 'box', failedQueries: 0 });

    // the raw method reads the same cache entries, computing nothing, and scores differently: its positive
    // descriptors give every frame a positive cosine, whereas the whitened (centred) ones do not
    const plain = await evaluateTracks(join(root, 'data'), [raw], { querySets: ['first'], cache: new FeatureCache(dir) });
    expect([calls.detect, calls.describe]).toEqual([6, 2]);
    expect(plain.perQuery.map((q) => q.ranked)).toEqual([5, 5]);
    expect(first.perQuery.map((q) => q.ranked)).not.toEqual([5, 5]);
  });

  it('leave-sequences-out whitening searches each query with the whitening learned on the other sequences only', async () => {
    const dir = join(root, 'cache-folds');
    const raw = fakeMethod(newCalls());
    const regionsOf = async (sequence: string) =>
      (await Promise.all([0, 1, 2].map((f) => methodRegions(raw, new FeatureCache(dir), join(root, 'data', 'seqs', sequence, `00000${f}.png`))))).flat().map((r) => r.feature);
    const learnedOn = { big: fitWhitening(await regionsOf('big')), small: fitWhitening(await regionsOf('small')) };

    const report = await evaluateTracks(join(root, 'data'), [raw], { querySets: ['first'], cache: new FeatureCache(dir), whitenFolds: { folds: 2 } });
    // sequence 0 (big) is searched with the whitening of sequence 1 (small), and the other way round: each query's
    // result is that of the method whitened, on both sides, by the other sequence's whitening
    for (const [query, other] of [['big', learnedOn.small], ['small', learnedOn.big]] as const) {
      const fixed = await evaluateTracks(join(root, 'data'), [withWhitening(raw, other)], { querySets: ['first'], cache: new FeatureCache(dir) });
      const expected = fixed.perQuery.find((q) => q.sequence === query)!;
      expect(report.perQuery.find((q) => q.sequence === query)).toEqual(expected);
    }
    expect(report.notes).toEqual([
      'FAKE: whitening for the queries of sequences 0 learned on 6 regions of the other 1 fold(s), 6 → 6 dimensions',
      'FAKE: whitening for the queries of sequences 1 learned on 6 regions of the other 1 fold(s), 6 → 6 dimensions',
    ]);
    expect(report.methods[0]!.settings).toMatchObject({ whitenFolds: { folds: 2 } });

    const reduced = await evaluateTracks(join(root, 'data'), [raw], { querySets: ['first'], cache: new FeatureCache(dir), whitenFolds: { folds: 2, dims: 3 } });
    expect(reduced.notes[0]).toMatch(/6 → 3 dimensions$/);
    await expect(evaluateTracks(join(root, 'data'), [raw], { querySets: ['first'], cache: new FeatureCache(dir), whitenFolds: { folds: 3 } })).rejects.toThrow(/from 2 to the 2 sequences, got 3/);
    await expect(evaluateTracks(join(root, 'data'), [withWhitening(raw, learnedOn.big)], { querySets: ['first'], cache: new FeatureCache(dir), whitenFolds: { folds: 2 } })).rejects.toThrow(/already whitens/);
  });

  it('crop queries describe the box cut out at the scale of its frames, a 20-px crop included', async () => {
    const calls = newCalls();
    const method = withWhitening(fakeMethod(calls), whiteningFrom(4));
    const report = await evaluateTracks(join(root, 'data'), [method], { querySets: ['first'], queryView: 'crop', cache: new FeatureCache(join(root, 'cache-crop')) });
    expect(calls.sizes).toEqual([[40, 40], [20, 20]]);
    expect(calls.frames).toEqual([[64, 64], [64, 64]]);
    expect(report.queryView).toBe('crop');
    expect(report.rows[0]).toMatchObject({ view: 'crop', failedQueries: 0, queryCount: 2 });
    expect(report.perQuery.find((q) => q.sequence === 'small')!.ranked).toBeGreaterThan(0);

    // the box view of the same queries is a different cache entry
    const boxCalls = newCalls();
    const box = await evaluateTracks(join(root, 'data'), [withWhitening(fakeMethod(boxCalls), whiteningFrom(4))], { querySets: ['first'], cache: new FeatureCache(join(root, 'cache-crop')) });
    expect(boxCalls.sizes).toEqual([[64, 64], [64, 64]]);
    expect(box.rows[0]).toMatchObject({ view: 'box', failedQueries: 0 });
  });

  it('background queries describe a box of the object size away from it on the whole frame', async () => {
    const calls = newCalls();
    const report = await evaluateTracks(join(root, 'data'), [fakeMethod(calls)], { querySets: ['first'], queryView: 'background', cache: new FeatureCache(null) });
    expect(calls.sizes).toEqual([[64, 64], [64, 64]]);
    const big = report.perQuery.find((q) => q.sequence === 'big')!;
    // object [8,8,48,48] (gt [x,y,w,h] = [8,8,40,40]) in 64×64: the mirrors are the object itself; the best corner,
    // bottom-right [24,24,64,64], overlaps it 24×24
    expect(big.queryBox).toEqual([24, 24, 64, 64]);
    expect(big.objectOverlap).toBe(576 / 1600);
  });
});

async function sharpDecode(path: string): Promise<DecodedImage> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data };
}
