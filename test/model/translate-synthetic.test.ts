/**
 * The TF.js layers → LayerGraph → ONNX translation on a small synthetic Keras model that uses every layer type the
 * translator supports. Expected forward values are computed here, independently, straight from the Keras layout
 * (NHWC activations, HWIO kernels, Dense [in, out]), so that a wrong transpose anywhere in the translator shows up.
 * The ONNX top-down graph is checked against the TypeScript reference (test/support/reference-net.ts).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildForwardModel } from '../../src/model/forward-graph.js';
import { truncateGraph, type LayerGraph } from '../../src/model/layer-graph.js';
import { ModelFormatError, readTfjsLayersModel } from '../../src/model/tfjs-layers.js';
import { buildTopDownModel } from '../../src/model/topdown-graph.js';
import { referenceForward, referenceTopDown, saliencyFromInputSignal, type Tensor3 } from '../support/reference-net.js';
import { mulberry32 } from '../support/random.js';
import { relativeError, reportError } from '../support/relative-error.js';

// ---------------------------------------------------------------------------------------------------------
// Deterministic numbers and error measures
// ---------------------------------------------------------------------------------------------------------

function uniform(random: () => number, n: number, lo: number, hi: number): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * random());
}

// ---------------------------------------------------------------------------------------------------------
// Writing a Keras-style TF.js layers model
// ---------------------------------------------------------------------------------------------------------

interface KerasLayerJson {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, Record<string, never>][][];
}

interface WeightSpec {
  name: string;
  shape: number[];
  data: Float32Array;
}

function kerasLayer(name: string, className: string, config: Record<string, unknown>, inbound: string[]): KerasLayerJson {
  return {
    name,
    class_name: className,
    config: { name, trainable: true, dtype: 'float32', ...config },
    inbound_nodes: inbound.length > 0 ? [inbound.map((n) => [n, 0, 0, {}] as [string, number, number, Record<string, never>])] : [],
  };
}

function modelJson(layers: KerasLayerJson[], weights: { name: string; shape: number[]; dtype: string }[], paths: string[]) {
  return {
    format: 'layers-model',
    generatedBy: 'keras v2.2.4',
    convertedBy: 'synthetic test',
    modelTopology: {
      keras_version: '2.2.4',
      backend: 'tensorflow',
      model_config: {
        class_name: 'Model',
        config: {
          name: 'synthetic',
          layers,
          input_layers: [[layers[0]!.name, 0, 0]],
          output_layers: [[layers[layers.length - 1]!.name, 0, 0]],
        },
      },
    },
    weightsManifest: [{ paths, weights }],
  };
}

/**
 * Writes model.json and the weights split over two shard files (split at an odd byte offset, so weights straddle
 * the shard boundary unaligned). Returns the model.json path.
 */
async function writeModel(
  dir: string,
  layers: KerasLayerJson[],
  weights: WeightSpec[],
  edit: { manifestNames?: Record<string, string>; dropLastBytes?: number; extraBytes?: number } = {},
): Promise<string> {
  const bytes = Buffer.concat(weights.map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)));
  let all = bytes.subarray(0, bytes.length - (edit.dropLastBytes ?? 0));
  if (edit.extraBytes) all = Buffer.concat([all, Buffer.alloc(edit.extraBytes)]);
  const split = Math.floor(all.length / 2) | 1;
  await writeFile(join(dir, 'group1-shard1of2.bin'), all.subarray(0, split));
  await writeFile(join(dir, 'group1-shard2of2.bin'), all.subarray(split));
  const manifest = weights.map((w) => ({ name: edit.manifestNames?.[w.name] ?? w.name, shape: w.shape, dtype: 'float32' }));
  const path = join(dir, 'model.json');
  await writeFile(path, JSON.stringify(modelJson(layers, manifest, ['group1-shard1of2.bin', 'group1-shard2of2.bin'])));
  return path;
}

// ---------------------------------------------------------------------------------------------------------
// The synthetic model, in Keras terms
// ---------------------------------------------------------------------------------------------------------

const C0 = 3;
const PAD = { top: 1, bottom: 2, left: 3, right: 0 }; // four different values: catches mixed-up orders
const F1 = 6; // conv1: 3×3 stride 2 'valid', bias, fused relu
const F2 = 8; // conv2a (1×1/2), conv2b (3×5 'same', no bias), conv2s (1×1/2 shortcut)
const UNITS = 5;

