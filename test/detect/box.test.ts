import { describe, expect, it } from 'vitest';
import { boxArea, clipBox, iou, scaleBox } from '../../src/detect/box.js';

describe('boxArea', () => {
  it('is width × height, and 0 for an inverted box', () => {
    expect(boxArea([1, 2, 4, 7])).toBe(15);
    expect(boxArea([4, 2, 1, 7])).toBe(0);
    expect(boxArea([1, 1, 1, 5])).toBe(0);
  });
});

describe('iou', () => {
  it('uses the true union, not the enclosing rectangle', () => {
    // intersection 1, union 4 + 4 − 1 = 7 (the enclosing rectangle would give 1/9)
    expect(iou([0, 0, 2, 2], [1, 1, 3, 3])).toBe(1 / 7);
  });

  it('handles identity, containment, disjoint and touching boxes', () => {
    expect(iou([0, 0, 2, 2], [0, 0, 2, 2])).toBe(1);
    expect(iou([0, 0, 4, 4], [1, 1, 3, 3])).toBe(0.25);
    expect(iou([0, 0, 1, 1], [2, 2, 3, 3])).toBe(0);
    expect(iou([0, 0, 1, 1], [1, 0, 2, 1])).toBe(0);
  });

  it('is 0 when both boxes have zero area', () => {
    expect(iou([1, 1, 1, 1], [1, 1, 1, 1])).toBe(0);
  });
});

describe('clipBox', () => {
  it('clamps every coordinate to [0, width] × [0, height]', () => {
    expect(clipBox([-3, -1, 12, 9], 10, 8)).toEqual([0, 0, 10, 8]);
    expect(clipBox([2, 3, 5, 6], 10, 8)).toEqual([2, 3, 5, 6]);
  });
});

describe('scaleBox', () => {
  it('scales x by sx and y by sy', () => {
    expect(scaleBox([1, 2, 3, 4], 2, 0.5)).toEqual([2, 1, 6, 2]);
  });
});
