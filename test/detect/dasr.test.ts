import { beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Backbone } from '../../src/model/backbone.js';
import { Dasr, DasrInputError } from '../../src/detect/dasr.js';
import { cropImage, decodeImage, type DecodedImage } from '../../src/image/load.js';
import { ImageInputError } from '../../src/image/errors.js';
import { iou, type Box } from '../../src/detect/box.js';
import { dot } from '../../src/detect/vector.js';
import { applyWhitening, type Whitening } from '../../src/detect/whitening.js';
import { l2Normalize } from '../../src/detect/vector.js';
import { detectionJson } from '../../src/cli/detect.js';
import { createLogger } from '../../src/log.js';

const photo = (name: string): string => fileURLToPath(new URL(`../../fixtures/photos/${name}`, import.meta.url));
/** The espresso cup's body in coffee.png (600×400), outlined by hand. */
const CUP_BOX: Box = [175, 15, 410, 260];

function uniformImage(width: number, height: number, value: number): DecodedImage {
  return { width, height, data: Buffer.alloc(width * height * 3, value) };
}

const norm = (v: Float32Array): number => Math.sqrt(dot(v, v));
const quiet = createLogger('error');

describe('DASR on the real ResNet-50', () => {
  let backbone: Backbone;
  let coffee: DecodedImage;
  beforeAll(async () => {
    backbone = await Backbone.load();
    coffee = await decodeImage(photo('coffee.png'));
  });

  it('finds the espresso cup in coffee.png, with unit descriptors and boxes in original pixels', async () => {
    // the part regions, as published (the wider extents have their own test)
    const dasr = new Dasr(backbone, { variant: 'dasr-star', longSide: 384, extents: [] });
    const detection = await dasr.detect(coffee);
    expect(detection.image).toEqual({ width: 600, height: 400 });
    expect(detection.input).toEqual({ width: 384, height: 256 });
    expect(detection.regions.length).toBeGreaterThan(0);
    for (const region of detection.regions) {
      const [x1, y1, x2, y2] = region.box;
      expect(x1).toBeGreaterThanOrEqual(0);
      expect(y1).toBeGreaterThanOrEqual(0);
      expect(x2).toBeLessThanOrEqual(600);
      expect(y2).toBeLessThanOrEqual(400);
      expect(x2 - x1).toBeGreaterThan(0);
      expect(region.feature).toHaveLength(2048);
      expect(norm(region.feature)).toBeCloseTo(1, 5);
    }
    // the strongest region is on the cup (its box centre inside the cup's outline)
    const [x1, y1, x2, y2] = detection.regions[0]!.box;
    expect((x1 + x2) / 2).toBeGreaterThan(CUP_BOX[0]);
    expect((x1 + x2) / 2).toBeLessThan(CUP_BOX[2]);
    expect((y1 + y2) / 2).toBeGreaterThan(CUP_BOX[1]);
    expect((y1 + y2) / 2).toBeLessThan(CUP_BOX[3]);
    expect(iou(detection.regions[0]!.box, CUP_BOX)).toBeGreaterThanOrEqual(0.25);
    // DASR* regions never overlap more than β after NMS.
    for (const [i, a] of detection.regions.entries())
      for (const b of detection.regions.slice(i + 1)) expect(iou(a.box, b.box)).toBeLessThanOrEqual(0.3);
  });

  it('with the full top-down pass to the pixels (the method as published), outlines the cup with IoU ≥ 0.4; the default early stop keeps its peaks, boxes and descriptors', async () => {
    const full = await Backbone.load({ topDown: 'full', logger: quiet });
    try {
      const reference = await new Dasr(full, { variant: 'dasr', longSide: 384, extents: [] }).detect(coffee);
      expect(Math.max(...reference.regions.map((r) => iou(r.box, CUP_BOX)))).toBeGreaterThanOrEqual(0.4);
      // at the product's input size
      const faithful = new Dasr(full, { variant: 'dasr', longSide: 512, extents: [] });
      const fast = new Dasr(backbone, { variant: 'dasr', longSide: 512, extents: [] });
      const chelsea = await decodeImage(photo('chelsea.png'));
      const ious: number[] = [];
      const cosines: number[] = [];
      for (const image of [coffee, chelsea]) {
        const [a, b] = [await faithful.detect(image), await fast.detect(image)];
        // the same peaks (they come from the forward); plain DASR has no NMS, so regions pair up peak by peak
        expect(b.peaks).toBe(a.peaks);
        expect(b.regions).toHaveLength(a.regions.length);
        b.regions.forEach((r, i) => expect(r.score).toBeCloseTo(a.regions[i]!.score, 5));
        a.regions.forEach((region, i) => {
          ious.push(iou(region.box, b.regions[i]!.box));
          cosines.push(dot(region.feature, b.regions[i]!.feature));
        });
      }
      const mean = (values: number[]) => values.reduce((x, y) => x + y, 0) / values.length;
      // measured 0.59 and 0.96 (min 0.90); over 32 photos and tracks-dev frames the box IoU is 0.67 (bench topdown)
      expect(mean(ious)).toBeGreaterThan(0.5);
      expect(mean(cosines)).toBeGreaterThan(0.95);
      expect(Math.min(...cosines)).toBeGreaterThan(0.85);
    } finally {
      await full.release();
    }
  });

  it('with extents, adds wider boxes of each peak beside the part regions, none a near-copy of another', async () => {
    const parts = await new Dasr(backbone, { longSide: 384, extents: [] }).detect(coffee);
    const withExtents = await new Dasr(backbone, { longSide: 384, extents: [0.3, 0.1] }).detect(coffee);
    // The part regions come first, unchanged.
    expect(withExtents.regions.slice(0, parts.regions.length)).toEqual(parts.regions);
    const wider = withExtents.regions.slice(parts.regions.length);
    expect(wider.length).toBeGreaterThan(0);
    // Each wider box names the earlier region of its peak (whose track it takes); a part region names none.
    expect(parts.regions.every((r) => r.widens === undefined)).toBe(true);
    expect(wider.filter((r) => r.widens !== undefined).length).toBeGreaterThan(0);
    wider.forEach((r, k) => {
      if (r.widens === undefined) return;
      expect(r.widens).toBeLessThan(parts.regions.length + k);
      expect(withExtents.regions[r.widens]!.peak).toEqual(r.peak);
    });
    const area = ([x1, y1, x2, y2]: readonly number[]) => (x2! - x1!) * (y2! - y1!);
    const mean = (boxes: readonly (readonly number[])[]) => boxes.reduce((sum, b) => sum + area(b), 0) / boxes.length;
    expect(mean(wider.map((r) => r.box))).toBeGreaterThan(mean(parts.regions.map((r) => r.box)));
    // No added box nearly repeats one kept before it (the parts among themselves obey NMS, tested above).
    for (const [k, w] of wider.entries())
      for (const earlier of withExtents.regions.slice(0, parts.regions.length + k)) expect(iou(earlier.box, w.box)).toBeLessThan(0.7);
    // The cup gets a box closer to its outline than its best part region's.
    const best = (regions: readonly { box: readonly number[] }[]) => Math.max(...regions.map((r) => iou(r.box as [number, number, number, number], CUP_BOX)));
    expect(best(withExtents.regions)).toBeGreaterThan(best(parts.regions));
  });

  it('plain DASR back-propagates a subset of the DASR* peaks', async () => {
    const star = await new Dasr(backbone, { variant: 'dasr-star', longSide: 256 }).detect(coffee);
    const plain = await new Dasr(backbone, { variant: 'dasr', longSide: 256 }).detect(coffee);
    expect(plain.peaks).toBeGreaterThan(0);
    expect(plain.peaks).toBeLessThanOrEqual(star.peaks);
  });

  it('describes a query box exactly as the same region is described in the database', async () => {
    const dasr = new Dasr(backbone, { longSide: 256 });
    const detection = await dasr.detect(coffee);
    const region = detection.regions[0]!;
    const query = await dasr.describe(coffee, region.box);
    expect(dot(query, region.feature)).toBeGreaterThan(0.9999);
    // A crop (no box) is the whole image as the box.
    expect(Array.from(await dasr.describe(coffee))).toEqual(Array.from(await dasr.describe(coffee, [0, 0, 600, 400])));
  });

  it('with poolLongSide, describes the regions of the detection pass on a finer forward, and queries the same way', async () => {
    const plain = await new Dasr(backbone, { longSide: 256 }).detect(coffee);
    const fine = new Dasr(backbone, { longSide: 256, poolLongSide: 512 });
    const detection = await fine.detect(coffee);
    // The same peaks and boxes: only the descriptors change.
    expect(detection.regions.map((r) => r.box)).toEqual(plain.regions.map((r) => r.box));
    expect(Math.min(...detection.regions.map((r, i) => dot(r.feature, plain.regions[i]!.feature)))).toBeLessThan(0.99);
    for (const region of detection.regions) {
      expect(norm(region.feature)).toBeCloseTo(1, 5);
      expect(dot(await fine.describe(coffee, region.box), region.feature)).toBeGreaterThan(0.9999);
      // …which is what a detector at long side 512 makes of that box.
      expect(dot(await new Dasr(backbone, { longSide: 512 }).describe(coffee, region.box), region.feature)).toBeGreaterThan(0.9999);
    }
    expect(() => new Dasr(backbone, { longSide: 512, poolLongSide: 256 })).toThrow(/poolLongSide must be an integer in \[longSide \(512\), 4096\]/);
    // A pooling pass at the detection's own size is no second pass: the configuration says nothing of it.
    expect(new Dasr(backbone, { longSide: 256, poolLongSide: 256 }).config).toEqual(new Dasr(backbone, { longSide: 256 }).config);
    expect('poolLongSide' in new Dasr(backbone).config).toBe(false);
  });

  it('pools a box by the share of each cell under it, or (poolingCells touched, as published) every cell it touches, whole', async () => {
    const overlap = new Dasr(backbone, { longSide: 256 });
    const touched = new Dasr(backbone, { longSide: 256, poolingCells: 'touched' });
    expect(overlap.config.poolingCells).toBe('overlap');
    const a = await overlap.detect(coffee);
    const b = await touched.detect(coffee);
    // The same peaks and boxes: only the descriptors change, each mode describing a query box as its own regions.
    expect(a.regions.map((r) => r.box)).toEqual(b.regions.map((r) => r.box));
    expect(Math.min(...a.regions.map((r, i) => dot(r.feature, b.regions[i]!.feature)))).toBeLessThan(0.99);
    for (const [dasr, detection] of [[overlap, a], [touched, b]] as const) {
      for (const region of detection.regions.slice(0, 3)) expect(dot(await dasr.describe(coffee, region.box), region.feature)).toBeGreaterThan(0.9999);
    }
    // On the 256 × 171 input a stride-32 cell i stands for pixels [32·i − 15.5, 32·i + 16.5): a box over cells 2–5 ×
    // 1–3 touches cells 1–5 × 0–3, which is what the overlap rule pools of the box over those cells.
    const toImage = (x1: number, y1: number, x2: number, y2: number): Box => [(x1 * 600) / 256, (y1 * 400) / 171, (x2 * 600) / 256, (y2 * 400) / 171];
    const onCells = toImage(2 * 32 - 15.5, 32 - 15.5, 6 * 32 - 15.5, 4 * 32 - 15.5);
    const touchedCells = toImage(32 - 15.5, 0, 6 * 32 - 15.5, 4 * 32 - 15.5);
    expect(dot(await touched.describe(coffee, onCells), await overlap.describe(coffee, touchedCells))).toBeGreaterThan(0.9999);
    expect(dot(await touched.describe(coffee, onCells), await overlap.describe(coffee, onCells))).toBeLessThan(0.99);
    expect(() => new Dasr(backbone, { poolingCells: 'centre' as 'overlap' })).toThrow(/poolingCells must be touched or overlap/);
  });

  it('applies a whitening to database and query alike', async () => {
    // A hand-made whitening (fitting a 2048-d one takes most of a minute): centre, then scale each axis.
    const dim = 2048;
    const projection = new Float32Array(dim * dim);
    for (let i = 0; i < dim; i++) projection[i * dim + i] = 1 + (i % 7) / 7;
    const whitening = handMadeWhitening(dim, projection);
    const whitened = new Dasr(backbone, { longSide: 256 }, whitening);
    const detection = await whitened.detect(coffee);
    const region = detection.regions[0]!;
    expect(norm(region.feature)).toBeCloseTo(1, 5);
    expect(dot(await whitened.describe(coffee, region.box), region.feature)).toBeGreaterThan(0.999);
    // The stored feature is the whitening of the plain one: same box, same pooled cells.
    const unwhitened = await new Dasr(backbone, { longSide: 256 }).describe(coffee, region.box);
    const expected = applyWhitening(whitening, l2Normalize(unwhitened));
    expect(dot(expected, region.feature)).toBeGreaterThan(0.9999);
    expect(() => new Dasr(backbone, { poolingLayer: 'res5c' }, whitening)).toThrow(/learned on res5a features but regions are pooled on res5c/);
    expect(whitened.featureDim).toBe(dim);
    expect(new Dasr(backbone).featureDim).toBe(dim);
  });

  it('applies a dimension-reducing whitening: k-d descriptors on both sides', async () => {
    const dim = 2048;
    const outputDim = 64;
    // Keeps 64 of the hand-made axes (rows), scaled unequally.
    const projection = new Float32Array(outputDim * dim);
    for (let k = 0; k < outputDim; k++) projection[k * dim + 3 * k] = 1 + (k % 5) / 5;
    const whitening = handMadeWhitening(outputDim, projection);
    const reduced = new Dasr(backbone, { longSide: 256 }, whitening);
    expect(reduced.featureDim).toBe(outputDim);
    const detection = await reduced.detect(coffee);
    const region = detection.regions[0]!;
    expect(region.feature.length).toBe(outputDim);
    expect(norm(region.feature)).toBeCloseTo(1, 5);
    const query = await reduced.describe(coffee, region.box);
    expect(query.length).toBe(outputDim);
    expect(dot(query, region.feature)).toBeGreaterThan(0.999);
    const unwhitened = await new Dasr(backbone, { longSide: 256 }).describe(coffee, region.box);
    expect(dot(applyWhitening(whitening, unwhitened), region.feature)).toBeGreaterThan(0.9999);
    const wrongInput = { ...whitening, dim: 512, mean: new Float32Array(512), eigenvalues: new Float32Array(512), projection: new Float32Array(outputDim * 512) };
    expect(() => new Dasr(backbone, {}, wrongInput)).toThrow(/learned on 512-d features but the backbone's are 2048-d/);
  });

  it('gives a blank image a finite, typed result instead of NaN', async () => {
    const detection = await new Dasr(backbone, { longSide: 128 }).detect(uniformImage(160, 120, 128));
    expect(detection.peaks).toBeGreaterThanOrEqual(0);
    for (const region of detection.regions) {
      expect(region.box.every(Number.isFinite)).toBe(true);
      expect(Array.from(region.feature).every(Number.isFinite)).toBe(true);
    }
    expect(detectionJson(detection)).toEqual({
      image: { width: 160, height: 120 },
      regions: detection.regions.map((r) => ({ box: r.box.map((v) => Math.round(v * 100) / 100), score: Math.round(r.score * 1e6) / 1e6, peak: r.peak.map((v) => Math.round(v * 100) / 100) })),
    });
  });

  it('refuses images too small for the network with a clear error', async () => {
    const dasr = new Dasr(backbone, { longSide: 128 });
    await expect(dasr.detect(uniformImage(20, 20, 90))).rejects.toBeInstanceOf(ImageInputError);
    await expect(dasr.detect(uniformImage(20, 20, 90))).rejects.toMatchObject({ code: 'too-small' });
    // Long and thin: the short side would shrink below 32 px at the network input.
    await expect(dasr.detect(uniformImage(2000, 40, 90))).rejects.toMatchObject({ code: 'too-small' });
  });

  it('detects on the thinnest images the network takes: a res5c map one row or one column wide holds no peak', async () => {
    for (const [width, height] of [
      [512, 32],
      [32, 512],
    ] as const) {
      const detection = await new Dasr(backbone, { longSide: 512 }).detect(uniformImage(width, height, 90));
      expect(detection.peaks).toBe(0);
      expect(detection.regions).toEqual([]);
    }
  });

  it('rejects query boxes that are outside the image, empty or not numbers', async () => {
    const dasr = new Dasr(backbone, { longSide: 128 });
    await expect(dasr.describe(coffee, [700, 10, 800, 50])).rejects.toMatchObject({ code: 'box-outside-image' });
    await expect(dasr.describe(coffee, [100, 100, 100, 150])).rejects.toMatchObject({ code: 'empty-box' });
    await expect(dasr.describe(coffee, [Number.NaN, 0, 10, 10])).rejects.toBeInstanceOf(DasrInputError);
  });

  it('describes a cut-out crop as it is described in its frame when the frame around it is neutral', async () => {
    // A 640×480 frame of the ImageNet mean colour with the cup from coffee.png pasted at its centre: cut out
    // again, the crop placed at its frame scale on a neutral canvas reproduces the frame's network input.
    const cup = cropImage(coffee, CUP_BOX);
    const frame = uniformImage(640, 480, 0);
    for (let p = 0; p < 640 * 480; p++) frame.data.set([124, 117, 104], 3 * p);
    const x0 = (640 - cup.width) >> 1;
    const y0 = (480 - cup.height) >> 1;
    for (let y = 0; y < cup.height; y++) cup.data.copy(frame.data, ((y0 + y) * 640 + x0) * 3, y * cup.width * 3, (y + 1) * cup.width * 3);
    const dasr = new Dasr(backbone, { longSide: 320 });
    const inFrame = await dasr.describe(frame, [x0, y0, x0 + cup.width, y0 + cup.height]);
    const atFrameScale = await dasr.describeCrop(cup, frame);
    const alone = await dasr.describe(cup);
    expect(dot(inFrame, atFrameScale)).toBeGreaterThan(0.98);
    // resized alone to the network's side, the cup is twice as large as in its frame: a clearly different vector
    expect(dot(inFrame, alone)).toBeLessThan(dot(inFrame, atFrameScale) - 0.05);
  });

  it('takes a 16 × 16 px crop as a query, and describes a crop as large as the frame as a whole image', async () => {
    const dasr = new Dasr(backbone, { longSide: 256 });
    const small = cropImage(coffee, [300, 100, 316, 116]);
    const vector = await dasr.describeCrop(small, { width: 1280, height: 720 });
    expect(vector).toHaveLength(2048);
    expect(norm(vector)).toBeCloseTo(1, 5);
    expect(Array.from(await dasr.describeCrop(coffee, { width: 600, height: 400 }))).toEqual(Array.from(await dasr.describe(coffee)));
    await expect(dasr.describeCrop(uniformImage(16, 16, 80), { width: 1280, height: 720 })).rejects.toMatchObject({ code: 'no-object' });
  });

  it('validates its configuration', () => {
    expect(() => new Dasr(backbone, { longSide: 16 })).toThrow(/longSide/);
    expect(() => new Dasr(backbone, { nmsIou: 1.5 })).toThrow(/nmsIou/);
    expect(() => new Dasr(backbone, { maxPeaks: 0 })).toThrow(/maxPeaks/);
  });
});

/** A res5a whitening on 2048-d features that centres on 0.01 and applies `projection` (outputDim × 2048 rows). */
function handMadeWhitening(outputDim: number, projection: Float32Array): Whitening {
  const dim = 2048;
  return {
    dim,
    outputDim,
    count: 0,
    layer: 'res5a',
    epsilon: 1e-6,
    createdAt: new Date(0).toISOString(),
    mean: new Float32Array(dim).fill(0.01),
    eigenvalues: new Float32Array(dim).fill(1),
    projection,
  };
}