/** Keras-layout parameters (HWIO kernels, Dense [in, out]). */
interface KerasParams {
  conv1: { kernel: Float32Array; bias: Float32Array };
  bn1: Bn;
  conv2a: { kernel: Float32Array; bias: Float32Array };
  conv2b: { kernel: Float32Array };
  bn2b: Bn;
  conv2s: { kernel: Float32Array; bias: Float32Array };
  dense: { kernel: Float32Array; bias: Float32Array };
}

interface Bn {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
}

const BN_EPSILON = 0.001;

function makeParams(seed: number): KerasParams {
  const r = mulberry32(seed);
  const bn = (n: number): Bn => {
    const gamma = uniform(r, n, 0.5, 1.5);
    gamma[1] = -gamma[1]!; // a negative scale: the top-down pass must keep its sign
    return { gamma, beta: uniform(r, n, -0.3, 0.3), mean: uniform(r, n, -0.2, 0.2), variance: uniform(r, n, 0.5, 2) };
  };
  return {
    conv1: { kernel: uniform(r, 3 * 3 * C0 * F1, -0.5, 0.5), bias: uniform(r, F1, -0.1, 0.2) },
    bn1: bn(F1),
    conv2a: { kernel: uniform(r, F1 * F2, -0.5, 0.5), bias: uniform(r, F2, -0.1, 0.1) },
    conv2b: { kernel: uniform(r, 3 * 5 * F2 * F2, -0.3, 0.3) },
    bn2b: bn(F2),
    conv2s: { kernel: uniform(r, F1 * F2, -0.5, 0.5), bias: uniform(r, F2, -0.1, 0.1) },
    dense: { kernel: uniform(r, F2 * UNITS, -1, 1), bias: uniform(r, UNITS, -0.5, 0.5) },
  };
}

const conv = (filters: number, kernel: [number, number], strides: [number, number], padding: string, useBias: boolean, activation: string) => ({
  filters,
  kernel_size: kernel,
  strides,
  padding,
  data_format: 'channels_last',
  dilation_rate: [1, 1],
  activation,
  use_bias: useBias,
});
const bnConfig = { axis: [3], momentum: 0.99, epsilon: BN_EPSILON, center: true, scale: true };

function syntheticLayers(): KerasLayerJson[] {
  return [
    kerasLayer('input_1', 'InputLayer', { batch_input_shape: [null, null, null, C0], sparse: false }, []),
    kerasLayer('zero_pad', 'ZeroPadding2D', { padding: [[PAD.top, PAD.bottom], [PAD.left, PAD.right]], data_format: 'channels_last' }, ['input_1']),
    kerasLayer('conv1', 'Conv2D', conv(F1, [3, 3], [2, 2], 'valid', true, 'relu'), ['zero_pad']),
    kerasLayer('bn1', 'BatchNormalization', bnConfig, ['conv1']),
    kerasLayer('act1', 'Activation', { activation: 'relu' }, ['bn1']),
    kerasLayer('pool', 'MaxPooling2D', { pool_size: [3, 3], strides: [2, 2], padding: 'valid', data_format: 'channels_last' }, ['act1']),
    kerasLayer('conv2a', 'Conv2D', conv(F2, [1, 1], [2, 2], 'valid', true, 'linear'), ['pool']),
    kerasLayer('act2a', 'Activation', { activation: 'relu' }, ['conv2a']),
    kerasLayer('conv2b', 'Conv2D', conv(F2, [3, 5], [1, 1], 'same', false, 'linear'), ['act2a']),
    kerasLayer('bn2b', 'BatchNormalization', { ...bnConfig, axis: -1 }, ['conv2b']),
    // A side branch no later layer reads: a channel softmax on a feature map (Keras: last axis = channels).
    kerasLayer('smax_map', 'Activation', { activation: 'softmax' }, ['bn2b']),
    kerasLayer('conv2s', 'Conv2D', conv(F2, [1, 1], [2, 2], 'valid', true, 'linear'), ['pool']),
    kerasLayer('add', 'Add', {}, ['bn2b', 'conv2s']),
    kerasLayer('lin', 'Activation', { activation: 'linear' }, ['add']),
    kerasLayer('act2', 'Activation', { activation: 'relu' }, ['lin']),
    kerasLayer('gap', 'GlobalAveragePooling2D', { data_format: 'channels_last' }, ['act2']),
    kerasLayer('dense', 'Dense', { units: UNITS, activation: 'softmax', use_bias: true }, ['gap']),
  ];
}

