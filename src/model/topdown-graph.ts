import { GraphBuilder, int, ints, str } from './onnx/builder.js';
import { convPads, emitForward, outputChannels } from './forward-graph.js';
import { inputsOf, truncateGraph, type Conv2DLayer, type LayerGraph } from './layer-graph.js';

/** Below this, Z counts as zero: the method's rule sets G = 0 there instead of dividing. */
const Z_EPSILON = 1e-10;

/**
 * An ONNX model of the DASR top-down probability pass, generated from the same LayerGraph as the forward.
 *
 * Inputs: `image` [1, C, H, W] and `seeds` [K, 1, h, w] (one seed map per peak on the `from` layer's grid;
 * 1 at the peak, 0 elsewhere). Output: `saliency` [K, H, W] = max(0, Σ_colour g_in), the probability that
 * reaches each input pixel from each peak. The forward pass is recomputed inside the model at batch 1 and
 * every per-image quantity (x − min x, 1/Z, ReLU masks, max-pool argmax) is computed once and broadcast
 * over the K seeds, because the pass is linear in the seed.
 */
export function buildTopDownModel(fullGraph: LayerGraph, from: string, metadata: Record<string, string> = {}): Uint8Array {
  const graph = truncateGraph(fullGraph, from);
  const b = new GraphBuilder('topdown');
  const inputLayer = graph.layers[0];
  if (inputLayer?.kind !== 'input') throw new Error('the first layer must be the input');
  const image = b.input('image', [1, inputLayer.channels, 'height', 'width']);
  const seeds = b.input('seeds', ['peaks', 1, 'map_height', 'map_width']);
  const forward = emitForward(b, graph, image, { poolIndices: true });
  const fwd = (name: string): string => forward.outputs.get(name)!;

  const channels = outputChannels(graph, from);
  const perChannelSeed = b.floatTensor('seed_per_channel', [1, channels, 1, 1], new Float32Array(channels).fill(1 / channels));
  const contributions = new Map<string, string[]>([[from, [b.op('Mul', [seeds, perChannelSeed], 'seed')]]]);
  const send = (target: string, signal: string): void => {
    const list = contributions.get(target);
    if (list) list.push(signal);
    else contributions.set(target, [signal]);
  };
  const zero = b.scalar('zero', 0);
  const epsilon = b.scalar('z_epsilon', Z_EPSILON);

  let inputSignal: string | undefined;
  for (let i = graph.layers.length - 1; i >= 0; i--) {
    const layer = graph.layers[i]!;
    const parts = contributions.get(layer.name);
    if (!parts) continue; // nothing flows back through this layer
    const g = parts.length === 1 ? parts[0]! : b.op('Sum', parts, `${layer.name}/g`);

    switch (layer.kind) {
      case 'input':
        inputSignal = g;
        break;
      case 'relu': {
        const mask = b.op('Cast', [b.op('Greater', [fwd(layer.input), zero], `${layer.name}/positive`)], `${layer.name}/mask`, { to: int(1) });
        send(layer.input, b.op('Mul', [g, mask], `${layer.name}/g_in`));
        break;
      }
      case 'linear':
      case 'add':
        for (const source of inputsOf(layer)) send(source, g);
        break;
      case 'batchnorm': {
        const scale = new Float32Array(layer.gamma.length);
        for (let c = 0; c < scale.length; c++) scale[c] = layer.gamma[c]! / Math.sqrt(layer.variance[c]! + layer.epsilon);
        const scaleTensor = b.floatTensor(`${layer.name}/topdown_scale`, [1, scale.length, 1, 1], scale);
        send(layer.input, b.op('Mul', [g, scaleTensor], `${layer.name}/g_in`));
        break;
      }
      case 'conv': {
        const x = fwd(layer.input);
        const attributes = { kernel_shape: ints(layer.kernel), strides: ints(layer.strides), pads: ints(convPads(layer)) };
        const shifted = b.op('Sub', [x, b.op('ReduceMin', [x], `${layer.name}/x_min`, { keepdims: int(0) })], `${layer.name}/x_shifted`);
        const positiveWeights = b.op('Relu', [forward.convWeights.get(layer.name)!], `${layer.name}/kernel_positive`);
        const z = b.op('Conv', [shifted, positiveWeights], `${layer.name}/z`, attributes);
        const inverseZ = b.op(
          'Where',
          [
            b.op('Less', [z, epsilon], `${layer.name}/z_small`),
            zero,
            // |Z| = Z: x − min(x) ≥ 0 and W⁺ ≥ 0 make every product and sum non-negative, in floats too.
            b.op('Reciprocal', [b.op('Add', [z, epsilon], `${layer.name}/z_guarded`)], `${layer.name}/z_inv_all`),
          ],
          `${layer.name}/z_inv`,
        );
        const scaled = b.op('Mul', [g, inverseZ], `${layer.name}/g_over_z`);
        const backFull = emitConvAdjoint(b, layer, scaled, positiveWeights, x);
        send(layer.input, b.op('Mul', [shifted, backFull], `${layer.name}/g_in`));
        break;
      }
      case 'zeropad': {
        const [top, left, bottom, right] = layer.pads;
        const end = (pad: number): number => (pad === 0 ? Number.MAX_SAFE_INTEGER : -pad);
        send(
          layer.input,
          b.op(
            'Slice',
            [
              g,
              b.int64Tensor(`${layer.name}/starts`, [2], [top, left]),
              b.int64Tensor(`${layer.name}/ends`, [2], [end(bottom), end(right)]),
              b.int64Tensor(`${layer.name}/axes`, [2], [2, 3]),
            ],
            `${layer.name}/g_in`,
          ),
        );
        break;
      }
      case 'maxpool': {
        // MaxUnpool overwrites where windows share an argmax; scatter-add routes every window's signal.
        const x = fwd(layer.input);
        const peaks = b.op('Shape', [g], `${layer.name}/peaks`, { start: int(0), end: int(1) });
        const flatShape = b.int64Tensor(`${layer.name}/flat_tail`, [1], [-1]);
        const updates = b.op('Reshape', [g, b.op('Concat', [peaks, flatShape], `${layer.name}/flat_shape`, { axis: int(0) })], `${layer.name}/updates`);
        const indices = b.op(
          'Expand',
          [b.op('Reshape', [forward.poolIndices.get(layer.name)!, b.int64Tensor(`${layer.name}/row`, [2], [1, -1])], `${layer.name}/index_row`), b.op('Shape', [updates], `${layer.name}/updates_shape`)],
          `${layer.name}/indices`,
        );
        const inputSize = b.op('Reshape', [b.op('Size', [x], `${layer.name}/x_size`), b.int64Tensor(`${layer.name}/one`, [1], [1])], `${layer.name}/x_size_1d`);
        const zeros = b.op('ConstantOfShape', [b.op('Concat', [peaks, inputSize], `${layer.name}/zeros_shape`, { axis: int(0) })], `${layer.name}/zeros`);
        const scattered = b.op('ScatterElements', [zeros, indices, updates], `${layer.name}/scattered`, { axis: int(1), reduction: str('add') });
        const inputShape = b.op('Concat', [peaks, b.op('Shape', [x], `${layer.name}/x_chw`, { start: int(1) })], `${layer.name}/g_in_shape`, { axis: int(0) });
        send(layer.input, b.op('Reshape', [scattered, inputShape], `${layer.name}/g_in`));
        break;
      }
      default:
        throw new Error(`${layer.name}: the top-down pass does not support ${layer.kind} layers`);
    }
  }
  if (!inputSignal) throw new Error(`no signal reaches the input from "${from}"`);
  const colourSum = b.op('ReduceSum', [inputSignal, b.int64Tensor('colour_axis', [1], [1])], 'colour_sum', { keepdims: int(0) });
  b.output('saliency', b.op('Relu', [colourSum], 'saliency_clamped'), ['peaks', 'height', 'width']);
  return b.toModel(metadata);
}

