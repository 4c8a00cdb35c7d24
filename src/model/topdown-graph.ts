import { GraphBuilder, int, ints, str } from './onnx/builder.js';
import { convPads, emitForward, outputChannels, type ForwardValues } from './forward-graph.js';
import { inputsOf, truncateGraph, type Conv2DLayer, type Layer, type LayerGraph } from './layer-graph.js';
import { PeakWindows, type Window } from './peak-windows.js';

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
 * instead of one K-batch pass over memory per factor. With a `window`, `value` holds only each peak's window;
 * with a `lattice` [sy, sx], only the positions (sy·i, sx·j) a strided 1×1 conv read, as a coarser map (the
 * signal is 0 elsewhere), so that a pass stopping on that lattice never makes the full-resolution map.
 */
interface Signal {
  value: string;
  factors: string[];
  window?: Window;
  lattice?: readonly [number, number];
}

/**
 * What seeds the pass: the peaks' `cells` (int64 [K], row-major on the peak layer's grid), whose signals then
 * run on windows around each peak while they stay on that grid (see PeakWindows); or one-hot `maps`
 * [K, 1, h, w] on that grid, run on whole maps throughout (the same result, slower: kept to check the windows).
 */
export type TopDownSeeds = { cells: string } | { maps: string };

/**
 * Emits the DASR top-down probability pass from the `from` layer down to the output of `stopAt` (the graph's
 * input for the method's full pass), reading the forward's values.
 *
 * Returns the value name of the saliency [K, H', W'] = max(0, Σ_channels g) at `stopAt`: the probability that
 * reaches each position of that layer from each peak. Stopping above the input skips the most expensive
 * high-resolution adjoints; it is only allowed at a layer every path from `from` to the input passes through
 * (a block boundary), so no signal bypasses it.
 */
