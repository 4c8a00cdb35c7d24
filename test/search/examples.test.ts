import { describe, expect, it } from 'vitest';
import { combineExamples } from '../../src/search/examples.js';
import { describeExamples } from '../../src/search/describe-query.js';
import type { Detector } from '../../src/detect/detector.js';

describe('several examples of one object', () => {
  it('is the renormalised mean of the unit descriptors, each view counting the same', () => {
    // (3, 4) and (0, 2) are (0.6, 0.8) and (0, 1) as unit vectors: mean direction (0.6, 1.8)
    const combined = combineExamples([Float32Array.of(3, 4), Float32Array.of(0, 2)]);
    const norm = Math.hypot(0.6, 1.8);
    expect(combined[0]).toBeCloseTo(0.6 / norm, 6);
    expect(combined[1]).toBeCloseTo(1.8 / norm, 6);
    expect([...combineExamples([Float32Array.of(0, 5)])]).toEqual([0, 1]);
    expect(() => combineExamples([])).toThrow(RangeError);
    expect(() => combineExamples([Float32Array.of(1, 0), Float32Array.of(1, 0, 0)])).toThrow(/3 dimensions/);
  });

  it('describes each view as a single query is described (a box in its image, else a crop at frame scale), then combines', async () => {
    const calls: string[] = [];
    const detector = {
      describe: (_image: unknown, box?: unknown) => (calls.push(`describe ${JSON.stringify(box)}`), Promise.resolve(Float32Array.of(1, 0))),
      describeCrop: () => (calls.push('crop'), Promise.resolve(Float32Array.of(0, 1))),
    } as unknown as Detector;
    const image = { width: 4, height: 4, data: Buffer.alloc(48) };
    const frames = { width: 1280, height: 720 };
    const both = await describeExamples(detector, [image, image], [], frames);
    expect(calls).toEqual(['crop', 'crop']);
    expect([...both]).toEqual([0, 1]);
    calls.length = 0;
    const mixed = await describeExamples(detector, [image, image], [[0, 0, 2, 2], [1, 1, 3, 3]], frames);
    expect(calls).toEqual(['describe [0,0,2,2]', 'describe [1,1,3,3]']);
    expect([...mixed]).toEqual([1, 0]);
    await expect(describeExamples(detector, [image, image], [[0, 0, 2, 2]], frames)).rejects.toThrow(/1 boxes for 2 images/);
  });
});
