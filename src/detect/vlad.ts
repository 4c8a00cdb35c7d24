/**
 * Image-level (shot) descriptors from DASR regions, aggregated over a codebook as the method's talk does with VLAD
 * (Jégou et al. 2010) for image search. A keyframe's region descriptors are projected on their top principal
 * directions (`local`), each is assigned to its nearest codeword, the projections are summed per codeword, and the
 * k·d concatenation is power-normalised (signed square root, which damps the bursts of near-identical regions a
 * still scene makes) and L2-normalised. A PCA-whitening of the result (`global`, optional) reduces it.
 *
 * Two choices differ from VLAD as published, both measured on tracks-dev and UKBench-56 with codebooks learned on
 * the collection searched (as `dasr shots learn` does by default):
 *  - per-codeword SUMS, not residuals to the codeword ('sum', default; 'residual' is VLAD). A keyframe has ~5 DASR*
 *    regions, not the thousands of SIFT descriptors VLAD was made for: two keyframes of one scene then share a
 *    codeword through one or two regions each, and their residuals around it point anywhere (similarity ≈ 0),
 *    while their sums keep what the regions have in common.
 *  - PCA without whitening of the regions (default). Whitening learned on the collection searched equalises its
 *    dominant directions, which are exactly what tells its scenes apart.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic-file.js';
import { kMeans, nearest } from './kmeans.js';
import { l2Normalize } from './vector.js';
import { applyWhitening, fitWhitening, type Whitening } from './whitening.js';

/** How a codeword's regions are aggregated: their projections summed, or (VLAD) their residuals to the codeword. */
export type VladAggregate = 'sum' | 'residual';
export const VLAD_AGGREGATES: readonly VladAggregate[] = ['sum', 'residual'];

export interface VladCodebook {
  /** region descriptor dimension it takes (the index's) */
  dim: number;
  /** PCA projection (whitened or not) of region descriptors, dim → local.outputDim */
  local: Whitening;
  aggregate: VladAggregate;
  /** number of codewords */
  k: number;
  /** k × local.outputDim row-major */
  centroids: Float32Array;
  /** PCA-whitening of the normalised VLAD, k·local.outputDim → global.outputDim; null: the VLAD is final */
  global: Whitening | null;
  /** training: regions clustered and images (region sets) aggregated */
  regions: number;
  images: number;
  createdAt: string;
}

export interface VladOptions {
  /** codewords (default 16) */
  k?: number;
  /** dimensions of a region after the local PCA (default DEFAULT_VLAD_LOCAL_DIMS) */
  localDims?: number;
  /** dimensions after the global PCA-whitening; null (default) keeps the k·localDims VLAD */
  outputDims?: number | null;
  /** k-means seed (default 1) */
  seed?: number;
  /** default 'sum' */
  aggregate?: VladAggregate;
  /** PCA-whiten the regions rather than only project them (default false) */
  whitenRegions?: boolean;
}

export const DEFAULT_VLAD_K = 16;
export const DEFAULT_VLAD_LOCAL_DIMS = 64;

/** The final descriptor length of `codebook`'s VLADs. */
export function vladDim(codebook: VladCodebook): number {
  return codebook.global ? codebook.global.outputDim : codebook.k * codebook.local.outputDim;
}

/**
 * Learns a codebook from training images, each given as its region descriptors. Images without regions are
 * skipped. The local PCA keeps at most regions − 1 directions (what n vectors span), the global one at most
 * images − 1.
 */
