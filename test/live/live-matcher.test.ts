import { describe, expect, it } from 'vitest';
import { OnnxMatchKernel } from '../../src/live/match-kernel.js';
import { matchScores, packVectors } from '../../src/live/match-scores.js';
import { LiveMatcher, overlapOfSmaller, UPDATE_MIN_GAIN, type KeyframeRegion, type StreamKeyframe } from '../../src/live/live-matcher.js';
import { l2Normalize } from '../../src/detect/vector.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 4;
const unit = (...v: number[]): Float32Array => l2Normalize(Float32Array.from(v));

function keyframe(t: number, regions: Partial<KeyframeRegion>[], endedTrackIds: number[] = [], streamId = 1): StreamKeyframe {
  return {
    streamId,
    videoId: 10 + streamId,
    t,
    receivedAt: 1000 * t,
    processedAt: 1000 * t + 500,
    regions: regions.map((r, i) => ({ regionId: 100 * t + i, box: [0, 0, 10, 10], trackId: i + 1, feature: unit(1, 0, 0, 0), ...r })),
    endedTrackIds,
  };
}

describe('matchScores', () => {
  it('is the matrix of dot products, subscriptions × regions, row-major', async () => {
    const subs = packVectors([unit(1, 0, 0, 0), unit(0, 1, 0, 0)], DIM);
    const regions = packVectors([unit(1, 1, 0, 0), unit(0, 0, 1, 0), unit(0, 1, 0, 0)], DIM);
    const scores = matchScores(subs, regions, DIM);
    expect(Array.from(scores).map((v) => Math.round(v * 1e6) / 1e6)).toEqual([0.707107, 0, 0, 0.707107, 0, 1]);
  });

  it('agrees with one dot product per pair on random 2048-d vectors', async () => {
    const random = mulberry32(7);
    const subs = Array.from({ length: 5 }, () => randomUnitVector(random, 2048));
    const regions = Array.from({ length: 3 }, () => randomUnitVector(random, 2048));
    const scores = matchScores(packVectors(subs, 2048), packVectors(regions, 2048), 2048);
    subs.forEach((s, i) =>
      regions.forEach((r, j) => {
        let dot = 0;
        for (let k = 0; k < 2048; k++) dot += s[k]! * r[k]!;
        expect(scores[i * 3 + j]).toBeCloseTo(dot, 5);
      }),
    );
  });

  it('is the same matrix through ONNX Runtime (OnnxMatchKernel), 1e-5 apart, for 300 subscriptions × 16 regions', async () => {
    const random = mulberry32(11);
    const subs = packVectors(Array.from({ length: 300 }, () => randomUnitVector(random, 2048)), 2048);
    const regions = packVectors(Array.from({ length: 16 }, () => randomUnitVector(random, 2048)), 2048);
    const kernel = await OnnxMatchKernel.create();
    const onnx = await kernel.scores(subs, regions, 2048);
    const js = matchScores(subs, regions, 2048);
    expect(onnx.length).toBe(300 * 16);
    let largest = 0;
    for (let i = 0; i < js.length; i++) largest = Math.max(largest, Math.abs(onnx[i]! - js[i]!));
    expect(largest).toBeLessThan(1e-5);
    expect(await kernel.scores(new Float32Array(0), regions, 2048)).toEqual(new Float32Array(0));
    await expect(kernel.scores(subs.subarray(1), regions, 2048)).rejects.toThrow(/multiple of 2048/);
    await kernel.release();
  });

  it('refuses vectors of the wrong length', async () => {
    expect(() => packVectors([new Float32Array(3)], DIM)).toThrow(/3 dimensions/);
    expect(() => matchScores(new Float32Array(5), new Float32Array(4), DIM)).toThrow(/multiple/);
  });
});

describe('overlapOfSmaller', () => {
  it('is intersection over the smaller area', async () => {
    expect(overlapOfSmaller([0, 0, 10, 10], [2, 2, 4, 4])).toBe(1);
    expect(overlapOfSmaller([0, 0, 10, 10], [5, 0, 15, 10])).toBe(0.5);
    expect(overlapOfSmaller([0, 0, 10, 10], [10, 0, 20, 10])).toBe(0);
  });
});

