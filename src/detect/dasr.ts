import { performance } from 'node:perf_hooks';
import { assertMinimumSize, resizeLongSide, type DecodedImage } from '../image/load.js';
import { toCaffeTensor } from '../image/tensor.js';
import { RES5_STRIDE, type Backbone, type BackboneOutputs, type FeatureMap, type PeakRule } from '../model/backbone.js';
import type { TopDownLevel } from '../model/provision.js';
import { clipBox, iou, scaleBox, type Box } from './box.js';
import { MIN_INPUT_SIDE, poolingLongSide, resolveDasrConfig, type DasrConfig } from './config.js';
import { nonMaximumSuppression } from './nms.js';
import { groupObjects } from './object-regions.js';
import { boxAboveFraction, boxFromSaliency, SALIENT_PERCENTILE } from './region-box.js';
import { averagePoolBox, cellOrigin, overlapPoolBox } from './roi-pool.js';
import { applyWhitening, type Whitening } from './whitening.js';
import { l2Normalize } from './vector.js';

export interface Region {
  /** [x1, y1, x2, y2] in original image pixels */
  box: Box;
  /** R at the peak the region grew from */
  score: number;
  /** the peak's cell centre, in original image pixels */
  peak: [number, number];
  /** L2-normalised (and whitened, when a whitening is set) descriptor, Dasr.featureDim long */
  feature: Float32Array;
  /**
   * For a wider extent of a peak (DasrConfig.extents): the index, in the same detection, of the earlier region grown
   * from the same peak. It is the same object at another level, so it takes that region's track.
   */
  widens?: number;
}

export interface DetectionTimings {
  /** the one model run (forward, peaks and the top-down pass), and the pooling pass's forward when there is one */
  networkMs: number;
  boxesMs: number;
  poolingMs: number;
}

export interface Detection {
  image: { width: number; height: number };
  /** the network input size the image was resized to */
  input: { width: number; height: number };
  peaks: number;
  regions: Region[];
  timings: DetectionTimings;
}

export class DasrInputError extends Error {
  override name = 'DasrInputError';
  constructor(
    readonly code: 'box-outside-image' | 'empty-box' | 'invalid-box' | 'box-too-small' | 'no-object',
    message: string,
  ) {
    super(message);
  }
}

/** One image prepared for the network: its resized copy and the scale back to original pixels. */
interface PreparedImage {
  original: { width: number; height: number };
  width: number;
  height: number;
  tensor: Float32Array;
}

/** IoU above which an object region is taken to be a part region already found. */
const SAME_REGION_IOU = 0.7;

/** Channels of ResNet-50's res5a and res5c maps: the length of an unwhitened DASR descriptor. */
export const BACKBONE_FEATURE_DIM = 2048;

/** The DASR detector/descriptor over a loaded backbone. Stateless apart from its configuration. */
export class Dasr {
  readonly config: DasrConfig;
  /** length of every descriptor it outputs: the backbone's channels, or a whitening's (reduced) output dimension */
  readonly featureDim: number;

  constructor(
    private readonly backbone: Backbone,
    config: Partial<DasrConfig> = {},
    private readonly whitening: Whitening | null = null,
  ) {
    this.config = resolveDasrConfig(config);
    if (whitening && whitening.layer !== this.config.poolingLayer) {
      throw new RangeError(`the whitening was learned on ${whitening.layer} features but regions are pooled on ${this.config.poolingLayer}`);
    }
    if (whitening && whitening.dim !== BACKBONE_FEATURE_DIM) {
      throw new RangeError(`the whitening was learned on ${whitening.dim}-d features but the backbone's are ${BACKBONE_FEATURE_DIM}-d`);
    }
    this.featureDim = whitening ? whitening.outputDim : BACKBONE_FEATURE_DIM;
  }

  /** where this detector's top-down pass stops (a property of the loaded model) */
  get topDown(): TopDownLevel {
    return this.backbone.topDown;
  }

  /** Which peaks seed the top-down pass: plain DASR keeps only those with R ≥ mean(R). */
  get peakRule(): PeakRule {
    return { maxPeaks: this.config.maxPeaks, aboveMean: this.config.variant === 'dasr' };
  }

