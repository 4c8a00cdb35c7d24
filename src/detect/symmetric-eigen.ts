/**
 * Eigen-decomposition of a real symmetric matrix: Householder tridiagonalisation followed by the implicit QL
 * method (EISPACK tred2/tql2, as in the public-domain JAMA library), in double precision.
 *
 * The matrix is processed in transposed form (work[c·n + r] holds JAMA's V[r][c]): the inner loops then run
 * along contiguous memory instead of striding by n, and the eigenvectors end up as contiguous rows.
 */

import { dotRange } from './vector.js';

export interface SymmetricEigen {
  /** eigenvalues, descending */
  values: Float64Array;
  /** n × n row-major; row k is the unit eigenvector of values[k] */
  vectors: Float64Array;
}

const MAX_QL_ITERATIONS_PER_EIGENVALUE = 60;

/** `matrix` is n × n row-major and must be symmetric (only symmetry is assumed, not checked). Not mutated. */
export function symmetricEigen(matrix: ArrayLike<number>, n: number): SymmetricEigen {
  if (!Number.isInteger(n) || n < 1 || matrix.length !== n * n) {
    throw new RangeError(`symmetricEigen: expected an n × n matrix with n ≥ 1, got ${matrix.length} values for n = ${n}`);
  }
  // For a symmetric matrix the transpose is the matrix itself.
  const work = Float64Array.from(matrix);
  const diagonal = new Float64Array(n);
  const offDiagonal = new Float64Array(n);
  householderTridiagonalize(work, n, diagonal, offDiagonal);
  implicitQl(work, n, diagonal, offDiagonal);

  const order = Array.from({ length: n }, (_, k) => k).sort((a, b) => diagonal[b] - diagonal[a]);
  const values = new Float64Array(n);
  const vectors = new Float64Array(n * n);
  order.forEach((source, target) => {
    values[target] = diagonal[source];
    vectors.set(work.subarray(source * n, source * n + n), target * n);
  });
  return { values, vectors };
}

/** tred2: on return `d`/`e` hold the tridiagonal (e[0] = 0) and `w` the accumulated orthogonal transform. */
function householderTridiagonalize(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let j = 0; j < n; j++) d[j] = w[j * n + n - 1];

  for (let i = n - 1; i > 0; i--) {
    // Scaling avoids under/overflow in the Householder norm.
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = w[j * n + i - 1];
        w[j * n + i] = 0;
        w[i * n + j] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;

      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        w[i * n + j] = f;
        g = e[j] + w[row + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += w[row + k] * d[k];
          e[k] += w[row + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        const row = j * n;
        f = d[j];
        g = e[j];
        for (let k = j; k <= i - 1; k++) w[row + k] -= f * e[k] + g * d[k];
        d[j] = w[row + i - 1];
        w[row + i] = 0;
      }
    }
    d[i] = h;
  }

  for (let i = 0; i < n - 1; i++) {
    const nextRow = (i + 1) * n;
    w[i * n + n - 1] = w[i * n + i];
    w[i * n + i] = 1;
    const h = d[i + 1];
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = w[nextRow + k] / h;
      for (let j = 0; j <= i; j++) {
        const row = j * n;
        const g = dotRange(w, nextRow, w, row, i + 1);
        for (let k = 0; k <= i; k++) w[row + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) w[nextRow + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = w[j * n + n - 1];
    w[j * n + n - 1] = 0;
  }
  w[n * n - 1] = 1;
  e[0] = 0;
}

/** tql2: diagonalises the tridiagonal in place (eigenvalues into `d`) and rotates the rows of `w` along. */
function implicitQl(w: Float64Array, n: number, d: Float64Array, e: Float64Array): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;

  let shiftSum = 0;
  let tolerance = 0;
  const eps = 2 ** -52;
  for (let l = 0; l < n; l++) {
    tolerance = Math.max(tolerance, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tolerance) m++;

    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > MAX_QL_ITERATIONS_PER_EIGENVALUE) {
          throw new Error(`symmetricEigen: QL iteration did not converge for eigenvalue ${l} of ${n}`);
        }
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        shiftSum += h;

        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          const rowI = i * n;
          const rowNext = rowI + n;
          for (let k = 0; k < n; k++) {
            const next = w[rowNext + k];
            const current = w[rowI + k];
            w[rowNext + k] = s * current + c * next;
            w[rowI + k] = c * current - s * next;
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tolerance);
    }
    d[l] += shiftSum;
    e[l] = 0;
  }
}
