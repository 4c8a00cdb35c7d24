import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Peak } from '../../src/model/backbone.js';
import { GraphBuilder } from '../../src/model/onnx/builder.js';
import { TensorDataType } from '../../src/model/onnx/proto.js';
import { emitPeaks } from '../../src/model/peaks-graph.js';

/**
 * The peak selection as the DASR model runs it (emitPeaks), on hand-made response maps: a one-channel map, so
 * R (the mean over channels) is the map itself.
 */
let session: ort.InferenceSession;

beforeAll(async () => {
  const b = new GraphBuilder('peaks');
  const map = b.input('map', [1, 1, 'h', 'w']);
  const peaks = emitPeaks(b, map, b.input('max_peaks', [1], TensorDataType.INT64), b.input('above_mean', [1], TensorDataType.BOOL), b.input('fixed_slots', [1], TensorDataType.BOOL));
  b.output('count', peaks.count, [1], TensorDataType.INT64);
  b.output('cells', peaks.cells, ['k'], TensorDataType.INT64);
  b.output('scores', peaks.scores, ['k']);
  session = await ort.InferenceSession.create(b.toModel());
});

afterAll(async () => {
  await session?.release();
});

interface Run {
  peaks: Peak[];
  /** the cells that seed the top-down pass: one per peak, and placeholders in unused slots */
  seedCells: number[];
  /** R of each slot, −∞ for placeholders */
  slotScores: number[];
}

async function run(map: Float32Array, width: number, height: number, options: { variant: 'dasr' | 'dasr-star'; maxPeaks?: number; fixedSlots?: boolean }): Promise<Run> {
  const result = await session.run({
    map: new ort.Tensor('float32', map, [1, 1, height, width]),
    max_peaks: new ort.Tensor('int64', BigInt64Array.of(BigInt(options.maxPeaks ?? 1000)), [1]),
    above_mean: new ort.Tensor('bool', Uint8Array.of(options.variant === 'dasr' ? 1 : 0), [1]),
    fixed_slots: new ort.Tensor('bool', Uint8Array.of(options.fixedSlots ? 1 : 0), [1]),
  });
  const count = Number((result.count!.data as BigInt64Array)[0]);
  const cells = result.cells!.data as BigInt64Array;
  const scores = result.scores!.data as Float32Array;
  const peaks = Array.from({ length: count }, (_, k) => ({ x: Number(cells[k]) % width, y: Math.floor(Number(cells[k]) / width), score: scores[k]! }));
  return { peaks, seedCells: Array.from(cells, Number), slotScores: Array.from(scores) };
}

async function findPeaks(map: Float32Array, width: number, height: number, options: { variant: 'dasr' | 'dasr-star'; maxPeaks?: number }): Promise<Peak[]> {
  return (await run(map, width, height, options)).peaks;
}

/** A width × height map of `fill`, with `cells` given as [x, y, value]. */
function mapWith(width: number, height: number, cells: [x: number, y: number, value: number][], fill = 0): Float32Array {
  const map = new Float32Array(width * height).fill(fill);
  for (const [x, y, value] of cells) map[y * width + x] = value;
  return map;
}

