import { describe, expect, it } from 'vitest';
import { maxWeightMatching, minCostAssignment } from '../../src/track/assignment.js';
import { mulberry32 } from '../support/random.js';

function randomMatrix(rand: () => number, n: number, m: number, scale = 100): number[][] {
  return Array.from({ length: n }, () => Array.from({ length: m }, () => Math.round(rand() * scale * 1000) / 1000));
}

/** Every injective map of the smaller side into the larger: the min-cost complete assignment by brute force. */
function bruteForceMinCost(cost: number[][]): number {
  const n = cost.length;
  const m = n > 0 ? cost[0].length : 0;
  if (n > m) return bruteForceMinCost(Array.from({ length: m }, (_, j) => cost.map((row) => row[j])));
  let best = Infinity;
  const used = new Array<boolean>(m).fill(false);
  const visit = (i: number, sum: number): void => {
    if (i === n) {
      best = Math.min(best, sum);
      return;
    }
    for (let j = 0; j < m; j++) {
      if (used[j]) continue;
      used[j] = true;
      visit(i + 1, sum + cost[i][j]);
      used[j] = false;
    }
  };
  visit(0, 0);
  return best;
}

/** Every partial matching over allowed (finite, > 0) entries: the max-weight matching by brute force. */
function bruteForceMaxWeight(weight: number[][]): number {
  const n = weight.length;
  const m = n > 0 ? weight[0].length : 0;
  let best = 0;
  const used = new Array<boolean>(m).fill(false);
  const visit = (i: number, sum: number): void => {
    if (i === n) {
      best = Math.max(best, sum);
      return;
    }
    visit(i + 1, sum); // row i unmatched
    for (let j = 0; j < m; j++) {
      const w = weight[i][j];
      if (used[j] || !(Number.isFinite(w) && w > 0)) continue;
      used[j] = true;
      visit(i + 1, sum + w);
      used[j] = false;
    }
  };
  visit(0, 0);
  return best;
}

/** The result is a valid (partial) injective matching, consistent both ways, with the right total. */
function expectConsistent(matrix: number[][], result: ReturnType<typeof minCostAssignment>): void {
  const m = matrix.length > 0 ? matrix[0].length : result.colToRow.length;
  expect(result.rowToCol).toHaveLength(matrix.length);
  expect(result.colToRow).toHaveLength(m);
  let total = 0;
  result.rowToCol.forEach((j, i) => {
    if (j < 0) return;
    expect(result.colToRow[j]).toBe(i);
    total += matrix[i][j];
  });
  result.colToRow.forEach((i, j) => {
    if (i >= 0) expect(result.rowToCol[i]).toBe(j);
  });
  expect(new Set(result.rowToCol.filter((j) => j >= 0)).size).toBe(result.rowToCol.filter((j) => j >= 0).length);
  expect(result.total).toBeCloseTo(total, 9);
}

