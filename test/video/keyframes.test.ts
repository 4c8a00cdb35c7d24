import { from, lastValueFrom, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';

import { decodeFrames, readFrames } from '../../src/decode/frames.js';
import {
  DEFAULT_SCENE_THRESHOLD,
  filterKeyframes,
  histogramDistance,
  KeyframeSelector,
  lumaHistogram,
  selectKeyframes,
  type KeyframeCandidate,
} from '../../src/decode/keyframes.js';
import { fixture, manifest } from './fixtures.js';

const W = 8;
const H = 8;

/** A W×H frame whose first `fraction` of pixels (row-major) are grey level `a`, the rest grey level `b`. */
function frame(pts: number, a = 128, b = a, fraction = 1): KeyframeCandidate {
  const data = Buffer.alloc(W * H * 3);
  const split = Math.round(W * H * fraction);
  for (let p = 0; p < W * H; p++) data.fill(p < split ? a : b, p * 3, p * 3 + 3);
  return { pts, data, width: W, height: H };
}

function keptPts(selector: KeyframeSelector, pts: number[]): number[] {
  return pts.filter((t) => selector.offer(frame(t)).keep);
}

const cfr25 = (seconds: number, t0 = 0): number[] => Array.from({ length: Math.round(seconds * 25) }, (_, k) => t0 + k / 25);

describe('KeyframeSelector: interval rule', () => {
  it('keeps the first frame with reason "first"', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    expect(s.offer(frame(0.0))).toEqual({ keep: true, reason: 'first', sceneScore: 0 });
    expect(s.offer(frame(0.04))).toEqual({ keep: false, reason: null, sceneScore: 0 });
  });

  it('1 s on 25 fps keeps t = 0, 1, 2, 3, 4', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    expect(keptPts(s, cfr25(5))).toEqual([0, 1, 2, 3, 4]);
  });

  it('the grid is anchored at the first pts', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    const kept = keptPts(s, cfr25(3, 10.02));
    expect(kept.map((t) => Math.round(t * 100) / 100)).toEqual([10.02, 11.02, 12.02]);
  });

  it('with an anchor, a decode that starts part-way keeps what a whole decode keeps from there on', () => {
    const whole = keptPts(new KeyframeSelector({ interval: 0.3, sceneThreshold: 0 }), cfr25(4));
    const late = cfr25(4).filter((t) => t >= 1.5);
    const anchored = keptPts(new KeyframeSelector({ interval: 0.3, sceneThreshold: 0, anchor: 0 }), late);
    // The first frame offered is kept as 'first'; after it, the grid is the whole decode's (not one from 1.52).
    expect(anchored.slice(1)).toEqual(whole.filter((t) => t > late[0]!));
    expect(anchored.map((t) => Math.round(t * 100) / 100)).toEqual([1.52, 1.8, 2.12, 2.4, 2.72, 3, 3.32, 3.6, 3.92]);
  });

  it('does not drift: 0.3 s on 25 fps follows the grid 0, 0.3, 0.6, ... (not last kept + 0.3)', () => {
    const s = new KeyframeSelector({ interval: 0.3, sceneThreshold: 0 });
    const kept = keptPts(s, cfr25(2)).map((t) => Math.round(t * 100) / 100);
    // Drifting rule would give 0, 0.32, 0.64, 0.96, 1.28, 1.6, 1.92.
    expect(kept).toEqual([0, 0.32, 0.6, 0.92, 1.2, 1.52, 1.8]);
  });

  it('an interval equal to or shorter than the frame duration keeps every frame', () => {
    for (const interval of [0, 0.01, 0.04]) {
      const s = new KeyframeSelector({ interval, sceneThreshold: 0 });
      expect(keptPts(s, cfr25(2))).toHaveLength(50);
    }
  });

  it('works on variable frame rate timestamps (first frame of each cell)', () => {
    const s = new KeyframeSelector({ interval: 0.5, sceneThreshold: 0 });
    const pts = [0, 0.1, 0.45, 0.52, 0.55, 0.9, 1.6, 1.7, 2.05, 2.49, 2.5];
    expect(keptPts(s, pts)).toEqual([0, 0.52, 1.6, 2.05, 2.5]);
  });

  it('a gap longer than several intervals keeps one frame, not one per missed cell', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    expect(keptPts(s, [0, 0.5, 7.3, 7.9, 8.0])).toEqual([0, 7.3, 8.0]);
  });

  it('Infinity keeps only the first frame; NaN pts never trigger the interval rule', () => {
    expect(keptPts(new KeyframeSelector({ interval: Infinity, sceneThreshold: 0 }), cfr25(3))).toEqual([0]);
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    expect([NaN, NaN, NaN].map((t) => s.offer(frame(t)).keep)).toEqual([true, false, false]);
  });

  it('reset starts a new grid', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0 });
    keptPts(s, [0, 0.5]);
    s.reset();
    expect(s.offer(frame(0.7)).reason).toBe('first');
    expect(s.offer(frame(1.2)).keep).toBe(false);
    expect(s.offer(frame(1.7)).reason).toBe('interval');
  });

  it('validates its options', () => {
    expect(() => new KeyframeSelector({ interval: -1 })).toThrow(RangeError);
    expect(() => new KeyframeSelector({ interval: NaN })).toThrow(RangeError);
    expect(() => new KeyframeSelector({ interval: 1, sceneThreshold: 1.5 })).toThrow(RangeError);
    expect(() => new KeyframeSelector({ interval: 1, sceneThreshold: -0.1 })).toThrow(RangeError);
    expect(new KeyframeSelector({ interval: 1 }).sceneThreshold).toBe(DEFAULT_SCENE_THRESHOLD);
    expect(DEFAULT_SCENE_THRESHOLD).toBe(0.3);
  });
});