export function fitVladCodebook(images: readonly (readonly Float32Array[])[], options: VladOptions = {}): VladCodebook {
  const used = images.filter((regions) => regions.length > 0);
  const regions = used.flat();
  const k = options.k ?? DEFAULT_VLAD_K;
  const localDims = options.localDims ?? DEFAULT_VLAD_LOCAL_DIMS;
  if (regions.length < 2) throw new RangeError(`a VLAD codebook needs at least 2 regions, got ${regions.length}`);
  const dim = regions[0]!.length;
  if (!Number.isInteger(localDims) || localDims < 1 || localDims > dim || localDims >= regions.length) {
    throw new RangeError(`local dimensions must be an integer from 1 to ${Math.min(dim, regions.length - 1)} (the regions' dimension, and fewer than the ${regions.length} regions), got ${localDims}`);
  }
  if (!Number.isInteger(k) || k < 1 || k > regions.length) {
    throw new RangeError(`k must be an integer from 1 to the ${regions.length} training regions, got ${k}`);
  }
  const aggregate = options.aggregate ?? 'sum';
  if (!VLAD_AGGREGATES.includes(aggregate)) throw new RangeError(`aggregate must be one of ${VLAD_AGGREGATES.join(', ')}, got ${String(aggregate)}`);
  const local = fitWhitening(regions, { dims: localDims, whiten: options.whitenRegions ?? false });
  const packed = new Float32Array(regions.length * localDims);
  regions.forEach((region, i) => packed.set(applyWhitening(local, region), i * localDims));
  const { centroids } = kMeans(packed, localDims, k, { seed: options.seed });
  const codebook: VladCodebook = { dim, local, aggregate, k, centroids, global: null, regions: regions.length, images: used.length, createdAt: new Date().toISOString() };

  const outputDims = options.outputDims ?? null;
  if (outputDims !== null) {
    const vladLength = k * localDims;
    if (!Number.isInteger(outputDims) || outputDims < 1 || outputDims > vladLength || outputDims >= used.length) {
      throw new RangeError(`output dimensions must be an integer from 1 to ${Math.min(vladLength, used.length - 1)} (the VLAD's ${vladLength}, and fewer than the ${used.length} training images), got ${outputDims}`);
    }
    codebook.global = fitWhitening(used.map((set) => encodeVlad(codebook, set)!), { dims: outputDims });
  }
  return codebook;
}

/** The shot descriptor of one image's region descriptors; null when it has none (an empty set has no direction). */
export function encodeVlad(codebook: VladCodebook, regions: readonly Float32Array[]): Float32Array | null {
  if (regions.length === 0) return null;
  const { k, centroids, local } = codebook;
  const d = local.outputDim;
  const residual = codebook.aggregate === 'residual';
  const sums = new Float64Array(k * d);
  for (const region of regions) {
    const x = applyWhitening(local, region);
    const c = nearest(x, 0, centroids, k, d).index;
    for (let j = 0; j < d; j++) sums[c * d + j] += residual ? x[j]! - centroids[c * d + j]! : x[j]!;
  }
  const vlad = new Float32Array(k * d);
  for (let i = 0; i < vlad.length; i++) vlad[i] = Math.sign(sums[i]!) * Math.sqrt(Math.abs(sums[i]!));
  return codebook.global ? applyWhitening(codebook.global, vlad) : l2Normalize(vlad);
}

// ---- file format ------------------------------------------------------------------------------------------
// 'DASRVLD1' | uint32 LE header length | UTF-8 JSON header (space-padded to 4 bytes) | float32 LE arrays in the
// header's order: local mean, eigenvalues, projection; centroids; then, with a global whitening, its mean,
// eigenvalues, projection. Written whole or not at all (write-then-rename).

const MAGIC = 'DASRVLD1';
const FORMAT_VERSION = 1;
const PREAMBLE_BYTES = MAGIC.length + 4;

interface WhiteningHeader {
  dim: number;
  outputDim: number;
  count: number;
  epsilon: number;
  layer: string;
  createdAt: string;
}

interface VladHeader {
  version: number;
  dim: number;
  aggregate: VladAggregate;
  k: number;
  regions: number;
  images: number;
  createdAt: string;
  local: WhiteningHeader;
  global: WhiteningHeader | null;
}

function whiteningHeader(w: Whitening): WhiteningHeader {
  return { dim: w.dim, outputDim: w.outputDim, count: w.count, epsilon: w.epsilon, layer: w.layer, createdAt: w.createdAt };
}

function whiteningArrays(w: Whitening): Float32Array[] {
  return [w.mean, w.eigenvalues, w.projection];
}

export async function saveVladCodebook(codebook: VladCodebook, path: string): Promise<void> {
  await writeFileAtomic(path, serializeVladCodebook(codebook));
}

