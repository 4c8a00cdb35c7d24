import { GraphBuilder, int, ints } from './onnx/builder.js';
import { TensorDataType } from './onnx/proto.js';

/** The ONNX values of the peak selection (DASR detection steps 2–3). */
export interface PeakValues {
  /** int64 [1]: how many peaks were found, at most max_peaks (may be 0) */
  count: string;
  /** int64 [K]: row-major cell index on the map of each selected peak, strongest first, then cell 0 in unused slots */
  cells: string;
  /** float [K]: R at each selected peak, −∞ in unused slots */
  scores: string;
}

/**
 * Emits DASR's peaks of a [1, C, h, w] map: R = mean over channels; p is a peak iff it is the first maximum, in
 * row-major order, of its 3×3 window (earlier neighbours strictly smaller, later ones ≤), not on the outer rows
 * or columns, R(p) > 0, and R(p) ≥ mean(R) when `aboveMean` (bool [1]) is set (plain DASR). At most
 * `maxPeaks` (int64 [1]) are kept, highest R first, ties in row-major order (TopK's lower-index rule, which the
 * ONNX spec and the CPU kernel keep; equal float responses at two peaks are rare enough that another provider's
 * order would change nothing measurable).
 *
 * K is at least 1 so the top-down pass that follows always has a batch: when no peak exists the one entry
 * is a −∞ placeholder at cell 0 and `count` is 0. With `fixedSlots` (bool [1]) set, K does not depend on the
 * image: it is `maxPeaks`, or the number of candidate cells plus one where the map holds fewer, and the slots
 * past `count` are −∞ placeholders at cell 0. A GPU provider needs that: its convolution kernels are chosen per
 * input shape and chosen again whenever the shape changes, which on CUDA cost more than the pass itself when
 * K followed each frame's peak count (device-check, README "GPU").
 */
export function emitPeaks(b: GraphBuilder, map: string, maxPeaks: string, aboveMean: string, fixedSlots: string): PeakValues {
  const response = b.op('ReduceMean', [map], 'response', { axes: ints([1]), keepdims: int(0) }); // [1, h, w]
  const hw = b.op('Shape', [response], 'response_hw', { start: int(1) });
  const window = (dy: number, dx: number): string => {
    const name = `response_${dy + 1}${dx + 1}`;
    const ends = b.op('Add', [hw, b.int64Tensor(`${name}/end_offset`, [2], [dy - 1, dx - 1])], `${name}/ends`);
    return b.op('Slice', [response, b.int64Tensor(`${name}/starts`, [2], [1 + dy, 1 + dx]), ends, b.int64Tensor(`${name}/axes`, [2], [1, 2])], name);
  };
  const centre = window(0, 0);
  const conditions: string[] = [b.op('Greater', [centre, b.scalar('zero', 0)], 'peak/positive')];
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      if (dy === 0 && dx === 0) continue;
      const before = dy < 0 || (dy === 0 && dx < 0);
      conditions.push(b.op(before ? 'Greater' : 'GreaterOrEqual', [centre, window(dy, dx)], `peak/vs_${dy + 1}${dx + 1}`));
    }
  }
  const mean = b.op('ReduceMean', [response], 'response_mean', { keepdims: int(0) });
  const floor = b.op('Where', [aboveMean, mean, b.scalar('minus_infinity', Number.NEGATIVE_INFINITY)], 'peak/floor');
  conditions.push(b.op('GreaterOrEqual', [centre, floor], 'peak/above_floor'));
  const isPeak = conditions.reduce((acc, c) => b.op('And', [acc, c], 'peak/all'));

  const minusInfinity = b.floatTensor('placeholder_score', [1], Float32Array.of(Number.NEGATIVE_INFINITY));
  const scores = b.op('Reshape', [b.op('Where', [isPeak, centre, minusInfinity], 'peak/scores_2d'), b.int64Tensor('flat_shape', [1], [-1])], 'peak/scores');
  const candidates = b.op('Concat', [scores, minusInfinity], 'peak/candidates', { axis: int(0) });
  const found = b.op('Reshape', [b.op('ReduceSum', [b.op('Cast', [isPeak], 'peak/is_peak_int', { to: int(TensorDataType.INT64) })], 'peak/found_3d', { keepdims: int(0) }), b.int64Tensor('one_shape', [1], [1])], 'peak/found');
  const count = b.op('Min', [found, maxPeaks], 'peak_count');
  const one = b.int64Tensor('one', [1], [1]);
  const candidateCount = b.op('Shape', [candidates], 'peak/candidate_count');
  const slots = b.op('Where', [fixedSlots, b.op('Max', [b.op('Min', [maxPeaks, candidateCount], 'peak/fixed_k_raw'), one], 'peak/fixed_k'), b.op('Max', [count, one], 'peak/found_k')], 'peak/k');
  const [topScores, topIndices] = b.opMulti('TopK', [candidates, slots], ['peak_scores', 'peak/interior_index'], { axis: int(0), largest: int(1), sorted: int(1) });
  // Interior (h−2)×(w−2) index → row-major cell of the whole map; the divisor is kept ≥ 1 for maps too narrow to hold a peak.
  const width = b.op('Slice', [hw, one, b.int64Tensor('two', [1], [2])], 'response_width');
  const interiorWidth = b.op('Max', [b.op('Sub', [width, b.int64Tensor('border', [1], [2])], 'interior_width_raw'), one], 'interior_width');
  const row = b.op('Add', [b.op('Div', [topIndices!, interiorWidth], 'peak/interior_row'), one], 'peak/row');
  const column = b.op('Add', [b.op('Mod', [topIndices!, interiorWidth], 'peak/interior_column'), one], 'peak/column');
  const interiorCells = b.op('Add', [b.op('Mul', [row, width], 'peak/row_start'), column], 'peak/interior_cells');
  // A placeholder's interior index may fall outside a map one row high; cell 0 always exists.
  const slotIndex = b.op('Range', [b.int64Tensor('slot_start', [], [0]), b.op('Squeeze', [slots], 'peak/k_scalar'), b.int64Tensor('slot_step', [], [1])], 'peak/slot_index');
  const cells = b.op('Where', [b.op('Less', [slotIndex, count], 'peak/slot_used'), interiorCells, b.int64Tensor('placeholder_cell', [1], [0])], 'peak_cells');
  return { count, cells, scores: topScores! };
}
