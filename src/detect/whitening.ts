/**
 * PCA whitening (group code: L2 → whiten → L2), learned on a collection of region features that should be
 * DIFFERENT from the one being searched, plus its versioned binary file. By default it keeps every dimension
 * (the group's setting); with `dims` it keeps only the top principal directions (PCA-whitening with dimension
 * reduction), which is what a training set with fewer vectors than dimensions calls for: its covariance then
 * has rank < d, and the null directions, which carry no information about the training collection, would
 * otherwise be amplified by the regulariser and dominate the descriptor.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { symmetricEigen } from './symmetric-eigen.js';
import { dotRange, l2Normalize } from './vector.js';

export interface Whitening {
  /** input dimension d (the network's channels) */
  dim: number;
  /** output dimension: the number of principal directions kept, 1 ≤ outputDim ≤ dim (dim: no reduction) */
  outputDim: number;
  /** number of feature vectors it was learned from */
  count: number;
  /** network layer whose features it was learned on, e.g. 'res5a' (whitening does not transfer across layers) */
  layer: string;
  /** regulariser, relative to the largest eigenvalue */
  epsilon: number;
  /** ISO 8601 */
  createdAt: string;
  /** mean of the L2-normalised training features */
  mean: Float32Array;
  /** all d covariance eigenvalues, descending (also those of dropped directions, for diagnostics) */
  eigenvalues: Float32Array;
  /** outputDim × d row-major; row k = eigenvector k / √(λk + ε·λmax), k < outputDim */
  projection: Float32Array;
}

export interface WhiteningOptions {
  epsilon?: number;
  layer?: string;
  /**
   * Principal directions to keep (output dimension), 1..d; default d (no reduction). Only the first
   * count − 1 carry variance of the training set (the centred covariance of n vectors has rank ≤ n − 1).
   */
  dims?: number;
  /**
   * false: a plain PCA projection (rows are the unit eigenvectors, directions keep their variance) instead of
   * whitening. Default true.
   */
  whiten?: boolean;
}

/**
 * ε regularises the inverse square roots 1/√(λ + ε·λmax). It is relative to the largest eigenvalue so that it
 * does not depend on the feature scale. With 1e-6, a direction is whitened to within a relative scale error of
 * about ε·λmax/(2λ), i.e. almost exactly unless its variance is near a millionth of the top one, while
 * numerically null directions (always present with fewer vectors than dimensions, the covariance then having
 * rank < d) are amplified about 1000× relative to the top direction instead of by 1/√0.
 */
export const DEFAULT_WHITENING_EPSILON = 1e-6;

const DEFAULT_LAYER = 'unspecified';
const COVARIANCE_BLOCK = 64;

/** Learns the whitening from `features` (each L2-normalised first); the covariance is the population one (÷ n). */
export function fitWhitening(features: Float32Array[], options: WhiteningOptions = {}): Whitening {
  const epsilon = options.epsilon ?? DEFAULT_WHITENING_EPSILON;
  if (!(epsilon > 0 && Number.isFinite(epsilon))) {
    throw new RangeError(`fitWhitening: epsilon must be a positive finite number, got ${epsilon}`);
  }
  if (features.length < 2) throw new RangeError(`fitWhitening: need at least 2 feature vectors, got ${features.length}`);
  const dim = features[0].length;
  if (dim < 1 || features.some((feature) => feature.length !== dim)) {
    throw new RangeError('fitWhitening: feature vectors must all have the same, non-zero length');
  }
  const outputDim = options.dims ?? dim;
  const whiten = options.whiten ?? true;
  if (!Number.isInteger(outputDim) || outputDim < 1 || outputDim > dim) {
    throw new RangeError(`fitWhitening: dims must be an integer from 1 to the feature dimension ${dim}, got ${outputDim}`);
  }

  const normalized = features.map(l2Normalize);
  const mean64 = new Float64Array(dim);
  for (const vector of normalized) for (let i = 0; i < dim; i++) mean64[i] += vector[i];
  for (let i = 0; i < dim; i++) mean64[i] /= normalized.length;

  // Fewer vectors than dimensions, and only directions they span kept: the n × n Gram matrix has the same non-zero
  // eigenvalues as the d × d covariance and is far cheaper to decompose (a 2048-d covariance takes about a minute).
  const { values, vectors } = outputDim < normalized.length && normalized.length < dim ? gramEigen(normalized, mean64, outputDim) : symmetricEigen(populationCovariance(normalized, mean64), dim);
  const largest = values[0];
  if (!(largest > 0)) throw new Error('fitWhitening: the features have no variance (all identical after L2)');

  const regulariser = epsilon * largest;
  const projection = new Float32Array(outputDim * dim);
  for (let k = 0; k < outputDim; k++) {
    // Tiny negative eigenvalues are rounding noise of a rank-deficient covariance.
    const scale = whiten ? 1 / Math.sqrt(Math.max(values[k], 0) + regulariser) : 1;
    for (let i = 0; i < dim; i++) projection[k * dim + i] = vectors[k * dim + i] * scale;
  }
  return {
    dim,
    outputDim,
    count: features.length,
    layer: options.layer ?? DEFAULT_LAYER,
    epsilon,
    createdAt: new Date().toISOString(),
    mean: Float32Array.from(mean64),
    eigenvalues: Float32Array.from(values),
    projection,
  };
}

