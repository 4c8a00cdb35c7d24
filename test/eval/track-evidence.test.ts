import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/detect/box.js';
import { l2Normalize } from '../../src/detect/vector.js';
import { trackEvidenceFrames } from '../../src/eval/track-evidence.js';
import type { DatabaseFrame } from '../../src/eval/tracks-protocol.js';

const unit = (...v: number[]): Float32Array => l2Normalize(Float32Array.from(v));
const OBJECT_BOX: Box = [10, 10, 50, 50];
const BACKGROUND_BOX: Box = [200, 100, 300, 200];

/** Frame f: an object region near (1, 0, 0) and a background region near (0, 1, 0), each in its place. */
function frame(f: number, object: Float32Array, background: Float32Array): DatabaseFrame {
  return { sequence: 0, frame: f, regions: [{ box: OBJECT_BOX, feature: object }, { box: BACKGROUND_BOX, feature: background }] };
}

const objects = [unit(1, 0.2, 0), unit(1, 0, 0.2), unit(1, 0.1, 0.1)];
const backgrounds = [unit(0.1, 1, 0), unit(0, 1, 0.3), unit(0, 1, 0)];
const frames = objects.map((o, f) => frame(f, o, backgrounds[f]!));
const times = [0, 0.08, 0.16];

function mean(vectors: Float32Array[]): Float32Array {
  const sum = new Float32Array(3);
  for (const v of vectors) v.forEach((x, k) => (sum[k]! += x));
  return l2Normalize(sum);
}

describe('trackEvidenceFrames', () => {
  it('blends each region with the mean of its track: the object with the objects, the background with the backgrounds', () => {
    const blended = trackEvidenceFrames(frames, times, 0.25, () => false);
    const objectMean = mean(objects);
    const backgroundMean = mean(backgrounds);
    expect(blended.map((f) => f.frame)).toEqual([0, 1, 2]);
    blended.forEach((f, i) => {
      expect(f.regions.map((r) => r.box)).toEqual([OBJECT_BOX, BACKGROUND_BOX]);
      for (let k = 0; k < 3; k++) {
        expect(f.regions[0]!.feature[k]).toBeCloseTo(0.75 * objects[i]![k]! + 0.25 * objectMean[k]!, 6);
        expect(f.regions[1]!.feature[k]).toBeCloseTo(0.75 * backgrounds[i]![k]! + 0.25 * backgroundMean[k]!, 6);
      }
    });
  });

  it('leaves the excluded frames out of the result and of the tracks\' means', () => {
    const blended = trackEvidenceFrames(frames, times, 0.5, (f) => f.frame === 1);
    const objectMean = mean([objects[0]!, objects[2]!]);
    expect(blended.map((f) => f.frame)).toEqual([0, 2]);
    for (let k = 0; k < 3; k++) expect(blended[1]!.regions[0]!.feature[k]).toBeCloseTo(0.5 * objects[2]![k]! + 0.5 * objectMean[k]!, 6);
  });

  it('takes the index\'s tracks when the regions carry them, a region without one being its own track', () => {
    // The index put the first two frames' object regions in track 7 and left the third one alone; the backgrounds
    // are one track, 9.
    const indexed = frames.map((f, i) => ({ ...f, regions: [{ ...f.regions[0]!, trackId: i < 2 ? 7 : null }, { ...f.regions[1]!, trackId: 9 }] }));
    const blended = trackEvidenceFrames(indexed, times, 0.5, () => false);
    const pairMean = mean([objects[0]!, objects[1]!]);
    const backgroundMean = mean(backgrounds);
    for (let k = 0; k < 3; k++) {
      expect(blended[0]!.regions[0]!.feature[k]).toBeCloseTo(0.5 * objects[0]![k]! + 0.5 * pairMean[k]!, 6);
      expect(blended[2]!.regions[0]!.feature[k]).toBeCloseTo(objects[2]![k]!, 6);
      expect(blended[2]!.regions[1]!.feature[k]).toBeCloseTo(0.5 * backgrounds[2]![k]! + 0.5 * backgroundMean[k]!, 6);
    }
    // the tracks stay on the regions: localised AP ranks a track's regions in a frame once
    expect(blended.map((f) => f.regions.map((r) => r.trackId))).toEqual([[7, 9], [7, 9], [null, 9]]);
  });

  it('is the database unchanged at weight 0, and refuses a weight outside [0, 1]', () => {
    const same = trackEvidenceFrames(frames, times, 0, () => false);
    same.forEach((f, i) => f.regions.forEach((r, j) => expect(Array.from(r.feature)).toEqual(Array.from(frames[i]!.regions[j]!.feature))));
    expect(() => trackEvidenceFrames(frames, times, 1.5, () => false)).toThrow(RangeError);
  });
});
