import { iou, type Box } from './box.js';

/**
 * Greedy non-maximum suppression: visit items by score descending (stable, so equal scores keep their input
 * order) and keep one unless it overlaps an already kept item with IoU strictly above the threshold.
 * Does not mutate `items`.
 */
export function nonMaximumSuppression<T extends { box: Box; score: number }>(items: T[], iouThreshold: number): T[] {
  const kept: T[] = [];
  for (const candidate of [...items].sort((a, b) => b.score - a.score)) {
    if (kept.every((keptItem) => iou(keptItem.box, candidate.box) <= iouThreshold)) kept.push(candidate);
  }
  return kept;
}
