/**
 * An instance's box over time, from boxes at keyframes, and its rendering as ffmpeg filter input.
 *
 * Between two consecutive keyframes the box is interpolated linearly (each coordinate), keyframe to keyframe.
 * Outside the keyframes the box is held still for half a keyframe interval — half the first interval before the
 * first keyframe and half the last interval after the last one, {@link SINGLE_KEYFRAME_HOLD} seconds either side
 * of a lone keyframe — and not shown beyond that: the indexer samples keyframes at intervals, so the instance was
 * most likely on screen about half an interval beyond its first and last sighting, and surely not much longer.
 *
 * ffmpeg 5.1's drawbox evaluates x/y/w/h once, when it is configured (their only variables are sizes; its `t` is the
 * line thickness, not time), so a moving box needs commands: {@link sendcmdScript} writes one `sendcmd` interval
 * per segment whose `[expr]` commands re-set x, y, w and h on every frame from expressions linear in the frame time
 * `T`, and the drawbox itself is switched on with `enable='between(t,A,B)'` over the whole span (see clip.ts).
 */

import type { Box } from '../detect/box.js';
import { ClipError } from './errors.js';

export interface BoxKeyframe {
  /** Seconds, presentation time in the source video. */
  t: number;
  /** [x1, y1, x2, y2] in display pixels of the source video. */
  box: Box;
}

/** The box moves linearly from `from` (at time t0) to `to` (at time t1); a held box has from = to. */
export interface BoxSegment {
  t0: number;
  t1: number;
  from: Box;
  to: Box;
}

/** How long (seconds) a lone keyframe's box is shown before and after it. */
export const SINGLE_KEYFRAME_HOLD = 0.5;

/**
 * A track's boxes to draw, one per keyframe: the region the tracker followed, which is the keyframe's first on the
 * track (a peak's wider extents share its track and come after it). `regions` in time order, ids ascending.
 */
export function followedBoxes(regions: readonly { id: number; t: number; box: Box }[]): BoxKeyframe[] {
  const first = new Map<number, { id: number; t: number; box: Box }>();
  for (const region of regions) if (!first.has(region.t) || region.id < first.get(region.t)!.id) first.set(region.t, region);
  return [...first.values()].sort((a, b) => a.t - b.t).map(({ t, box }) => ({ t, box }));
}

/** Validates, sorts (a later duplicate time wins) and normalises (x1 < x2, y1 < y2) box keyframes. */
export function normaliseKeyframes(keyframes: readonly BoxKeyframe[]): BoxKeyframe[] {
  const byTime = new Map<number, BoxKeyframe>();
  keyframes.forEach((k, i) => {
    if (typeof k?.t !== 'number' || !Number.isFinite(k.t)) throw new ClipError('invalid-argument', `boxes[${i}].t must be a finite number, got ${String(k?.t)}`);
    if (!Array.isArray(k.box) || k.box.length !== 4 || !k.box.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new ClipError('invalid-argument', `boxes[${i}].box must be [x1, y1, x2, y2] with finite numbers`);
    }
    const [a, b, c, d] = k.box;
    if (a === c || b === d) throw new ClipError('invalid-argument', `boxes[${i}].box has no area: [${k.box.join(', ')}]`);
    byTime.set(k.t, { t: k.t, box: [Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)] });
  });
  return [...byTime.values()].sort((p, q) => p.t - q.t);
}

/** The piecewise-linear box track: a held segment, the interpolated segments between keyframes, a held segment. */
export function boxSegments(keyframes: readonly BoxKeyframe[]): BoxSegment[] {
  const k = normaliseKeyframes(keyframes);
  if (k.length === 0) return [];
  const first = k[0];
  const last = k[k.length - 1];
  const holdBefore = k.length > 1 ? (k[1].t - first.t) / 2 : SINGLE_KEYFRAME_HOLD;
  const holdAfter = k.length > 1 ? (last.t - k[k.length - 2].t) / 2 : SINGLE_KEYFRAME_HOLD;
  const segments: BoxSegment[] = [{ t0: first.t - holdBefore, t1: first.t, from: first.box, to: first.box }];
  for (let i = 0; i + 1 < k.length; i++) segments.push({ t0: k[i].t, t1: k[i + 1].t, from: k[i].box, to: k[i + 1].box });
  segments.push({ t0: last.t, t1: last.t + holdAfter, from: last.box, to: last.box });
  return segments;
}