describe('KeyframeSelector: scene rule', () => {
  it('luma histogram: exact BT.601 bins, normalised', () => {
    const grey = lumaHistogram(frame(0, 100));
    expect(grey[100 >> 3]).toBe(1);
    const red = lumaHistogram({ width: 1, height: 1, data: Buffer.from([255, 0, 0]) });
    expect(red[76 >> 3]).toBe(1); // Y = round(0.299 * 255) = 76
    const half = lumaHistogram(frame(0, 0, 255, 0.5));
    expect([half[0], half[31]]).toEqual([0.5, 0.5]);
  });

  it('scores are total variation distances: black→white 1, half the picture 0.5, a quarter 0.25', () => {
    const h = (a: number, b: number, f: number) => lumaHistogram(frame(0, a, b, f));
    expect(histogramDistance(h(0, 0, 1), h(255, 255, 1))).toBe(1);
    expect(histogramDistance(h(0, 0, 1), h(255, 0, 0.5))).toBe(0.5);
    expect(histogramDistance(h(0, 0, 1), h(255, 0, 0.25))).toBe(0.25);
    expect(histogramDistance(h(100, 100, 1), h(101, 101, 1))).toBe(0); // same bin
  });

  it('a change above the threshold is a "scene" keyframe, below it is not', () => {
    const s = new KeyframeSelector({ interval: Infinity, sceneThreshold: 0.3 });
    expect(s.offer(frame(0.0, 20)).reason).toBe('first');
    expect(s.offer(frame(0.04, 200, 20, 0.25))).toEqual({ keep: false, reason: null, sceneScore: 0.25 });
    // Compared with the previous frame (not the last kept one): 0.25 → 0.75 of the picture changed is 0.5.
    expect(s.offer(frame(0.08, 200, 20, 0.75))).toEqual({ keep: true, reason: 'scene', sceneScore: 0.5 });
    expect(s.offer(frame(0.12, 200, 20, 0.75))).toEqual({ keep: false, reason: null, sceneScore: 0 });
    expect(s.offer(frame(0.16, 240))).toEqual({ keep: true, reason: 'scene', sceneScore: 1 });
  });

  it('exactly at the threshold is not a scene change', () => {
    const s = new KeyframeSelector({ interval: Infinity, sceneThreshold: 0.5 });
    s.offer(frame(0, 0));
    expect(s.offer(frame(1, 0, 255, 0.5)).keep).toBe(false);
  });

  it('threshold 0 disables the scene rule', () => {
    const s = new KeyframeSelector({ interval: Infinity, sceneThreshold: 0 });
    s.offer(frame(0, 0));
    expect(s.offer(frame(1, 255))).toEqual({ keep: false, reason: null, sceneScore: 0 });
  });

  it('scene wins over interval when both fire; the grid still advances', () => {
    const s = new KeyframeSelector({ interval: 1, sceneThreshold: 0.3 });
    s.offer(frame(0, 0));
    expect(s.offer(frame(1, 255)).reason).toBe('scene');
    expect(s.offer(frame(1.5, 255)).keep).toBe(false);
    expect(s.offer(frame(2, 255)).reason).toBe('interval');
  });

  it('rejects frame data that is too short', () => {
    const s = new KeyframeSelector({ interval: 1 });
    expect(() => s.offer({ pts: 0, width: 4, height: 4, data: Buffer.alloc(10) })).toThrow(RangeError);
  });
});