describe('LiveMatcher', () => {
  const subscription = (id: string, threshold = 0.9, extra: object = {}) => ({ id, vector: unit(1, 0, 0, 0), threshold, streams: null, updates: false, ...extra });

  it('sends one match per appearance, however many keyframes it lasts, then one ended', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('a'));
    const first = await matcher.offer(keyframe(1, [{ trackId: 7 }]));
    expect(first).toEqual([expect.objectContaining({ kind: 'match', subscriptionId: 'a', trackId: 7, streamId: 1, videoId: 11, t: 1, score: 1, receivedAt: 1000, processedAt: 1500 })]);
    for (let t = 2; t <= 10; t++) expect(await matcher.offer(keyframe(t, [{ trackId: 7 }]))).toEqual([]);
    const end = await matcher.offer(keyframe(11, [], [7]));
    expect(end).toEqual([{ kind: 'ended', subscriptionId: 'a', appearance: 1, streamId: 1, videoId: 11, trackIds: [7], firstT: 1, lastT: 10, bestScore: 1 }]);
    expect(matcher.openAppearances).toBe(0);
  });

  it('ignores regions below the threshold and streams outside the filter', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('a', 0.9));
    matcher.add(subscription('b', 0.5, { streams: [2] }));
    expect(await matcher.offer(keyframe(1, [{ feature: unit(1, 1, 0, 0) }]))).toEqual([]); // cos 0.707 < 0.9; b wants stream 2
    const events = await matcher.offer(keyframe(2, [{ feature: unit(1, 1, 0, 0) }], [], 2));
    expect(events.map((e) => [e.kind, e.subscriptionId])).toEqual([['match', 'b']]);
  });

  it('folds a second track overlapping an open appearance into it (an object and its parts)', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('a'));
    expect(await matcher.offer(keyframe(1, [{ trackId: 1, box: [0, 0, 100, 100] }]))).toHaveLength(1);
    // a part of the same object starts its own track: no new match
    expect(await matcher.offer(keyframe(2, [{ trackId: 1, box: [0, 0, 100, 100] }, { trackId: 2, box: [10, 10, 40, 40] }]))).toEqual([]);
    // a far-away second instance, in the same keyframe as the first, is a new appearance
    expect((await matcher.offer(keyframe(3, [{ trackId: 1, box: [0, 0, 100, 100] }, { trackId: 3, box: [300, 300, 400, 400] }]))).map((e) => e.kind)).toEqual(['match']);
    // the first appearance ends only when both of its tracks have ended
    expect(await matcher.offer(keyframe(4, [], [1]))).toEqual([]);
    const ended = await matcher.offer(keyframe(5, [], [2, 3]));
    expect(ended).toEqual([
      expect.objectContaining({ kind: 'ended', appearance: 1, trackIds: [1, 2], firstT: 1, lastT: 3 }),
      expect.objectContaining({ kind: 'ended', appearance: 2, trackIds: [3], firstT: 3, lastT: 3 }),
    ]);
  });

  it('keeps one appearance when the object moves too far between keyframes and the tracker starts a new track', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('a'));
    expect((await matcher.offer(keyframe(1, [{ trackId: 1, box: [0, 0, 100, 100] }]))).map((e) => e.kind)).toEqual(['match']);
    expect(await matcher.offer(keyframe(3, [{ trackId: 2, box: [400, 200, 500, 300] }]))).toEqual([]);
    expect(await matcher.offer(keyframe(4, [], [1, 2]))).toEqual([expect.objectContaining({ kind: 'ended', trackIds: [1, 2], firstT: 1, lastT: 3 })]);
  });

  it('sends updates only when asked, and only for a clear gain', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('quiet', 0.5));
    matcher.add(subscription('chatty', 0.5, { updates: true }));
    await matcher.offer(keyframe(1, [{ feature: unit(1, 1, 0, 0) }])); // 0.707
    const small = Math.cos(Math.acos(0.7071) - 0.005); // a gain below UPDATE_MIN_GAIN
    expect(small - 0.7071).toBeLessThan(UPDATE_MIN_GAIN);
    expect(await matcher.offer(keyframe(2, [{ feature: unit(small, Math.sqrt(1 - small * small), 0, 0) }]))).toEqual([]);
    const events = await matcher.offer(keyframe(3, [{ feature: unit(1, 0.2, 0, 0) }])); // 0.981
    expect(events.map((e) => [e.kind, e.subscriptionId])).toEqual([['update', 'chatty']]);
  });

  it('keeps streams apart, ends a removed stream, and forgets removed subscriptions silently', async () => {
    const matcher = new LiveMatcher(DIM);
    matcher.add(subscription('a'));
    await matcher.offer(keyframe(1, [{ trackId: 1 }], [], 1));
    expect((await matcher.offer(keyframe(1, [{ trackId: 1 }], [], 2))).map((e) => e.kind)).toEqual(['match']);
    expect(matcher.endStream(2)).toEqual([expect.objectContaining({ kind: 'ended', streamId: 2 })]);
    expect(matcher.openAppearances).toBe(1);
    expect(matcher.remove('a')).toBe(true);
    expect(matcher.openAppearances).toBe(0);
    expect(await matcher.offer(keyframe(2, [{ trackId: 1 }], [1]))).toEqual([]);
  });

  it('refuses a subscription of the wrong dimension or threshold', async () => {
    const matcher = new LiveMatcher(DIM);
    expect(() => matcher.add({ ...subscription('a'), vector: new Float32Array(3) })).toThrow(/3 dimensions/);
    expect(() => matcher.add(subscription('a', 2))).toThrow(/threshold/);
  });
});
