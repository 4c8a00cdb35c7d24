/**
 * Plain-TypeScript reference implementation of the forward pass and of the DASR top-down probability pass
 * (docs/dasr-method.md, "Detection" step 4) over a LayerGraph. Batch size 1, CHW tensors, simple nested loops,
 * float64 accumulation. Clarity over speed, except in the conv loops, which are grouped by kernel tap and row
 * (no per-tap callbacks) so that a whole ResNet-50 at 64×64 runs in about a second: tests use it to verify the ONNX
 * Runtime graphs generated from the same LayerGraph.
 */
import { layerByName, type Conv2DLayer, type Layer, type LayerGraph, type MaxPoolLayer } from '../../src/model/layer-graph.js';

/** A float32 CHW tensor (one image, batch 1). */
export interface Tensor3 {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

/** A float64 CHW tensor: the top-down signal, kept in double precision so that its properties hold to ~1e-12. */
export interface Signal3 {
  channels: number;
  height: number;
  width: number;
  data: Float64Array;
}

/** A layer's output: a CHW feature map, or a vector after global pooling / dense layers. */
export type Activation = Tensor3 | Float32Array;

/** Z below this is treated as "no evidence" (G = 0); the same constant stabilises the division. */
const Z_EPSILON = 1e-10;

// ---------------------------------------------------------------------------------------------------------
// Forward
// ---------------------------------------------------------------------------------------------------------

/**
 * Evaluates every layer of `graph` in order (stopping after `upTo` when given) and returns each layer's output by
 * name; the input layer's name maps to `input` itself.
 */
export function referenceForward(graph: LayerGraph, input: Tensor3, upTo?: string): Map<string, Activation> {
  if (upTo !== undefined) layerByName(graph, upTo);
  const outputs = new Map<string, Activation>();
  for (const layer of graph.layers) {
    outputs.set(layer.name, forwardLayer(layer, outputs, input));
    if (layer.name === upTo) break;
  }
  return outputs;
}

function forwardLayer(layer: Layer, outputs: Map<string, Activation>, input: Tensor3): Activation {
  switch (layer.kind) {
    case 'input':
      if (input.channels !== layer.channels) {
        throw new Error(`input "${layer.name}" expects ${layer.channels} channels, got ${input.channels}`);
      }
      checkShape(input, input.data.length, `input "${layer.name}"`);
      return input;
    case 'conv':
      return convForward(layer, tensorOf(outputs, layer.input, layer.name));
    case 'batchnorm': {
      const x = tensorOf(outputs, layer.input, layer.name);
      const y = emptyTensor(x.channels, x.height, x.width);
      const plane = x.height * x.width;
      for (let c = 0; c < x.channels; c++) {
        const scale = layer.gamma[c]! / Math.sqrt(layer.variance[c]! + layer.epsilon);
        for (let p = 0; p < plane; p++) {
          const k = c * plane + p;
          y.data[k] = scale * (x.data[k]! - layer.mean[c]!) + layer.beta[c]!;
        }
      }
      return y;
    }
    case 'relu': {
      const x = activationOf(outputs, layer.input, layer.name);
      return mapActivation(x, (v) => (v > 0 ? v : 0));
    }
    case 'linear':
      return activationOf(outputs, layer.input, layer.name);
    case 'softmax': {
      const x = vectorOf(outputs, layer.input, layer.name);
      let max = -Infinity;
      for (const v of x) max = Math.max(max, v);
      const e = Array.from(x, (v) => Math.exp(v - max));
      const sum = e.reduce((a, b) => a + b, 0);
      return Float32Array.from(e, (v) => v / sum);
    }
    case 'add': {
      const xs = layer.inputs.map((name) => tensorOf(outputs, name, layer.name));
      const first = xs[0]!;
      const y = emptyTensor(first.channels, first.height, first.width);
      for (const x of xs) sameShape(x, first, `add "${layer.name}"`);
      for (let k = 0; k < y.data.length; k++) {
        let s = 0;
        for (const x of xs) s += x.data[k]!;
        y.data[k] = s;
      }
      return y;
    }
    case 'zeropad': {
      const x = tensorOf(outputs, layer.input, layer.name);
      const [top, left, bottom, right] = layer.pads;
      const y = emptyTensor(x.channels, x.height + top + bottom, x.width + left + right);
      for (let c = 0; c < x.channels; c++) {
        for (let i = 0; i < x.height; i++) {
          for (let j = 0; j < x.width; j++) {
            y.data[(c * y.height + i + top) * y.width + j + left] = x.data[(c * x.height + i) * x.width + j]!;
          }
        }
      }
      return y;
    }
    case 'maxpool': {
      const x = tensorOf(outputs, layer.input, layer.name);
      const { outH, outW } = poolGeometry(layer, x);
      const y = emptyTensor(x.channels, outH, outW);
      for (let c = 0; c < x.channels; c++) {
        for (let u = 0; u < outH; u++) {
          for (let v = 0; v < outW; v++) {
            y.data[(c * outH + u) * outW + v] = x.data[poolArgmax(layer, x, c, u, v)]!;
          }
        }
      }
      return y;
    }
    case 'gap': {
      const x = tensorOf(outputs, layer.input, layer.name);
      const plane = x.height * x.width;
      const y = new Float32Array(x.channels);
      for (let c = 0; c < x.channels; c++) {
        let s = 0;
        for (let p = 0; p < plane; p++) s += x.data[c * plane + p]!;
        y[c] = s / plane;
      }
      return y;
    }
    case 'dense': {
      const x = vectorOf(outputs, layer.input, layer.name);
      if (x.length !== layer.inUnits) {
        throw new Error(`dense "${layer.name}" expects ${layer.inUnits} inputs, got ${x.length}`);
      }
      const y = new Float32Array(layer.units);
      for (let o = 0; o < layer.units; o++) {
        let s = layer.bias ? layer.bias[o]! : 0;
        for (let i = 0; i < layer.inUnits; i++) s += x[i]! * layer.weights[i * layer.units + o]!;
        y[o] = s;
      }
      return y;
    }
  }
}

function convForward(layer: Conv2DLayer, x: Tensor3): Tensor3 {
  const geo = convGeometry(layer, x);
  const y = emptyTensor(layer.filters, geo.outH, geo.outW);
  const plane = geo.outH * geo.outW;
  const acc = new Float64Array(plane);
  for (let o = 0; o < layer.filters; o++) {
    // Each output sums its bias, then its taps in (c, ki, kj) order.
    acc.fill(layer.bias ? layer.bias[o]! : 0);
    convPlane(layer, geo, x, o, x.data, layer.weights, acc);
    y.data.set(acc, o * plane);
  }
  return y;
}

// ---------------------------------------------------------------------------------------------------------
// Top-down pass
// ---------------------------------------------------------------------------------------------------------

/**
 * The DASR top-down pass seeded at spatial position (x = column, y = row) of layer `from`'s output with 1/C on
 * each of its C channels (0 elsewhere), propagated back to the graph input. Returns the signal at the input,
 * rounded to float32. `activations` is the output of `referenceForward` (at least up to `from`).
 */
export function referenceTopDown(
  graph: LayerGraph,
  activations: Map<string, Activation>,
  from: string,
  seed: { x: number; y: number },
  stopAt: string = graph.input,
): Tensor3 {
  const out = tensorOf(activations, from, 'the top-down seed');
  if (!Number.isInteger(seed.x) || !Number.isInteger(seed.y) || seed.x < 0 || seed.y < 0 || seed.x >= out.width || seed.y >= out.height) {
    throw new Error(`seed (${seed.x}, ${seed.y}) is outside the ${out.width}×${out.height} output of "${from}"`);
  }
  const g = emptySignal(out.channels, out.height, out.width);
  for (let c = 0; c < out.channels; c++) g.data[(c * out.height + seed.y) * out.width + seed.x] = 1 / out.channels;
  const s = referenceTopDownSignal(graph, activations, from, g, stopAt);
  return { channels: s.channels, height: s.height, width: s.width, data: Float32Array.from(s.data) };
}

/**
 * The same pass from an arbitrary signal `g` at layer `from`'s output (same shape as that output), in float64,
 * down to the output of `stopAt` (the input by default). Layers after `from`, and layers `from` does not depend
 * on, are ignored. Where a tensor feeds several consumers, the signals coming back from them are summed.
 */
export function referenceTopDownSignal(
  graph: LayerGraph,
  activations: Map<string, Activation>,
  from: string,
  g: Signal3,
  stopAt: string = graph.input,
): Signal3 {
  const fromIndex = graph.layers.findIndex((l) => l.name === from);
  if (fromIndex < 0) throw new Error(`layer "${from}" is not in the model`);
  const stopIndex = graph.layers.findIndex((l) => l.name === stopAt);
  if (stopIndex < 0 || stopIndex > fromIndex) throw new Error(`layer "${stopAt}" is not below "${from}"`);
  sameShape(g, tensorOf(activations, from, 'the top-down seed'), `top-down signal at "${from}"`);

  const signals = new Map<string, Signal3>();
  accumulate(signals, from, g);
  // Reverse topological order: every consumer of a tensor is visited before the tensor's producer, so a
  // producer's signal is complete (summed over all its consumers) when it is propagated further.
  for (let i = fromIndex; i > stopIndex; i--) {
    const layer = graph.layers[i]!;
    const gOut = signals.get(layer.name);
    if (!gOut || layer.kind === 'input') continue;
    signals.delete(layer.name);
    for (const [name, gIn] of backwardLayer(layer, gOut, activations)) accumulate(signals, name, gIn);
  }
  const x = tensorOf(activations, stopAt, 'the top-down pass');
  return signals.get(stopAt) ?? emptySignal(x.channels, x.height, x.width);
}

/** M = max(0, Σ over channels) per pixel (H×W, row-major). */
export function saliencyFromInputSignal(signal: Tensor3): Float32Array {
  const plane = signal.height * signal.width;
  const m = new Float32Array(plane);
  for (let p = 0; p < plane; p++) {
    let s = 0;
    for (let c = 0; c < signal.channels; c++) s += signal.data[c * plane + p]!;
    m[p] = Math.max(0, s);
  }
  return m;
}

/** The signals this layer sends to its inputs, given the signal `g` at its output. */
function backwardLayer(layer: Layer, g: Signal3, activations: Map<string, Activation>): [string, Signal3][] {
  switch (layer.kind) {
    case 'conv':
      return [[layer.input, convBackward(layer, tensorOf(activations, layer.input, layer.name), g)]];
    case 'batchnorm': {
      const gIn = emptySignal(g.channels, g.height, g.width);
      const plane = g.height * g.width;
      for (let c = 0; c < g.channels; c++) {
        const scale = layer.gamma[c]! / Math.sqrt(layer.variance[c]! + layer.epsilon);
        for (let p = 0; p < plane; p++) gIn.data[c * plane + p] = g.data[c * plane + p]! * scale;
      }
      return [[layer.input, gIn]];
    }
    case 'relu': {
      const x = tensorOf(activations, layer.input, layer.name);
      sameShape(g, x, `top-down signal at relu "${layer.name}"`);
      const gIn = emptySignal(g.channels, g.height, g.width);
      for (let k = 0; k < gIn.data.length; k++) gIn.data[k] = x.data[k]! > 0 ? g.data[k]! : 0;
      return [[layer.input, gIn]];
    }
    case 'linear':
      return [[layer.input, g]];
    case 'add':
      return layer.inputs.map((name): [string, Signal3] => [name, g]);
    case 'zeropad': {
      const [top, left, bottom, right] = layer.pads;
      const gIn = emptySignal(g.channels, g.height - top - bottom, g.width - left - right);
      for (let c = 0; c < gIn.channels; c++) {
        for (let i = 0; i < gIn.height; i++) {
          for (let j = 0; j < gIn.width; j++) {
            gIn.data[(c * gIn.height + i) * gIn.width + j] = g.data[(c * g.height + i + top) * g.width + j + left]!;
          }
        }
      }
      return [[layer.input, gIn]];
    }
    case 'maxpool': {
      const x = tensorOf(activations, layer.input, layer.name);
      const { outH, outW } = poolGeometry(layer, x);
      sameShape(g, { channels: x.channels, height: outH, width: outW }, `top-down signal at maxpool "${layer.name}"`);
      const gIn = emptySignal(x.channels, x.height, x.width);
      for (let c = 0; c < g.channels; c++) {
        for (let u = 0; u < g.height; u++) {
          for (let v = 0; v < g.width; v++) {
            gIn.data[poolArgmax(layer, x, c, u, v)] += g.data[(c * g.height + u) * g.width + v]!;
          }
        }
      }
      return [[layer.input, gIn]];
    }
    case 'softmax':
    case 'gap':
    case 'dense':
    case 'input':
      throw new Error(`the top-down pass is not defined through ${layer.kind} layer "${layer.name}"`);
  }
}

/**
 * The conv rule: m = min(x), W⁺ = max(W, 0), Z = conv(x − m, W⁺) (same stride and padding, padded cells are 0,
 * no bias), G = g / (|Z| + 1e-10) with G = 0 where Z < 1e-10, g_in = (x − m) ⊙ convTranspose(G, W⁺).
 */
function convBackward(layer: Conv2DLayer, x: Tensor3, g: Signal3): Signal3 {
  const geo = convGeometry(layer, x);
  if (g.channels !== layer.filters || g.height !== geo.outH || g.width !== geo.outW) {
    throw new Error(`top-down signal at conv "${layer.name}" has the wrong shape`);
  }
  let m = Infinity;
  for (const v of x.data) m = Math.min(m, v);
  const shifted = Float64Array.from(x.data, (v) => v - m);
  const wPos = positiveWeights(layer);

  const back = new Float64Array(shifted.length); // convTranspose(G, W⁺)
  const plane = geo.outH * geo.outW;
  const z = new Float64Array(plane);
  const gz = new Float64Array(plane);
  for (let o = 0; o < layer.filters; o++) {
    // An output whose signal is 0 sends nothing back (its G is 0 or 0 / Z): skip the whole filter then.
    let any = false;
    for (let p = 0; p < plane && !any; p++) any = g.data[o * plane + p] !== 0;
    if (!any) continue;
    // Taps with a zero positive weight add nothing to Z or to the transpose (for finite inputs): skipped.
    z.fill(0);
    convPlane(layer, geo, x, o, shifted, wPos, z);
    for (let p = 0; p < plane; p++) {
      gz[p] = z[p]! < Z_EPSILON ? 0 : g.data[o * plane + p]! / (Math.abs(z[p]!) + Z_EPSILON); // G = 0 where Z < 1e-10
    }
    convTransposePlane(layer, geo, x, o, gz, wPos, back);
  }
  const gIn = emptySignal(x.channels, x.height, x.width);
  for (let k = 0; k < gIn.data.length; k++) gIn.data[k] = shifted[k]! * back[k]!;
  return gIn;
}

// ---------------------------------------------------------------------------------------------------------
// Geometry and helpers
// ---------------------------------------------------------------------------------------------------------

interface ConvGeometry {
  padTop: number;
  padLeft: number;
  outH: number;
  outW: number;
}

function convGeometry(layer: Conv2DLayer, x: Tensor3): ConvGeometry {
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.strides;
  if (x.channels !== layer.inChannels) {
    throw new Error(`conv "${layer.name}" expects ${layer.inChannels} channels, got ${x.channels}`);
  }
  if (layer.weights.length !== layer.filters * layer.inChannels * kh * kw) {
    throw new Error(`conv "${layer.name}" has ${layer.weights.length} weights, expected OIHW ${layer.filters}×${layer.inChannels}×${kh}×${kw}`);
  }
  let padH = 0;
  let padW = 0;
  if (layer.padding === 'same') {
    if (sh !== 1 || sw !== 1 || kh % 2 === 0 || kw % 2 === 0) {
      throw new Error(`conv "${layer.name}": 'same' padding is only supported with stride 1 and odd kernels`);
    }
    padH = (kh - 1) / 2;
    padW = (kw - 1) / 2;
  }
  const outH = Math.floor((x.height + 2 * padH - kh) / sh) + 1;
  const outW = Math.floor((x.width + 2 * padW - kw) / sw) + 1;
  if (outH < 1 || outW < 1) throw new Error(`conv "${layer.name}": input ${x.height}×${x.width} is smaller than the kernel`);
  return { padTop: padH, padLeft: padW, outH, outW };
}

/** W⁺ = max(W, 0), exact in float32 (a plain loop: Float64Array.from with a callback was the slow part). */
function positiveWeights(layer: Conv2DLayer): Float32Array {
  const positive = new Float32Array(layer.weights.length);
  for (let k = 0; k < positive.length; k++) positive[k] = Math.max(layer.weights[k]!, 0);
  return positive;
}

/**
 * Adds output channel o of conv(xData, weights) (no bias) to `out` (outH×outW). For each output the in-bounds taps
 * (c, ki, kj) are added in that order; padded taps are skipped, and so are taps whose weight is 0 (which add
 * nothing for finite inputs). The loops are grouped by tap and row for speed.
 */
function convPlane(
  layer: Conv2DLayer,
  geo: ConvGeometry,
  x: Tensor3,
  o: number,
  xData: Float32Array | Float64Array,
  weights: Float32Array,
  out: Float64Array,
): void {
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.strides;
  const { outH, outW, padTop, padLeft } = geo;
  const { height, width } = x;
  for (let c = 0; c < layer.inChannels; c++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const w = weights[((o * layer.inChannels + c) * kh + ki) * kw + kj]!;
        if (w === 0) continue;
        // input column j = v·sw + kj − padLeft must lie in [0, width)
        const v0 = Math.max(0, Math.ceil((padLeft - kj) / sw));
        const v1 = Math.min(outW, Math.floor((width - 1 + padLeft - kj) / sw) + 1);
        for (let u = 0; u < outH; u++) {
          const i = u * sh + ki - padTop;
          if (i < 0 || i >= height) continue;
          const xRow = (c * height + i) * width + kj - padLeft;
          const outRow = u * outW;
          for (let v = v0; v < v1; v++) out[outRow + v] += xData[xRow + v * sw]! * w;
        }
      }
    }
  }
}

