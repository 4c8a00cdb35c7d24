import { GraphBuilder, int, ints, str } from './onnx/builder.js';
import { convPads, emitForward, outputChannels, type ForwardValues } from './forward-graph.js';
import { inputsOf, truncateGraph, type Conv2DLayer, type LayerGraph } from './layer-graph.js';

/** Below this, Z counts as zero: the method's rule sets G = 0 there instead of dividing. */
const Z_EPSILON = 1e-10;

/**
 * Where a top-down pass ends. `lattice` > 1 keeps every lattice-th row and column of the map: at the input of a
 * stage whose first convs are strided 1×1, the signal only reaches the positions they read, and the zeros
 * between would otherwise take most of the map's 95th percentile.
 */
export interface TopDownStop {
  layer: string;
  lattice: number;
}

/**
 * A signal in the top-down pass: the K-peak tensor `value` times the product of per-image `factors` (batch-1
 * tensors or per-channel constants that broadcast over it). Every ReLU mask, BatchNorm scale, 1/Z and x − min x
 * of the method is such a factor, because the pass is linear in the seed once the forward is fixed. Deferring
 * them lets each conv apply all of them in one K-batch multiplication by a product computed once at batch 1,
 * instead of one K-batch pass over memory per factor.
 */
interface Signal {
  value: string;
  factors: string[];
}

/**
 * Emits the DASR top-down probability pass from the `from` layer down to the output of `stopAt` (the graph's
 * input for the method's full pass), reading the forward's values.
 *
 * `seeds` is [K, 1, h, w] on `from`'s grid (1 at a peak). Returns the value name of the saliency
 * [K, H', W'] = max(0, Σ_channels g) at `stopAt`: the probability that reaches each position of that layer
 * from each peak. Stopping above the input skips the most expensive high-resolution adjoints; it is only
 * allowed at a layer every path from `from` to the input passes through (a block boundary), so no signal
 * bypasses it.
 */
