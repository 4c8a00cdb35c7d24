import type { Box } from './box.js';
import { isSalient, salientThreshold } from './region-box.js';

/** An object: several peaks whose salient areas touch, and the box around all of them (map cells). */
export interface ObjectGroup {
  /** indices of the member peaks, ascending */
  members: number[];
  /** tight bounds of the members' salient cells, [x1, y1, x2, y2] in map cells (x2, y2 exclusive) */
  box: Box;
}

/**
 * Groups part regions into objects (DASR's peaks land on parts: a head, a wheel). Each peak's salient area is the
 * set of cells its box is estimated from (M ≥ the `quantile`-th percentile of its map, M > 0); areas that overlap
 * or touch (8-neighbourhood) belong to one object, so an object is a connected component of the union of the
 * areas. A component made of two or more peaks' areas is returned with the tight bounds of its cells; a single
 * peak is already its own region.
 */
export function groupObjects(maps: readonly Float32Array[], width: number, height: number, quantile: number): ObjectGroup[] {
  const plane = width * height;
  /** for each cell, the peaks whose salient area holds it */
  const owners: number[][] = Array.from({ length: plane }, () => []);
  maps.forEach((map, k) => {
    if (map.length !== plane) throw new RangeError(`groupObjects: map ${k} has ${map.length} values, expected ${width}×${height}`);
    const threshold = salientThreshold(map, quantile);
    if (threshold === null) return;
    for (let i = 0; i < plane; i++) if (isSalient(map[i]!, threshold)) owners[i]!.push(k);
  });

  const component = new Int32Array(plane).fill(-1);
  const groups: ObjectGroup[] = [];
  const stack: number[] = [];
  for (let start = 0; start < plane; start++) {
    if (owners[start]!.length === 0 || component[start] !== -1) continue;
    const id = groups.length;
    const members = new Set<number>();
    let [x1, y1, x2, y2] = [width, height, 0, 0];
    component[start] = id;
    stack.push(start);
    while (stack.length > 0) {
      const cell = stack.pop()!;
      const x = cell % width;
      const y = (cell - x) / width;
      for (const k of owners[cell]!) members.add(k);
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          const ny = y + dy;
          if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
          const neighbour = ny * width + nx;
          if (owners[neighbour]!.length === 0 || component[neighbour] !== -1) continue;
          component[neighbour] = id;
          stack.push(neighbour);
        }
      }
    }
    groups.push({ members: [...members].sort((a, b) => a - b), box: [x1, y1, x2, y2] });
  }
  return groups.filter((g) => g.members.length >= 2);
}