  /** Localises class-agnostic instances and describes each one. An image without peaks gives no regions. */
  async detect(image: DecodedImage): Promise<Detection> {
    const prepared = this.prepare(image);
    let t = performance.now();
    const outputs = await this.backbone.detect(prepared.tensor, prepared.height, prepared.width, this.peakRule);
    const networkMs = performance.now() - t;

    t = performance.now();
    const { peaks, saliency, saliencyWidth, saliencyHeight, saliencyStride } = outputs;
    const plane = saliencyWidth * saliencyHeight;
    const maps = peaks.map((_, k) => saliency.subarray(k * plane, (k + 1) * plane));
    let candidates = peaks.flatMap((peak, k) => {
      const cellBox = boxFromSaliency(maps[k]!, saliencyWidth, saliencyHeight);
      return cellBox ? [{ box: cellBoxToPixels(cellBox, saliencyStride, prepared.width, prepared.height), score: peak.score, peak }] : [];
    });
    if (this.config.variant === 'dasr-star') candidates = nonMaximumSuppression(candidates, this.config.nmsIou);
    const partCount = candidates.length;
    for (const fraction of this.config.extents) {
      const wider = peaks.flatMap((peak, k) => {
        const cellBox = boxAboveFraction(maps[k]!, saliencyWidth, saliencyHeight, fraction);
        return cellBox ? [{ box: cellBoxToPixels(cellBox, saliencyStride, prepared.width, prepared.height), score: peak.score, peak }] : [];
      });
      const level = this.config.variant === 'dasr-star' ? nonMaximumSuppression(wider, this.config.nmsIou) : wider;
      // A wider box that is nearly one already kept is that region again.
      candidates = [...candidates, ...level.filter((w) => candidates.every((c) => iou(c.box, w.box) < SAME_REGION_IOU))];
    }
    const extentCount = candidates.length - partCount;
    if (this.config.objectRegions) {
      const objects = groupObjects(maps, saliencyWidth, saliencyHeight, SALIENT_PERCENTILE).map((group) => {
        const strongest = group.members.reduce((best, k) => (peaks[k]!.score > peaks[best]!.score ? k : best));
        return { box: cellBoxToPixels(group.box, saliencyStride, prepared.width, prepared.height), score: peaks[strongest]!.score, peak: peaks[strongest]! };
      });
      // An object box that is nearly a part's box is that region again.
      const distinct = nonMaximumSuppression(objects, this.config.nmsIou).filter((o) => candidates.every((c) => iou(c.box, o.box) < SAME_REGION_IOU));
      candidates = [...candidates, ...distinct];
    }
    const boxesMs = performance.now() - t;

    t = performance.now();
    // Nothing to describe, no second pass.
    const pooling = candidates.length > 0 ? await this.poolingPass(image, prepared, outputs) : null;
    const poolMs = performance.now() - t;

    t = performance.now();
    const sx = prepared.original.width / prepared.width;
    const sy = prepared.original.height / prepared.height;
    const regions = candidates.map(({ box, score, peak }, i): Region => {
      const region: Region = {
        box: clipBox(scaleBox(box, sx, sy), prepared.original.width, prepared.original.height),
        score,
        peak: [((peak.x + 0.5) * RES5_STRIDE) * sx, ((peak.y + 0.5) * RES5_STRIDE) * sy] as [number, number],
        feature: this.describePooled(pooling!.map, pooling!.input, scaleBox(box, pooling!.scaleX, pooling!.scaleY)),
      };
      if (i >= partCount && i < partCount + extentCount) {
        const first = candidates.findIndex((c) => c.peak === peak);
        if (first < i) region.widens = first;
      }
      return region;
    });
    const poolingMs = performance.now() - t;

    return {
      image: prepared.original,
      input: { width: prepared.width, height: prepared.height },
      peaks: peaks.length,
      regions,
      timings: { networkMs: networkMs + poolMs, boxesMs, poolingMs },
    };
  }

  /**
   * The query descriptor: the whole image goes through the network and the box (original pixels; the whole
   * image when omitted, i.e. a crop) is pooled on that map, exactly as database regions are.
   */
  async describe(image: DecodedImage, box?: Box): Promise<Float32Array> {
    const prepared = this.prepare(image, poolingLongSide(this.config));
    const region = box ?? ([0, 0, image.width, image.height] as Box);
    assertQueryRegion(image, region, `box [${region.join(', ')}]`);
    const outputs = await this.backbone.forward(prepared.tensor, prepared.height, prepared.width);
    const inputBox = scaleBox(clipBox(region, image.width, image.height), prepared.width / image.width, prepared.height / image.height);
    return this.describePooled(this.poolingMap(outputs), prepared, inputBox);
  }

