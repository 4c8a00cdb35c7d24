import { GraphBuilder } from './onnx/builder.js';
import { TensorDataType } from './onnx/proto.js';
import { emitForward, outputChannels } from './forward-graph.js';
import { truncateGraph, type LayerGraph } from './layer-graph.js';
import { emitPeaks } from './peaks-graph.js';
import { emitTopDown, needsPoolIndices, type TopDownStop } from './topdown-graph.js';

export interface DasrModelLayers {
  /** the layer whose peaks seed the pass (res5c) */
  peaks: string;
  /** feature maps returned for pooling descriptors (res5a, res5c) */
  features: Record<string, string>;
  /** where the top-down pass stops: the input for the method's full pass, or a block boundary above it */
  stop: TopDownStop;
}

/**
 * One ONNX model for a whole DASR detection: forward, peaks, and the top-down pass from every peak, so the
 * pass reuses the forward's activations instead of recomputing them and nothing crosses into JavaScript
 * between the stages.
 *
 * Inputs: `image` [1, 3, H, W]; `max_peaks` int64 [1]; `above_mean` bool [1] (plain DASR's R ≥ mean(R) rule);
 * `fixed_slots` bool [1] (K = max_peaks whatever the image holds, for GPU providers: emitPeaks).
 * Outputs: each feature map by its name; `peak_count` int64 [1]; `peak_cells` int64 [K] and `peak_scores` [K]
 * (row-major cell on the peak map, strongest first; K = max(1, count), or fixed: emitPeaks); `saliency` [K, H', W']
 * at the stop layer.
 */
export function buildDasrModel(fullGraph: LayerGraph, layers: DasrModelLayers, metadata: Record<string, string> = {}): Uint8Array {
  const graph = truncateGraph(fullGraph, layers.peaks);
  const b = new GraphBuilder('dasr');
  const inputLayer = graph.layers[0];
  if (inputLayer?.kind !== 'input') throw new Error('the first layer must be the input');
  const image = b.input('image', [1, inputLayer.channels, 'height', 'width']);
  const maxPeaks = b.input('max_peaks', [1], TensorDataType.INT64);
  const aboveMean = b.input('above_mean', [1], TensorDataType.BOOL);
  const fixedSlots = b.input('fixed_slots', [1], TensorDataType.BOOL);
  const forward = emitForward(b, graph, image, { poolIndices: needsPoolIndices(graph, layers.stop.layer) });
  for (const [name, layer] of Object.entries(layers.features)) {
    const value = forward.outputs.get(layer);
    if (!value) throw new Error(`layer "${layer}" is not below "${layers.peaks}"`);
    b.output(name, value, [1, outputChannels(graph, layer), `${name}_height`, `${name}_width`]);
  }
  const peakMap = forward.outputs.get(layers.peaks)!;
  const peaks = emitPeaks(b, peakMap, maxPeaks, aboveMean, fixedSlots);
  b.output('peak_count', peaks.count, [1], TensorDataType.INT64);
  b.output('peak_cells', peaks.cells, ['peaks'], TensorDataType.INT64);
  b.output('peak_scores', peaks.scores, ['peaks']);
  b.output('saliency', emitTopDown(b, graph, forward, { cells: peaks.cells }, layers.peaks, layers.stop), ['peaks', 'saliency_height', 'saliency_width']);
  return b.toModel(metadata);
}