/** The adjoint of convPlane: adds convTranspose(gz, weights) of output channel o to `back` (x's shape). */
function convTransposePlane(
  layer: Conv2DLayer,
  geo: ConvGeometry,
  x: Tensor3,
  o: number,
  gz: Float64Array,
  weights: Float32Array,
  back: Float64Array,
): void {
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.strides;
  const { outH, outW, padTop, padLeft } = geo;
  const { height, width } = x;
  for (let c = 0; c < layer.inChannels; c++) {
    for (let ki = 0; ki < kh; ki++) {
      for (let kj = 0; kj < kw; kj++) {
        const w = weights[((o * layer.inChannels + c) * kh + ki) * kw + kj]!;
        if (w === 0) continue;
        const v0 = Math.max(0, Math.ceil((padLeft - kj) / sw));
        const v1 = Math.min(outW, Math.floor((width - 1 + padLeft - kj) / sw) + 1);
        for (let u = 0; u < outH; u++) {
          const i = u * sh + ki - padTop;
          if (i < 0 || i >= height) continue;
          const xRow = (c * height + i) * width + kj - padLeft;
          const gRow = u * outW;
          for (let v = v0; v < v1; v++) back[xRow + v * sw] += gz[gRow + v]! * w;
        }
      }
    }
  }
}