  /**
   * The descriptor of a cut-out crop of an object, described at the scale it has in the frames it will be
   * compared with (`frame`: their size in pixels, the crop's pixels taken as theirs). A region in a frame is
   * pooled on a map where the object has that frame's network scale; resizing the crop alone to the network's
   * long side would make a small object many times larger than any of its regions. The crop is pasted at the
   * centre of a neutral (zero after normalisation) canvas of the frame's network size and its box pooled there,
   * so a 16-px crop is as valid a query as a large one. A crop as large as such a frame is described as a
   * whole image.
   */
  async describeCrop(crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array> {
    const canvas = cropAtFrameScale(crop, frame, poolingLongSide(this.config));
    if (!canvas) return this.describe(crop);
    assertQueryRegion(crop, [0, 0, crop.width, crop.height], `the ${crop.width}×${crop.height} crop`); // refuses crops under MIN_QUERY_BOX_SIDE
    const outputs = await this.backbone.forward(canvas.tensor, canvas.height, canvas.width);
    return this.describePooled(this.poolingMap(outputs), canvas, canvas.box);
  }

  private prepare(image: DecodedImage, longSide = this.config.longSide): PreparedImage {
    // Upscaling a thumbnail to the network size would invent detail, so the original must be big enough too.
    assertMinimumSize(image, MIN_INPUT_SIDE);
    const resized = resizeLongSide(image, longSide);
    assertMinimumSize(resized, MIN_INPUT_SIDE);
    return { original: { width: image.width, height: image.height }, width: resized.width, height: resized.height, tensor: toCaffeTensor(resized) };
  }

  private poolingMap(outputs: Pick<BackboneOutputs, 'res5a' | 'res5c'>): FeatureMap {
    return outputs[this.config.poolingLayer];
  }

  /**
   * The map a detection's regions are pooled on, and the factors from the detection's input pixels to that map's
   * input: the detection's own pass, or a forward at poolLongSide.
   */
  private async poolingPass(image: DecodedImage, detected: PreparedImage, outputs: Pick<BackboneOutputs, 'res5a' | 'res5c'>): Promise<{ map: FeatureMap; input: { width: number; height: number }; scaleX: number; scaleY: number }> {
    if (this.config.poolLongSide === undefined) return { map: this.poolingMap(outputs), input: detected, scaleX: 1, scaleY: 1 };
    const fine = this.prepare(image, this.config.poolLongSide);
    const map = this.poolingMap(await this.backbone.forward(fine.tensor, fine.height, fine.width));
    return { map, input: fine, scaleX: fine.width / detected.width, scaleY: fine.height / detected.height };
  }

  /** L2 → optional PCA-whitening (which ends with its own L2) of the box's average-pooled features; `input`: the map's network input size. */
  private describePooled(map: FeatureMap, input: { width: number; height: number }, inputBox: Box): Float32Array {
    const pooled =
      this.config.poolingCells === 'overlap'
        ? overlapPoolBox(map.data, map.channels, map.width, map.height, RES5_STRIDE, input, inputBox)
        : averagePoolBox(map.data, map.channels, map.width, map.height, RES5_STRIDE, inputBox);
    return this.whitening ? applyWhitening(this.whitening, pooled) : l2Normalize(pooled);
  }
}

/** A network input with a crop pasted at its frame scale, and the crop's box on it. */
export interface CropCanvas {
  tensor: Float32Array;
  width: number;
  height: number;
  box: Box;
}

/**
 * The network input of a frame of `frame`'s size at `longSide`, neutral (zeros after normalisation: the ImageNet
 * mean colour) but for the crop, resized by the same factor and pasted at the centre. Null when the crop at that
 * scale would be as large as the frame: it is then a frame itself.
 */
export function cropAtFrameScale(crop: DecodedImage, frame: { width: number; height: number }, longSide: number): CropCanvas | null {
  if (!(frame.width >= MIN_INPUT_SIDE && frame.height >= MIN_INPUT_SIDE)) throw new RangeError(`the frame size must be at least ${MIN_INPUT_SIDE} px a side, got ${frame.width}×${frame.height}`);
  const scale = longSide / Math.max(frame.width, frame.height);
  const width = Math.round(frame.width * scale);
  const height = Math.round(frame.height * scale);
  const resized = resizeLongSide(crop, Math.max(1, Math.round(Math.max(crop.width, crop.height) * scale)));
  if (resized.width >= width || resized.height >= height) return null;
  const x0 = Math.floor((width - resized.width) / 2);
  const y0 = Math.floor((height - resized.height) / 2);
  const pixels = toCaffeTensor(resized);
  const tensor = new Float32Array(3 * width * height);
  for (let c = 0; c < 3; c++) {
    for (let y = 0; y < resized.height; y++) {
      const from = (c * resized.height + y) * resized.width;
      tensor.set(pixels.subarray(from, from + resized.width), (c * height + y0 + y) * width + x0);
    }
  }
  return { tensor, width, height, box: [x0, y0, x0 + resized.width, y0 + resized.height] };
}

/**
 * A box on a saliency map of `stride` input pixels per cell (cell coordinates, centres at i + 0.5) in input
 * pixels: cell i of a stride-s map of this ResNet sits over input pixel s·i (cellOrigin).
 */
export function cellBoxToPixels(box: Box, stride: number, width: number, height: number): Box {
  if (stride === 1) return box;
  const offset = cellOrigin(stride);
  return clipBox([box[0] * stride + offset, box[1] * stride + offset, box[2] * stride + offset, box[3] * stride + offset], width, height);
}

/**
 * Standard deviation (0–255 grey levels) under which a query box counts as a flat colour. The network
 * answers even a blank image (padding and biases make peaks), so emptiness is judged on the pixels.
 */
export const MIN_QUERY_PIXEL_SPREAD = 2;

/** Standard deviation of the mean-of-RGB intensity inside a box (original pixels). */
function pixelSpread(image: DecodedImage, box: Box): number {
  const x0 = Math.floor(box[0]);
  const y0 = Math.floor(box[1]);
  const x1 = Math.ceil(box[2]);
  const y1 = Math.ceil(box[3]);
  let n = 0;
  let sum = 0;
  let sumSquares = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * image.width + x) * 3;
      const v = (image.data[i]! + image.data[i + 1]! + image.data[i + 2]!) / 3;
      n++;
      sum += v;
      sumSquares += v * v;
    }
  }
  const mean = sum / n;
  return Math.sqrt(Math.max(0, sumSquares / n - mean * mean));
}

