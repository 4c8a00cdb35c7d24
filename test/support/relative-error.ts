/** Error measures shared by the model tests that compare generated ONNX graphs with trusted values. */
import { expect } from 'vitest';

/** max |a − b| / max |b| (b is the trusted value); 0 when both are all zero. Expects equal lengths. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let scale = 0;
  for (let k = 0; k < expected.length; k++) {
    diff = Math.max(diff, Math.abs(actual[k]! - expected[k]!));
    scale = Math.max(scale, Math.abs(expected[k]!));
  }
  if (scale === 0) return diff === 0 ? 0 : Infinity;
  return diff / scale;
}

/** Prints a measured error when DASR_REPORT_ERRORS is set (set DASR_REPORT_ERRORS=1 to see them). */
export function reportError(what: string, error: number): void {
  if (process.env.DASR_REPORT_ERRORS) console.log(`[error] ${what}: ${error.toExponential(2)}`);
}
