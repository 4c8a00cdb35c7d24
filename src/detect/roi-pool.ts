import type { Box } from './box.js';

/** Half-open cell ranges [x0, x1) × [y0, y1) of a feature map. */
export interface CellRange {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/**
 * Feature-map cells under a box given in network-input pixels: floor(x1/stride) ≤ cx < ceil(x2/stride), same for
 * y (the group's evaluation code), clamped to the map. A region always gets a descriptor: when the clamped range
 * is empty (a box thinner than a cell lying on a cell boundary, or one entirely outside the map) the single cell
 * under the box centre, clamped into the map, is used.
 */
export function roiCells(box: Box, stride: number, width: number, height: number): CellRange {
  if (!box.every(Number.isFinite)) throw new RangeError(`roiCells: non-finite box [${box.join(', ')}]`);
  if (!(stride > 0) || width < 1 || height < 1) {
    throw new RangeError(`roiCells: invalid stride ${stride} or map size ${width}×${height}`);
  }
  const [x0, x1] = cellRange(box[0], box[2], stride, width);
  const [y0, y1] = cellRange(box[1], box[3], stride, height);
  return { x0, x1, y0, y1 };
}

function cellRange(low: number, high: number, stride: number, size: number): [start: number, end: number] {
  const start = Math.max(0, Math.floor(low / stride));
  const end = Math.min(size, Math.ceil(high / stride));
  if (start < end) return [start, end];
  const centreCell = Math.min(size - 1, Math.max(0, Math.floor((low + high) / 2 / stride)));
  return [centreCell, centreCell + 1];
}

/** Region descriptor: per-channel mean of a CHW feature map over roiCells(box, …). */
export function averagePoolBox(
  features: Float32Array,
  channels: number,
  width: number,
  height: number,
  stride: number,
  box: Box,
): Float32Array {
  assertMapSize('averagePoolBox', features, channels, width, height);
  const cells = roiCells(box, stride, width, height);
  const whole = (from: number, to: number): CellWeight[] => Array.from({ length: to - from }, (_, i) => ({ cell: from + i, weight: 1 }));
  return weightedMean(features, channels, width, height, whole(cells.x0, cells.x1), whole(cells.y0, cells.y1));
}

/** A cell of one axis of a map and the weight its row or column takes in a pooled mean. */
interface CellWeight {
  cell: number;
  weight: number;
}

function assertMapSize(caller: string, features: Float32Array, channels: number, width: number, height: number): void {
  if (features.length !== channels * width * height) {
    throw new RangeError(`${caller}: expected ${channels}×${height}×${width} values, got ${features.length}`);
  }
}

/** Per-channel mean of a CHW map over the cells xs × ys, each weighted by its column's weight × its row's. */
function weightedMean(features: Float32Array, channels: number, width: number, height: number, xs: readonly CellWeight[], ys: readonly CellWeight[]): Float32Array {
  const plane = width * height;
  let total = 0;
  for (const y of ys) for (const x of xs) total += y.weight * x.weight;
  const pooled = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (const y of ys) {
      const rowOffset = c * plane + y.cell * width;
      for (const x of xs) sum += y.weight * x.weight * features[rowOffset + x.cell]!;
    }
    pooled[c] = sum / total;
  }
  return pooled;
}

/**
 * Where cell coordinate 0 of a stride-s map lies in input pixels: 0.5 − s/2. Cell i sits over input pixel s·i (the
 * stem's 7×7/2 conv and the padded 3×3/2 max-pool are centred, and each later strided 1×1 conv reads the top-left
 * position of its window), so its span is [s·i + 0.5 − s/2, s·(i+1) + 0.5 − s/2).
 */
export function cellOrigin(stride: number): number {
  return 0.5 - stride / 2;
}

/**
 * Region descriptor weighing each cell by the share of its span the box covers: the span a box made of that cell
 * has (cellBoxToPixels), clipped to the `input` (the network input's size, of which the map is the stride-s image).
 * A box on cell boundaries then pools exactly those cells and a box half over a cell takes half of it, where the
 * covering rule (averagePoolBox) takes every cell the box touches whole. Past the last cell's span (under half a
 * stride at the far edges) the input belongs to no cell, as no detection box reaches there.
 */
export function overlapPoolBox(
  features: Float32Array,
  channels: number,
  width: number,
  height: number,
  stride: number,
  input: { width: number; height: number },
  box: Box,
): Float32Array {
  assertMapSize('overlapPoolBox', features, channels, width, height);
  if (!box.every(Number.isFinite)) throw new RangeError(`overlapPoolBox: non-finite box [${box.join(', ')}]`);
  return weightedMean(features, channels, width, height, cellWeights(box[0], box[2], stride, width, input.width), cellWeights(box[1], box[3], stride, height, input.height));
}

/**
 * Along one axis, the cells [low, high) covers and the share of each one's span it covers. A box covering no cell's
 * span (of no width, or outside the input) gets the cell under its centre.
 */
function cellWeights(low: number, high: number, stride: number, cells: number, extent: number): CellWeight[] {
  const offset = cellOrigin(stride);
  const weights: CellWeight[] = [];
  for (let cell = 0; cell < cells; cell++) {
    const start = Math.max(0, cell * stride + offset);
    const end = Math.min(extent, (cell + 1) * stride + offset);
    const covered = Math.min(high, end) - Math.max(low, start);
    if (end > start && covered > 0) weights.push({ cell, weight: covered / (end - start) });
  }
  if (weights.length > 0) return weights;
  const centre = Math.floor(((low + high) / 2 - offset) / stride);
  return [{ cell: Math.min(cells - 1, Math.max(0, centre)), weight: 1 }];
}
