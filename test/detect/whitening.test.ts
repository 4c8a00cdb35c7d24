import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../src/detect/symmetric-eigen.js';
import { l2Normalize } from '../../src/detect/vector.js';
import {
  applyWhitening,
  fitWhitening,
  loadWhitening,
  saveWhitening,
  whitenProjection,
} from '../../src/detect/whitening.js';
import { mulberry32, standardNormal } from '../support/random.js';

/**
 * `count` samples of x = L·z + offset with z standard normal (Box–Muller) and a fixed lower-triangular L, i.e. a
 * known covariance L·Lᵀ. Moderately conditioned so that float32 storage stays far below the 1e-6 tolerance.
 */
function gaussianSamples(dim: number, count: number, seed: number): Float32Array[] {
  const random = mulberry32(seed);
  const normal = () => standardNormal(random);
  const factor = (i: number, j: number) => (i === j ? 1.6 - 0.1 * i : j < i ? 0.15 * Math.sin(i + 2 * j) : 0);
  return Array.from({ length: count }, () => {
    const z = Array.from({ length: dim }, normal);
    return Float32Array.from({ length: dim }, (_, i) => {
      let value = 0.2 * Math.cos(i);
      for (let j = 0; j <= i; j++) value += factor(i, j) * z[j];
      return value;
    });
  });
}

/** Population covariance (÷ n) of vectors, computed the plain way. */
function covarianceOf(vectors: ArrayLike<number>[], dim: number): Float64Array {
  const mean = new Float64Array(dim);
  for (const v of vectors) for (let i = 0; i < dim; i++) mean[i] += v[i] / vectors.length;
  const covariance = new Float64Array(dim * dim);
  for (const v of vectors) {
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) covariance[i * dim + j] += ((v[i] - mean[i]) * (v[j] - mean[j])) / vectors.length;
    }
  }
  return covariance;
}