/**
 * The top `count` eigenpairs of the population covariance C = XᵀX / n of the centred vectors X (n × d, n < d), from
 * the Gram matrix G = XXᵀ / n: if G·u = λ·u with |u| = 1, then v = Xᵀu / √(n·λ) is a unit eigenvector of C for the
 * same λ. Eigenvalues past the n of G are C's null ones (0). Vectors are rows of a count × d array.
 */
function gramEigen(vectors: Float32Array[], mean: Float64Array, count: number): { values: Float64Array; vectors: Float64Array } {
  const n = vectors.length;
  const dim = mean.length;
  const centred = vectors.map((v) => Float64Array.from(v, (x, i) => x - mean[i]!));
  const gram = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = a; b < n; b++) {
      const value = dotRange(centred[a]!, 0, centred[b]!, 0, dim) / n;
      gram[a * n + b] = value;
      gram[b * n + a] = value;
    }
  }
  const small = symmetricEigen(gram, n);
  const values = new Float64Array(dim);
  values.set(small.values.subarray(0, Math.min(n, dim)));
  const out = new Float64Array(count * dim);
  for (let k = 0; k < count; k++) {
    const lambda = small.values[k]!;
    // a direction without variance stays zero: nothing of the training set lies along it
    if (!(lambda > 0)) continue;
    const scale = 1 / Math.sqrt(n * lambda);
    for (let a = 0; a < n; a++) {
      const weight = small.vectors[k * n + a]! * scale;
      const row = centred[a]!;
      for (let i = 0; i < dim; i++) out[k * dim + i] += weight * row[i]!;
    }
  }
  return { values, vectors: out };
}

/**
 * Two-pass (centred) covariance: with post-ReLU features the mean dominates, and E[xxᵀ] − μμᵀ would cancel.
 * The d² × n accumulation dominates fitting time, so vectors are processed in blocks kept transposed (one
 * contiguous row of COVARIANCE_BLOCK values per dimension) and the upper triangle is computed in 2 × 2 tiles:
 * four independent sums sharing four loads run about twice as fast as one dot product at a time.
 */