describe('rxjs operators', () => {
  const frames = [frame(0, 0), frame(0.5, 0), frame(1, 0), frame(1.2, 255), frame(1.6, 255), frame(2.1, 255)];

  it('selectKeyframes emits kept frames with their reason', async () => {
    const out = await lastValueFrom(from(frames).pipe(selectKeyframes({ interval: 1 }), toArray()));
    expect(out.map((k) => [k.frame.pts, k.reason])).toEqual([
      [0, 'first'],
      [1, 'interval'],
      [1.2, 'scene'],
      [2.1, 'interval'],
    ]);
  });

  it('filterKeyframes passes the frames on; each subscription has its own state', async () => {
    const pipeline = from(frames).pipe(filterKeyframes({ interval: 1 }), toArray());
    const a = await lastValueFrom(pipeline);
    const b = await lastValueFrom(pipeline);
    expect(a.map((f) => f.pts)).toEqual([0, 1, 1.2, 2.1]);
    expect(b).toEqual(a);
  });
});

describe('keyframes on real fixtures', () => {
  it('interval 1 s on the 4 s CFR file: t = 0, 1, 2, 3 (with or without the scene rule)', async () => {
    for (const sceneThreshold of [0, DEFAULT_SCENE_THRESHOLD]) {
      const kept = await lastValueFrom(
        decodeFrames(fixture('cfr-testsrc.mp4'), { longSide: 160 }).pipe(selectKeyframes({ interval: 1, sceneThreshold }), toArray()),
      );
      expect(kept.map((k) => k.reason)).toEqual(['first', 'interval', 'interval', 'interval']);
      kept.forEach((k, i) => expect(Math.abs(k.frame.pts - i)).toBeLessThan(1e-6));
      expect(kept.map((k) => k.frame.index)).toEqual([0, 25, 50, 75]);
    }
    expect(manifest.files['cfr-testsrc.mp4'].keyframePts).toEqual([0, 1, 2, 3]); // the codec's own I-frames agree
  });

  it('scene-cut.mp4: one "scene" keyframe, at the cut frame', async () => {
    const truth = manifest.files['scene-cut.mp4'];
    const selector = new KeyframeSelector({ interval: Infinity, sceneThreshold: DEFAULT_SCENE_THRESHOLD });
    const scenes: Array<{ index: number; pts: number; score: number }> = [];
    let maxOtherScore = 0;
    for await (const f of readFrames(fixture('scene-cut.mp4'), { longSide: 160 })) {
      const decision = selector.offer(f);
      if (decision.reason === 'scene') scenes.push({ index: f.index, pts: f.pts, score: decision.sceneScore });
      else if (f.index > 0) maxOtherScore = Math.max(maxOtherScore, decision.sceneScore);
    }
    expect(scenes).toHaveLength(1);
    expect(Math.abs(scenes[0]!.pts - truth.cutTime)).toBeLessThanOrEqual(1 / truth.frameRate + 1e-9);
    expect(Math.abs(scenes[0]!.index - truth.cutFrameIndex)).toBeLessThanOrEqual(1);
    // Clear margins on both sides of the default threshold.
    expect(scenes[0]!.score).toBeGreaterThan(2 * DEFAULT_SCENE_THRESHOLD);
    expect(maxOtherScore).toBeLessThan(DEFAULT_SCENE_THRESHOLD / 3);
  });

  it('moving-object.mp4: an object entering is not a scene change; interval 1 s gives 6 keyframes', async () => {
    const kept = await lastValueFrom(
      decodeFrames(fixture('moving-object.mp4'), { longSide: 160 }).pipe(selectKeyframes({ interval: 1 }), toArray()),
    );
    expect(kept.map((k) => k.reason)).toEqual(['first', 'interval', 'interval', 'interval', 'interval', 'interval']);
  });

  it('vfr.mkv: interval 1 s keeps the first frame at or after each whole second', async () => {
    const pts = manifest.files['vfr.mkv'].pts;
    const expected = [0, 1, 2].map((s) => pts.find((t) => t >= s - 1e-9)!);
    const kept = await lastValueFrom(
      decodeFrames(fixture('vfr.mkv'), { longSide: 64 }).pipe(filterKeyframes({ interval: 1, sceneThreshold: 0 }), toArray()),
    );
    expect(kept.map((f) => f.pts)).toEqual(expected.map((t) => expect.closeTo(t, 6)));
  });
});