describe('minCostAssignment', () => {
  it('solves a textbook 3×3 matrix', () => {
    const cost = [
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ];
    // permutations: (0,1,2)=4+0+2=6, (0,2,1)=4+5+2=11, (1,0,2)=1+2+2=5, (1,2,0)=1+5+3=9, (2,0,1)=3+2+2=7, (2,1,0)=3+0+3=6
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([1, 0, 2]);
    expect(result.total).toBe(5);
    expectConsistent(cost, result);
  });

  it('solves the classic 4×4 worker/job example', () => {
    const cost = [
      [82, 83, 69, 92],
      [77, 37, 49, 92],
      [11, 69, 5, 86],
      [8, 9, 98, 23],
    ];
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([2, 1, 0, 3]);
    expect(result.total).toBe(69 + 37 + 11 + 23);
  });

  it('is not greedy: the cheapest entry is not always taken', () => {
    const cost = [
      [1, 2],
      [2, 100],
    ];
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([1, 0]);
    expect(result.total).toBe(4);
  });

  it('matches every row of a wide matrix (2×4)', () => {
    const cost = [
      [9, 2, 7, 8],
      [6, 4, 3, 7],
    ];
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([1, 2]);
    expect(result.colToRow).toEqual([-1, 0, 1, -1]);
    expect(result.total).toBe(5);
  });

  it('matches every column of a tall matrix (4×2), leaving the other rows at −1', () => {
    const cost = [
      [9, 6],
      [2, 4],
      [7, 3],
      [8, 7],
    ];
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([-1, 0, 1, -1]);
    expect(result.colToRow).toEqual([1, 2]);
    expect(result.total).toBe(5);
  });

  it('handles ties: any optimum, always the same one, always a valid assignment', () => {
    const cost = [
      [1, 1, 1],
      [1, 1, 1],
      [1, 1, 1],
    ];
    const first = minCostAssignment(cost);
    expect(first.total).toBe(3);
    expect([...first.rowToCol].sort()).toEqual([0, 1, 2]);
    expect(minCostAssignment(cost)).toEqual(first);

    // Two optimal assignments of total 2: (0→0, 1→1) and (0→1, 1→0).
    const twoWays = [
      [1, 1, 5],
      [1, 1, 5],
    ];
    const result = minCostAssignment(twoWays);
    expect(result.total).toBe(2);
    expect([...result.rowToCol].sort()).toEqual([0, 1]);
    expectConsistent(twoWays, result);
  });

  it('accepts negative costs', () => {
    const cost = [
      [-5, -1],
      [-4, -3],
    ];
    const result = minCostAssignment(cost);
    expect(result.rowToCol).toEqual([0, 1]);
    expect(result.total).toBe(-8);
  });

  it('handles empty matrices', () => {
    expect(minCostAssignment([])).toEqual({ rowToCol: [], colToRow: [], total: 0 });
    expect(minCostAssignment([], 3)).toEqual({ rowToCol: [], colToRow: [-1, -1, -1], total: 0 });
    expect(minCostAssignment([[], []])).toEqual({ rowToCol: [-1, -1], colToRow: [], total: 0 });
    expect(minCostAssignment([[7]])).toEqual({ rowToCol: [0], colToRow: [0], total: 7 });
  });

  it('rejects ragged matrices and non-finite costs', () => {
    expect(() => minCostAssignment([[1, 2], [3]])).toThrow(RangeError);
    expect(() => minCostAssignment([[1, NaN]])).toThrow(RangeError);
    expect(() => minCostAssignment([[1, Infinity]])).toThrow(RangeError);
    expect(() => minCostAssignment([[1, 2]], 3)).toThrow(RangeError);
  });

  it.each([
    [5, 5],
    [4, 6],
    [6, 4],
    [1, 5],
    [3, 3],
  ])('equals brute force on random %i×%i matrices', (n, m) => {
    const rand = mulberry32(1000 * n + m);
    for (let trial = 0; trial < 200; trial++) {
      // Small integer ranges make ties common; real-valued ranges make them rare. Test both.
      const cost = trial % 2 === 0 ? randomMatrix(rand, n, m) : randomMatrix(rand, n, m, 1).map((row) => row.map((x) => Math.round(x * 3)));
      const result = minCostAssignment(cost);
      expectConsistent(cost, result);
      expect(result.rowToCol.filter((j) => j >= 0)).toHaveLength(Math.min(n, m));
      expect(result.total).toBeCloseTo(bruteForceMinCost(cost), 9);
    }
  });
});

describe('maxWeightMatching', () => {
  it('maximises the total and skips forbidden pairs', () => {
    // Row 1 can only take column 0, so row 0 gives up its best column: 0.5 + 0.8 beats 0.9 alone.
    const w = [
      [0.9, -Infinity, 0.5],
      [0.8, -Infinity, -Infinity],
    ];
    const result = maxWeightMatching(w);
    expect(result.rowToCol).toEqual([2, 0]);
    expect(result.total).toBeCloseTo(1.3, 12);
  });

  it('leaves rows unmatched rather than using forbidden (NaN, −Infinity) or non-positive pairs', () => {
    const w = [
      [NaN, -Infinity],
      [0, -0.5],
      [-Infinity, 0.4],
    ];
    const result = maxWeightMatching(w);
    expect(result.rowToCol).toEqual([-1, -1, 1]);
    expect(result.colToRow).toEqual([-1, 2]);
    expect(result.total).toBeCloseTo(0.4, 12);
  });

  it('prefers two moderate pairs over one strong pair when their sum is larger', () => {
    // Greedy would take 0.9 (row 0 → col 0) and then be stuck with row 1 → col 1 forbidden.
    const w = [
      [0.9, 0.6],
      [0.7, -Infinity],
    ];
    const result = maxWeightMatching(w);
    expect(result.rowToCol).toEqual([1, 0]);
    expect(result.total).toBeCloseTo(1.3, 12);
  });

  it('handles empty sides', () => {
    expect(maxWeightMatching([], 4).colToRow).toEqual([-1, -1, -1, -1]);
    expect(maxWeightMatching([[], []]).rowToCol).toEqual([-1, -1]);
  });

  it('rejects +Infinity weights', () => {
    expect(() => maxWeightMatching([[Infinity]])).toThrow(RangeError);
  });

  it.each([
    [5, 5],
    [4, 6],
    [6, 4],
  ])('equals brute force on random %i×%i matrices with forbidden and negative entries', (n, m) => {
    const rand = mulberry32(77 + 10 * n + m);
    for (let trial = 0; trial < 200; trial++) {
      const w = Array.from({ length: n }, () =>
        Array.from({ length: m }, () => {
          const r = rand();
          if (r < 0.3) return -Infinity;
          if (r < 0.4) return NaN;
          return Math.round((rand() * 2 - 0.4) * 1000) / 1000; // some negative, some zero-ish, mostly positive
        }),
      );
      const result = maxWeightMatching(w);
      result.rowToCol.forEach((j, i) => {
        if (j >= 0) expect(w[i][j]).toBeGreaterThan(0);
      });
      expectConsistent(w, result);
      expect(result.total).toBeCloseTo(bruteForceMaxWeight(w), 9);
    }
  });
});
