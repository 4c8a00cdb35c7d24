/**
 * Seeds of the DASR top-down pass: 3×3 local maxima of the res5c response map R.
 */

export interface Peak {
  /** column in the response map */
  x: number;
  /** row in the response map */
  y: number;
  /** R at the peak; peaks are ranked by it (and DASR* NMS orders regions by it) */
  score: number;
}

export interface PeakOptions {
  /** 'dasr' keeps only maxima with R(p) ≥ mean(R); 'dasr-star' (DASR*) keeps every local maximum. */
  variant: 'dasr' | 'dasr-star';
  maxPeaks?: number;
}

/** R = mean over channels of a CHW feature map (res5c after its ReLU), as an h × w row-major map. */
export function responseMap(features: Float32Array, channels: number, width: number, height: number): Float32Array {
  const plane = width * height;
  if (features.length !== channels * plane) {
    throw new RangeError(`responseMap: expected ${channels}×${height}×${width} values, got ${features.length}`);
  }
  // Accumulate in double: 2048 float32 additions per cell would otherwise lose low bits.
  const sums = new Float64Array(plane);
  for (let c = 0; c < channels; c++) {
    const offset = c * plane;
    for (let i = 0; i < plane; i++) sums[i] += features[offset + i];
  }
  const response = new Float32Array(plane);
  for (let i = 0; i < plane; i++) response[i] = sums[i] / channels;
  return response;
}

/**
 * p is a peak iff it is the first maximum, in row-major order, of its 3×3 window (earlier neighbours strictly
 * smaller, later ones ≤), so a plateau yields one peak, not one per cell. Peaks on the outer rows and columns
 * are excluded, which also means every window lies inside the map (no −∞ padding is ever consulted).
 * R(p) must be > 0; plain DASR also requires R(p) ≥ mean(R).
 * Returned by score descending, ties in row-major order.
 */
export function findPeaks(response: Float32Array, width: number, height: number, options: PeakOptions): Peak[] {
  if (response.length !== width * height) {
    throw new RangeError(`findPeaks: expected ${width}×${height} values, got ${response.length}`);
  }
  const { maxPeaks } = options;
  if (maxPeaks !== undefined && !(Number.isInteger(maxPeaks) && maxPeaks >= 0)) {
    throw new RangeError(`findPeaks: maxPeaks must be a non-negative integer, got ${maxPeaks}`);
  }
  const minimumScore = options.variant === 'dasr' ? mean(response) : Number.NEGATIVE_INFINITY;

  const peaks: Peak[] = [];
  for (let y = 1; y < height - 1; y++) {
    for (let x = 1; x < width - 1; x++) {
      const score = response[y * width + x];
      if (score > 0 && score >= minimumScore && isFirstMaximumOfWindow(response, width, x, y)) {
        peaks.push({ x, y, score });
      }
    }
  }
  // Array.prototype.sort is stable, so equal scores keep the row-major order of the scan.
  peaks.sort((a, b) => b.score - a.score);
  return maxPeaks === undefined ? peaks : peaks.slice(0, maxPeaks);
}

function isFirstMaximumOfWindow(response: Float32Array, width: number, x: number, y: number): boolean {
  const centre = y * width + x;
  const value = response[centre];
  for (let dy = -1; dy <= 1; dy++) {
    for (let dx = -1; dx <= 1; dx++) {
      const neighbour = centre + dy * width + dx;
      if (neighbour === centre) continue;
      const neighbourValue = response[neighbour];
      const isBefore = neighbour < centre;
      if (isBefore ? !(neighbourValue < value) : !(neighbourValue <= value)) return false;
    }
  }
  return true;
}

function mean(values: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum / values.length;
}
