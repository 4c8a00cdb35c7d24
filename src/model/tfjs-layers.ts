import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Layer, LayerGraph, Padding4 } from './layer-graph.js';

/** The parts of a TF.js "layers-model" model.json this translator reads. */
interface TfjsModelJson {
  format?: string;
  modelTopology: { model_config?: KerasModelConfig } & Partial<KerasModelConfig>;
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string; quantization?: unknown }[] }[];
}

interface KerasModelConfig {
  class_name: string;
  config: { layers: KerasLayer[]; input_layers: [string, number, number][]; output_layers: [string, number, number][] };
}

interface KerasLayer {
  name: string;
  class_name: string;
  config: Record<string, unknown>;
  inbound_nodes: [string, number, number, unknown][][];
}

export class ModelFormatError extends Error {
  override name = 'ModelFormatError';
}

/** Reads a TF.js layers model (model.json + weight shards) into a LayerGraph. */
export async function readTfjsLayersModel(modelJsonPath: string): Promise<LayerGraph> {
  const json = JSON.parse(await readFile(modelJsonPath, 'utf8')) as TfjsModelJson;
  const weights = await readWeights(json, dirname(modelJsonPath));
  return layerGraphFromTfjs(json, weights);
}

async function readWeights(json: TfjsModelJson, directory: string): Promise<Map<string, Float32Array>> {
  const weights = new Map<string, Float32Array>();
  for (const group of json.weightsManifest) {
    const shards = await Promise.all(group.paths.map((p) => readFile(join(directory, p))));
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32' || spec.quantization) {
        throw new ModelFormatError(`weight ${spec.name}: only unquantised float32 weights are supported (got ${spec.dtype})`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      if (offset + count * 4 > bytes.length) {
        throw new ModelFormatError(`weight shards end before ${spec.name}: ${bytes.length} bytes, need ${offset + count * 4}`);
      }
      // Copy out of the shard buffer: it is not 4-byte aligned in general.
      weights.set(spec.name, new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * 4)));
      offset += count * 4;
    }
    if (offset !== bytes.length) {
      throw new ModelFormatError(`weight shards hold ${bytes.length} bytes but the manifest describes ${offset}`);
    }
  }
  return weights;
}