/**
 * convTranspose(signal, W⁺) sized like the conv's input `x`, the exact adjoint of the conv. ONNX Runtime's
 * CPU ConvTranspose is several times slower than its Conv, so the common cases are rewritten as Conv:
 * stride 1 → Conv with the kernel transposed (in ↔ out) and rotated 180°, padded k−1−p; a strided 1×1 →
 * Conv with the transposed kernel at low resolution, then zeros interleaved (equal strides). Anything else (the 7×7/2 stem)
 * uses ConvTranspose and is padded back to the input size, which a strided conv may not have read entirely.
 */
function emitConvAdjoint(b: GraphBuilder, layer: Conv2DLayer, signal: string, positiveWeights: string, x: string): string {
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.strides;
  const [pt, pl, pb, pr] = convPads(layer);
  const name = layer.name;
  const transposed = b.op('Transpose', [positiveWeights], `${name}/kernel_adjoint`, { perm: ints([1, 0, 2, 3]) });
  if (sh === 1 && sw === 1) {
    const kernel =
      kh === 1 && kw === 1
        ? transposed
        : b.op(
            'Slice',
            [
              transposed,
              b.int64Tensor(`${name}/flip_starts`, [2], [-1, -1]),
              b.int64Tensor(`${name}/flip_ends`, [2], [-Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]),
              b.int64Tensor(`${name}/flip_axes`, [2], [2, 3]),
              b.int64Tensor(`${name}/flip_steps`, [2], [-1, -1]),
            ],
            `${name}/kernel_adjoint_rotated`,
          );
    return b.op('Conv', [signal, kernel], `${name}/back`, {
      kernel_shape: ints(layer.kernel),
      pads: ints([kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr]),
    });
  }
  const inputHw = b.op('Shape', [x], `${name}/x_hw`, { start: int(2) });
  if (kh === 1 && kw === 1 && pt + pl + pb + pr === 0 && sh === sw) {
    const low = b.op('Conv', [signal, transposed], `${name}/back_low`, { kernel_shape: ints([1, 1]) });
    // Interleave zeros: DepthToSpace (DCR) puts channel block 0 of [K, s²·C, h, w] on positions (s·i, s·j)
    // of [K, C, s·h, s·w], so blocks 1…s²−1 are zeros. Each value lands on the input position its output
    // read. (A 6-D Pad doing the same was several times slower in ONNX Runtime.)
    const zerosShape = b.op('Mul', [b.op('Shape', [low], `${name}/low_shape`), b.int64Tensor(`${name}/zero_blocks`, [4], [1, sh * sh - 1, 1, 1])], `${name}/zeros_shape`);
    const blocks = b.op('Concat', [low, b.op('ConstantOfShape', [zerosShape], `${name}/zeros`)], `${name}/back_blocks`, { axis: int(1) });
    const up = b.op('DepthToSpace', [blocks], `${name}/back_up`, { blocksize: int(sh), mode: str('DCR') });
    // The last output may read the input's last row (odd sizes), so only cropping can be needed.
    return b.op('Slice', [up, b.int64Tensor(`${name}/crop_starts`, [2], [0, 0]), inputHw, b.int64Tensor(`${name}/crop_axes`, [2], [2, 3])], `${name}/back_full`);
  }
  const back = b.op('ConvTranspose', [signal, positiveWeights], `${name}/back`, {
    kernel_shape: ints(layer.kernel),
    strides: ints(layer.strides),
    pads: ints([pt, pl, pb, pr]),
  });
  const missing = b.op('Sub', [inputHw, b.op('Shape', [back], `${name}/back_hw`, { start: int(2) })], `${name}/missing_hw`);
  const pads = b.op('Concat', [b.int64Tensor(`${name}/pads_head`, [6], [0, 0, 0, 0, 0, 0]), missing], `${name}/pads`, { axis: int(0) });
  return b.op('Pad', [back, pads], `${name}/back_full`);
}
