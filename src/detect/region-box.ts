import { clipBox, type Box } from './box.js';
import { percentile } from './percentile.js';

/** The method's threshold: the salient cells of a map are those at or above its 95th percentile. */
export const SALIENT_PERCENTILE = 95;

/**
 * Instance box from a saliency map M (DASR detection steps 5–6), in map pixel coordinates.
 *
 * Keeps the pixels with M ≥ τ (τ = the `quantile`-th percentile of M) and M > 0, and takes the unweighted mean
 * and population covariance of their centres. The rectangle circumscribing the ellipse with semi-axes 2√λ
 * (λ = covariance eigenvalues) is exactly mean ± 2σ per axis, whatever the ellipse's tilt, so no eigen
 * decomposition is needed. Non-finite values of M are treated as absent: they neither count towards τ nor
 * get kept. Returns null when fewer than 2 pixels are kept or the clipped box is thinner than 1 pixel.
 */
export function boxFromSaliency(saliency: Float32Array, width: number, height: number, quantile = SALIENT_PERCENTILE): Box | null {
  if (saliency.length !== width * height) {
    throw new RangeError(`boxFromSaliency: expected ${width}×${height} values, got ${saliency.length}`);
  }
  const threshold = salientThreshold(saliency, quantile);
  if (threshold === null) return null;

  let count = 0;
  let sumX = 0;
  let sumY = 0;
  let sumXX = 0;
  let sumYY = 0;
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      const value = saliency[row * width + column];
      if (!isSalient(value, threshold)) continue;
      const x = column + 0.5;
      const y = row + 0.5;
      count++;
      sumX += x;
      sumY += y;
      sumXX += x * x;
      sumYY += y * y;
    }
  }
  if (count < 2) return null;

  const meanX = sumX / count;
  const meanY = sumY / count;
  // Coordinates are small integers + 0.5, so these sums are exact in double and the one-pass variance does
  // not cancel catastrophically; max(0, ·) guards the last-bit rounding of a zero variance.
  const sigmaX = Math.sqrt(Math.max(0, sumXX / count - meanX * meanX));
  const sigmaY = Math.sqrt(Math.max(0, sumYY / count - meanY * meanY));
  const box = clipBox([meanX - 2 * sigmaX, meanY - 2 * sigmaY, meanX + 2 * sigmaX, meanY + 2 * sigmaY], width, height);
  return box[2] - box[0] < 1 || box[3] - box[1] < 1 ? null : box;
}

/** τ, the `quantile`-th percentile of a map's finite values; null for a map with none. */
export function salientThreshold(saliency: Float32Array, quantile: number): number | null {
  const finiteValues = saliency.filter(Number.isFinite);
  return finiteValues.length === 0 ? null : percentile(finiteValues, quantile);
}

/** Whether a cell is one of the salient cells a box is estimated from: M ≥ τ and M > 0, finite. */
export function isSalient(value: number, threshold: number): boolean {
  // Comparisons with NaN are false, ±Infinity is excluded explicitly.
  return value >= threshold && value > 0 && value !== Number.POSITIVE_INFINITY;
}

/**
 * A wider instance box than the method's: the tight bounds [x1, y1, x2, y2) (map cells, x2 and y2 exclusive) of
 * every cell at or above `fraction` of the map's maximum — the threshold weakly supervised localisation puts on
 * class activation maps. The 95th percentile keeps a fixed share of the map whatever the object's size, so a large
 * object's box covers a part of it; a threshold relative to the peak's own strength follows the object's extent.
 * Null for a map whose maximum is not positive.
 */
export function boxAboveFraction(saliency: Float32Array, width: number, height: number, fraction: number): Box | null {
  if (saliency.length !== width * height) {
    throw new RangeError(`boxAboveFraction: expected ${width}×${height} values, got ${saliency.length}`);
  }
  let maximum = 0;
  for (const value of saliency) if (value > maximum && value !== Number.POSITIVE_INFINITY) maximum = value;
  if (maximum <= 0) return null;
  const threshold = fraction * maximum;
  let [x1, y1, x2, y2] = [width, height, 0, 0];
  for (let row = 0; row < height; row++) {
    for (let column = 0; column < width; column++) {
      if (!isSalient(saliency[row * width + column]!, threshold)) continue;
      x1 = Math.min(x1, column);
      y1 = Math.min(y1, row);
      x2 = Math.max(x2, column + 1);
      y2 = Math.max(y2, row + 1);
    }
  }
  return [x1, y1, x2, y2];
}