function syntheticWeights(p: KerasParams): WeightSpec[] {
  const bn = (name: string, b: Bn): WeightSpec[] => [
    { name: `${name}/gamma`, shape: [b.gamma.length], data: b.gamma },
    { name: `${name}/beta`, shape: [b.beta.length], data: b.beta },
    { name: `${name}/moving_mean`, shape: [b.mean.length], data: b.mean },
    { name: `${name}/moving_variance`, shape: [b.variance.length], data: b.variance },
  ];
  // Deliberately not in layer order: the translator must look weights up by name.
  return [
    { name: 'dense/kernel', shape: [F2, UNITS], data: p.dense.kernel },
    { name: 'conv1/kernel', shape: [3, 3, C0, F1], data: p.conv1.kernel },
    { name: 'conv1/bias', shape: [F1], data: p.conv1.bias },
    ...bn('bn1', p.bn1),
    { name: 'conv2a/kernel', shape: [1, 1, F1, F2], data: p.conv2a.kernel },
    { name: 'conv2a/bias', shape: [F2], data: p.conv2a.bias },
    { name: 'conv2b/kernel', shape: [3, 5, F2, F2], data: p.conv2b.kernel },
    ...bn('bn2b', p.bn2b),
    { name: 'conv2s/kernel', shape: [1, 1, F1, F2], data: p.conv2s.kernel },
    { name: 'conv2s/bias', shape: [F2], data: p.conv2s.bias },
    { name: 'dense/bias', shape: [UNITS], data: p.dense.bias },
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Independent Keras-layout forward (NHWC, float64)
// ---------------------------------------------------------------------------------------------------------

interface Nhwc {
  h: number;
  w: number;
  c: number;
  data: Float64Array;
}

const nhwc = (h: number, w: number, c: number): Nhwc => ({ h, w, c, data: new Float64Array(h * w * c) });

function kPad(t: Nhwc, top: number, bottom: number, left: number, right: number): Nhwc {
  const y = nhwc(t.h + top + bottom, t.w + left + right, t.c);
  for (let i = 0; i < t.h; i++)
    for (let j = 0; j < t.w; j++)
      for (let c = 0; c < t.c; c++) y.data[((i + top) * y.w + j + left) * y.c + c] = t.data[(i * t.w + j) * t.c + c]!;
  return y;
}

/** Keras Conv2D: HWIO kernel [kh, kw, cin, cout]; 'same' (stride 1, odd kernel) pads (k − 1) / 2 on each side. */
function kConv(t: Nhwc, kernel: Float32Array, kh: number, kw: number, cout: number, stride: number, same: boolean, bias?: Float32Array): Nhwc {
  const pt = same ? (kh - 1) / 2 : 0;
  const pl = same ? (kw - 1) / 2 : 0;
  const outH = same ? t.h : Math.floor((t.h - kh) / stride) + 1;
  const outW = same ? t.w : Math.floor((t.w - kw) / stride) + 1;
  const y = nhwc(outH, outW, cout);
  for (let i = 0; i < outH; i++)
    for (let j = 0; j < outW; j++)
      for (let o = 0; o < cout; o++) {
        let s = bias ? bias[o]! : 0;
        for (let dy = 0; dy < kh; dy++) {
          const ii = i * stride + dy - pt;
          if (ii < 0 || ii >= t.h) continue;
          for (let dx = 0; dx < kw; dx++) {
            const jj = j * stride + dx - pl;
            if (jj < 0 || jj >= t.w) continue;
            for (let ci = 0; ci < t.c; ci++) s += t.data[(ii * t.w + jj) * t.c + ci]! * kernel[((dy * kw + dx) * t.c + ci) * cout + o]!;
          }
        }
        y.data[(i * outW + j) * cout + o] = s;
      }
  return y;
}

function kMap(t: Nhwc, f: (v: number, c: number) => number): Nhwc {
  return { ...t, data: t.data.map((v, k) => f(v, k % t.c)) };
}

const kRelu = (t: Nhwc): Nhwc => kMap(t, (v) => Math.max(v, 0));
const kBn = (t: Nhwc, b: Bn): Nhwc => kMap(t, (v, c) => ((v - b.mean[c]!) / Math.sqrt(b.variance[c]! + BN_EPSILON)) * b.gamma[c]! + b.beta[c]!);

function kMaxPool(t: Nhwc, size: number, stride: number): Nhwc {
  const y = nhwc(Math.floor((t.h - size) / stride) + 1, Math.floor((t.w - size) / stride) + 1, t.c);
  for (let i = 0; i < y.h; i++)
    for (let j = 0; j < y.w; j++)
      for (let c = 0; c < t.c; c++) {
        let m = -Infinity;
        for (let dy = 0; dy < size; dy++)
          for (let dx = 0; dx < size; dx++) m = Math.max(m, t.data[((i * stride + dy) * t.w + j * stride + dx) * t.c + c]!);
        y.data[(i * y.w + j) * y.c + c] = m;
      }
  return y;
}

function kAdd(a: Nhwc, b: Nhwc): Nhwc {
  expect([a.h, a.w, a.c]).toEqual([b.h, b.w, b.c]);
  return { ...a, data: a.data.map((v, k) => v + b.data[k]!) };
}

function kGap(t: Nhwc): Float64Array {
  const y = new Float64Array(t.c);
  for (let p = 0; p < t.h * t.w; p++) for (let c = 0; c < t.c; c++) y[c] += t.data[p * t.c + c]! / (t.h * t.w);
  return y;
}

function kDense(x: Float64Array, kernel: Float32Array, bias: Float32Array, units: number): Float64Array {
  const y = new Float64Array(units);
  for (let o = 0; o < units; o++) {
    let s = bias[o]!;
    for (let i = 0; i < x.length; i++) s += x[i]! * kernel[i * units + o]!;
    y[o] = s;
  }
  return y;
}

function softmax(x: ArrayLike<number>): Float64Array {
  const max = Math.max(...Array.from(x));
  const e = Float64Array.from(x, (v) => Math.exp(v - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

/** Softmax over the last (channel) axis at every pixel, as Keras' Activation('softmax') does. */
function kSoftmaxChannels(t: Nhwc): Nhwc {
  const y = nhwc(t.h, t.w, t.c);
  for (let p = 0; p < t.h * t.w; p++) y.data.set(softmax(t.data.subarray(p * t.c, (p + 1) * t.c)), p * t.c);
  return y;
}

function kerasForward(p: KerasParams, image: Nhwc) {
  const conv1Pre = kConv(kPad(image, PAD.top, PAD.bottom, PAD.left, PAD.right), p.conv1.kernel, 3, 3, F1, 2, false, p.conv1.bias);
  const pool = kMaxPool(kRelu(kBn(kRelu(conv1Pre), p.bn1)), 3, 2);
  const bn2b = kBn(kConv(kRelu(kConv(pool, p.conv2a.kernel, 1, 1, F2, 2, false, p.conv2a.bias)), p.conv2b.kernel, 3, 5, F2, 1, true), p.bn2b);
  const act2 = kRelu(kAdd(bn2b, kConv(pool, p.conv2s.kernel, 1, 1, F2, 2, false, p.conv2s.bias)));
  const logits = kDense(kGap(act2), p.dense.kernel, p.dense.bias, UNITS);
  return { conv1Pre, pool, bn2b, smaxMap: kSoftmaxChannels(bn2b), act2, logits, probabilities: softmax(logits) };
}

/** NCHW batch element n of an ORT output, re-laid out as NHWC for comparison with the Keras-layout values. */
function nchwToNhwc(data: Float32Array, dims: readonly number[], n: number): Float64Array {
  const [, c, h, w] = dims as [number, number, number, number];
  const out = new Float64Array(c * h * w);
  for (let ch = 0; ch < c; ch++)
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) out[(i * w + j) * c + ch] = data[((n * c + ch) * h + i) * w + j]!;
  return out;
}

/** NHWC images (float32 values) → an NCHW batch for ORT. */
function nchwBatch(images: Nhwc[]): ort.Tensor {
  const { h, w, c } = images[0]!;
  const data = new Float32Array(images.length * c * h * w);
  images.forEach((img, n) => {
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) for (let ch = 0; ch < c; ch++) data[((n * c + ch) * h + i) * w + j] = img.data[(i * w + j) * c + ch]!;
  });
  return new ort.Tensor('float32', data, [images.length, c, h, w]);
}

function randomImage(seed: number, h: number, w: number): Nhwc {
  const image = nhwc(h, w, C0);
  image.data.set(uniform(mulberry32(seed), h * w * C0, -1, 2));
  return image;
}

/** Piecewise-constant image (blocks of `block` pixels): flat regions make tied maxima in the max-pool windows. */
function blockyImage(seed: number, h: number, w: number, block: number): Nhwc {
  const r = mulberry32(seed);
  const bw = Math.ceil(w / block);
  const colours = uniform(r, Math.ceil(h / block) * bw * C0, -1, 2);
  const image = nhwc(h, w, C0);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let c = 0; c < C0; c++) image.data[(i * w + j) * C0 + c] = colours[((Math.floor(i / block) * bw + Math.floor(j / block)) * C0) + c]!;
  return image;
}

function toChw(image: Nhwc): Tensor3 {
  const t: Tensor3 = { channels: image.c, height: image.h, width: image.w, data: new Float32Array(image.c * image.h * image.w) };
  for (let i = 0; i < image.h; i++)
    for (let j = 0; j < image.w; j++) for (let c = 0; c < image.c; c++) t.data[(c * image.h + i) * image.w + j] = image.data[(i * image.w + j) * image.c + c]!;
  return t;
}

// ---------------------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------------------

const params = makeParams(20240601);
let dir: string;
let graph: LayerGraph;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dasr-synthetic-'));
  graph = await readTfjsLayersModel(await writeModel(dir, syntheticLayers(), syntheticWeights(params)));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('synthetic TF.js layers model → ONNX forward', () => {
  it('translates every supported layer type into the expected layer graph', () => {
    expect(graph.input).toBe('input_1');
    expect(graph.output).toBe('dense');
    expect(graph.layers.map((l) => `${l.name}:${l.kind}`)).toEqual([
      'input_1:input',
      'zero_pad:zeropad',
      'conv1/preactivation:conv',
      'conv1:relu',
      'bn1:batchnorm',
      'act1:relu',
      'pool:maxpool',
      'conv2a:conv',
      'act2a:relu',
      'conv2b:conv',
      'bn2b:batchnorm',
      'smax_map:softmax',
      'conv2s:conv',
      'add:add',
      'lin:linear',
      'act2:relu',
      'gap:gap',
      'dense/preactivation:dense',
      'dense:softmax',
    ]);
  });

  it("ONNX Runtime's outputs equal the Keras-layout computation (1e-5 relative)", async () => {
    const outputs = [
      { name: 'conv1_pre', layer: 'conv1/preactivation' },
      { name: 'pool', layer: 'pool' },
      { name: 'bn2b', layer: 'bn2b' },
      { name: 'smax_map', layer: 'smax_map' },
      { name: 'act2', layer: 'act2' },
      { name: 'logits', layer: 'dense/preactivation' },
      { name: 'probabilities', layer: 'dense' },
    ];
    const session = await ort.InferenceSession.create(buildForwardModel(graph, outputs));
    try {
      // Two images in one batch, non-square, with odd and even padded sizes.
      for (const [h, w] of [
        [21, 26],
        [30, 23],
      ] as const) {
        const images = [randomImage(h * 100 + w, h, w), randomImage(h * 100 + w + 1, h, w)];
        const result = await session.run({ image: nchwBatch(images) });
        images.forEach((image, n) => {
          const expected = kerasForward(params, image);
          const maps: [string, Nhwc][] = [
            ['conv1_pre', expected.conv1Pre],
            ['pool', expected.pool],
            ['bn2b', expected.bn2b],
            ['smax_map', expected.smaxMap],
            ['act2', expected.act2],
          ];
          for (const [name, map] of maps) {
            const out = result[name]!;
            expect(out.dims).toEqual([2, map.c, map.h, map.w]);
            const error = relativeError(nchwToNhwc(out.data as Float32Array, out.dims, n), map.data);
            reportError(`synthetic forward ${h}×${w} #${n} ${name}`, error);
            expect(error).toBeLessThan(1e-5);
          }
          for (const [name, vector] of [
            ['logits', expected.logits],
            ['probabilities', expected.probabilities],
          ] as const) {
            const out = result[name]!;
            expect(out.dims).toEqual([2, UNITS]);
            const error = relativeError((out.data as Float32Array).subarray(n * UNITS, (n + 1) * UNITS), vector);
            reportError(`synthetic forward ${h}×${w} #${n} ${name}`, error);
            expect(error).toBeLessThan(1e-5);
          }
        });
      }
    } finally {
      await session.release();
    }
  });
});

describe('translator errors', () => {
  async function attempt(layers: KerasLayerJson[], weights: WeightSpec[], edit?: Parameters<typeof writeModel>[3]) {
    const sub = await mkdtemp(join(dir, 'bad-'));
    return readTfjsLayersModel(await writeModel(sub, layers, weights, edit));
  }

  it('rejects an unsupported layer type, naming the layer and the type', async () => {
    const layers = syntheticLayers();
    layers.splice(5, 0, kerasLayer('drop', 'Dropout', { rate: 0.5 }, ['act1']));
    const promise = attempt(layers, syntheticWeights(params));
    await expect(promise).rejects.toThrow(ModelFormatError);
    await expect(promise).rejects.toThrow('drop: layer type Dropout is not supported');
  });

  it('rejects a missing weight, naming it', async () => {
    const promise = attempt(syntheticLayers(), syntheticWeights(params), { manifestNames: { 'bn2b/moving_variance': 'bn2b/moving_var' } });
    await expect(promise).rejects.toThrow(ModelFormatError);
    await expect(promise).rejects.toThrow('weight bn2b/moving_variance is missing from the shards');
  });

  it('rejects truncated shards and shards with trailing bytes', async () => {
    const truncated = attempt(syntheticLayers(), syntheticWeights(params), { dropLastBytes: 6 });
    await expect(truncated).rejects.toThrow(ModelFormatError);
    await expect(truncated).rejects.toThrow(/weight shards end before dense\/bias: \d+ bytes, need \d+/);
    const extra = attempt(syntheticLayers(), syntheticWeights(params), { extraBytes: 8 });
    await expect(extra).rejects.toThrow(ModelFormatError);
    await expect(extra).rejects.toThrow(/weight shards hold \d+ bytes but the manifest describes \d+/);
  });

  it('rejects a kernel whose size does not match the layer', async () => {
    const weights = syntheticWeights(params).map((w) =>
      w.name === 'conv2b/kernel' ? { ...w, shape: [3, 3, F2, F2], data: w.data.subarray(0, 3 * 3 * F2 * F2) } : w,
    );
    const promise = attempt(syntheticLayers(), weights);
    await expect(promise).rejects.toThrow(ModelFormatError);
    await expect(promise).rejects.toThrow(`kernel has ${3 * 3 * F2 * F2} values, expected ${3 * 5 * F2 * F2}`);
  });

  it('rejects unsupported configurations with a clear message', async () => {
    const cases: [number, Record<string, unknown>, string][] = [
      [2, { strides: [2, 2], padding: 'same' }, "conv1: 'same' padding is supported only for stride 1 and odd kernels"],
      [2, { dilation_rate: [2, 2] }, 'conv1: dilated convolutions are not supported'],
      [2, { activation: 'tanh' }, 'conv1: activation "tanh" is not supported'],
      [5, { padding: 'same' }, "pool: only 'valid' max pooling is supported"],
      [3, { axis: [1] }, 'bn1: only channel-axis batch norm is supported'],
      [1, { data_format: 'channels_first' }, 'zero_pad: data_format channels_first is not supported'],
    ];
    for (const [index, change, message] of cases) {
      const layers = syntheticLayers();
      layers[index] = { ...layers[index]!, config: { ...layers[index]!.config, ...change } };
      const promise = attempt(layers, syntheticWeights(params));
      await expect(promise).rejects.toThrow(ModelFormatError);
      await expect(promise).rejects.toThrow(message);
    }
  });

  it('a Conv2D config without use_bias uses its bias (the Keras default is use_bias = true)', async () => {
    const layers = syntheticLayers();
    const { use_bias: _dropped, ...config } = layers[2]!.config;
    layers[2] = { ...layers[2]!, config };
    const g = await attempt(layers, syntheticWeights(params));
    const conv1 = g.layers.find((l) => l.name === 'conv1/preactivation');
    expect(conv1?.kind === 'conv' && conv1.bias ? Array.from(conv1.bias) : null).toEqual(Array.from(params.conv1.bias));
  });

  it('the shard files written here really are what the manifest describes (sanity of the fixture)', async () => {
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { weights: { shape: number[] }[] }[] };
    const values = json.weightsManifest[0]!.weights.reduce((s, w) => s + w.shape.reduce((a, b) => a * b, 1), 0);
    const bytes = (await readFile(join(dir, 'group1-shard1of2.bin'))).length + (await readFile(join(dir, 'group1-shard2of2.bin'))).length;
    expect(bytes).toBe(values * 4);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Top-down pass on the synthetic graph
// ---------------------------------------------------------------------------------------------------------

/** Runs an ONNX top-down model with one seed per position of the h×w grid; returns K saliency maps. */
async function onnxSaliency(session: ort.InferenceSession, image: Tensor3, grid: { h: number; w: number }, seeds: { x: number; y: number }[]) {
  const seedData = new Float32Array(seeds.length * grid.h * grid.w);
  seeds.forEach((s, k) => (seedData[(k * grid.h + s.y) * grid.w + s.x] = 1));
  const result = await session.run({
    image: new ort.Tensor('float32', image.data, [1, image.channels, image.height, image.width]),
    seeds: new ort.Tensor('float32', seedData, [seeds.length, 1, grid.h, grid.w]),
  });
  const out = result.saliency!;
  expect(out.dims).toEqual([seeds.length, image.height, image.width]);
  const plane = image.height * image.width;
  return seeds.map((_, k) => (out.data as Float32Array).subarray(k * plane, (k + 1) * plane));
}

function allPositions(h: number, w: number): { x: number; y: number }[] {
  return Array.from({ length: h * w }, (_, k) => ({ x: k % w, y: Math.floor(k / w) }));
}

function gridOf(acts: Map<string, unknown>, name: string): { h: number; w: number } {
  const t = acts.get(name) as Tensor3;
  return { h: t.height, w: t.width };
}

describe('synthetic graph: ONNX top-down pass vs the TypeScript reference', () => {
  const FROM = 'act2';
  let session: ort.InferenceSession;
  /** the pass on windows around each peak, as the product's model runs it */
  let windowed: ort.InferenceSession;
  // The reference forward has no channel softmax on feature maps: it runs on the part of the graph `act2` needs
  // (the ONNX top-down model is built from the whole graph and truncates it itself).
  let needed: LayerGraph;

  beforeAll(async () => {
    session = await ort.InferenceSession.create(buildTopDownModel(graph, FROM));
    windowed = await ort.InferenceSession.create(buildTopDownModel(graph, FROM, undefined, true));
    needed = truncateGraph(graph, FROM);
  });
  afterAll(async () => {
    await session?.release();
    await windowed?.release();
  });

  async function compareAll(image: Tensor3, label: string, model = session): Promise<void> {
    const acts = referenceForward(needed, image, FROM);
    const grid = gridOf(acts, FROM);
    const seeds = allPositions(grid.h, grid.w);
    const maps = await onnxSaliency(model, image, grid, seeds);
    let worst = 0;
    let nonZero = 0;
    seeds.forEach((seed, k) => {
      const expected = saliencyFromInputSignal(referenceTopDown(needed, acts, FROM, seed));
      const error = relativeError(maps[k]!, expected);
      if (expected.some((v) => v > 0)) nonZero++;
      worst = Math.max(worst, error);
      expect(error, `seed (${seed.x}, ${seed.y})`).toBeLessThan(1e-5);
    });
    reportError(`synthetic top-down ${label} (${seeds.length} seeds, ${nonZero} non-zero)`, worst);
    expect(nonZero).toBeGreaterThanOrEqual(seeds.length / 2);
  }

  it('equals the reference at sizes where the stride-2 layers see even and odd heights/widths (1e-5 relative)', async () => {
    // Padded input (H + 3) × (W + 3) feeds conv1 (3×3/2); the pool output feeds conv2a/conv2s (1×1/2).
    //  22×25: conv1 sees 25 (odd) × 28 (even), conv2a/s see 5 (odd) × 6 (even)
    //  25×22: the other way round;  29×30: conv1 sees 32 × 33, conv2a/s see 7 × 7
    for (const [h, w, conv1Input, conv2Input] of [
      [22, 25, [25, 28], [5, 6]],
      [25, 22, [28, 25], [6, 5]],
      [29, 30, [32, 33], [7, 7]],
    ] as const) {
      const image = toChw(randomImage(7 * h + w, h, w));
      const acts = referenceForward(needed, image, FROM);
      const conv1In = acts.get('zero_pad') as Tensor3;
      const conv2In = acts.get('pool') as Tensor3;
      expect([conv1In.height, conv1In.width, conv2In.height, conv2In.width]).toEqual([...conv1Input, ...conv2Input]);
      await compareAll(image, `${h}×${w} (conv1 in ${conv1In.height}×${conv1In.width}, conv2 in ${conv2In.height}×${conv2In.width})`);
    }
  });

  it('on windows around each peak, equals the reference where the windows cross the map edges and where they lie inside (1e-5 relative)', async () => {
    // conv2b (3×5) spreads a seed on act2's grid to a 3×5 window; the strided 1×1s then leave the grid. 22×25: act2
    // is 3×3, narrower than a window; 70×90: act2 is 9×11, and most windows lie inside it.
    for (const [h, w, grid] of [
      [22, 25, [3, 3]],
      [70, 90, [9, 11]],
    ] as const) {
      const image = toChw(randomImage(3 * h + w, h, w));
      expect(Object.values(gridOf(referenceForward(needed, image, FROM), FROM))).toEqual(grid);
      await compareAll(image, `${h}×${w} on windows`, windowed);
    }
  });

  it('routes max-pool ties like the reference (first maximum in row-major order)', async () => {
    const image = toChw(blockyImage(99, 30, 33, 6));
    const acts = referenceForward(needed, image, FROM);
    // The pool input has windows whose positive maximum occurs more than once.
    const x = acts.get('act1') as Tensor3;
    const pooled = acts.get('pool') as Tensor3;
    let tiedWindows = 0;
    for (let c = 0; c < pooled.channels; c++)
      for (let u = 0; u < pooled.height; u++)
        for (let v = 0; v < pooled.width; v++) {
          const m = pooled.data[(c * pooled.height + u) * pooled.width + v]!;
          let count = 0;
          for (let di = 0; di < 3; di++)
            for (let dj = 0; dj < 3; dj++) if (x.data[(c * x.height + 2 * u + di) * x.width + 2 * v + dj] === m) count++;
          if (m > 0 && count > 1) tiedWindows++;
        }
    expect(tiedWindows).toBeGreaterThan(pooled.channels * pooled.height * pooled.width * 0.25);
    await compareAll(image, `blocky 30×33 (${tiedWindows} windows with tied positive maxima)`);
  });
});

describe('max-pool routing with ties, checked by hand', () => {
  it('sends each window’s signal to its first maximum in row-major order and sums over windows sharing it', async () => {
    // input (1 channel) → 3×3/2 max-pool; the top-down pass from the pool sends the seed straight to the pixels.
    const g: LayerGraph = {
      layers: [
        { kind: 'input', name: 'in', channels: 1 },
        { kind: 'maxpool', name: 'pool', input: 'in', pool: [3, 3], strides: [2, 2] },
      ],
      input: 'in',
      output: 'pool',
    };
    // 5×7 inputs → 2×3 windows; window (u, v) covers rows 2u..2u+2, cols 2v..2v+2. For each image, the expected
    // argmax (row, col) of each window "u,v", first maximum in row-major order, worked out by hand.
    const base = [
      [1, 0, 0, 0, 5, 2, 2],
      [0, 3, 5, 0, 2, 2, 2],
      [0, 0, 7, 1, 2, 2, 2],
      [0, 0, 0, 1, 0, 6, 0],
      [0, 0, 0, 0, 6, 0, 0],
    ];
    const without7 = base.map((row) => row.slice());
    without7[2]![2] = 0;
    const cases: [number[][], Record<string, [number, number]>][] = [
      // The 7 at (2,2) is the maximum of four windows; window (1,2) has 6 at (3,5) and at (4,4).
      [base, { '0,0': [2, 2], '0,1': [2, 2], '0,2': [0, 4], '1,0': [2, 2], '1,1': [2, 2], '1,2': [3, 5] }],
      // Without it: window (0,1) has 5 at (0,4) and at (1,2); window (1,0) is all zeros.
      [without7, { '0,0': [1, 2], '0,1': [0, 4], '0,2': [0, 4], '1,0': [2, 0], '1,1': [4, 4], '1,2': [3, 5] }],
      // Flat positive input: every window ties everywhere and routes to its top-left pixel.
      [base.map((row) => row.map(() => 2)), { '0,0': [0, 0], '0,1': [0, 2], '0,2': [0, 4], '1,0': [2, 0], '1,1': [2, 2], '1,2': [2, 4] }],
    ];

    // (logSeverityLevel 3: without convs, two shared initialisers go unused and ORT would warn about it)
    const session = await ort.InferenceSession.create(buildTopDownModel(g, 'pool'), { logSeverityLevel: 3 });
    try {
      for (const [rows, expectedArgmax] of cases) {
        const img: Tensor3 = { channels: 1, height: 5, width: 7, data: Float32Array.from(rows.flat()) };
        const acts = referenceForward(g, img, 'pool');
        const seeds = allPositions(2, 3);
        const maps = await onnxSaliency(session, img, { h: 2, w: 3 }, seeds);
        seeds.forEach((s, k) => {
          const [row, col] = expectedArgmax[`${s.y},${s.x}`]!;
          const expected = new Float32Array(35);
          expected[row * 7 + col] = 1; // the routed seed, whatever the pixel's value
          expect(Array.from(maps[k]!), `window (${s.y}, ${s.x})`).toEqual(Array.from(expected));
          expect(Array.from(saliencyFromInputSignal(referenceTopDown(g, acts, 'pool', s)))).toEqual(Array.from(expected));
        });
        // All six windows at once (one seed map of ones): shared maxima receive the sum.
        const all = new ort.Tensor('float32', new Float32Array(6).fill(1), [1, 1, 2, 3]);
        const result = await session.run({ image: new ort.Tensor('float32', img.data, [1, 1, 5, 7]), seeds: all });
        const summed = new Float32Array(35);
        for (const [row, col] of Object.values(expectedArgmax)) summed[row * 7 + col]! += 1;
        expect(Array.from(result.saliency!.data as Float32Array)).toEqual(Array.from(summed));
      }
    } finally {
      await session.release();
    }
  });
});
