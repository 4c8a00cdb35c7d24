/**
 * Which decoded frames go to the CNN: a pure, stateful selection over (pts, rgb24 pixels).
 *
 * Interval rule: the first frame is kept; after that a frame is kept when it is the first one in a new cell of a
 * time grid anchored at the first frame's pts (or at a given anchor): cell = floor((pts − t0) / interval). The grid does not drift (a 1 s
 * interval on 25 fps keeps exactly t0, t0+1, t0+2, ... even though each frame is 40 ms), and an interval no longer
 * than the frame duration keeps every frame. A tolerance of 1e-6 interval absorbs floating-point error in pts.
 *
 * Scene rule: each frame is summarised by a 32-bin histogram of its luma (BT.601, Y = 0.299 R + 0.587 G + 0.114 B,
 * sampled on a grid of at most ~160×160 points). The scene score is the total variation distance between the
 * histograms of consecutive frames: ½ Σ|p_i − q_i|, in 0..1, i.e. the fraction of the picture whose brightness
 * moved to another level. A frame whose score exceeds `sceneThreshold` is kept with reason 'scene'.
 *
 * Why 0.3 by default: motion, noise and compression inside one shot move a few percent of the histogram mass
 * (objects crossing the frame change only the pixels they cover, and those mostly at similar brightness), while a cut
 * to an unrelated shot typically moves a third or more of it. 0.3 keeps the false positives of handheld motion and
 * flicker away and still catches ordinary hard cuts; cuts between shots with very similar brightness distributions
 * (same set, same lighting) are missed, and the interval rule still samples those. Gradual transitions (fades,
 * dissolves) change the histogram slowly and are not detected as such.
 *
 * Reasons when several rules fire: 'first' > 'scene' > 'interval'. Both the grid and the scene reference advance
 * for every offered frame, kept or not.
 */

import { type MonoTypeOperatorFunction, type OperatorFunction, Observable } from 'rxjs';

export type KeyframeReason = 'first' | 'interval' | 'scene';

export interface KeyframeOptions {
  /** Seconds between interval keyframes; ≤ frame duration (or 0) keeps every frame; Infinity keeps only the first. */
  interval: number;
  /** 0..1; 0 disables the scene rule. Default 0.3. */
  sceneThreshold?: number;
  /**
   * pts the interval grid is anchored at, instead of the first frame offered: the first frame of a whole decode, for
   * a decode that starts part-way, so that it keeps the frames a whole decode keeps.
   */
  anchor?: number;
}

export interface KeyframeCandidate {
  pts: number;
  /** rgb24, width * height * 3 bytes. */
  data: Buffer;
  width: number;
  height: number;
}

export type KeyframeDecision =
  | { keep: true; reason: KeyframeReason; sceneScore: number }
  | { keep: false; reason: null; sceneScore: number };

export const DEFAULT_SCENE_THRESHOLD = 0.3;
export const LUMA_BINS = 32;
/** Relative tolerance on the interval grid. */
const GRID_EPSILON = 1e-6;
/** At most this many samples per side when building the histogram. */
const MAX_SAMPLES_PER_SIDE = 160;

export class KeyframeSelector {
  readonly interval: number;
  readonly sceneThreshold: number;
  private readonly anchor: number | undefined;
  private t0: number | null = null;
  private lastCell = -Infinity;
  private previousHistogram: Float64Array | null = null;
  private offered = 0;

  constructor(options: KeyframeOptions) {
    const { interval } = options;
    const sceneThreshold = options.sceneThreshold ?? DEFAULT_SCENE_THRESHOLD;
    if (Number.isNaN(interval) || interval < 0) throw new RangeError(`interval must be ≥ 0 seconds, got ${interval}`);
    if (!(sceneThreshold >= 0 && sceneThreshold <= 1)) throw new RangeError(`sceneThreshold must be in 0..1, got ${sceneThreshold}`);
    this.interval = interval;
    this.sceneThreshold = sceneThreshold;
    this.anchor = options.anchor;
  }

