import { describe, expect, it } from 'vitest';
import { symmetricEigen } from '../../src/detect/symmetric-eigen.js';
import { mulberry32 } from '../support/random.js';

/** Largest |A·v_k − λ_k·v_k| and largest |V·Vᵀ − I| over all eigenpairs. */
function residuals(matrix: ArrayLike<number>, n: number, values: Float64Array, vectors: Float64Array) {
  let eigen = 0;
  let orthonormality = 0;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      let product = 0;
      for (let j = 0; j < n; j++) product += matrix[i * n + j] * vectors[k * n + j];
      eigen = Math.max(eigen, Math.abs(product - values[k] * vectors[k * n + i]));
    }
    for (let other = 0; other < n; other++) {
      let inner = 0;
      for (let i = 0; i < n; i++) inner += vectors[k * n + i] * vectors[other * n + i];
      orthonormality = Math.max(orthonormality, Math.abs(inner - (k === other ? 1 : 0)));
    }
  }
  return { eigen, orthonormality };
}

/** Eigenvector k, sign fixed so that its first non-negligible component is positive. */
function canonicalVector(vectors: Float64Array, n: number, k: number): number[] {
  const vector = Array.from(vectors.subarray(k * n, k * n + n));
  const pivot = vector.find((component) => Math.abs(component) > 1e-8) ?? 1;
  return vector.map((component) => (pivot < 0 ? -component : component));
}

describe('symmetricEigen', () => {
  it('handles a 1 × 1 matrix', () => {
    const { values, vectors } = symmetricEigen([5], 1);
    expect(Array.from(values)).toEqual([5]);
    expect(Array.from(vectors)).toEqual([1]);
  });

  it('decomposes [[2, 1], [1, 2]]', () => {
    const { values, vectors } = symmetricEigen([2, 1, 1, 2], 2);
    expect(values[0]).toBeCloseTo(3, 10);
    expect(values[1]).toBeCloseTo(1, 10);
    const first = canonicalVector(vectors, 2, 0);
    expect(first[0]).toBeCloseTo(Math.SQRT1_2, 10);
    expect(first[1]).toBeCloseTo(Math.SQRT1_2, 10);
  });

  it('decomposes the 3 × 3 second-difference matrix exactly', () => {
    const matrix = [2, -1, 0, -1, 2, -1, 0, -1, 2];
    const { values, vectors } = symmetricEigen(matrix, 3);
    const expectedValues = [2 + Math.SQRT2, 2, 2 - Math.SQRT2];
    const expectedVectors = [
      [0.5, -Math.SQRT1_2, 0.5],
      [Math.SQRT1_2, 0, -Math.SQRT1_2],
      [0.5, Math.SQRT1_2, 0.5],
    ];
    for (let k = 0; k < 3; k++) {
      expect(Math.abs(values[k] - expectedValues[k])).toBeLessThan(1e-10);
      canonicalVector(vectors, 3, k).forEach((component, i) => {
        expect(Math.abs(component - expectedVectors[k][i])).toBeLessThan(1e-10);
      });
    }
  });

  it('recovers a known spectrum (including a negative and a zero eigenvalue) after an exact rotation', () => {
    // A = H·diag(λ)·H with the Householder reflection H = I − 2uuᵀ/(uᵀu), u = (1, 2, 2, 0, 1): H is rational
    const spectrum = [10, 4, 1, 0, -2];
    const u = [1, 2, 2, 0, 1];
    const uu = u.reduce((sum, x) => sum + x * x, 0);
    const n = 5;
    const reflection = (i: number, j: number) => (i === j ? 1 : 0) - (2 * u[i] * u[j]) / uu;
    const matrix = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let k = 0; k < n; k++) sum += reflection(i, k) * spectrum[k] * reflection(k, j);
        matrix[i * n + j] = sum;
      }
    }
    const { values, vectors } = symmetricEigen(matrix, n);
    Array.from(values).forEach((value, k) => expect(Math.abs(value - spectrum[k])).toBeLessThan(1e-10));
    // eigenvector of λ_k is column k of H (up to sign)
    for (let k = 0; k < n; k++) {
      const expected = Array.from({ length: n }, (_, i) => reflection(i, k));
      const pivot = expected.find((x) => Math.abs(x) > 1e-8)!;
      const signed = expected.map((x) => (pivot < 0 ? -x : x));
      canonicalVector(vectors, n, k).forEach((component, i) => expect(Math.abs(component - signed[i])).toBeLessThan(1e-10));
    }
  });

  it('returns an orthonormal basis for repeated eigenvalues', () => {
    const matrix = [3, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0];
    const { values, vectors } = symmetricEigen(matrix, 4);
    expect(Array.from(values)).toEqual([3, 3, 1, 0]);
    const { eigen, orthonormality } = residuals(matrix, 4, values, vectors);
    expect(eigen).toBeLessThan(1e-12);
    expect(orthonormality).toBeLessThan(1e-12);
  });

  it('decomposes the zero matrix', () => {
    const { values, vectors } = symmetricEigen(new Float64Array(9), 3);
    expect(Array.from(values)).toEqual([0, 0, 0]);
    expect(residuals(new Float64Array(9), 3, values, vectors).orthonormality).toBeLessThan(1e-15);
  });

  it('decomposes a random symmetric matrix: small residuals, orthonormal, sorted, trace preserved', () => {
    const n = 60;
    const random = mulberry32(7);
    const matrix = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const value = random() * 2 - 1;
        matrix[i * n + j] = value;
        matrix[j * n + i] = value;
      }
    }
    const input = matrix.slice();
    const { values, vectors } = symmetricEigen(matrix, n);
    expect(matrix).toEqual(input);
    const { eigen, orthonormality } = residuals(matrix, n, values, vectors);
    expect(eigen).toBeLessThan(1e-12);
    expect(orthonormality).toBeLessThan(1e-12);
    for (let k = 1; k < n; k++) expect(values[k]).toBeLessThanOrEqual(values[k - 1]);
    let trace = 0;
    for (let i = 0; i < n; i++) trace += matrix[i * n + i];
    expect(values.reduce((sum, value) => sum + value, 0)).toBeCloseTo(trace, 10);
  });

  it('rejects a matrix of the wrong size', () => {
    expect(() => symmetricEigen([1, 2, 3], 2)).toThrow(RangeError);
    expect(() => symmetricEigen([], 0)).toThrow(RangeError);
  });
});