function populationCovariance(vectors: Float32Array[], mean: Float64Array): Float64Array {
  const dim = mean.length;
  // An odd dimension gets one zero row so every tile is complete; its sums are zero and never read.
  const paddedDim = dim + (dim % 2);
  const sums = new Float64Array(paddedDim * paddedDim);
  const block = new Float64Array(paddedDim * COVARIANCE_BLOCK);
  for (let start = 0; start < vectors.length; start += COVARIANCE_BLOCK) {
    const size = Math.min(COVARIANCE_BLOCK, vectors.length - start);
    for (let b = 0; b < size; b++) {
      const vector = vectors[start + b];
      for (let i = 0; i < dim; i++) block[i * COVARIANCE_BLOCK + b] = vector[i] - mean[i];
    }
    for (let i = 0; i < paddedDim; i += 2) {
      const rowI0 = i * COVARIANCE_BLOCK;
      const rowI1 = rowI0 + COVARIANCE_BLOCK;
      for (let j = i; j < paddedDim; j += 2) {
        const rowJ0 = j * COVARIANCE_BLOCK;
        const rowJ1 = rowJ0 + COVARIANCE_BLOCK;
        let sum00 = 0;
        let sum01 = 0;
        let sum10 = 0;
        let sum11 = 0;
        for (let b = 0; b < size; b++) {
          const i0 = block[rowI0 + b];
          const i1 = block[rowI1 + b];
          const j0 = block[rowJ0 + b];
          const j1 = block[rowJ1 + b];
          sum00 += i0 * j0;
          sum01 += i0 * j1;
          sum10 += i1 * j0;
          sum11 += i1 * j1;
        }
        const at = i * paddedDim + j;
        sums[at] += sum00;
        sums[at + 1] += sum01;
        sums[at + paddedDim] += sum10;
        sums[at + paddedDim + 1] += sum11;
      }
    }
  }
  const covariance = new Float64Array(dim * dim);
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const value = sums[i * paddedDim + j] / vectors.length;
      covariance[i * dim + j] = value;
      covariance[j * dim + i] = value;
    }
  }
  return covariance;
}

/**
 * Why a whitening may be a poor one, or null: more directions kept than its training vectors span (the centred
 * covariance of n vectors has rank ≤ n − 1; the directions beyond are noise, amplified about 1/√ε by the
 * regulariser).
 */
export function whiteningWarning(whitening: Pick<Whitening, 'outputDim' | 'count'>): string | null {
  const { outputDim, count } = whitening;
  if (outputDim < count) return null;
  return (
    `${outputDim} directions kept from ${count} training vectors, which span at most ${count - 1}: ` +
    `the other ${outputDim - count + 1} are noise that the regulariser amplifies; ` +
    `keep fewer (--dims below ${count}) or learn from more images`
  );
}

/** Whitened coordinates before the final L2: P · (L2(v) − mean), outputDim of them. Accumulated in double. */
export function whitenProjection(whitening: Whitening, v: Float32Array): Float32Array {
  const { dim, outputDim, mean, projection } = whitening;
  if (v.length !== dim) throw new RangeError(`whitening expects ${dim}-d vectors, got ${v.length}`);
  const normalized = l2Normalize(v);
  const centred = new Float64Array(dim);
  for (let i = 0; i < dim; i++) centred[i] = normalized[i] - mean[i];
  const out = new Float32Array(outputDim);
  for (let k = 0; k < outputDim; k++) {
    out[k] = dotRange(projection, k * dim, centred, 0, dim);
  }
  return out;
}

/** Final descriptor: L2(P · (L2(v) − mean)), outputDim long. */
export function applyWhitening(whitening: Whitening, v: Float32Array): Float32Array {
  return l2Normalize(whitenProjection(whitening, v));
}

// ---- file format ------------------------------------------------------------------------------------------
// 'DASRWHT1' | uint32 LE header length | UTF-8 JSON header | float32 LE mean[d], eigenvalues[d], projection[k·d].
// The header is padded with spaces (still valid JSON) so the float data starts 4-byte aligned.
// Version 1 (no reduction only): header without outputDim, k = d. Version 2 (written now): header has
// outputDim = k. Both load; the magic stays, as the preamble did not change.

const MAGIC = 'DASRWHT1';
const FORMAT_VERSION = 2;
const READABLE_VERSIONS: readonly number[] = [1, 2];
const PREAMBLE_BYTES = MAGIC.length + 4;

interface WhiteningHeader {
  version: number;
  dim: number;
  /** version ≥ 2 */
  outputDim?: number;
  count: number;
  layer: string;
  epsilon: number;
  createdAt: string;
}