export function emitTopDown(b: GraphBuilder, graph: LayerGraph, forward: ForwardValues, seeds: TopDownSeeds, from: string, stop: TopDownStop): string {
  const stopAt = stop.layer;
  const fwd = (name: string): string => forward.outputs.get(name) ?? missing(name);
  const channels = outputChannels(graph, from);
  const perChannel = new Set<string>();
  const channelFactor = (name: string, values: Float32Array): string => {
    const value = b.floatTensor(name, [1, values.length, 1, 1], values);
    perChannel.add(value);
    return value;
  };
  const windows = 'cells' in seeds ? new PeakWindows(b, seeds.cells, fwd(from)) : null;
  const signals = new SignalAlgebra(b, windows, perChannel);
  const seedFactor = channelFactor('seed_per_channel', new Float32Array(channels).fill(1 / channels));
  const seed: Signal =
    'maps' in seeds
      ? { value: seeds.maps, factors: [seedFactor] }
      : // A 1×1 window holding the 1 at each peak.
        { value: b.op('Expand', [b.floatTensor('seed_one', [1, 1, 1, 1], Float32Array.of(1)), b.op('Concat', [b.op('Shape', [seeds.cells], 'seed_count'), b.int64Tensor('seed_window_shape', [3], [1, 1, 1])], 'seed_windows_shape', { axis: int(0) })], 'seed_windows'), factors: [seedFactor], window: { radius: [0, 0] } };
  const contributions = new Map<string, Signal[]>([[from, [seed]]]);
  const send = (target: string, signal: Signal): void => {
    const list = contributions.get(target);
    if (list) list.push(signal);
    else contributions.set(target, [signal]);
  };
  const zero = b.scalar('zero', 0);
  const epsilon = b.scalar('z_epsilon', Z_EPSILON);
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
    let g = signals.merge(parts, layer.name, fwd(layer.name));
    if (g.lattice) g = signals.expand(g, fwd(layer.name), layer.name);
    if (g.window && !keepsWindows(layer)) g = signals.unwindow(g, fwd(layer.name), layer.name);

    switch (layer.kind) {
      case 'input':
        throw new Error('unreachable: the input is never above the stop layer');
      case 'relu': {
        const mask = b.op('Cast', [b.op('Greater', [fwd(layer.input), zero], `${layer.name}/positive`)], `${layer.name}/mask`, { to: int(1) });
        send(layer.input, { ...g, factors: [...g.factors, mask] });
        break;
      }
      case 'linear':
      case 'add':
        for (const source of inputsOf(layer)) send(source, g);
        break;
      case 'batchnorm': {
        const scale = new Float32Array(layer.gamma.length);
        for (let c = 0; c < scale.length; c++) scale[c] = layer.gamma[c]! / Math.sqrt(layer.variance[c]! + layer.epsilon);
        send(layer.input, { ...g, factors: [...g.factors, channelFactor(`${layer.name}/topdown_scale`, scale)] });
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
        const scaled = signals.materialise({ ...g, factors: [...g.factors, inverseZ] }, `${layer.name}/g_over_z`);
        const back = emitConvAdjoint(b, layer, { value: scaled, window: g.window }, positiveWeights, { input: x, output: fwd(layer.name) }, windows);
        send(layer.input, { ...back, factors: [...back.factors, xShifted] });
        break;
      }
      case 'zeropad': {
        const [top, left, bottom, right] = layer.pads;
        const end = (pad: number): number => (pad === 0 ? Number.MAX_SAFE_INTEGER : -pad);
        const value = b.op(
          'Slice',
          [
            signals.materialise(g, layer.name),
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
        const signal = signals.materialise(g, layer.name);
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
        const zeros = b.zeros(b.op('Concat', [peaks, inputSize], `${layer.name}/zeros_shape`, { axis: int(0) }), `${layer.name}/zeros`);
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
  let merged = signals.merge(arriving, stopAt, fwd(stopAt));
  const alreadyOnLattice = merged.lattice?.[0] === stop.lattice && merged.lattice[1] === stop.lattice;
  if (merged.lattice && !alreadyOnLattice) merged = signals.expand(merged, fwd(stopAt), stopAt);
  const channelAxis = b.int64Tensor('channel_axis', [1], [1]);
  const channelSum = b.op('ReduceSum', [signals.materialise(merged, stopAt), channelAxis], 'channel_sum', { keepdims: int(1) });
  const summedMaps = merged.window ? windows!.place(channelSum, merged.window, fwd(stopAt)) : channelSum;
  const saliency = b.op('Squeeze', [summedMaps, channelAxis], 'channel_sum_maps');
  const onLattice =
    stop.lattice === 1 || alreadyOnLattice
      ? saliency
      : b.op(
          'Slice',
          [saliency, b.int64Tensor('lattice_starts', [2], [0, 0]), b.int64Tensor('lattice_ends', [2], [Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]), b.int64Tensor('lattice_axes', [2], [1, 2]), b.int64Tensor('lattice_steps', [2], [stop.lattice, stop.lattice])],
          'channel_sum_lattice',
        );
  return b.op('Relu', [onLattice], 'saliency_clamped');
}

/**
 * Whether a windowed signal can pass back through `layer` as a window: element-wise layers, convs whose adjoint
 * keeps each position's neighbourhood centred on it (stride 1 with 'same' padding, or a 1×1), and strided 1×1s
 * (which leave the grid, putting their result in place on whole maps). Max-pools, zero-padding and other convs
 * take whole maps.
 */
function keepsWindows(layer: Layer): boolean {
  switch (layer.kind) {
    case 'relu':
    case 'linear':
    case 'add':
    case 'batchnorm':
      return true;
    case 'conv': {
      const [kh, kw] = layer.kernel;
      const pointwise = kh === 1 && kw === 1 && layer.padding === 'valid';
      const strided = layer.strides[0] !== 1 || layer.strides[1] !== 1;
      return pointwise || (!strided && layer.padding === 'same');
    }
    default:
      return false;
  }
}

/**
 * A model of the top-down pass alone, for checking it against the reference: inputs `image` [1, C, H, W] and
 * `seeds` [K, 1, h, w] (1 at each peak on `from`'s grid); output `saliency` [K, H', W'] at `stopAt` (default:
 * the input image, the method's full pass). The forward is computed inside the model. `windowed` runs the pass
 * on windows around each peak as the product does (see TopDownSeeds); each seed map must then hold a single 1.
 */
export function buildTopDownModel(fullGraph: LayerGraph, from: string, stop: TopDownStop = { layer: fullGraph.input, lattice: 1 }, windowed = false): Uint8Array {
  const graph = truncateGraph(fullGraph, from);
  const b = new GraphBuilder('topdown');
  const inputLayer = graph.layers[0];
  if (inputLayer?.kind !== 'input') throw new Error('the first layer must be the input');
  const image = b.input('image', [1, inputLayer.channels, 'height', 'width']);
  const maps = b.input('seeds', ['peaks', 1, 'map_height', 'map_width']);
  const forward = emitForward(b, graph, image, { poolIndices: needsPoolIndices(graph, stop.layer) });
  const seeds: TopDownSeeds = windowed
    ? { cells: b.op('ArgMax', [b.op('Reshape', [maps, b.int64Tensor('seed_rows', [2], [0, -1])], 'seed_flat')], 'seed_cells', { axis: int(1), keepdims: int(0) }) }
    : { maps };
  b.output('saliency', emitTopDown(b, graph, forward, seeds, from, stop), ['peaks', 'saliency_height', 'saliency_width']);
  return b.toModel();
}

/** Whether a pass stopping at `stopAt` goes back through a max-pool (and so needs its argmax indices). */
export function needsPoolIndices(graph: LayerGraph, stopAt: string): boolean {
  const stopIndex = graph.layers.findIndex((l) => l.name === stopAt);
  return graph.layers.some((l, i) => i > stopIndex && l.kind === 'maxpool');
}

/** Merging signals, applying their factors, and turning windows and lattices into whole maps. */
class SignalAlgebra {
  /** lattice masks per map and lattice, made once for the signals that expand onto the same maps */
  private readonly latticeMasks = new Map<string, string>();

  constructor(
    private readonly b: GraphBuilder,
    private readonly windows: PeakWindows | null,
    /** the factors that are [1, C, 1, 1] constants (the rest are batch-1 maps) */
    private readonly perChannel: ReadonlySet<string>,
  ) {}

  /**
   * Several signals arriving at one layer (whose forward output is `like`) into one: summed as they are when they
   * share their factors, else each applied first; windows grown to the largest among them. Signals of different
   * forms (windows, one lattice, whole maps) meet on whole maps.
   */
  merge(parts: Signal[], name: string, like: string): Signal {
    if (parts.length === 1) return parts[0]!;
    const form = (p: Signal): string => (p.window ? 'window' : p.lattice ? `lattice ${p.lattice.join('x')}` : 'maps');
    if (parts.some((p) => form(p) !== form(parts[0]!))) return this.merge(parts.map((p) => this.unwindow(p.lattice ? this.expand(p, like, name) : p, like, name)), name, like);
    const window = parts[0]!.window ? this.enclosing(parts.map((p) => p.window!)) : undefined;
    const grown = (p: Signal, value: string): string => (window ? this.windows!.grow(value, p.window!, window.radius) : value);
    const sameFactors = parts.every((p) => p.factors.join('\n') === parts[0]!.factors.join('\n'));
    const shape = { window, lattice: parts[0]!.lattice };
    if (sameFactors) return { value: this.b.sum(parts.map((p) => grown(p, p.value)), `${name}/g`), factors: parts[0]!.factors, ...shape };
    return { value: this.b.sum(parts.map((p) => grown(p, this.materialise(p, name))), `${name}/g`), factors: [], ...shape };
  }

  /**
   * The signal's value with its factors applied: one K-batch multiplication by their batch-1 product (cropped to
   * the window, or read on the lattice).
   */
  materialise(signal: Signal, name: string): string {
    if (signal.factors.length === 0) return signal.value;
    const b = this.b;
    const factor = signal.factors.reduce((acc, f) => b.op('Mul', [acc, f], `${name}/factor`));
    const onMaps = signal.factors.some((f) => !this.perChannel.has(f));
    let applied = factor;
    if (onMaps && signal.window) applied = this.windows!.crop(factor, signal.window);
    if (onMaps && signal.lattice) {
      const [sy, sx] = signal.lattice;
      const all = Number.MAX_SAFE_INTEGER;
      applied = b.op('Slice', [factor, b.int64Tensor(`${name}/lattice_starts`, [2], [0, 0]), b.int64Tensor(`${name}/lattice_ends`, [2], [all, all]), b.int64Tensor(`${name}/lattice_axes`, [2], [2, 3]), b.int64Tensor(`${name}/lattice_steps`, [2], [sy, sx])], `${name}/factor_on_lattice`);
    }
    return b.op('Mul', [signal.value, applied], `${name}/g_applied`);
  }

  /**
   * A lattice signal on the whole maps of `like` [·, ·, H, W]: each value repeated over its s×s block by a
   * nearest-neighbour Resize, cropped to H × W (the last lattice row may stand for a single row), and a batch-1
   * factor that keeps only the lattice positions.
   */
  expand(signal: Signal, like: string, name: string): Signal {
    if (!signal.lattice) return signal;
    const b = this.b;
    const [sy, sx] = signal.lattice;
    const scales = b.floatTensor(`${name}/repeat`, [4], Float32Array.of(1, 1, sy, sx));
    const repeated = b.op('Resize', [signal.value, '', scales], `${name}/g_repeated`, { mode: str('nearest'), nearest_mode: str('floor'), coordinate_transformation_mode: str('asymmetric') });
    const hw = b.op('Shape', [like], `${name}/hw`, { start: int(2) });
    const value = b.op('Slice', [repeated, b.int64Tensor(`${name}/crop_starts`, [2], [0, 0]), hw, b.int64Tensor(`${name}/crop_axes`, [2], [2, 3])], `${name}/g_full`);
    const key = `${like}/${sy}x${sx}`;
    let mask = this.latticeMasks.get(key);
    if (!mask) {
      mask = latticeMask(b, like, signal.lattice, name);
      this.latticeMasks.set(key, mask);
    }
    return { value, factors: [...signal.factors, mask] };
  }

  /** The signal on whole maps shaped like `like`. */
  unwindow(signal: Signal, like: string, name: string): Signal {
    if (!signal.window) return signal;
    return { value: this.windows!.place(this.materialise(signal, name), signal.window, like), factors: [] };
  }

  private enclosing(windows: Window[]): Window {
    return { radius: [Math.max(...windows.map((w) => w.radius[0])), Math.max(...windows.map((w) => w.radius[1]))] };
  }
}

/**
 * convTranspose(signal, W⁺) on the conv's input grid, the exact adjoint of the conv. ONNX Runtime's CPU
 * ConvTranspose is several times slower than its Conv, so the common cases are rewritten as Conv: stride 1 →
 * Conv with the kernel transposed (in ↔ out) and rotated 180°, padded k−1−p; a strided 1×1 → Conv with the
 * transposed kernel at low resolution, returned as a lattice signal (each output read the input at (s·i, s·j)),
 * which SignalAlgebra.expand turns into whole maps where needed. Anything else (the 7×7/2 stem) uses
 * ConvTranspose, padded back to the input size, which a strided conv may not have read entirely.
 *
 * A windowed signal (only given for the convs `keepsWindows` accepts): a stride-1 adjoint pads it by the
 * kernel's half-size, so its window grows by that much; a strided 1×1 puts its low-resolution result in place
 * on whole maps, leaving the peak map's grid.
 */
function emitConvAdjoint(
  b: GraphBuilder,
  layer: Conv2DLayer,
  signal: { value: string; window?: Window | undefined },
  positiveWeights: string,
  maps: { input: string; output: string },
  windows: PeakWindows | null,
): Signal {
  const [kh, kw] = layer.kernel;
  const [sh, sw] = layer.strides;
  const [pt, pl, pb, pr] = convPads(layer);
  const name = layer.name;
  const window = signal.window;
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
    // On a window the output grows by the kernel's half-size on each side, where the seed's spread reaches.
    const [gy, gx] = window ? [(kh - 1) / 2, (kw - 1) / 2] : [0, 0];
    const value = b.op('Conv', [signal.value, kernel], `${name}/back`, {
      kernel_shape: ints(layer.kernel),
      pads: ints([kh - 1 - pt + gy, kw - 1 - pl + gx, kh - 1 - pb + gy, kw - 1 - pr + gx]),
    });
    return { value, factors: [], window: window && { radius: [window.radius[0] + gy, window.radius[1] + gx] } };
  }
  if (kh === 1 && kw === 1 && pt + pl + pb + pr === 0) {
    const low = b.op('Conv', [signal.value, transposed], `${name}/back_low`, { kernel_shape: ints([1, 1]) });
    return { value: window ? windows!.place(low, window, maps.output) : low, factors: [], lattice: [sh, sw] };
  }
  const inputHw = b.op('Shape', [maps.input], `${name}/x_hw`, { start: int(2) });
  const back = b.op('ConvTranspose', [signal.value, positiveWeights], `${name}/back`, {
    kernel_shape: ints(layer.kernel),
    strides: ints(layer.strides),
    pads: ints([pt, pl, pb, pr]),
  });
  const missingHw = b.op('Sub', [inputHw, b.op('Shape', [back], `${name}/back_hw`, { start: int(2) })], `${name}/missing_hw`);
  const pads = b.op('Concat', [b.int64Tensor(`${name}/pads_head`, [6], [0, 0, 0, 0, 0, 0]), missingHw], `${name}/pads`, { axis: int(0) });
  return { value: b.op('Pad', [back, pads], `${name}/back_full`), factors: [] };
}

/** A [1, 1, H, W] mask (H × W from `like`) of the lattice: 1 at (sy·i, sx·j), 0 elsewhere, made at batch 1 and one channel. */
function latticeMask(b: GraphBuilder, like: string, [sy, sx]: readonly [number, number], name: string): string {
  const axisMask = (axis: 2 | 3, stride: number): string => {
    const size = b.op('Squeeze', [b.op('Shape', [like], `${name}/size_${axis}`, { start: int(axis), end: int(axis + 1) })], `${name}/size_${axis}_scalar`);
    const range = b.op('Range', [b.int64Tensor(`${name}/range_start_${axis}`, [], [0]), size, b.int64Tensor(`${name}/range_step_${axis}`, [], [1])], `${name}/range_${axis}`);
    const phase = b.op('Mod', [range, b.int64Tensor(`${name}/modulus_${axis}`, [], [stride])], `${name}/phase_${axis}`);
    const isRead = b.op('Equal', [phase, b.int64Tensor(`${name}/zero_${axis}`, [], [0])], `${name}/read_${axis}`);
    const shape = axis === 2 ? [1, 1, -1, 1] : [1, 1, 1, -1];
    return b.op('Reshape', [b.op('Cast', [isRead], `${name}/read_${axis}_float`, { to: int(1) }), b.int64Tensor(`${name}/read_${axis}_shape`, [4], shape)], `${name}/read_${axis}_4d`);
  };
  return b.op('Mul', [axisMask(2, sy), axisMask(3, sx)], `${name}/lattice_mask`);
}

function missing(name: string): never {
  throw new Error(`the forward has no value for layer "${name}"`);
}