const directory = mkdtempSync(join(tmpdir(), 'dasr-whitening-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

describe('fitWhitening / whitenProjection', () => {
  it('whitens its training set to identity covariance (odd dimension)', () => {
    const dim = 7;
    const samples = gaussianSamples(dim, 3000, 1);
    const whitening = fitWhitening(samples, { epsilon: 1e-12, layer: 'res5a' });
    const whitened = samples.map((sample) => whitenProjection(whitening, sample));
    const covariance = covarianceOf(whitened, dim);
    let worst = 0;
    for (let i = 0; i < dim; i++) {
      for (let j = 0; j < dim; j++) worst = Math.max(worst, Math.abs(covariance[i * dim + j] - (i === j ? 1 : 0)));
    }
    expect(worst).toBeLessThan(1e-6);
    expect(whitening).toMatchObject({ dim, count: 3000, layer: 'res5a', epsilon: 1e-12 });
  });

  it('learns the eigenvalues of the covariance of the L2-normalised features, descending', () => {
    const dim = 6;
    const samples = gaussianSamples(dim, 500, 2);
    const whitening = fitWhitening(samples);
    const expected = symmetricEigen(covarianceOf(samples.map(l2Normalize), dim), dim).values;
    for (let k = 0; k < dim; k++) {
      expect(Math.abs(whitening.eigenvalues[k] - expected[k]) / expected[0]).toBeLessThan(1e-6);
      if (k > 0) expect(whitening.eigenvalues[k]).toBeLessThanOrEqual(whitening.eigenvalues[k - 1]);
    }
  });

  it('normalises every input first: scaled features give the same whitening', () => {
    const samples = gaussianSamples(5, 200, 3);
    const plain = fitWhitening(samples);
    const scaled = fitWhitening(samples.map((sample) => sample.map((x) => x * 4)));
    expect(scaled.mean).toEqual(plain.mean);
    expect(scaled.eigenvalues).toEqual(plain.eigenvalues);
    expect(scaled.projection).toEqual(plain.projection);
  });

  it('stays finite with fewer vectors than dimensions (rank-deficient covariance)', () => {
    const samples = gaussianSamples(12, 5, 4);
    const whitening = fitWhitening(samples);
    expect(whitening.projection.every(Number.isFinite)).toBe(true);
    expect(applyWhitening(whitening, samples[0]).every(Number.isFinite)).toBe(true);
  });

  it('rejects unusable input', () => {
    const samples = gaussianSamples(4, 10, 5);
    expect(() => fitWhitening(samples.slice(0, 1))).toThrow(RangeError);
    expect(() => fitWhitening([samples[0], new Float32Array(3)])).toThrow(RangeError);
    expect(() => fitWhitening(samples, { epsilon: 0 })).toThrow(RangeError);
    expect(() => fitWhitening([samples[0], samples[0].map((x) => x * 2)])).toThrow(/no variance/);
    const whitening = fitWhitening(samples);
    expect(() => whitenProjection(whitening, new Float32Array(5))).toThrow(RangeError);
  });
});

describe('applyWhitening', () => {
  it('is the L2-normalised whitened projection', () => {
    const samples = gaussianSamples(6, 300, 6);
    const whitening = fitWhitening(samples);
    const descriptor = applyWhitening(whitening, samples[10]);
    expect(descriptor).toEqual(l2Normalize(whitenProjection(whitening, samples[10])));
    const norm = Math.sqrt(descriptor.reduce((sum, x) => sum + x * x, 0));
    expect(norm).toBeCloseTo(1, 6);
  });
});

describe('saveWhitening / loadWhitening', () => {
  const whitening = fitWhitening(gaussianSamples(6, 300, 7), { layer: 'res5c' });
  const path = join(directory, 'whitening.bin');
  saveWhitening(whitening, path);
  const file = readFileSync(path);

  it('round-trips bit-exactly', () => {
    const loaded = loadWhitening(path);
    const { mean, eigenvalues, projection, ...header } = loaded;
    expect(header).toEqual({
      dim: whitening.dim,
      count: whitening.count,
      layer: 'res5c',
      epsilon: whitening.epsilon,
      createdAt: whitening.createdAt,
    });
    const bytes = (array: Float32Array) => Buffer.from(array.buffer, array.byteOffset, array.byteLength);
    expect(bytes(mean).equals(bytes(whitening.mean))).toBe(true);
    expect(bytes(eigenvalues).equals(bytes(whitening.eigenvalues))).toBe(true);
    expect(bytes(projection).equals(bytes(whitening.projection))).toBe(true);
  });

  it('writes magic, header length and a JSON header, with the data 4-byte aligned', () => {
    expect(file.toString('latin1', 0, 8)).toBe('DASRWHT1');
    const headerLength = file.readUInt32LE(8);
    expect((12 + headerLength) % 4).toBe(0);
    expect(JSON.parse(file.toString('utf8', 12, 12 + headerLength))).toMatchObject({ version: 1, dim: 6, count: 300 });
    expect(file.length).toBe(12 + headerLength + 4 * (6 + 6 + 36));
    expect(file.readFloatLE(12 + headerLength)).toBe(whitening.mean[0]);
  });

  const writeVariant = (name: string, bytes: Buffer): string => {
    const variantPath = join(directory, name);
    writeFileSync(variantPath, bytes);
    return variantPath;
  };

  it('rejects a truncated file, wherever it is cut', () => {
    for (const length of [file.length - 1, 40, 10, 0]) {
      expect(() => loadWhitening(writeVariant(`cut-${length}.bin`, file.subarray(0, length)))).toThrow(/truncated/);
    }
  });

  it('rejects trailing bytes', () => {
    const longer = Buffer.concat([file, Buffer.alloc(4)]);
    expect(() => loadWhitening(writeVariant('long.bin', longer))).toThrow(/trailing/);
  });

  it('rejects a wrong magic', () => {
    const wrong = Buffer.from(file);
    wrong.write('DASRWHT2', 0, 'latin1');
    expect(() => loadWhitening(writeVariant('magic.bin', wrong))).toThrow(/magic/);
  });

  it('rejects an unknown version', () => {
    const text = file.toString('latin1');
    const bumped = Buffer.from(text.replace('"version":1', '"version":2'), 'latin1');
    expect(bumped.length).toBe(file.length);
    expect(() => loadWhitening(writeVariant('version.bin', bumped))).toThrow(/version 2/);
  });

  it('rejects a header whose dim does not match the data', () => {
    const text = file.toString('latin1');
    const resized = Buffer.from(text.replace('"dim":6', '"dim":5'), 'latin1');
    expect(() => loadWhitening(writeVariant('dim.bin', resized))).toThrow(/trailing/);
  });
});