/** Translates the Keras layer list; weights are looked up as "<layer>/<param>" and re-laid out to NCHW/OIHW. */
export function layerGraphFromTfjs(json: TfjsModelJson, weights: Map<string, Float32Array>): LayerGraph {
  const config = json.modelTopology.model_config ?? (json.modelTopology as KerasModelConfig);
  if (!config?.config?.layers) throw new ModelFormatError('model.json has no Keras model_config with layers');
  const { layers: kerasLayers, input_layers, output_layers } = config.config;
  if (input_layers.length !== 1 || output_layers.length !== 1) {
    throw new ModelFormatError('only models with one input and one output are supported');
  }

  const layers: Layer[] = [];
  const channels = new Map<string, number>();
  const weight = (layer: string, param: string): Float32Array => {
    const w = weights.get(`${layer}/${param}`);
    if (!w) throw new ModelFormatError(`weight ${layer}/${param} is missing from the shards`);
    return w;
  };
  /** Keras names the layer; an activation fused into Conv2D/Dense becomes a layer of its own after it. */
  const withActivation = (layer: Layer & { name: string }, activation: unknown, outChannels: number): void => {
    const act = (activation ?? 'linear') as string;
    if (act === 'linear') {
      layers.push(layer);
      channels.set(layer.name, outChannels);
      return;
    }
    if (act !== 'relu' && act !== 'softmax') throw new ModelFormatError(`${layer.name}: activation "${act}" is not supported`);
    const preActivation = `${layer.name}/preactivation`;
    layers.push({ ...layer, name: preActivation });
    layers.push({ kind: act, name: layer.name, input: preActivation });
    channels.set(preActivation, outChannels);
    channels.set(layer.name, outChannels);
  };

  for (const kl of kerasLayers) {
    const c = kl.config;
    const inputs = (kl.inbound_nodes[0] ?? []).map((n) => n[0]);
    const single = (): string => {
      if (inputs.length !== 1) throw new ModelFormatError(`${kl.name}: expected one input, got ${inputs.length}`);
      return inputs[0]!;
    };
    const inChannels = (): number => channels.get(single()) ?? fail(`${kl.name}: unknown input ${single()}`);
    const dataFormat = c['data_format'];
    if (dataFormat !== undefined && dataFormat !== 'channels_last') {
      throw new ModelFormatError(`${kl.name}: data_format ${String(dataFormat)} is not supported`);
    }

    switch (kl.class_name) {
      case 'InputLayer': {
        const shape = c['batch_input_shape'] as (number | null)[];
        const ch = shape[3];
        if (shape.length !== 4 || typeof ch !== 'number') throw new ModelFormatError(`${kl.name}: expected an NHWC image input`);
        layers.push({ kind: 'input', name: kl.name, channels: ch });
        channels.set(kl.name, ch);
        break;
      }
      case 'Conv2D': {
        const [kh, kw] = c['kernel_size'] as [number, number];
        const strides = c['strides'] as [number, number];
        const dilation = (c['dilation_rate'] as [number, number] | undefined) ?? [1, 1];
        if (dilation[0] !== 1 || dilation[1] !== 1) throw new ModelFormatError(`${kl.name}: dilated convolutions are not supported`);
        const padding = c['padding'] as string;
        if (padding !== 'valid' && padding !== 'same') throw new ModelFormatError(`${kl.name}: padding ${padding} is not supported`);
        if (padding === 'same' && (strides[0] !== 1 || strides[1] !== 1 || kh % 2 === 0 || kw % 2 === 0)) {
          throw new ModelFormatError(`${kl.name}: 'same' padding is supported only for stride 1 and odd kernels`);
        }
        const filters = c['filters'] as number;
        const cin = inChannels();
        withActivation(
          {
            kind: 'conv',
            name: kl.name,
            input: single(),
            filters,
            inChannels: cin,
            kernel: [kh, kw],
            strides,
            padding,
            weights: hwioToOihw(weight(kl.name, 'kernel'), kh, kw, cin, filters),
            bias: c['use_bias'] === false ? null : weight(kl.name, 'bias'), // Keras defaults use_bias to true
          },
          c['activation'],
          filters,
        );
        break;
      }
      case 'BatchNormalization': {
        const axis = c['axis'];
        const axisValue = Array.isArray(axis) ? axis[0] : axis;
        if (axisValue !== 3 && axisValue !== -1) throw new ModelFormatError(`${kl.name}: only channel-axis batch norm is supported`);
        const ch = inChannels();
        layers.push({
          kind: 'batchnorm',
          name: kl.name,
          input: single(),
          gamma: c['scale'] === false ? new Float32Array(ch).fill(1) : weight(kl.name, 'gamma'),
          beta: c['center'] === false ? new Float32Array(ch) : weight(kl.name, 'beta'),
          mean: weight(kl.name, 'moving_mean'),
          variance: weight(kl.name, 'moving_variance'),
          epsilon: c['epsilon'] as number,
        });
        channels.set(kl.name, ch);
        break;
      }
      case 'Activation': {
        const act = c['activation'] as string;
        if (act !== 'relu' && act !== 'softmax' && act !== 'linear') throw new ModelFormatError(`${kl.name}: activation "${act}" is not supported`);
        layers.push({ kind: act, name: kl.name, input: single() });
        channels.set(kl.name, inChannels());
        break;
      }
      case 'Add': {
        if (inputs.length < 2) throw new ModelFormatError(`${kl.name}: Add needs at least two inputs`);
        layers.push({ kind: 'add', name: kl.name, inputs });
        channels.set(kl.name, channels.get(inputs[0]!) ?? fail(`${kl.name}: unknown input`));
        break;
      }
      case 'ZeroPadding2D': {
        const p = c['padding'] as [[number, number], [number, number]] | number;
        const pads: Padding4 = typeof p === 'number' ? [p, p, p, p] : [p[0][0], p[1][0], p[0][1], p[1][1]];
        layers.push({ kind: 'zeropad', name: kl.name, input: single(), pads });
        channels.set(kl.name, inChannels());
        break;
      }
      case 'MaxPooling2D': {
        if (c['padding'] !== 'valid') throw new ModelFormatError(`${kl.name}: only 'valid' max pooling is supported`);
        layers.push({
          kind: 'maxpool',
          name: kl.name,
          input: single(),
          pool: c['pool_size'] as [number, number],
          strides: (c['strides'] as [number, number] | null) ?? (c['pool_size'] as [number, number]),
        });
        channels.set(kl.name, inChannels());
        break;
      }
      case 'GlobalAveragePooling2D': {
        layers.push({ kind: 'gap', name: kl.name, input: single() });
        channels.set(kl.name, inChannels());
        break;
      }
      case 'Dense': {
        const units = c['units'] as number;
        const inUnits = inChannels();
        withActivation(
          {
            kind: 'dense',
            name: kl.name,
            input: single(),
            units,
            inUnits,
            weights: weight(kl.name, 'kernel'),
            bias: c['use_bias'] === false ? null : weight(kl.name, 'bias'),
          },
          c['activation'],
          units,
        );
        break;
      }
      default:
        throw new ModelFormatError(`${kl.name}: layer type ${kl.class_name} is not supported`);
    }
  }
  return { layers, input: input_layers[0]![0], output: output_layers[0]![0] };
}

function hwioToOihw(hwio: Float32Array, kh: number, kw: number, cin: number, cout: number): Float32Array {
  if (hwio.length !== kh * kw * cin * cout) throw new ModelFormatError(`kernel has ${hwio.length} values, expected ${kh * kw * cin * cout}`);
  const oihw = new Float32Array(hwio.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++)
        for (let o = 0; o < cout; o++) oihw[((o * cin + i) * kh + y) * kw + x] = hwio[((y * kw + x) * cin + i) * cout + o]!;
  return oihw;
}

function fail(message: string): never {
  throw new ModelFormatError(message);
}