/** Below this a box covers a fraction of one res5 cell even after upscaling: nothing meaningful to describe. */
export const MIN_QUERY_BOX_SIDE = 8;

function validateBox(box: Box, width: number, height: number): void {
  if (box.length !== 4 || !box.every(Number.isFinite)) throw new DasrInputError('invalid-box', `a box needs four finite numbers, got [${box.join(', ')}]`);
  const [x1, y1, x2, y2] = box;
  if (x2 <= x1 || y2 <= y1) throw new DasrInputError('empty-box', `box [${box.join(', ')}] has no area (x2 must exceed x1 and y2 exceed y1)`);
  if (x2 <= 0 || y2 <= 0 || x1 >= width || y1 >= height) {
    throw new DasrInputError('box-outside-image', `box [${box.join(', ')}] lies outside the ${width}×${height} image`);
  }
  const [cx1, cy1, cx2, cy2] = clipBox(box, width, height);
  if (cx2 - cx1 < MIN_QUERY_BOX_SIDE || cy2 - cy1 < MIN_QUERY_BOX_SIDE) {
    throw new DasrInputError(
      'box-too-small',
      `box [${box.join(', ')}] is ${(cx2 - cx1).toFixed(0)}×${(cy2 - cy1).toFixed(0)} px inside the image; a query needs at least ${MIN_QUERY_BOX_SIDE}×${MIN_QUERY_BOX_SIDE} px (DASR is unreliable below 32×32)`,
    );
  }
}

/** A query region must be a valid box of the image with some contrast in it: a flat colour holds no object. */
function assertQueryRegion(image: DecodedImage, region: Box, named: string): void {
  validateBox(region, image.width, image.height);
  if (pixelSpread(image, clipBox(region, image.width, image.height)) < MIN_QUERY_PIXEL_SPREAD) {
    throw new DasrInputError('no-object', `${named} is a flat colour: there is no object to search for in it`);
  }
}
