import { createHash } from 'node:crypto';
import { clipBox, scaleBox, type Box } from '../detect/box.js';
import { resolveDasrConfig, MIN_INPUT_SIDE, type DasrConfig } from '../detect/config.js';
import { cropAtFrameScale, Dasr } from '../detect/dasr.js';
import { averagePoolBox } from '../detect/roi-pool.js';
import { l2Normalize } from '../detect/vector.js';
import { applyWhitening, type Whitening } from '../detect/whitening.js';
import { assertMinimumSize, decodeImage, resizeLongSide, type DecodedImage } from '../image/load.js';
import { toCaffeTensor } from '../image/tensor.js';
import { RES5_STRIDE, type Backbone } from '../model/backbone.js';
import type { FeatureCache } from './feature-cache.js';

/** A database region as the evaluation sees it: a box in original image pixels and a unit descriptor. */
export interface EvalRegion {
  box: Box;
  feature: Float32Array;
  /** the index's track, for regions read back from an index (video mode); null when the tracker left it alone */
  trackId?: number | null;
}

export type MethodId = 'dasr' | 'dasr-star' | 'baseline';
export const METHOD_IDS: readonly MethodId[] = ['dasr', 'dasr-star', 'baseline'];

/** One retrieval method under evaluation: how it turns a database image into regions and a query into a vector. */
export interface EvalMethod {
  id: MethodId;
  /** as printed in tables: DASR, DASR*, BASELINE */
  name: string;
  /** identifies everything detect() and describe() outputs depend on, for on-disk caches (the post-step excluded) */
  cacheKey: string;
  /**
   * Applied to every descriptor AFTER the cache, on both sides (database regions and query vectors): the
   * whitening, learned and swapped without recomputing detections; null when descriptors are final as computed.
   */
  postprocess: ((feature: Float32Array) => Float32Array) | null;
  /** identifies the final descriptors (cacheKey and post-step): equals cacheKey when there is no post-step */
  key: string;
  /** settings, for reports */
  settings: Record<string, unknown>;
  /** the database side: regions of a whole image (descriptors before the post-step) */
  detect(image: DecodedImage): Promise<EvalRegion[]>;
  /** the query side: the descriptor of `box` (original pixels; the whole image when omitted), before the post-step */
  describe(image: DecodedImage, box?: Box): Promise<Float32Array>;
  /** the query side for a cut-out crop, described at its scale in frames of `frame`'s size (Dasr.describeCrop) */
  describeCrop(crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array>;
  /**
   * The detector, for methods that can index video through the real pipeline (its descriptors are final: it
   * applies the post-step itself, so features read back from its index are not post-processed again); null otherwise.
   */
  dasr: Dasr | null;
}

export const METHOD_NAMES: Record<MethodId, string> = { dasr: 'DASR', 'dasr-star': 'DASR*', baseline: 'BASELINE' };

/**
 * The methods compared by the evaluations. DASR and DASR* are the Dasr class with the given configuration, variant
 * forced; with a whitening, their detections and query vectors are computed (and cached) unwhitened, under the
 * unwhitened method's cache key, and whitened after the cache (withWhitening), so that a new whitening reuses every
 * cached detection. BASELINE is whole-frame retrieval: global average pooling of res5c over the whole frame (one
 * L2-normalised vector per frame, box = the whole frame), queried with the res5c average over the query box on the
 * same map (the query side of Dasr.describe, on res5c), at the same input size, never whitened.
 */
export function createEvalMethods(
  backbone: Backbone,
  config: Partial<DasrConfig> = {},
  whitening: Whitening | null = null,
  ids: readonly MethodId[] = METHOD_IDS,
): EvalMethod[] {
  return ids.map((id) => {
    if (id === 'baseline') return baselineMethod(backbone, resolveDasrConfig(config).longSide);
    const raw = dasrMethod(new Dasr(backbone, { ...config, variant: id }));
    // The whitening Dasr is only for the real pipeline (video mode); its constructor checks the whitening's layer.
    return whitening ? withWhitening(raw, whitening, new Dasr(backbone, { ...config, variant: id }, whitening)) : raw;
  });
}

/**
 * `method` with PCA-whitening as its post-step: same cacheKey (the raw descriptors stay cached and shared), the
 * whitening applied to database region features and query vectors after the cache. `dasr` is the detector for
 * the real pipeline, which must whiten by itself (null: no video mode).
 */
export function withWhitening(method: EvalMethod, whitening: Whitening, dasr: Dasr | null = null): EvalMethod {
  if (method.postprocess) throw new Error(`${method.name} already has a post-step`);
  const fingerprint = whiteningFingerprint(whitening);
  return {
    ...method,
    settings: { ...method.settings, whitening: fingerprint, whitenedAfterCache: true },
    key: hashJson({ cacheKey: method.cacheKey, whitening: fingerprint }),
    postprocess: (feature) => applyWhitening(whitening, feature),
    dasr,
  };
}

/** The method's final regions for `path`: raw regions through the cache (computed on a miss), then the post-step. */
export async function methodRegions(method: EvalMethod, cache: FeatureCache, path: string): Promise<EvalRegion[]> {
  const regions = await cache.regions(method.cacheKey, path, async () => method.detect(await decodeImage(path)));
  const post = method.postprocess;
  return post ? regions.map((r) => ({ box: r.box, feature: post(r.feature) })) : regions;
}

/**
 * The method's final query vector: the raw vector through the cache (`compute` on a miss; `box` and `view` key
 * it, see FeatureCache.vector), then the post-step.
 */
export async function methodVector(
  method: EvalMethod,
  cache: FeatureCache,
  path: string,
  box: Box | null,
  compute: () => Promise<Float32Array>,
  view?: string,
): Promise<Float32Array> {
  const vector = await cache.vector(method.cacheKey, path, box, compute, view);
  return method.postprocess ? method.postprocess(vector) : vector;
}

/**
 * A Dasr as an evaluation method, descriptors final as it computes them. `whiteningKey` is the fingerprint of the
 * whitening that `dasr` applies itself, if any (it is part of the cache key); prefer an unwhitened Dasr and
 * withWhitening, which shares cached detections across whitenings.
 */
export function dasrMethod(dasr: Dasr, whiteningKey: string | null = null): EvalMethod {
  const settings = { ...dasr.config, topDown: dasr.topDown, whitening: whiteningKey };
  const cacheKey = hashJson({ method: dasr.config.variant, ...settings });
  return {
    id: dasr.config.variant,
    name: METHOD_NAMES[dasr.config.variant],
    cacheKey,
    postprocess: null,
    key: cacheKey,
    settings,
    async detect(image) {
      const detection = await dasr.detect(image);
      return detection.regions.map((r) => ({ box: r.box, feature: r.feature }));
    },
    describe: (image, box) => dasr.describe(image, box),
    describeCrop: (crop, frame) => dasr.describeCrop(crop, frame),
    dasr,
  };
}

/**
 * The whole-frame baseline: res5c global average pooling. Its box queries pool every touched cell, whole, whatever
 * --pooling-cells says: it is the fixed reference the DASR rows are compared with.
 */
export function baselineMethod(backbone: Backbone, longSide: number): EvalMethod {
  const settings = { longSide, pooling: 'res5c', whole: 'global average pooling' };
  const cacheKey = hashJson({ method: 'baseline', ...settings });
  const pooled = async (image: DecodedImage, box: Box | undefined): Promise<Float32Array> => {
    assertMinimumSize(image, MIN_INPUT_SIDE);
    const resized = resizeLongSide(image, longSide);
    assertMinimumSize(resized, MIN_INPUT_SIDE);
    const { res5c } = await backbone.forward(toCaffeTensor(resized), resized.height, resized.width);
    const inputBox: Box = box
      ? scaleBox(clipBox(box, image.width, image.height), resized.width / image.width, resized.height / image.height)
      : [0, 0, resized.width, resized.height];
    return l2Normalize(averagePoolBox(res5c.data, res5c.channels, res5c.width, res5c.height, RES5_STRIDE, inputBox));
  };
  const pooledCrop = async (crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array> => {
    const canvas = cropAtFrameScale(crop, frame, longSide);
    if (!canvas) return pooled(crop, undefined);
    const { res5c } = await backbone.forward(canvas.tensor, canvas.height, canvas.width);
    return l2Normalize(averagePoolBox(res5c.data, res5c.channels, res5c.width, res5c.height, RES5_STRIDE, canvas.box));
  };
  return {
    id: 'baseline',
    name: METHOD_NAMES.baseline,
    cacheKey,
    postprocess: null,
    key: cacheKey,
    settings,
    async detect(image) {
      return [{ box: [0, 0, image.width, image.height], feature: await pooled(image, undefined) }];
    },
    describe: (image, box) => pooled(image, box),
    describeCrop: pooledCrop,
    dasr: null,
  };
}

/** Content hash of a whitening (its numbers, not its file name). */
export function whiteningFingerprint(whitening: Whitening): string {
  const hash = createHash('sha1');
  hash.update(JSON.stringify({ dim: whitening.dim, layer: whitening.layer, epsilon: whitening.epsilon }));
  for (const array of [whitening.mean, whitening.projection]) hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return hash.digest('hex').slice(0, 16);
}

export function hashJson(value: unknown): string {
  return createHash('sha1').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/** "dasr,dasr-star,baseline" (any subset, in any order) → method ids, duplicates dropped. */
export function parseMethodIds(list: string): MethodId[] {
  const ids = list.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = ids.filter((id) => !(METHOD_IDS as readonly string[]).includes(id));
  if (unknown.length || ids.length === 0) throw new RangeError(`methods must be a comma-separated subset of ${METHOD_IDS.join(',')}, got "${list}"`);
  return [...new Set(ids)] as MethodId[];
}
