/**
 * A framework-neutral description of a feed-forward CNN, read from a TF.js layers model and consumed by
 * the ONNX graph builders (forward and top-down) and by the plain TypeScript reference implementation.
 *
 * Layout conventions: every tensor is NCHW; conv kernels are stored OIHW (out, in, kh, kw), dense kernels
 * as [in, out] row-major (Keras layout), all weights float32.
 */

export type Padding4 = readonly [top: number, left: number, bottom: number, right: number];

export interface InputLayer {
  kind: 'input';
  name: string;
  channels: number;
}

export interface Conv2DLayer {
  kind: 'conv';
  name: string;
  input: string;
  filters: number;
  inChannels: number;
  kernel: readonly [number, number];
  strides: readonly [number, number];
  /** 'valid' = no padding; 'same' is only supported with stride 1 and odd kernels (symmetric padding). */
  padding: 'valid' | 'same';
  /** OIHW */
  weights: Float32Array;
  bias: Float32Array | null;
}

export interface BatchNormLayer {
  kind: 'batchnorm';
  name: string;
  input: string;
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

export interface ActivationLayer {
  kind: 'relu' | 'softmax' | 'linear';
  name: string;
  input: string;
}

export interface AddLayer {
  kind: 'add';
  name: string;
  inputs: readonly string[];
}

export interface ZeroPadLayer {
  kind: 'zeropad';
  name: string;
  input: string;
  pads: Padding4;
}

export interface MaxPoolLayer {
  kind: 'maxpool';
  name: string;
  input: string;
  pool: readonly [number, number];
  strides: readonly [number, number];
}

export interface GlobalAvgPoolLayer {
  kind: 'gap';
  name: string;
  input: string;
}

export interface DenseLayer {
  kind: 'dense';
  name: string;
  input: string;
  units: number;
  inUnits: number;
  /** [in, out] row-major */
  weights: Float32Array;
  bias: Float32Array | null;
}

export type Layer =
  | InputLayer
  | Conv2DLayer
  | BatchNormLayer
  | ActivationLayer
  | AddLayer
  | ZeroPadLayer
  | MaxPoolLayer
  | GlobalAvgPoolLayer
  | DenseLayer;

export interface LayerGraph {
  /** Layers in topological order; the first is the input. */
  layers: Layer[];
  input: string;
  output: string;
}

/** The names of the layers whose outputs this layer reads. */
export function inputsOf(layer: Layer): readonly string[] {
  switch (layer.kind) {
    case 'input':
      return [];
    case 'add':
      return layer.inputs;
    default:
      return [layer.input];
  }
}

export function layerByName(graph: LayerGraph, name: string): Layer {
  const layer = graph.layers.find((l) => l.name === name);
  if (!layer) throw new Error(`layer "${name}" is not in the model`);
  return layer;
}

/** The prefix of the graph needed to compute `output` (layers it depends on), in topological order. */
export function truncateGraph(graph: LayerGraph, output: string): LayerGraph {
  const needed = new Set<string>([output]);
  for (let i = graph.layers.length - 1; i >= 0; i--) {
    const layer = graph.layers[i]!;
    if (needed.has(layer.name)) for (const src of inputsOf(layer)) needed.add(src);
  }
  if (!needed.has(graph.input)) throw new Error(`layer "${output}" does not depend on the input`);
  return { layers: graph.layers.filter((l) => needed.has(l.name)), input: graph.input, output };
}
