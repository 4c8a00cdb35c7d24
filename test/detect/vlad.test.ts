import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dot, l2Normalize } from '../../src/detect/vector.js';
import { encodeVlad, fitVladCodebook, loadVladCodebook, saveVladCodebook, vladDim, type VladCodebook } from '../../src/detect/vlad.js';
import type { Whitening } from '../../src/detect/whitening.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const dir = mkdtempSync(join(tmpdir(), 'dasr-vlad-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A local "whitening" that only L2-normalises (mean 0, identity projection): VLAD sums are then checkable by hand. */
function identityWhitening(dim: number): Whitening {
  const projection = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) projection[i * dim + i] = 1;
  return { dim, outputDim: dim, count: 2, layer: 'test', epsilon: 1e-6, createdAt: '2026-01-01T00:00:00.000Z', mean: new Float32Array(dim), eigenvalues: new Float32Array(dim).fill(1), projection };
}

describe('encodeVlad', () => {
  // two codewords in 2-d: (1, 0) and (0, 1)
  const codebook = (aggregate: VladCodebook['aggregate']): VladCodebook => ({ dim: 2, local: identityWhitening(2), aggregate, k: 2, centroids: Float32Array.from([1, 0, 0, 1]), global: null, regions: 2, images: 1, createdAt: '2026-01-01T00:00:00.000Z' });
  const s = Math.SQRT1_2;
  // (3, 4) → (0.6, 0.8), nearest (0, 1); (1, 0) → codeword 0; (1, −1) → (s, −s), nearest (1, 0)
  const regions = [Float32Array.from([3, 4]), Float32Array.from([1, 0]), Float32Array.from([1, -1])];
  const expected = (raw: number[]) => {
    const powered = raw.map((x) => Math.sign(x) * Math.sqrt(Math.abs(x)));
    const norm = Math.hypot(...powered);
    return powered.map((x) => x / norm);
  };

  it('VLAD: sums residuals per nearest codeword, then signed square root and L2', () => {
    const vlad = encodeVlad(codebook('residual'), regions)!;
    expect(vlad).toHaveLength(4);
    // codeword 0: residuals 0 and (s − 1, −s); codeword 1: (0.6, −0.2)
    expected([s - 1, -s, 0.6, -0.2]).forEach((x, i) => expect(vlad[i]).toBeCloseTo(x, 6));
    expect(vladDim(codebook('residual'))).toBe(4);
  });

  it('sums: sums the projected regions per nearest codeword, then signed square root and L2', () => {
    const vlad = encodeVlad(codebook('sum'), regions)!;
    expected([1 + s, -s, 0.6, 0.8]).forEach((x, i) => expect(vlad[i]).toBeCloseTo(x, 6));
  });

  it('gives null for a keyframe without regions', () => {
    expect(encodeVlad(codebook('sum'), [])).toBeNull();
  });
});

/**
 * Synthetic "scenes": each scene has 3 objects (random 64-d directions); an image of a scene shows 2–3 of them,
 * each perturbed. Images of one scene should have closer VLADs than images of different scenes.
 */
function sceneImages(scenes: number, perScene: number, seed: number): { images: Float32Array[][]; scene: number[] } {
  const random = mulberry32(seed);
  const objects = Array.from({ length: scenes }, () => Array.from({ length: 3 }, () => randomUnitVector(random, 64)));
  const images: Float32Array[][] = [];
  const scene: number[] = [];
  for (let s = 0; s < scenes; s++) {
    for (let i = 0; i < perScene; i++) {
      const shown = objects[s]!.filter((_, o) => o === i % 3 || random() < 0.7);
      images.push(shown.map((o) => l2Normalize(Float32Array.from(o, (x, j) => x + 0.04 * (randomUnitVector(random, 64)[j]!)))));
      scene.push(s);
    }
  }
  return { images, scene };
}

describe('fitVladCodebook', () => {
  const { images, scene } = sceneImages(12, 6, 5);

  it.each([
    ['sums, without a global whitening', 'sum', null],
    ['sums, with a global whitening', 'sum', 24],
    ['residuals (VLAD)', 'residual', null],
  ] as const)('%s: ranks images of the same scene first', (_, aggregate, outputDims) => {
    const codebook = fitVladCodebook(images, { k: 8, localDims: 32, outputDims, aggregate, seed: 2 });
    expect(codebook.aggregate).toBe(aggregate);
    expect(vladDim(codebook)).toBe(outputDims ?? 8 * 32);
    const vlads = images.map((regions) => encodeVlad(codebook, regions)!);
    let correct = 0;
    vlads.forEach((query, q) => {
      let best = -1;
      let bestScore = -Infinity;
      vlads.forEach((v, i) => {
        if (i === q) return;
        const score = dot(query, v);
        if (score > bestScore) [best, bestScore] = [i, score];
      });
      if (scene[best] === scene[q]) correct++;
      expect(dot(query, query)).toBeCloseTo(1, 5);
    });
    // chance is 5/71; the whitening to 24 dims from 72 images loses a little
    expect(correct / vlads.length).toBeGreaterThanOrEqual(0.9);
  });

  it('refuses settings its training set cannot support, and skips images without regions', () => {
    expect(() => fitVladCodebook([[Float32Array.from([1, 0])]])).toThrow(/at least 2 regions/);
    expect(() => fitVladCodebook(images, { localDims: 65 })).toThrow(/local dimensions/);
    expect(() => fitVladCodebook(images, { k: 100_000, localDims: 8 })).toThrow(/k must be/);
    expect(() => fitVladCodebook(images, { k: 4, localDims: 8, outputDims: images.length })).toThrow(/output dimensions/);
    const codebook = fitVladCodebook([...images, []], { k: 4, localDims: 8 });
    expect(codebook.images).toBe(images.length);
    expect(codebook.regions).toBe(images.flat().length);
  });
});

describe('codebook file', () => {
  const { images } = sceneImages(6, 4, 8);

  it.each([
    [null, 'sum'],
    [10, 'residual'],
  ] as const)('saves and loads exactly (global dims %s, %s)', async (outputDims, aggregate) => {
    const codebook = fitVladCodebook(images, { k: 4, localDims: 16, outputDims, aggregate, seed: 3 });
    const path = join(dir, `codebook-${outputDims}.vlad`);
    await saveVladCodebook(codebook, path);
    const loaded = loadVladCodebook(path);
    expect(loaded).toEqual(codebook);
    expect(Array.from(encodeVlad(loaded, images[0]!)!)).toEqual(Array.from(encodeVlad(codebook, images[0]!)!));
  });

  it('refuses files that are not whole codebooks', async () => {
    const path = join(dir, 'good.vlad');
    await saveVladCodebook(fitVladCodebook(images, { k: 4, localDims: 16 }), path);
    const bytes = readFileSync(path);
    const cases: [string, Uint8Array, RegExp][] = [
      ['truncated.vlad', bytes.subarray(0, bytes.length - 4), /bytes where its header needs/],
      ['extended.vlad', Buffer.concat([bytes, Buffer.alloc(4)]), /bytes where its header needs/],
      ['other.vlad', Buffer.from('DASRWHT1\0\0\0\0'), /does not start with DASRVLD1/],
      ['empty.vlad', new Uint8Array(0), /does not start with DASRVLD1/],
    ];
    for (const [name, content, message] of cases) {
      writeFileSync(join(dir, name), content);
      expect(() => loadVladCodebook(join(dir, name))).toThrow(message);
    }
  });
});