function poolGeometry(layer: MaxPoolLayer, x: Tensor3): { outH: number; outW: number } {
  const outH = Math.floor((x.height - layer.pool[0]) / layer.strides[0]) + 1;
  const outW = Math.floor((x.width - layer.pool[1]) / layer.strides[1]) + 1;
  if (outH < 1 || outW < 1) throw new Error(`maxpool "${layer.name}": input ${x.height}×${x.width} is smaller than the pool`);
  return { outH, outW };
}

/** Flat index into `x` of the maximum of window (u, v) on channel c: the first maximum in row-major order. */
function poolArgmax(layer: MaxPoolLayer, x: Tensor3, c: number, u: number, v: number): number {
  let best = -1;
  for (let pi = 0; pi < layer.pool[0]; pi++) {
    for (let pj = 0; pj < layer.pool[1]; pj++) {
      const k = (c * x.height + u * layer.strides[0] + pi) * x.width + v * layer.strides[1] + pj;
      if (best < 0 || x.data[k]! > x.data[best]!) best = k;
    }
  }
  return best;
}

function accumulate(signals: Map<string, Signal3>, name: string, g: Signal3): void {
  const existing = signals.get(name);
  if (!existing) {
    signals.set(name, { ...g, data: Float64Array.from(g.data) });
    return;
  }
  sameShape(g, existing, `top-down signals meeting at "${name}"`);
  for (let k = 0; k < g.data.length; k++) existing.data[k] += g.data[k]!;
}

