import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/detect/box.js';
import { backgroundBox, failedQuery, objectOverlap } from '../../src/eval/tracks-protocol.js';
import type { TrackSequence } from '../../src/eval/tracks-dataset.js';

describe('backgroundBox', () => {
  it('picks, among zero-overlap candidates, the one whose centre is farthest from the object', () => {
    // mirrors [70,20,90,40] (d 60), [10,40,30,60] (d 20), [70,40,90,60] (d 63.2); corners d 22.4, 72.8, 41.2, 80.6
    expect(backgroundBox([10, 20, 30, 40], 100, 80)).toEqual([80, 60, 100, 80]);
  });

  it('minimises the overlap when none is free of the object, ties going to the first candidate (top-left corner)', () => {
    // 60×60 object in the middle of 100×80: the mirrors are the object itself; each corner overlaps 40×50 at distance √500
    const box = backgroundBox([20, 10, 80, 70], 100, 80);
    expect(box).toEqual([0, 0, 60, 60]);
    expect(objectOverlap(box, [20, 10, 80, 70])).toBeCloseTo(2000 / 3600, 12);
  });

  it('uses the object clipped to the image, and stays inside the image', () => {
    // [-5,70,20,90] → [0,70,20,80] (20×10); the centre mirror [80,0,100,10] is the farthest free candidate
    expect(backgroundBox([-5, 70, 20, 90], 100, 80)).toEqual([80, 0, 100, 10]);
  });

  it('keeps the object size with fractional coordinates', () => {
    // [30.5,10.25,40.5,20.25] in 100×50: the left-right mirror [59.5,10.25,69.5,20.25] is at distance 29; the bottom-right corner [90,40,100,50] at √(59.5² + 29.75²) ≈ 66.5, the farthest
    const box = backgroundBox([30.5, 10.25, 40.5, 20.25], 100, 50);
    expect(box).toEqual([90, 40, 100, 50]);
    expect([box[2] - box[0], box[3] - box[1]]).toEqual([10, 10]);
    expect(objectOverlap(box, [30.5, 10.25, 40.5, 20.25])).toBe(0);
  });

  it('rejects an empty image', () => {
    expect(() => backgroundBox([0, 0, 1, 1], 0, 10)).toThrow(RangeError);
  });
});

describe('failedQuery', () => {
  it('scores AP 0, ranks nothing and says why', () => {
    const boxes: (Box | null)[] = [[0, 0, 10, 10], [1, 1, 11, 11], null, [2, 2, 12, 12]];
    const seq: TrackSequence = { name: 's', object: 's', width: 100, height: 100, fps: 25, directory: '/nowhere', frames: boxes.map((box, i) => ({ file: `${i}.jpg`, box })) };
    const database = boxes.map((_, frame) => ({ sequence: 0, frame, regions: [] }));
    expect(failedQuery({ sequence: 0, frame: 0, box: [0, 0, 10, 10] }, database, [seq], 'too-small: tiny')).toEqual({
      sequence: 's', file: '0.jpg', frame: 0, relevant: 2, database: 3, ranked: 0, top50: 0, top100: 0, all: 0, ious: [],
      localisedTop100: 0, localisedAll: 0, localisedAllIoU50: 0, objectSide: 10, failure: 'too-small: tiny',
    });
  });
});