describe('peaks of the DASR model', async () => {
  it('finds a single interior peak with its score', async () => {
    const map = mapWith(5, 5, [[2, 2, 3]]);
    expect(await findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 3 }]);
    expect(await findPeaks(map, 5, 5, { variant: 'dasr' })).toEqual([{ x: 2, y: 2, score: 3 }]);
  });

  it('uses x for the column and y for the row on a non-square map', async () => {
    const map = mapWith(7, 4, [[5, 1, 2]]);
    expect(await findPeaks(map, 7, 4, { variant: 'dasr-star' })).toEqual([{ x: 5, y: 1, score: 2 }]);
  });

  it('keeps only the first cell of a plateau in row-major order', async () => {
    const horizontal = mapWith(6, 6, [[2, 2, 5], [3, 2, 5]]);
    expect(await findPeaks(horizontal, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 5 }]);
    const vertical = mapWith(6, 6, [[2, 2, 5], [2, 3, 5]]);
    expect(await findPeaks(vertical, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 2, y: 2, score: 5 }]);
    const antiDiagonal = mapWith(6, 6, [[3, 2, 5], [2, 3, 5]]);
    expect(await findPeaks(antiDiagonal, 6, 6, { variant: 'dasr-star' })).toEqual([{ x: 3, y: 2, score: 5 }]);
  });

  it('gives no peak when the first cell of a plateau lies on the border', async () => {
    // (1,2) has an equal neighbour before it, (0,2) is on the border: the rule excludes both.
    const map = mapWith(5, 5, [[0, 2, 5], [1, 2, 5]]);
    expect(await findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it('excludes maxima on the first/last row and column', async () => {
    const map = mapWith(6, 5, [[0, 0, 9], [5, 2, 9], [3, 4, 9], [2, 0, 9]]);
    expect(await findPeaks(map, 6, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it('does not let an interior cell next to a higher border cell be a peak', async () => {
    const map = mapWith(5, 5, [[0, 2, 9], [1, 2, 4], [3, 3, 1]]);
    expect(await findPeaks(map, 5, 5, { variant: 'dasr-star' })).toEqual([{ x: 3, y: 3, score: 1 }]);
  });

  it('excludes negative and zero maxima', async () => {
    const negative = mapWith(5, 5, [[2, 2, -1]], -3);
    expect(await findPeaks(negative, 5, 5, { variant: 'dasr-star' })).toEqual([]);
    const zero = mapWith(5, 5, [[2, 2, 0]], -3);
    expect(await findPeaks(zero, 5, 5, { variant: 'dasr-star' })).toEqual([]);
    const flat = new Float32Array(25);
    expect(await findPeaks(flat, 5, 5, { variant: 'dasr-star' })).toEqual([]);
  });

  it("'dasr' drops maxima below mean(R), 'dasr-star' keeps them", async () => {
    const map = mapWith(7, 7, [[2, 2, 100], [4, 4, 1]]); // mean = 101/49 > 1
    expect(await findPeaks(map, 7, 7, { variant: 'dasr' })).toEqual([{ x: 2, y: 2, score: 100 }]);
    expect(await findPeaks(map, 7, 7, { variant: 'dasr-star' })).toEqual([
      { x: 2, y: 2, score: 100 },
      { x: 4, y: 4, score: 1 },
    ]);
  });

  it("'dasr' keeps a maximum exactly equal to the mean", async () => {
    const map = mapWith(5, 5, [[1, 1, 24], [3, 3, 1]]); // mean = 25/25 = 1
    expect(await findPeaks(map, 5, 5, { variant: 'dasr' })).toEqual([
      { x: 1, y: 1, score: 24 },
      { x: 3, y: 3, score: 1 },
    ]);
  });

  it('sorts by score descending, ties in row-major order, and truncates to maxPeaks', async () => {
    const map = mapWith(7, 7, [[1, 1, 2], [3, 1, 5], [5, 1, 2], [1, 3, 5], [3, 5, 1]]);
    const all = [
      { x: 3, y: 1, score: 5 },
      { x: 1, y: 3, score: 5 },
      { x: 1, y: 1, score: 2 },
      { x: 5, y: 1, score: 2 },
      { x: 3, y: 5, score: 1 },
    ];
    expect(await findPeaks(map, 7, 7, { variant: 'dasr-star' })).toEqual(all);
    expect(await findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 3 })).toEqual(all.slice(0, 3));
    expect(await findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 10 })).toEqual(all);
    expect(await findPeaks(map, 7, 7, { variant: 'dasr-star', maxPeaks: 0 })).toEqual([]);
  });

  it('gives one seed cell per peak, and a placeholder at cell 0 on maps too narrow to hold a peak (one row high included)', async () => {
    const map = mapWith(7, 5, [[2, 1, 3], [5, 3, 4]]);
    const { peaks, seedCells } = await run(map, 7, 5, { variant: 'dasr-star' });
    expect(peaks).toEqual([{ x: 5, y: 3, score: 4 }, { x: 2, y: 1, score: 3 }]);
    expect(seedCells).toEqual([3 * 7 + 5, 1 * 7 + 2]);

    // K ≥ 1 keeps the pass's batch: the placeholder's window is read, so its cell must lie on the map.
    for (const [width, height] of [
      [6, 2],
      [6, 1],
      [1, 4],
    ] as const) {
      const narrow = await run(mapWith(width, height, [[0, 0, 5]]), width, height, { variant: 'dasr-star' });
      expect(narrow.peaks).toEqual([]);
      expect(narrow.seedCells).toEqual([0]);
    }
  });

  it('with fixed slots, K is maxPeaks (or the candidate cells + 1 on small maps) whatever the map holds: same peaks, placeholders after them', async () => {
    const map = mapWith(7, 5, [[2, 1, 3], [5, 3, 4]]);
    const free = await run(map, 7, 5, { variant: 'dasr-star', maxPeaks: 4 });
    const fixed = await run(map, 7, 5, { variant: 'dasr-star', maxPeaks: 4, fixedSlots: true });
    expect(free.seedCells).toEqual([26, 9]);
    expect(fixed.peaks).toEqual(free.peaks);
    expect(fixed.seedCells).toEqual([26, 9, 0, 0]);
    expect(fixed.slotScores).toEqual([4, 3, -Infinity, -Infinity]);

    // 5 × 3 interior cells + the −∞ candidate: 16 slots at most on this map, and the same 16 on an empty one.
    expect((await run(map, 7, 5, { variant: 'dasr-star', fixedSlots: true })).seedCells).toEqual([26, 9, ...new Array<number>(14).fill(0)]);
    const empty = await run(mapWith(7, 5, []), 7, 5, { variant: 'dasr-star', maxPeaks: 16, fixedSlots: true });
    expect(empty.peaks).toEqual([]);
    expect(empty.seedCells).toEqual(new Array<number>(16).fill(0));
    // A map too narrow for any interior cell keeps the one placeholder slot.
    expect((await run(mapWith(6, 2, [[0, 0, 5]]), 6, 2, { variant: 'dasr-star', maxPeaks: 16, fixedSlots: true })).seedCells).toEqual([0]);
  });
});