function activationOf(outputs: Map<string, Activation>, name: string, consumer: string): Activation {
  const a = outputs.get(name);
  if (a === undefined) throw new Error(`${consumer} needs the output of "${name}", which has not been computed`);
  return a;
}

function tensorOf(outputs: Map<string, Activation>, name: string, consumer: string): Tensor3 {
  const a = activationOf(outputs, name, consumer);
  if (a instanceof Float32Array) throw new Error(`${consumer} needs a C×H×W tensor, but "${name}" is a vector`);
  return a;
}

function vectorOf(outputs: Map<string, Activation>, name: string, consumer: string): Float32Array {
  const a = activationOf(outputs, name, consumer);
  if (!(a instanceof Float32Array)) throw new Error(`${consumer} needs a vector, but "${name}" is a C×H×W tensor`);
  return a;
}

function mapActivation(x: Activation, f: (v: number) => number): Activation {
  if (x instanceof Float32Array) return x.map(f);
  return { channels: x.channels, height: x.height, width: x.width, data: x.data.map(f) };
}

function emptyTensor(channels: number, height: number, width: number): Tensor3 {
  return { channels, height, width, data: new Float32Array(channels * height * width) };
}

function emptySignal(channels: number, height: number, width: number): Signal3 {
  return { channels, height, width, data: new Float64Array(channels * height * width) };
}

type Shape3 = { channels: number; height: number; width: number };

function checkShape(t: Shape3, length: number, what: string): void {
  if (t.channels * t.height * t.width !== length) {
    throw new Error(`${what}: ${t.channels}×${t.height}×${t.width} does not match ${length} values`);
  }
}

function sameShape(a: Shape3, b: Shape3, what: string): void {
  if (a.channels !== b.channels || a.height !== b.height || a.width !== b.width) {
    throw new Error(`${what}: shape ${a.channels}×${a.height}×${a.width} differs from ${b.channels}×${b.height}×${b.width}`);
  }
}
