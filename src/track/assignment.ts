/**
 * Optimal bipartite assignment (Hungarian algorithm, the O(n²·m) shortest-augmenting-path form with row and column
 * potentials). Sizes in the tracker are small (active tracks × regions of one keyframe, ≤ ~50 × 50), so plain
 * nested arrays and doubles are enough.
 */

/** A cost or weight matrix: rows × columns, every row the same length. */
export type Matrix = readonly (readonly number[])[];

export interface AssignmentResult {
  /** rowToCol[i] is the column matched to row i, or −1 when row i is left unmatched. */
  rowToCol: number[];
  /** colToRow[j] is the row matched to column j, or −1. */
  colToRow: number[];
  /** Sum of the matched entries (costs for minCostAssignment, weights for maxWeightMatching). */
  total: number;
}

/**
 * Minimum-cost assignment of an n × m matrix of finite costs: min(n, m) pairs, every row matched when n ≤ m and
 * every column matched when n > m, with the smallest possible sum. `columns` gives m when the matrix has no rows.
 * Deterministic: equal inputs give equal outputs (ties are broken by the algorithm's fixed visiting order).
 */
export function minCostAssignment(cost: Matrix, columns?: number): AssignmentResult {
  const n = cost.length;
  const m = checkShape(cost, columns);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      if (!Number.isFinite(cost[i][j])) throw new RangeError(`minCostAssignment: cost[${i}][${j}] is not finite (${cost[i][j]})`);
    }
  }
  if (n <= m) return solveRowsLeqColumns(cost, n, m);
  // Transpose so that the side that gets fully matched is the row side, then swap the answer back.
  const transposed: number[][] = Array.from({ length: m }, (_, j) => Array.from({ length: n }, (_, i) => cost[i][j]));
  const t = solveRowsLeqColumns(transposed, m, n);
  return { rowToCol: t.colToRow, colToRow: t.rowToCol, total: t.total };
}

/**
 * Maximum-weight matching, not necessarily complete: a set of (row, column) pairs, each row and column used at most
 * once, with the largest sum of weights. An entry that is NaN or −Infinity marks a forbidden pair, never matched;
 * pairs of weight ≤ 0 are never matched either, since leaving them out never lowers the sum.
 *
 * Reduction: with cost = −weight for allowed positive pairs and 0 for everything else, a complete min-cost
 * assignment followed by dropping its zero-cost pairs is a maximum-weight matching, because any matching can be
 * completed with zero-cost pairs (the matrix is complete) without changing its sum.
 */
export function maxWeightMatching(weight: Matrix, columns?: number): AssignmentResult {
  const n = weight.length;
  const m = checkShape(weight, columns);
  const usable = (w: number): boolean => w > 0 && Number.isFinite(w);
  const cost: number[][] = [];
  for (let i = 0; i < n; i++) {
    const row: number[] = [];
    for (let j = 0; j < m; j++) {
      const w = weight[i][j];
      if (w === Infinity) throw new RangeError(`maxWeightMatching: weight[${i}][${j}] is +Infinity`);
      row.push(usable(w) ? -w : 0);
    }
    cost.push(row);
  }
  const full = minCostAssignment(cost, m);
  const rowToCol = new Array<number>(n).fill(-1);
  const colToRow = new Array<number>(m).fill(-1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const j = full.rowToCol[i];
    if (j < 0 || !usable(weight[i][j])) continue;
    rowToCol[i] = j;
    colToRow[j] = i;
    total += weight[i][j];
  }
  return { rowToCol, colToRow, total };
}

function checkShape(matrix: Matrix, columns: number | undefined): number {
  const m = matrix.length > 0 ? matrix[0].length : (columns ?? 0);
  if (!Number.isInteger(m) || m < 0) throw new RangeError(`assignment: invalid column count ${m}`);
  if (columns !== undefined && columns !== m) throw new RangeError(`assignment: rows have ${m} columns, expected ${columns}`);
  matrix.forEach((row, i) => {
    if (row.length !== m) throw new RangeError(`assignment: row ${i} has ${row.length} columns, expected ${m}`);
  });
  return m;
}

/**
 * The classic potentials formulation for n ≤ m (1-based internally; index 0 is a virtual column). For each row in
 * turn it grows a shortest-path tree over columns with reduced costs a[i][j] − u[i] − v[j] ≥ 0 until it reaches a
 * free column, then augments along the path. All reduced costs stay non-negative, so the result is optimal.
 */
function solveRowsLeqColumns(a: Matrix, n: number, m: number): AssignmentResult {
  const u = new Float64Array(n + 1);
  const v = new Float64Array(m + 1);
  const p = new Int32Array(m + 1); // p[j]: row (1-based) matched to column j, 0 when free
  const way = new Int32Array(m + 1);
  const minv = new Float64Array(m + 1);
  const used = new Uint8Array(m + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    minv.fill(Infinity);
    used.fill(0);
    do {
      used[j0] = 1;
      const i0 = p[j0];
      let delta = Infinity;
      let j1 = -1;
      for (let j = 1; j <= m; j++) {
        if (used[j]) continue;
        const reduced = a[i0 - 1][j - 1] - u[i0] - v[j];
        if (reduced < minv[j]) {
          minv[j] = reduced;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      // n ≤ m and finite costs: an unused column always exists and has a finite minv.
      for (let j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 !== 0);
  }
  const rowToCol = new Array<number>(n).fill(-1);
  const colToRow = new Array<number>(m).fill(-1);
  let total = 0;
  for (let j = 1; j <= m; j++) {
    if (p[j] === 0) continue;
    rowToCol[p[j] - 1] = j - 1;
    colToRow[j - 1] = p[j] - 1;
    total += a[p[j] - 1][j - 1];
  }
  return { rowToCol, colToRow, total };
}