/** The codebook as its file's bytes. */
export function serializeVladCodebook(codebook: VladCodebook): Buffer {
  const header: VladHeader = {
    version: FORMAT_VERSION,
    dim: codebook.dim,
    aggregate: codebook.aggregate,
    k: codebook.k,
    regions: codebook.regions,
    images: codebook.images,
    createdAt: codebook.createdAt,
    local: whiteningHeader(codebook.local),
    global: codebook.global && whiteningHeader(codebook.global),
  };
  const arrays = [...whiteningArrays(codebook.local), codebook.centroids, ...(codebook.global ? whiteningArrays(codebook.global) : [])];
  let headerText = JSON.stringify(header);
  headerText += ' '.repeat((4 - ((PREAMBLE_BYTES + Buffer.byteLength(headerText)) % 4)) % 4);
  const headerBytes = Buffer.from(headerText, 'utf8');
  const floats = arrays.reduce((n, a) => n + a.length, 0);
  const file = Buffer.alloc(PREAMBLE_BYTES + headerBytes.length + 4 * floats);
  file.write(MAGIC, 0, 'latin1');
  file.writeUInt32LE(headerBytes.length, MAGIC.length);
  headerBytes.copy(file, PREAMBLE_BYTES);
  let offset = PREAMBLE_BYTES + headerBytes.length;
  for (const array of arrays) for (let i = 0; i < array.length; i++, offset += 4) file.writeFloatLE(array[i]!, offset);
  return file;
}

export function loadVladCodebook(path: string): VladCodebook {
  return parseVladCodebook(readFileSync(path), path);
}

/** A codebook from its file's bytes; `name` says which file in errors. */
export function parseVladCodebook(file: Buffer, name: string): VladCodebook {
  const fail = (reason: string): never => {
    throw new Error(`${name} is not a usable VLAD codebook: ${reason}`);
  };
  if (file.length < PREAMBLE_BYTES || file.toString('latin1', 0, MAGIC.length) !== MAGIC) fail(`it does not start with ${MAGIC}`);
  const dataStart = PREAMBLE_BYTES + file.readUInt32LE(MAGIC.length);
  if (file.length < dataStart) fail('the header is truncated');
  let header: VladHeader;
  try {
    header = JSON.parse(file.toString('utf8', PREAMBLE_BYTES, dataStart)) as VladHeader;
  } catch (error) {
    return fail(`unreadable header (${(error as Error).message})`);
  }
  if (header?.version !== FORMAT_VERSION) fail(`unsupported version ${String(header?.version)} (this program reads ${FORMAT_VERSION})`);
  const { dim, k, local, global, aggregate } = header;
  if (!VLAD_AGGREGATES.includes(aggregate)) fail(`unknown aggregate ${String(aggregate)}`);
  const positive = (n: unknown): boolean => Number.isInteger(n) && (n as number) > 0;
  if (!positive(dim) || !positive(k) || !positive(local?.outputDim) || local.dim !== dim || local.outputDim > dim) fail('inconsistent dimensions');
  const vladLength = k * local.outputDim;
  if (global && (global.dim !== vladLength || !positive(global.outputDim) || global.outputDim > vladLength)) fail('inconsistent global dimensions');
  const expected = dataStart + 4 * (2 * dim + local.outputDim * dim + vladLength + (global ? 2 * vladLength + global.outputDim * vladLength : 0));
  if (file.length !== expected) fail(`${file.length} bytes where its header needs ${expected}`);

  let offset = dataStart;
  const read = (length: number): Float32Array => {
    const array = new Float32Array(length);
    for (let i = 0; i < length; i++, offset += 4) array[i] = file.readFloatLE(offset);
    return array;
  };
  const readWhitening = (h: WhiteningHeader): Whitening => ({ ...h, mean: read(h.dim), eigenvalues: read(h.dim), projection: read(h.outputDim * h.dim) });
  const localWhitening = readWhitening(local);
  const centroids = read(vladLength);
  return {
    dim,
    local: localWhitening,
    aggregate,
    k,
    centroids,
    global: global ? readWhitening(global) : null,
    regions: header.regions,
    images: header.images,
    createdAt: header.createdAt,
  };
}