export function emitTopDown(b: GraphBuilder, graph: LayerGraph, forward: ForwardValues, seeds: string, from: string, stop: TopDownStop): string {
  const stopAt = stop.layer;
  const fwd = (name: string): string => forward.outputs.get(name) ?? missing(name);
  const channels = outputChannels(graph, from);
  const contributions = new Map<string, Signal[]>([[from, [{ value: seeds, factors: [b.floatTensor('seed_per_channel', [1, channels, 1, 1], new Float32Array(channels).fill(1 / channels))] }]]]);
  const send = (target: string, signal: Signal): void => {
    const list = contributions.get(target);
    if (list) list.push(signal);
    else contributions.set(target, [signal]);
  };
  const zero = b.scalar('zero', 0);
  const epsilon = b.scalar('z_epsilon', Z_EPSILON);
  /**
   * Read-position masks of strided 1×1 adjoints, per input and stride: a block's strided branch and shortcut share
   * one, so their signals carry the same factors and are summed before one multiplication.
   */
  const readMasks = new Map<string, string>();
  /** x − min(x) per conv input, shared by the convs that read the same tensor (a block's branch and shortcut). */
  const shiftedInputs = new Map<string, string>();
  const shifted = (layerName: string): string => {
    let value = shiftedInputs.get(layerName);
    if (!value) {
      const x = fwd(layerName);
      value = b.op('Sub', [x, b.op('ReduceMin', [x], `${layerName}/x_min`, { keepdims: int(0) })], `${layerName}/x_shifted`);
      shiftedInputs.set(layerName, value);
    }
    return value;
  };

  const layers = truncateGraph(graph, from).layers;
  const stopIndex = layers.findIndex((l) => l.name === stopAt);
  if (stopIndex < 0) throw new Error(`the top-down pass cannot stop at "${stopAt}": it is not below "${from}"`);
  for (let i = layers.length - 1; i > stopIndex; i--) {
    const layer = layers[i]!;
    const parts = contributions.get(layer.name);
    if (!parts) continue; // nothing flows back through this layer
    contributions.delete(layer.name);
    const g = merge(b, parts, layer.name);

    switch (layer.kind) {
      case 'input':
        throw new Error('unreachable: the input is never above the stop layer');
      case 'relu': {
        const mask = b.op('Cast', [b.op('Greater', [fwd(layer.input), zero], `${layer.name}/positive`)], `${layer.name}/mask`, { to: int(1) });
        send(layer.input, { value: g.value, factors: [...g.factors, mask] });
        break;
      }
      case 'linear':
      case 'add':
        for (const source of inputsOf(layer)) send(source, g);
        break;
      case 'batchnorm': {
        const scale = new Float32Array(layer.gamma.length);
        for (let c = 0; c < scale.length; c++) scale[c] = layer.gamma[c]! / Math.sqrt(layer.variance[c]! + layer.epsilon);
        send(layer.input, { value: g.value, factors: [...g.factors, b.floatTensor(`${layer.name}/topdown_scale`, [1, scale.length, 1, 1], scale)] });
        break;
      }
      case 'conv': {
        const x = fwd(layer.input);
        const xShifted = shifted(layer.input);
        const attributes = { kernel_shape: ints(layer.kernel), strides: ints(layer.strides), pads: ints(convPads(layer)) };
        const positiveWeights = b.op('Relu', [forward.convWeights.get(layer.name)!], `${layer.name}/kernel_positive`);
        const z = b.op('Conv', [xShifted, positiveWeights], `${layer.name}/z`, attributes);
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
        const scaled = b.op('Mul', [g.value, product(b, [...g.factors, inverseZ], `${layer.name}/g_factor`)], `${layer.name}/g_over_z`);
        const back = emitConvAdjoint(b, layer, scaled, positiveWeights, x, readMasks);
        send(layer.input, { value: back.value, factors: [...back.factors, xShifted] });
        break;
      }
      case 'zeropad': {
        const [top, left, bottom, right] = layer.pads;
        const end = (pad: number): number => (pad === 0 ? Number.MAX_SAFE_INTEGER : -pad);
        const value = b.op(
          'Slice',
          [
            materialise(b, g, layer.name),
            b.int64Tensor(`${layer.name}/starts`, [2], [top, left]),
            b.int64Tensor(`${layer.name}/ends`, [2], [end(bottom), end(right)]),
            b.int64Tensor(`${layer.name}/axes`, [2], [2, 3]),
          ],
          `${layer.name}/g_in`,
        );
        send(layer.input, { value, factors: [] });
        break;
      }
      case 'maxpool': {
        // MaxUnpool overwrites where windows share an argmax; scatter-add routes every window's signal.
        const x = fwd(layer.input);
        const signal = materialise(b, g, layer.name);
        const peaks = b.op('Shape', [signal], `${layer.name}/peaks`, { start: int(0), end: int(1) });
        const flatShape = b.int64Tensor(`${layer.name}/flat_tail`, [1], [-1]);
        const updates = b.op('Reshape', [signal, b.op('Concat', [peaks, flatShape], `${layer.name}/flat_shape`, { axis: int(0) })], `${layer.name}/updates`);
        const poolIndices = forward.poolIndices.get(layer.name);
        if (!poolIndices) throw new Error(`${layer.name}: the forward was emitted without max-pool indices`);
        const indices = b.op(
          'Expand',
          [b.op('Reshape', [poolIndices, b.int64Tensor(`${layer.name}/row`, [2], [1, -1])], `${layer.name}/index_row`), b.op('Shape', [updates], `${layer.name}/updates_shape`)],
          `${layer.name}/indices`,
        );
        const inputSize = b.op('Reshape', [b.op('Size', [x], `${layer.name}/x_size`), b.int64Tensor(`${layer.name}/one`, [1], [1])], `${layer.name}/x_size_1d`);
        const zeros = b.op('ConstantOfShape', [b.op('Concat', [peaks, inputSize], `${layer.name}/zeros_shape`, { axis: int(0) })], `${layer.name}/zeros`);
        const scattered = b.op('ScatterElements', [zeros, indices, updates], `${layer.name}/scattered`, { axis: int(1), reduction: str('add') });
        const inputShape = b.op('Concat', [peaks, b.op('Shape', [x], `${layer.name}/x_chw`, { start: int(1) })], `${layer.name}/g_in_shape`, { axis: int(0) });
        send(layer.input, { value: b.op('Reshape', [scattered, inputShape], `${layer.name}/g_in`), factors: [] });
        break;
      }
      default:
        throw new Error(`${layer.name}: the top-down pass does not support ${layer.kind} layers`);
    }
  }
  const bypassing = [...contributions.keys()].filter((name) => name !== stopAt);
  if (bypassing.length > 0) throw new Error(`the top-down pass cannot stop at "${stopAt}": signal bypasses it to ${bypassing.join(', ')}`);
  const arriving = contributions.get(stopAt);
  if (!arriving) throw new Error(`no signal reaches "${stopAt}" from "${from}"`);
  const signal = materialise(b, merge(b, arriving, stopAt), stopAt);
  const channelSum = b.op('ReduceSum', [signal, b.int64Tensor('channel_axis', [1], [1])], 'channel_sum', { keepdims: int(0) });
  const onLattice =
    stop.lattice === 1
      ? channelSum
      : b.op(
          'Slice',
          [channelSum, b.int64Tensor('lattice_starts', [2], [0, 0]), b.int64Tensor('lattice_ends', [2], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]), b.int64Tensor('lattice_axes', [2], [1, 2]), b.int64Tensor('lattice_steps', [2], [stop.lattice, stop.lattice])],
          'channel_sum_lattice',
        );
  return b.op('Relu', [onLattice], 'saliency_clamped');
}

