import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../src/detect/symmetric-eigen.js';
import { dot, l2Normalize } from '../../src/detect/vector.js';
import {
  applyWhitening,
  fitWhitening,
  loadWhitening,
  saveWhitening,
  whiteningWarning,
  whitenProjection,
  type Whitening,
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

/**
 * `count` samples of x = B·z, z standard normal, for a fixed d × rank matrix B: they lie in a rank-dimensional
 * linear subspace, and so do their L2-normalised versions and those minus their mean.
 */
function subspaceSamples(dim: number, rank: number, count: number, seed: number): Float32Array[] {
  const random = mulberry32(seed);
  const basis = (i: number, j: number) => Math.cos(0.7 * (j + 1) * i + j) + (i === j ? 1 : 0);
  return Array.from({ length: count }, () => {
    const z = Array.from({ length: rank }, () => standardNormal(random));
    return Float32Array.from({ length: dim }, (_, i) => z.reduce((sum, zj, j) => sum + basis(i, j) * zj, 0));
  });
}

/** Largest |C − I| entry. */
function distanceFromIdentity(covariance: Float64Array, dim: number): number {
  let worst = 0;
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) worst = Math.max(worst, Math.abs(covariance[i * dim + j] - (i === j ? 1 : 0)));
  }
  return worst;
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
    expect(whitening).toMatchObject({ dim, outputDim: dim, count: 3000, layer: 'res5a', epsilon: 1e-12 });
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
    expect(whiteningWarning(whitening)).toMatch(/12 directions kept from 5 training vectors, which span at most 4: the other 8 are noise/);
  });
  it('reduced to the rank of a low-dimensional training set, whitens it to identity covariance', () => {
    const dim = 10;
    const rank = 3;
    const samples = subspaceSamples(dim, rank, 800, 11);
    const full = fitWhitening(samples);
    // The covariance really has rank 3: the other eigenvalues are rounding noise.
    expect(full.eigenvalues[rank - 1]).toBeGreaterThan(1e-3 * full.eigenvalues[0]);
    expect(Math.abs(full.eigenvalues[rank])).toBeLessThan(1e-9 * full.eigenvalues[0]);
    // Full dimension: the null directions are amplified noise, far from identity.
    expect(distanceFromIdentity(covarianceOf(samples.map((v) => whitenProjection(full, v)), dim), dim)).toBeGreaterThan(0.5);

    const reduced = fitWhitening(samples, { dims: rank, layer: 'res5a' });
    expect(reduced).toMatchObject({ dim, outputDim: rank, count: 800 });
    expect(reduced.projection.length).toBe(rank * dim);
    expect(reduced.eigenvalues.length).toBe(dim);
    const whitened = samples.map((v) => whitenProjection(reduced, v));
    expect(whitened[0].length).toBe(rank);
    expect(distanceFromIdentity(covarianceOf(whitened, rank), rank)).toBeLessThan(1e-5);
    // The whitened training set is centred.
    for (let k = 0; k < rank; k++) expect(Math.abs(whitened.reduce((sum, w) => sum + w[k], 0) / whitened.length)).toBeLessThan(1e-5);
    const descriptor = applyWhitening(reduced, samples[0]);
    expect(descriptor.length).toBe(rank);
    expect(Math.hypot(...descriptor)).toBeCloseTo(1, 6);
  });

  it('with fewer vectors than dimensions, reduced, equals the full whitening (through the Gram matrix) up to the sign of each direction', () => {
    const dim = 40;
    const samples = gaussianSamples(dim, 20, 13);
    const full = fitWhitening(samples); // every direction: the d × d covariance
    const reduced = fitWhitening(samples, { dims: 6 }); // 6 < 20 < 40: the 20 × 20 Gram matrix
    for (let k = 0; k < 6; k++) expect(reduced.eigenvalues[k]).toBeCloseTo(full.eigenvalues[k]!, 9);
    // the other eigenvalues: those the 20 vectors still span, then zeros
    for (let k = 6; k < 19; k++) expect(reduced.eigenvalues[k]! / full.eigenvalues[k]!).toBeCloseTo(1, 6);
    for (let k = 19; k < dim; k++) expect(Math.abs(reduced.eigenvalues[k]!)).toBeLessThan(1e-9);
    for (let k = 0; k < 6; k++) {
      const a = reduced.projection.subarray(k * dim, (k + 1) * dim);
      const b = full.projection.subarray(k * dim, (k + 1) * dim);
      expect(Math.abs(dot(a, b)) / Math.sqrt(dot(a, a) * dot(b, b))).toBeCloseTo(1, 6);
      expect(Math.sqrt(dot(a, a) / dot(b, b))).toBeCloseTo(1, 6);
    }
    const whitened = samples.map((v) => whitenProjection(reduced, v));
    expect(distanceFromIdentity(covarianceOf(whitened, 6), 6)).toBeLessThan(1e-5);
  });

  it('keeps exactly the top rows of the full whitening (same coordinates, truncated)', () => {
    const dim = 7;
    const samples = gaussianSamples(dim, 400, 12);
    const full = fitWhitening(samples);
    const reduced = fitWhitening(samples, { dims: 4 });
    expect(reduced.mean).toEqual(full.mean);
    expect(reduced.eigenvalues).toEqual(full.eigenvalues);
    expect(reduced.projection).toEqual(full.projection.subarray(0, 4 * dim));
    expect(whitenProjection(reduced, samples[3])).toEqual(whitenProjection(full, samples[3]).subarray(0, 4));
    expect(fitWhitening(samples, { dims: dim }).projection).toEqual(full.projection);
  });

  it('rejects a dims outside 1..d', () => {
    const samples = gaussianSamples(5, 50, 13);
    for (const dims of [0, -1, 6, 2.5, Number.NaN]) expect(() => fitWhitening(samples, { dims })).toThrow(/dims must be an integer from 1 to the feature dimension 5/);
    expect(fitWhitening(samples, { dims: 1 }).outputDim).toBe(1);
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

describe('whiteningWarning', () => {
  it('warns exactly when more directions are kept than the training vectors span (count − 1)', () => {
    expect(whiteningWarning({ outputDim: 376, count: 377 })).toBeNull();
    expect(whiteningWarning({ outputDim: 64, count: 377 })).toBeNull();
    expect(whiteningWarning({ outputDim: 377, count: 377 })).toMatch(/span at most 376: the other 1 are noise/);
    expect(whiteningWarning({ outputDim: 2048, count: 377 })).toMatch(/--dims below 377/);
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
      outputDim: whitening.dim,
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
    expect(JSON.parse(file.toString('utf8', 12, 12 + headerLength))).toMatchObject({ version: 2, dim: 6, outputDim: 6, count: 300 });
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
    const bumped = Buffer.from(text.replace('"version":2', '"version":3'), 'latin1');
    expect(bumped.length).toBe(file.length);
    expect(() => loadWhitening(writeVariant('version.bin', bumped))).toThrow(/version 3/);
  });

  it('rejects an outputDim outside 1..dim or not matching the data', () => {
    const text = file.toString('latin1');
    const wider = Buffer.from(text.replace('"outputDim":6', '"outputDim":7'), 'latin1');
    expect(() => loadWhitening(writeVariant('output-wide.bin', wider))).toThrow(/invalid outputDim 7 for dim 6/);
    const narrower = Buffer.from(text.replace('"outputDim":6', '"outputDim":5'), 'latin1');
    expect(() => loadWhitening(writeVariant('output-narrow.bin', narrower))).toThrow(/trailing/);
    const missing = Buffer.from(text.replace('"outputDim":6', '"outputDix":6'), 'latin1');
    expect(() => loadWhitening(writeVariant('output-missing.bin', missing))).toThrow(/invalid outputDim undefined/);
  });

  it('rejects a header whose dim does not match the data', () => {
    const text = file.toString('latin1');
    const resized = Buffer.from(text.replace('"dim":6', '"dim":5'), 'latin1');
    expect(() => loadWhitening(writeVariant('dim.bin', resized))).toThrow(/invalid outputDim 6 for dim 5/);
  });
});

/** A version-1 file (before dimension reduction), byte for byte as the version-1 writer made it. */
function versionOneFile(whitening: Whitening): Buffer {
  const { dim, count, layer, epsilon, createdAt } = whitening;
  let headerText = JSON.stringify({ version: 1, dim, count, layer, epsilon, createdAt });
  headerText += ' '.repeat((4 - ((12 + Buffer.byteLength(headerText)) % 4)) % 4);
  const header = Buffer.from(headerText, 'utf8');
  const data = Buffer.alloc(4 * (2 * dim + dim * dim));
  let offset = 0;
  for (const array of [whitening.mean, whitening.eigenvalues, whitening.projection]) {
    for (let i = 0; i < array.length; i++, offset += 4) data.writeFloatLE(array[i], offset);
  }
  const preamble = Buffer.alloc(12);
  preamble.write('DASRWHT1', 0, 'latin1');
  preamble.writeUInt32LE(header.length, 8);
  return Buffer.concat([preamble, header, data]);
}

describe('saveWhitening / loadWhitening with dimension reduction', () => {
  const samples = gaussianSamples(6, 300, 8);

  it('round-trips a reduced whitening (k × d projection) bit-exactly', () => {
    const reduced = fitWhitening(samples, { dims: 2, layer: 'res5a' });
    const path = join(directory, 'reduced.bin');
    saveWhitening(reduced, path);
    const file = readFileSync(path);
    const headerLength = file.readUInt32LE(8);
    expect(JSON.parse(file.toString('utf8', 12, 12 + headerLength))).toMatchObject({ version: 2, dim: 6, outputDim: 2 });
    expect(file.length).toBe(12 + headerLength + 4 * (6 + 6 + 2 * 6));
    const loaded = loadWhitening(path);
    expect(loaded).toEqual(reduced);
    expect(applyWhitening(loaded, samples[1])).toEqual(applyWhitening(reduced, samples[1]));
  });

  it('still loads version-1 files, as full-dimension whitenings', () => {
    const full = fitWhitening(samples, { layer: 'res5a' });
    const path = join(directory, 'version-1.bin');
    writeFileSync(path, versionOneFile(full));
    expect(loadWhitening(path)).toEqual(full);
  });

  it('refuses to save inconsistent sizes', () => {
    const reduced = fitWhitening(samples, { dims: 2 });
    expect(() => saveWhitening({ ...reduced, outputDim: 3 }, join(directory, 'bad.bin'))).toThrow(/do not match dim 6 and outputDim 3/);
    expect(() => saveWhitening({ ...reduced, outputDim: 0 }, join(directory, 'bad.bin'))).toThrow(/outputDim 0 is not in 1..6/);
  });
});
