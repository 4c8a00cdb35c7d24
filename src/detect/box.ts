/**
 * Axis-aligned boxes in continuous pixel coordinates: pixel (column i, row j) covers [i, i+1) × [j, j+1),
 * so its centre is (i + 0.5, j + 0.5) and a box [0, 0, w, h] covers a whole w × h map.
 */
export type Box = [x1: number, y1: number, x2: number, y2: number];

/** Area of a box; an inverted or empty box has area 0. */
export function boxArea(box: Box): number {
  const [x1, y1, x2, y2] = box;
  return Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
}

/** Area of the overlap of two boxes (0 when they do not overlap). */
export function intersectionArea(a: Box, b: Box): number {
  return boxArea([Math.max(a[0], b[0]), Math.max(a[1], b[1]), Math.min(a[2], b[2]), Math.min(a[3], b[3])]);
}

/**
 * Intersection over the true union (areaA + areaB − intersection). The enclosing rectangle, used by the
 * group's evaluation code, would understate the overlap. Two boxes without area have IoU 0, not NaN.
 */
export function iou(a: Box, b: Box): number {
  const intersection = intersectionArea(a, b);
  const union = boxArea(a) + boxArea(b) - intersection;
  return union > 0 ? intersection / union : 0;
}

export function clipBox(box: Box, width: number, height: number): Box {
  const clamp = (value: number, limit: number): number => Math.min(Math.max(value, 0), limit);
  return [clamp(box[0], width), clamp(box[1], height), clamp(box[2], width), clamp(box[3], height)];
}

/** Maps a box between two resolutions of the same image, e.g. from a network input back to the original. */
export function scaleBox(box: Box, sx: number, sy: number): Box {
  return [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy];
}