/**
 * A model of the top-down pass alone, for checking it against the reference: inputs `image` [1, C, H, W] and
 * `seeds` [K, 1, h, w] (1 at each peak on `from`'s grid); output `saliency` [K, H', W'] at `stopAt` (default:
 * the input image, the method's full pass). The forward is computed inside the model.
 */
export function buildTopDownModel(fullGraph: LayerGraph, from: string, stop: TopDownStop = { layer: fullGraph.input, lattice: 1 }): Uint8Array {
  const graph = truncateGraph(fullGraph, from);
  const b = new GraphBuilder('topdown');
  const inputLayer = graph.layers[0];
  if (inputLayer?.kind !== 'input') throw new Error('the first layer must be the input');
  const image = b.input('image', [1, inputLayer.channels, 'height', 'width']);
  const seeds = b.input('seeds', ['peaks', 1, 'map_height', 'map_width']);
  const forward = emitForward(b, graph, image, { poolIndices: needsPoolIndices(graph, stop.layer) });
  b.output('saliency', emitTopDown(b, graph, forward, seeds, from, stop), ['peaks', 'saliency_height', 'saliency_width']);
  return b.toModel();
}

/** Whether a pass stopping at `stopAt` goes back through a max-pool (and so needs its argmax indices). */
export function needsPoolIndices(graph: LayerGraph, stopAt: string): boolean {
  const stopIndex = graph.layers.findIndex((l) => l.name === stopAt);
  return graph.layers.some((l, i) => i > stopIndex && l.kind === 'maxpool');
}

/** Several signals into one tensor: summed as they are when they share their factors, else each applied first. */
function merge(b: GraphBuilder, parts: Signal[], name: string): Signal {
  if (parts.length === 1) return parts[0]!;
  const sameFactors = parts.every((p) => p.factors.join('\n') === parts[0]!.factors.join('\n'));
  if (sameFactors) return { value: b.op('Sum', parts.map((p) => p.value), `${name}/g`), factors: parts[0]!.factors };
  return { value: b.op('Sum', parts.map((p) => materialise(b, p, name)), `${name}/g`), factors: [] };
}

/** The signal's value with its factors applied: one K-batch multiplication by their batch-1 product. */
function materialise(b: GraphBuilder, signal: Signal, name: string): string {
  if (signal.factors.length === 0) return signal.value;
  return b.op('Mul', [signal.value, product(b, signal.factors, `${name}/factor`)], `${name}/g_applied`);
}

function product(b: GraphBuilder, factors: string[], name: string): string {
  return factors.reduce((acc, f) => b.op('Mul', [acc, f], name));
}

/**
 * convTranspose(signal, W⁺) sized like the conv's input `x`, the exact adjoint of the conv, possibly with a
 * factor left to apply. ONNX Runtime's CPU ConvTranspose is several times slower than its Conv, so the common
 * cases are rewritten as Conv: stride 1 → Conv with the kernel transposed (in ↔ out) and rotated 180°, padded
 * k−1−p; a strided 1×1 → Conv with the transposed kernel at low resolution, repeated to the input's size by a
 * nearest-neighbour Resize, with a batch-1 factor that keeps only the positions the conv read (each output
 * read the input at (s·i, s·j)). Anything else (the 7×7/2 stem) uses ConvTranspose, padded back to the input
 * size, which a strided conv may not have read entirely.
 */
