import { GraphBuilder, int, ints, float, type Dim } from './onnx/builder.js';
import type { Conv2DLayer, LayerGraph } from './layer-graph.js';

/** What the forward emission leaves behind for later passes: each layer's output value and conv weights. */
export interface ForwardValues {
  /** layer name → ONNX value name of its output */
  outputs: Map<string, string>;
  /** conv layer name → initializer holding its OIHW weights */
  convWeights: Map<string, string>;
  /** max-pool layer name → its Indices output (only when requested) */
  poolIndices: Map<string, string>;
  /** layer name → tensor rank of its output (4 for feature maps, 2 after global pooling) */
  ranks: Map<string, number>;
}

export function convPads(layer: Conv2DLayer): [number, number, number, number] {
  if (layer.padding === 'valid') return [0, 0, 0, 0];
  const ph = (layer.kernel[0] - 1) / 2;
  const pw = (layer.kernel[1] - 1) / 2;
  return [ph, pw, ph, pw];
}

/** Emits the forward computation of `graph` reading `input` (NCHW float). */
export function emitForward(
  b: GraphBuilder,
  graph: LayerGraph,
  input: string,
  options: { poolIndices?: boolean } = {},
): ForwardValues {
  const values: ForwardValues = { outputs: new Map(), convWeights: new Map(), poolIndices: new Map(), ranks: new Map() };
  const get = (name: string): string => values.outputs.get(name) ?? unreachable(name);
  const rank = (name: string): number => values.ranks.get(name) ?? 4;

  for (const layer of graph.layers) {
    let out: string;
    let outRank = 4;
    switch (layer.kind) {
      case 'input':
        out = input;
        break;
      case 'conv': {
        const w = b.floatTensor(`${layer.name}/kernel`, [layer.filters, layer.inChannels, ...layer.kernel], layer.weights);
        values.convWeights.set(layer.name, w);
        const inputs = [get(layer.input), w];
        if (layer.bias) inputs.push(b.floatTensor(`${layer.name}/bias`, [layer.filters], layer.bias));
        out = b.op('Conv', inputs, layer.name, {
          kernel_shape: ints(layer.kernel),
          strides: ints(layer.strides),
          pads: ints(convPads(layer)),
        });
        break;
      }
      case 'batchnorm': {
        const n = layer.gamma.length;
        out = b.op(
          'BatchNormalization',
          [
            get(layer.input),
            b.floatTensor(`${layer.name}/gamma`, [n], layer.gamma),
            b.floatTensor(`${layer.name}/beta`, [n], layer.beta),
            b.floatTensor(`${layer.name}/mean`, [n], layer.mean),
            b.floatTensor(`${layer.name}/variance`, [n], layer.variance),
          ],
          layer.name,
          { epsilon: float(layer.epsilon) },
        );
        break;
      }
      case 'relu':
        out = b.op('Relu', [get(layer.input)], layer.name);
        outRank = rank(layer.input);
        break;
      case 'softmax':
        // Channels are axis 1 both for NCHW maps and for [N, units] vectors.
        out = b.op('Softmax', [get(layer.input)], layer.name, { axis: int(1) });
        outRank = rank(layer.input);
        break;
      case 'linear':
        out = get(layer.input);
        outRank = rank(layer.input);
        break;
      case 'add':
        out = b.sum(layer.inputs.map(get), layer.name);
        outRank = rank(layer.inputs[0]!);
        break;
      case 'zeropad': {
        const [top, left, bottom, right] = layer.pads;
        out = b.op('Pad', [get(layer.input), b.int64Tensor(`${layer.name}/pads`, [8], [0, 0, top, left, 0, 0, bottom, right])], layer.name);
        break;
      }
      case 'maxpool': {
        const attributes = { kernel_shape: ints(layer.pool), strides: ints(layer.strides) };
        if (options.poolIndices) {
          const [y, indices] = b.opMulti('MaxPool', [get(layer.input)], [layer.name, `${layer.name}/indices`], attributes);
          values.poolIndices.set(layer.name, indices!);
          out = y!;
        } else {
          out = b.op('MaxPool', [get(layer.input)], layer.name, attributes);
        }
        break;
      }
      case 'gap':
        out = b.op('Flatten', [b.op('GlobalAveragePool', [get(layer.input)], `${layer.name}/4d`)], layer.name, { axis: int(1) });
        outRank = 2;
        break;
      case 'dense': {
        if (rank(layer.input) !== 2) throw new Error(`${layer.name}: Dense is supported only after global pooling`);
        const inputs = [get(layer.input), b.floatTensor(`${layer.name}/kernel`, [layer.inUnits, layer.units], layer.weights)];
        if (layer.bias) inputs.push(b.floatTensor(`${layer.name}/bias`, [layer.units], layer.bias));
        out = b.op('Gemm', inputs, layer.name);
        outRank = 2;
        break;
      }
    }
    values.outputs.set(layer.name, out);
    values.ranks.set(layer.name, outRank);
  }
  return values;
}

/** Channel count of a layer's output, for declaring graph outputs. */
export function outputChannels(graph: LayerGraph, name: string): number {
  const byName = new Map(graph.layers.map((l) => [l.name, l]));
  let layer = byName.get(name);
  while (layer) {
    switch (layer.kind) {
      case 'input':
        return layer.channels;
      case 'conv':
        return layer.filters;
      case 'dense':
        return layer.units;
      case 'batchnorm':
        return layer.gamma.length;
      case 'add':
        layer = byName.get(layer.inputs[0]!);
        break;
      default:
        layer = byName.get(layer.input);
    }
  }
  throw new Error(`layer "${name}" is not in the model`);
}

export interface ForwardModelOutput {
  /** name of the ONNX graph output */
  name: string;
  /** layer whose output it is */
  layer: string;
}

/** An ONNX model computing the named layer outputs from an NCHW `image` input with dynamic batch/height/width. */
export function buildForwardModel(graph: LayerGraph, outputs: readonly ForwardModelOutput[], metadata: Record<string, string> = {}): Uint8Array {
  const b = new GraphBuilder('forward');
  const inputLayer = graph.layers[0];
  if (inputLayer?.kind !== 'input') throw new Error('the first layer must be the input');
  const image = b.input('image', ['batch', inputLayer.channels, 'height', 'width']);
  const values = emitForward(b, graph, image);
  for (const { name, layer } of outputs) {
    const value = values.outputs.get(layer);
    if (!value) throw new Error(`layer "${layer}" is not in the model`);
    const channels = outputChannels(graph, layer);
    const dims: Dim[] = values.ranks.get(layer) === 2 ? ['batch', channels] : ['batch', channels, `${name}_height`, `${name}_width`];
    b.output(name, value, dims);
  }
  return b.toModel(metadata);
}

function unreachable(name: string): never {
  throw new Error(`layer input "${name}" is used before it is defined`);
}
