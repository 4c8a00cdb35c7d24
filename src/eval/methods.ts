import { createHash } from 'node:crypto';
import { clipBox, scaleBox, type Box } from '../detect/box.js';
import { resolveDasrConfig, MIN_INPUT_SIDE, type DasrConfig } from '../detect/config.js';
import { Dasr } from '../detect/dasr.js';
import { averagePoolBox } from '../detect/roi-pool.js';
import { l2Normalize } from '../detect/vector.js';
import type { Whitening } from '../detect/whitening.js';
import { assertMinimumSize, resizeLongSide, type DecodedImage } from '../image/load.js';
import { toCaffeTensor } from '../image/tensor.js';
import { RES5_STRIDE, type Backbone } from '../model/backbone.js';

/** A database region as the evaluation sees it: a box in original image pixels and a unit descriptor. */
export interface EvalRegion {
  box: Box;
  feature: Float32Array;
}

export type MethodId = 'dasr' | 'dasr-star' | 'baseline';
export const METHOD_IDS: readonly MethodId[] = ['dasr', 'dasr-star', 'baseline'];

/** One retrieval method under evaluation: how it turns a database image into regions and a query into a vector. */
export interface EvalMethod {
  id: MethodId;
  /** as printed in tables: DASR, DASR*, BASELINE */
  name: string;
  /** identifies everything the method's outputs depend on (configuration, whitening), for on-disk caches */
  cacheKey: string;
  /** settings, for reports */
  settings: Record<string, unknown>;
  /** the database side: regions of a whole image */
  detect(image: DecodedImage): Promise<EvalRegion[]>;
  /** the query side: the descriptor of `box` (original pixels; the whole image when omitted) */
  describe(image: DecodedImage, box?: Box): Promise<Float32Array>;
  /** the detector, for methods that can index video through the real pipeline; null otherwise */
  dasr: Dasr | null;
}

export const METHOD_NAMES: Record<MethodId, string> = { dasr: 'DASR', 'dasr-star': 'DASR*', baseline: 'BASELINE' };

/**
 * The methods compared by the evaluations. DASR and DASR* are the Dasr class with the given configuration and
 * whitening, variant forced; BASELINE is whole-frame retrieval: global average pooling of res5c over the whole
 * frame (one L2-normalised vector per frame, box = the whole frame), queried with the res5c average over the query
 * box on the same map (the query side of Dasr.describe, on res5c), at the same input size, never whitened.
 */
export function createEvalMethods(
  backbone: Backbone,
  config: Partial<DasrConfig> = {},
  whitening: Whitening | null = null,
  ids: readonly MethodId[] = METHOD_IDS,
): EvalMethod[] {
  const whiteningKey = whitening ? whiteningFingerprint(whitening) : null;
  return ids.map((id) => {
    if (id === 'baseline') return baselineMethod(backbone, resolveDasrConfig(config).longSide);
    const dasr = new Dasr(backbone, { ...config, variant: id }, whitening);
    return dasrMethod(dasr, whiteningKey);
  });
}

export function dasrMethod(dasr: Dasr, whiteningKey: string | null = null): EvalMethod {
  const settings = { ...dasr.config, whitening: whiteningKey };
  return {
    id: dasr.config.variant,
    name: METHOD_NAMES[dasr.config.variant],
    cacheKey: hashJson({ method: dasr.config.variant, ...settings }),
    settings,
    async detect(image) {
      const detection = await dasr.detect(image);
      return detection.regions.map((r) => ({ box: r.box, feature: r.feature }));
    },
    describe: (image, box) => dasr.describe(image, box),
    dasr,
  };
}

export function baselineMethod(backbone: Backbone, longSide: number): EvalMethod {
  const settings = { longSide, pooling: 'res5c', whole: 'global average pooling' };
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
  return {
    id: 'baseline',
    name: METHOD_NAMES.baseline,
    cacheKey: hashJson({ method: 'baseline', ...settings }),
    settings,
    async detect(image) {
      return [{ box: [0, 0, image.width, image.height], feature: await pooled(image, undefined) }];
    },
    describe: (image, box) => pooled(image, box),
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
