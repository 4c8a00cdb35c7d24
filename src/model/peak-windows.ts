import { GraphBuilder, int, ints } from './onnx/builder.js';

/**
 * Where a peak's top-down signal can be non-zero on the peak map's grid: a (2·ry + 1) × (2·rx + 1) window
 * centred on the peak, which may reach past the map's edges.
 */
export interface Window {
  radius: readonly [number, number];
}

/**
 * Moves K-peak signals on the peak map's grid between whole maps and per-peak windows. One seed spreads by a
 * kernel's half-size per conv adjoint, so while the pass is on that grid (res5 for res5c's peaks: at most 7×7
 * of its cells) each peak's signal covers a small part of the map, and the adjoints can run on [K, C, h, w]
 * windows instead of [K, C, H, W] maps. Cells outside the map read 0 from every map (`crop` pads with zeros), so
 * a signal there is zeroed by the next map factor it meets (1/Z before any conv's adjoint mixes positions), as
 * the whole-map pass never has it.
 */
export class PeakWindows {
  /** int64 [K, 1, 1]: each peak's row and column on the peak map */
  private readonly rows: string;
  private readonly columns: string;
  private readonly indices = new Map<string, string>();

  /** `cells` int64 [K]: each peak's row-major cell on `peakMap` [1, C, h, w]. */
  constructor(
    private readonly b: GraphBuilder,
    cells: string,
    peakMap: string,
  ) {
    const width = b.op('Shape', [peakMap], 'window/peak_map_width', { start: int(3), end: int(4) });
    const column3d = b.int64Tensor('window/column_shape', [3], [-1, 1, 1]);
    this.rows = b.op('Reshape', [b.op('Div', [cells, width], 'window/peak_row'), column3d], 'window/peak_rows');
    this.columns = b.op('Reshape', [b.op('Mod', [cells, width], 'window/peak_column'), column3d], 'window/peak_columns');
  }

  /** [K, C, h, w]: each peak's window of the batch-1 map `map` [1, C, H, W] (zeros outside the map). */
  crop(map: string, window: Window): string {
    const b = this.b;
    const hint = hintOf(window);
    const [ry, rx] = window.radius;
    const padded = b.op('Pad', [map, b.int64Tensor(`${hint}/pads`, [8], [0, 0, ry, rx, 0, 0, ry, rx])], `${hint}/padded`);
    const flat = b.op('Reshape', [padded, b.int64Tensor(`${hint}/flat_shape`, [3], [0, 0, -1])], `${hint}/flat`);
    const gathered = b.op('Gather', [flat, this.flatIndices(window, map)], `${hint}/gathered`, { axis: int(2) }); // [1, C, K, h, w]
    const squeezed = b.op('Squeeze', [gathered, b.int64Tensor(`${hint}/batch_axis`, [1], [0])], `${hint}/channels_first`);
    return b.op('Transpose', [squeezed], `${hint}/crop`, { perm: ints([1, 0, 2, 3]) });
  }

  /** [K, C, H, W]: windowed `values` [K, C, h, w] put in place on maps shaped like `like` [·, ·, H, W], zeros elsewhere. */
  place(values: string, window: Window, like: string): string {
    const b = this.b;
    const hint = `${hintOf(window)}/place`;
    const [ry, rx] = window.radius;
    const mapHw = b.op('Shape', [like], `${hint}/map_hw`, { start: int(2) });
    const margins = b.int64Tensor(`${hint}/margins`, [2], [ry, rx]);
    const paddedHw = b.op('Add', [mapHw, b.int64Tensor(`${hint}/padding`, [2], [2 * ry, 2 * rx])], `${hint}/padded_hw`);
    const peaksChannels = b.op('Shape', [values], `${hint}/peaks_channels`, { start: int(0), end: int(2) });
    const plane = b.op('ReduceProd', [paddedHw], `${hint}/plane`, { keepdims: int(1) });
    const zeros = b.zeros(b.op('Concat', [peaksChannels, plane], `${hint}/flat_shape`, { axis: int(0) }), `${hint}/zeros`);
    const updates = b.op('Reshape', [values, b.int64Tensor(`${hint}/updates_shape`, [3], [0, 0, -1])], `${hint}/updates`);
    const positions = b.op('Reshape', [this.flatIndices(window, like), b.int64Tensor(`${hint}/positions_shape`, [3], [0, 1, -1])], `${hint}/positions`);
    const expanded = b.op('Expand', [positions, b.op('Shape', [updates], `${hint}/updates_dims`)], `${hint}/positions_all`);
    const scattered = b.op('ScatterElements', [zeros, expanded, updates], `${hint}/scattered`, { axis: int(2) });
    const paddedMaps = b.op('Reshape', [scattered, b.op('Concat', [peaksChannels, paddedHw], `${hint}/padded_shape`, { axis: int(0) })], `${hint}/padded`);
    const ends = b.op('Add', [mapHw, margins], `${hint}/ends`);
    return b.op('Slice', [paddedMaps, margins, ends, b.int64Tensor(`${hint}/axes`, [2], [2, 3])], `${hint}/maps`);
  }

  /** `values` [K, C, h, w] of `window` in the larger window of `radius` (zeros in the new border). */
  grow(values: string, window: Window, radius: readonly [number, number]): string {
    const dy = radius[0] - window.radius[0];
    const dx = radius[1] - window.radius[1];
    if (dy === 0 && dx === 0) return values;
    if (dy < 0 || dx < 0) throw new Error('a window can only grow');
    const hint = `${hintOf(window)}/grow`;
    return this.b.op('Pad', [values, this.b.int64Tensor(`${hint}/pads`, [8], [0, 0, dy, dx, 0, 0, dy, dx])], hint);
  }

  /**
   * int64 [K, h, w]: each window cell's position in the flattened map padded by the window's radius (so no index
   * falls outside). `like` gives the grid's width; every map on the grid has the same size.
   */
  private flatIndices(window: Window, like: string): string {
    const [ry, rx] = window.radius;
    const key = `${ry}:${rx}`;
    const cached = this.indices.get(key);
    if (cached) return cached;
    const b = this.b;
    const hint = `${hintOf(window)}/indices`;
    const steps = (n: number, shape: number[]): string => b.int64Tensor(`${hint}/steps`, shape, Array.from({ length: n }, (_, i) => i));
    // Window cell (i, j) of a peak at (y, x) is (y − ry + i, x − rx + j) on the map: (y + i, x + j) once padded.
    const rows = b.op('Add', [this.rows, steps(2 * ry + 1, [1, 2 * ry + 1, 1])], `${hint}/rows`);
    const columns = b.op('Add', [this.columns, steps(2 * rx + 1, [1, 1, 2 * rx + 1])], `${hint}/columns`);
    const width = b.op('Shape', [like], `${hint}/width`, { start: int(3), end: int(4) });
    const paddedWidth = b.op('Add', [width, b.int64Tensor(`${hint}/margin`, [1], [2 * rx])], `${hint}/padded_width`);
    const flat = b.op('Add', [b.op('Mul', [rows, paddedWidth], `${hint}/row_starts`), columns], hint);
    this.indices.set(key, flat);
    return flat;
  }
}

function hintOf(window: Window): string {
  return `window/${window.radius[0]}x${window.radius[1]}`;
}