function emitConvAdjoint(b: GraphBuilder, layer: Conv2DLayer, signal: string, positiveWeights: string, x: string, readMasks: Map<string, string>): Signal {
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
    const value = b.op('Conv', [signal, kernel], `${name}/back`, {
      kernel_shape: ints(layer.kernel),
      pads: ints([kh - 1 - pt, kw - 1 - pl, kh - 1 - pb, kw - 1 - pr]),
    });
    return { value, factors: [] };
  }
  const inputHw = b.op('Shape', [x], `${name}/x_hw`, { start: int(2) });
  const crop = (value: string, hint: string): string =>
    // The last output may read the input's last row (odd sizes), so only cropping can be needed.
    b.op('Slice', [value, b.int64Tensor(`${hint}/crop_starts`, [2], [0, 0]), inputHw, b.int64Tensor(`${hint}/crop_axes`, [2], [2, 3])], hint);
  if (kh === 1 && kw === 1 && pt + pl + pb + pr === 0) {
    const low = b.op('Conv', [signal, transposed], `${name}/back_low`, { kernel_shape: ints([1, 1]) });
    const scales = b.floatTensor(`${name}/repeat`, [4], Float32Array.of(1, 1, sh, sw));
    const repeated = b.op('Resize', [low, '', scales], `${name}/back_repeated`, { mode: str('nearest'), nearest_mode: str('floor'), coordinate_transformation_mode: str('asymmetric') });
    const maskKey = `${layer.input}/${sh}x${sw}`;
    let mask = readMasks.get(maskKey);
    if (!mask) {
      mask = readPositions(b, layer, low, crop);
      readMasks.set(maskKey, mask);
    }
    return { value: crop(repeated, `${name}/back_full`), factors: [mask] };
  }
  const back = b.op('ConvTranspose', [signal, positiveWeights], `${name}/back`, {
    kernel_shape: ints(layer.kernel),
    strides: ints(layer.strides),
    pads: ints([pt, pl, pb, pr]),
  });
  const missingHw = b.op('Sub', [inputHw, b.op('Shape', [back], `${name}/back_hw`, { start: int(2) })], `${name}/missing_hw`);
  const pads = b.op('Concat', [b.int64Tensor(`${name}/pads_head`, [6], [0, 0, 0, 0, 0, 0]), missingHw], `${name}/pads`, { axis: int(0) });
  return { value: b.op('Pad', [back, pads], `${name}/back_full`), factors: [] };
}

/**
 * A [1, 1, H, W] mask of the input positions a strided 1×1 conv read: 1 at (s·i, s·j), 0 elsewhere. Made at
 * batch 1 and one channel, so it costs nothing per peak.
 */
function readPositions(b: GraphBuilder, layer: Conv2DLayer, low: string, crop: (value: string, hint: string) => string): string {
  const name = layer.name;
  const axisMask = (axis: 2 | 3, stride: number): string => {
    const lowSize = b.op('Squeeze', [b.op('Shape', [low], `${name}/low_size_${axis}`, { start: int(axis), end: int(axis + 1) })], `${name}/low_size_${axis}_scalar`);
    const size = b.op('Mul', [lowSize, b.int64Tensor(`${name}/stride_${axis}`, [], [stride])], `${name}/size_${axis}`);
    const range = b.op('Range', [b.int64Tensor(`${name}/range_start_${axis}`, [], [0]), size, b.int64Tensor(`${name}/range_step_${axis}`, [], [1])], `${name}/range_${axis}`);
    const phase = b.op('Mod', [range, b.int64Tensor(`${name}/modulus_${axis}`, [], [stride])], `${name}/phase_${axis}`);
    const isRead = b.op('Equal', [phase, b.int64Tensor(`${name}/zero_${axis}`, [], [0])], `${name}/read_${axis}`);
    const shape = axis === 2 ? [1, 1, -1, 1] : [1, 1, 1, -1];
    return b.op('Reshape', [b.op('Cast', [isRead], `${name}/read_${axis}_float`, { to: int(1) }), b.int64Tensor(`${name}/read_${axis}_shape`, [4], shape)], `${name}/read_${axis}_4d`);
  };
  const [sh, sw] = layer.strides;
  return crop(b.op('Mul', [axisMask(2, sh), axisMask(3, sw)], `${name}/read_mask`), `${name}/read_mask_full`);
}

function missing(name: string): never {
  throw new Error(`the forward has no value for layer "${name}"`);
}
