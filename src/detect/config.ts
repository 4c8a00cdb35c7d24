/** What the DASR detector and descriptor can be told; every field has a default (DEFAULT_DASR_CONFIG). */
export interface DasrConfig {
  /** 'dasr' back-propagates peaks with R ≥ mean(R); 'dasr-star' (DASR*) every local maximum, then NMS. */
  variant: 'dasr' | 'dasr-star';
  /** The image is resized so its longer side has this many pixels before the network. */
  longSide: number;
  /**
   * Describe regions on a second forward pass at this long side (absent: on the detection's own pass). Peaks and
   * boxes still come from the pass at `longSide`; a finer feature map describes a small region with less of its
   * surroundings (queries are described at the same scale). Costs one forward at this size per keyframe, and frames
   * are decoded at this size. Absent from a resolved configuration unless it is larger than `longSide`, so that the
   * settings stored with indexed videos stay as they were without it.
   */
  poolLongSide?: number;
  /** IoU above which DASR* suppresses a lower-scored region (β); plain DASR applies no NMS. */
  nmsIou: number;
  /** Feature map pooled inside the box for the region descriptor. */
  poolingLayer: 'res5a' | 'res5c';
  /**
   * Which cells of that map a box pools, and how much of each. 'touched': every cell the box touches, whole (the
   * method's evaluation code, which takes a cell to begin at its top-left pixel where it is centred there: a box
   * gains up to a cell and a half of surroundings on the left and top). 'overlap': each cell weighted by the share
   * of its span under the box (roi-pool.ts, overlapPoolBox), so a box on cell boundaries pools exactly those cells,
   * a small box little more than itself.
   */
  poolingCells: 'touched' | 'overlap';
  /** At most this many peaks (highest R first) are back-propagated per image. */
  maxPeaks: number;
  /** Also index object regions: part regions whose salient areas touch, grouped (object-regions.ts). */
  objectRegions: boolean;
  /**
   * Also index each peak's wider extents: the tight bounds of the cells at or above each of these fractions of
   * its map's maximum (region-box.ts, boxAboveFraction), beside the part box; search returns whichever matches the
   * query best, a part or the whole object. Empty: the method as published.
   */
  extents: number[];
}

export const DEFAULT_DASR_CONFIG: DasrConfig = {
  variant: 'dasr-star',
  longSide: 512,
  nmsIou: 0.3,
  poolingLayer: 'res5a',
  // Measured on tracks-dev (README, Retrieval quality): localised mAP up in both query views.
  poolingCells: 'overlap',
  maxPeaks: 16,
  objectRegions: false,
  // Measured on tracks-dev (README, Retrieval quality): frame-level and crop-query mAP up, 2.25× the regions.
  extents: [0.3, 0.1],
};

/** The smallest input the network takes: res5 has stride 32, so a side below 32 px leaves no feature cell. */
export const MIN_INPUT_SIDE = 32;

/**
 * The long side regions and queries are described at, and frames decoded at: the pooling pass's (poolLongSide), or
 * the detection's own.
 */
export function poolingLongSide(config: Pick<DasrConfig, 'longSide' | 'poolLongSide'>): number {
  return config.poolLongSide ?? config.longSide;
}

export function resolveDasrConfig(partial: Partial<DasrConfig> = {}): DasrConfig {
  const config = { ...DEFAULT_DASR_CONFIG, ...definedOnly(partial) };
  if (config.variant !== 'dasr' && config.variant !== 'dasr-star') throw new RangeError(`variant must be dasr or dasr-star, got ${String(config.variant)}`);
  if (!Number.isInteger(config.longSide) || config.longSide < MIN_INPUT_SIDE || config.longSide > 4096) {
    throw new RangeError(`longSide must be an integer in [${MIN_INPUT_SIDE}, 4096], got ${config.longSide}`);
  }
  if (config.poolLongSide !== undefined) {
    if (!(Number.isInteger(config.poolLongSide) && config.poolLongSide >= config.longSide && config.poolLongSide <= 4096)) {
      throw new RangeError(`poolLongSide must be an integer in [longSide (${config.longSide}), 4096], got ${config.poolLongSide}`);
    }
    if (config.poolLongSide === config.longSide) delete config.poolLongSide;
  }
  if (!(config.nmsIou >= 0 && config.nmsIou <= 1)) throw new RangeError(`nmsIou must be in [0, 1], got ${config.nmsIou}`);
  if (config.poolingLayer !== 'res5a' && config.poolingLayer !== 'res5c') throw new RangeError(`poolingLayer must be res5a or res5c, got ${String(config.poolingLayer)}`);
  if (config.poolingCells !== 'touched' && config.poolingCells !== 'overlap') throw new RangeError(`poolingCells must be touched or overlap, got ${String(config.poolingCells)}`);
  if (!Number.isInteger(config.maxPeaks) || config.maxPeaks < 1) throw new RangeError(`maxPeaks must be a positive integer, got ${config.maxPeaks}`);
  if (typeof config.objectRegions !== 'boolean') throw new RangeError(`objectRegions must be true or false, got ${String(config.objectRegions)}`);
  if (!Array.isArray(config.extents) || !config.extents.every((f) => typeof f === 'number' && f > 0 && f < 1)) {
    throw new RangeError(`extents must be fractions in (0, 1), got ${String(config.extents)}`);
  }
  return config;
}

function definedOnly<T extends object>(partial: T): Partial<T> {
  return Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<T>;
}