export function saveWhitening(whitening: Whitening, path: string): void {
  const { dim, outputDim, count, layer, epsilon, createdAt, mean, eigenvalues, projection } = whitening;
  if (!Number.isInteger(outputDim) || outputDim < 1 || outputDim > dim) {
    throw new RangeError(`saveWhitening: outputDim ${outputDim} is not in 1..${dim}`);
  }
  if (mean.length !== dim || eigenvalues.length !== dim || projection.length !== outputDim * dim) {
    throw new RangeError(`saveWhitening: array sizes do not match dim ${dim} and outputDim ${outputDim}`);
  }
  const header: WhiteningHeader = { version: FORMAT_VERSION, dim, outputDim, count, layer, epsilon, createdAt };
  let headerText = JSON.stringify(header);
  const unpadded = PREAMBLE_BYTES + Buffer.byteLength(headerText);
  headerText += ' '.repeat((4 - (unpadded % 4)) % 4);
  const headerBytes = Buffer.from(headerText, 'utf8');

  const file = Buffer.alloc(PREAMBLE_BYTES + headerBytes.length + 4 * (2 * dim + outputDim * dim));
  file.write(MAGIC, 0, 'latin1');
  file.writeUInt32LE(headerBytes.length, MAGIC.length);
  headerBytes.copy(file, PREAMBLE_BYTES);
  let offset = PREAMBLE_BYTES + headerBytes.length;
  for (const array of [mean, eigenvalues, projection]) {
    for (let i = 0; i < array.length; i++, offset += 4) file.writeFloatLE(array[i], offset);
  }
  // Write-then-rename so a crash never leaves a half-written file under the real name.
  const temporaryPath = `${path}.${process.pid}.tmp`;
  writeFileSync(temporaryPath, file);
  renameSync(temporaryPath, path);
}

export function loadWhitening(path: string): Whitening {
  const file = readFileSync(path);
  const fail = (reason: string): never => {
    throw new Error(`loadWhitening(${path}): ${reason}`);
  };
  if (file.length < PREAMBLE_BYTES) fail(`truncated file (${file.length} bytes, no complete preamble)`);
  if (file.toString('latin1', 0, MAGIC.length) !== MAGIC) fail(`not a whitening file (magic is not ${MAGIC})`);
  const headerLength = file.readUInt32LE(MAGIC.length);
  const dataStart = PREAMBLE_BYTES + headerLength;
  if (file.length < dataStart) fail(`truncated file (${file.length} bytes, header needs ${dataStart})`);

  let header: WhiteningHeader;
  try {
    header = JSON.parse(file.toString('utf8', PREAMBLE_BYTES, dataStart)) as WhiteningHeader;
  } catch (error) {
    return fail(`unreadable JSON header (${(error as Error).message})`);
  }
  if (!READABLE_VERSIONS.includes(header?.version)) {
    fail(`unsupported version ${String(header?.version)} (expected one of ${READABLE_VERSIONS.join(', ')})`);
  }
  const { dim, count, layer, epsilon, createdAt } = header;
  if (!Number.isInteger(dim) || dim < 1) fail(`invalid dim ${String(dim)}`);
  // Version 1 files predate dimension reduction: they keep every direction.
  const outputDim = header.version === 1 ? dim : header.outputDim;
  if (!Number.isInteger(outputDim) || outputDim! < 1 || outputDim! > dim) fail(`invalid outputDim ${String(outputDim)} for dim ${dim}`);
  if (!Number.isInteger(count) || count < 0) fail(`invalid count ${String(count)}`);
  if (typeof layer !== 'string' || typeof epsilon !== 'number' || typeof createdAt !== 'string') {
    fail('header lacks layer, epsilon or createdAt');
  }
  const k = outputDim!;
  const expectedLength = dataStart + 4 * (2 * dim + k * dim);
  if (file.length < expectedLength) fail(`truncated file (${file.length} bytes, dim ${dim} × ${k} needs ${expectedLength})`);
  if (file.length > expectedLength) fail(`${file.length - expectedLength} unexpected trailing bytes`);

  let offset = dataStart;
  const readFloats = (length: number): Float32Array => {
    const array = new Float32Array(length);
    for (let i = 0; i < length; i++, offset += 4) array[i] = file.readFloatLE(offset);
    return array;
  };
  const mean = readFloats(dim);
  const eigenvalues = readFloats(dim);
  const projection = readFloats(k * dim);
  return { dim, outputDim: k, count, layer, epsilon, createdAt, mean, eigenvalues, projection };
}