/** The box shown at time t, or null when none is (segments as from {@link boxSegments}; the last end is included). */
export function boxAt(segments: readonly BoxSegment[], t: number): Box | null {
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i];
    const isLast = i === segments.length - 1;
    if (t >= s.t0 && (t < s.t1 || (isLast && t <= s.t1))) {
      const u = s.t1 > s.t0 ? (t - s.t0) / (s.t1 - s.t0) : 0;
      return [0, 1, 2, 3].map((j) => s.from[j] + (s.to[j] - s.from[j]) * u) as Box;
    }
  }
  return null;
}

export interface SendcmdOptions {
  /** Filter time = source time − offset (the `-ss` value when seeking before `-i`). */
  offset: number;
  /** Scale from source display pixels to the filtered frame's pixels. */
  scaleX: number;
  scaleY: number;
  /** The drawbox instance to command, e.g. "drawbox@instance". */
  target: string;
  /** Drop intervals entirely outside [0, until] (filter time). Default: keep all that end after 0. */
  until?: number;
}

/**
 * The sendcmd script for a box track: per segment one line
 *
 *   TS-TE [expr] drawbox@box x 'floor(A+(M)*T+0.5)', [expr] drawbox@box y '…', [expr] … w '…', [expr] … h '…';
 *
 * in filter time, where T is the frame's time; x1, y1, x2, y2 are each rounded to whole pixels, w = x2 − x1 and
 * h = y2 − y1 (at least 1: drawbox takes 0 as "the whole frame"). An `[expr]` command is sent on every frame inside
 * its interval, so the box follows the line frame by frame. Intervals are half-open [TS, TE); the last one is
 * extended by a microsecond so that a frame exactly at the end of the track (where `between` is still true) is
 * covered too. sendcmd cannot parse negative times, so intervals are clipped at 0. Returns '' when no segment
 * reaches into [0, until].
 */
export function sendcmdScript(segments: readonly BoxSegment[], options: SendcmdOptions): string {
  const { offset, scaleX, scaleY, target } = options;
  const until = options.until ?? Infinity;
  const lines: string[] = [];
  segments.forEach((s, i) => {
    const isLast = i === segments.length - 1;
    const ts = Math.max(0, s.t0 - offset);
    const te = s.t1 - offset + (isLast ? 1e-6 : 0);
    if (te <= ts || te <= 0 || ts > until) return;
    const duration = s.t1 - s.t0;
    // Coordinate j as a line in filter time T: value(T) = a + m·T, scaled to the filtered frame.
    const line = (j: number, scale: number): { a: number; m: number } => {
      const m = duration > 0 ? ((s.to[j] - s.from[j]) / duration) * scale : 0;
      return { a: s.from[j] * scale - m * (s.t0 - offset), m };
    };
    const rounded = ({ a, m }: { a: number; m: number }): string => (m === 0 ? String(Math.floor(a + 0.5)) : `floor(${num(a)}+(${num(m)})*T+0.5)`);
    const x1 = line(0, scaleX);
    const y1 = line(1, scaleY);
    const x2 = line(2, scaleX);
    const y2 = line(3, scaleY);
    const size = (lo: { a: number; m: number }, hi: { a: number; m: number }): string =>
      lo.m === 0 && hi.m === 0 ? String(Math.max(1, Math.floor(hi.a + 0.5) - Math.floor(lo.a + 0.5))) : `max(1,${rounded(hi)}-${rounded(lo)})`;
    const commands = [
      `[expr] ${target} x '${rounded(x1)}'`,
      `[expr] ${target} y '${rounded(y1)}'`,
      `[expr] ${target} w '${size(x1, x2)}'`,
      `[expr] ${target} h '${size(y1, y2)}'`,
    ];
    lines.push(`${ts.toFixed(6)}-${te.toFixed(6)} ${commands.join(', ')};`);
  });
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** Time span [A, B] (source time) over which the track shows a box, or null for no segments. */
export function trackSpan(segments: readonly BoxSegment[]): [number, number] | null {
  return segments.length === 0 ? null : [segments[0].t0, segments[segments.length - 1].t1];
}

/** A number for an ffmpeg expression: fixed notation (no exponent), at most 9 decimals, no trailing zeros. */
function num(v: number): string {
  const s = v.toFixed(9).replace(/\.?0+$/, '');
  return s === '-0' ? '0' : s;
}