  offer(frame: KeyframeCandidate): KeyframeDecision {
    const first = this.offered++ === 0;

    let sceneScore = 0;
    if (this.sceneThreshold > 0) {
      const histogram = lumaHistogram(frame);
      if (this.previousHistogram) sceneScore = histogramDistance(this.previousHistogram, histogram);
      this.previousHistogram = histogram;
    }

    let intervalHit = false;
    if (Number.isFinite(frame.pts)) {
      if (this.t0 === null) {
        this.t0 = this.anchor ?? frame.pts;
        this.lastCell = this.interval === 0 ? 0 : Math.floor((frame.pts - this.t0) / this.interval + GRID_EPSILON);
      } else if (this.interval === 0) {
        intervalHit = true;
      } else {
        const cell = Math.floor((frame.pts - this.t0) / this.interval + GRID_EPSILON);
        if (cell > this.lastCell) {
          intervalHit = true;
          this.lastCell = cell;
        }
      }
    }

    if (first) return { keep: true, reason: 'first', sceneScore };
    if (this.sceneThreshold > 0 && sceneScore > this.sceneThreshold) return { keep: true, reason: 'scene', sceneScore };
    if (intervalHit) return { keep: true, reason: 'interval', sceneScore };
    return { keep: false, reason: null, sceneScore };
  }

  /** Forget everything (e.g. after a seek or a reconnect of a live source). */
  reset(): void {
    this.t0 = null;
    this.lastCell = -Infinity;
    this.previousHistogram = null;
    this.offered = 0;
  }
}

/** Normalised (sums to 1) luma histogram with {@link LUMA_BINS} bins of an rgb24 frame. */
export function lumaHistogram(frame: Pick<KeyframeCandidate, 'data' | 'width' | 'height'>): Float64Array {
  const { data, width, height } = frame;
  if (data.length < width * height * 3) throw new RangeError(`frame data has ${data.length} bytes, expected ${width * height * 3}`);
  const histogram = new Float64Array(LUMA_BINS);
  const stepX = Math.max(1, Math.floor(width / MAX_SAMPLES_PER_SIDE));
  const stepY = Math.max(1, Math.floor(height / MAX_SAMPLES_PER_SIDE));
  const shift = 8 - Math.log2(LUMA_BINS);
  let count = 0;
  for (let y = 0; y < height; y += stepY) {
    let i = y * width * 3;
    for (let x = 0; x < width; x += stepX, i += 3 * stepX) {
      // Integer BT.601 luma, rounded; exact for grey pixels (299 + 587 + 114 = 1000).
      const luma = Math.floor((299 * data[i]! + 587 * data[i + 1]! + 114 * data[i + 2]! + 500) / 1000);
      histogram[luma >> shift]! += 1;
      count++;
    }
  }
  if (count > 0) for (let b = 0; b < LUMA_BINS; b++) histogram[b]! /= count;
  return histogram;
}

/** Total variation distance between two normalised histograms, in 0..1. */
export function histogramDistance(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return Math.min(1, sum / 2);
}

export type Keyframe<F> = { frame: F; reason: KeyframeReason; sceneScore: number };

/** rxjs operator: passes on the kept frames with the reason. One selector per subscription. */
export function selectKeyframes<F extends KeyframeCandidate>(options: KeyframeOptions): OperatorFunction<F, Keyframe<F>> {
  return (source) =>
    new Observable<Keyframe<F>>((subscriber) => {
      const selector = new KeyframeSelector(options);
      return source.subscribe({
        next: (frame) => {
          let decision: KeyframeDecision;
          try {
            decision = selector.offer(frame);
          } catch (error) {
            subscriber.error(error);
            return;
          }
          if (decision.keep) subscriber.next({ frame, reason: decision.reason, sceneScore: decision.sceneScore });
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}

/** Like {@link selectKeyframes} but passes the frames themselves on. */
export function filterKeyframes<F extends KeyframeCandidate>(options: KeyframeOptions): MonoTypeOperatorFunction<F> {
  return (source) =>
    new Observable<F>((subscriber) => {
      const selector = new KeyframeSelector(options);
      return source.subscribe({
        next: (frame) => {
          try {
            if (selector.offer(frame).keep) subscriber.next(frame);
          } catch (error) {
            subscriber.error(error);
          }
        },
        error: (error) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}
