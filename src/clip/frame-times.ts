/**
 * Which frames a video shows around a time span, from the container's packet timestamps (no decoding):
 *
 *   ffprobe -v error -select_streams <video stream index> -read_intervals <from>%<to>
 *           -show_entries packet=pts_time:format=start_time -of json -protocol_whitelist file -i file:<path>
 *
 * Times are presentation times in seconds relative to the file's start time (format `start_time`), which is how
 * ffmpeg's decoder (and therefore the indexer, see src/decode/frames.ts) and ffmpeg's `-ss` count them.
 *
 * `-read_intervals` seeks to a keyframe before `from` and stops reading around `to` in *decode* order, so with
 * B-frames some frames presented just before `to` may be missing: callers ask for a margin on both sides and
 * {@link frameWindow} re-reads from the start / to the end when the margin was not enough. Streams without packet
 * timestamps (raw elementary streams) fall back to decoding: `-show_entries frame=best_effort_timestamp_time`.
 */

import type { VideoInfo } from '../decode/probe.js';
import { describeSource, ffprobeBinary, inputArgs, type FfmpegBinaries } from '../decode/ffmpeg-args.js';
import type { SourceSpec } from '../source/source-spec.js';
import { ClipError } from './errors.js';
import { runProcess } from '../decode/process.js';

/** Two times closer than this (seconds) are the same instant: ffprobe prints microseconds. */
export const TIME_TOLERANCE = 2e-6;

export interface FrameTimesOptions extends FfmpegBinaries {
  signal?: AbortSignal | undefined;
  /** Kill ffprobe after this long; default 60 s. */
  timeoutMs?: number | undefined;
}

interface FfprobeTimes {
  packets?: Array<{ pts_time?: string }>;
  frames?: Array<{ best_effort_timestamp_time?: string }>;
  format?: { start_time?: string };
}

/**
 * Sorted, distinct presentation times of the video frames whose packets ffprobe reads for [from, to] (either end
 * may be ±Infinity: from the start / to the end). Always includes every frame with from ≤ pts ≤ to that lies after
 * the keyframe ffprobe seeked to, usually more.
 */
export async function listFrameTimes(
  spec: SourceSpec,
  info: VideoInfo,
  from: number,
  to: number,
  options: FrameTimesOptions = {},
): Promise<number[]> {
  const packets = await runFfprobeTimes(spec, info, from, to, 'packet=pts_time', options);
  const raw = packets.packets ?? [];
  let values = raw.map((p) => p.pts_time);
  let format = packets.format;
  if (values.length > 0 && values.some((v) => v === undefined || v === 'N/A')) {
    const frames = await runFfprobeTimes(spec, info, from, to, 'frame=best_effort_timestamp_time', options);
    values = (frames.frames ?? []).map((f) => f.best_effort_timestamp_time);
    format = frames.format;
  }
  const start = Number(format?.start_time);
  const offset = Number.isFinite(start) ? start : 0;
  const times = values
    .map((v) => (v === undefined || v === 'N/A' ? NaN : Number(v) - offset))
    .filter((v) => Number.isFinite(v))
    .sort((a, b) => a - b);
  const distinct: number[] = [];
  for (const t of times) if (distinct.length === 0 || t - distinct[distinct.length - 1] > TIME_TOLERANCE / 2) distinct.push(t);
  return distinct;
}

async function runFfprobeTimes(
  spec: SourceSpec,
  info: VideoInfo,
  from: number,
  to: number,
  entries: string,
  options: FrameTimesOptions,
): Promise<FfprobeTimes> {
  // Interval times are absolute stream times: add the start time (the probe's estimate is enough for a seek).
  const abs = (t: number): string => (t + (Number.isFinite(info.startTime) ? info.startTime : 0)).toFixed(6);
  const hasFrom = Number.isFinite(from) && from > 0;
  const hasTo = Number.isFinite(to);
  const interval = hasFrom || hasTo ? [`${hasFrom ? abs(from) : ''}${hasTo ? `%${abs(to)}` : ''}`] : [];
  const args = [
    '-v',
    'error',
    '-select_streams',
    String(info.streamIndex),
    ...(interval.length > 0 ? ['-read_intervals', interval[0]] : []),
    '-show_entries',
    `${entries}:format=start_time`,
    '-of',
    'json',
    ...inputArgs(spec),
  ];
  const timeoutMs = options.timeoutMs ?? 60_000;
  const result = await runProcess(ffprobeBinary(options), args, { timeoutMs, signal: options.signal });
  const name = describeSource(spec);
  if (result.timedOut) throw new ClipError('ffmpeg-failed', `ffprobe listed no frame times for ${name} within ${timeoutMs} ms.`, { stderr: result.stderr });
  if (result.exitCode !== 0) {
    throw new ClipError('ffmpeg-failed', `ffprobe could not list the frames of ${name} (${result.stderr || `exit status ${result.exitCode}`}).`, {
      stderr: result.stderr,
    });
  }
  try {
    return JSON.parse(result.stdout.toString('utf8')) as FfprobeTimes;
  } catch (cause) {
    throw new ClipError('ffmpeg-failed', `ffprobe returned unreadable frame times for ${name}.`, { cause, stderr: result.stderr });
  }
}

/** The frames a span [a, b) of the video shows. */
export interface FrameWindow {
  /** Presentation times of the frames shown in [a, b), ascending: the first is the frame shown at `a`. */
  frames: number[];
  /** Presentation time of the frame before `frames[0]`, if there is one. */
  previous?: number;
  /** When the last of `frames` stops being shown: the next frame's time, or the video's end. */
  end: number;
}

/**
 * Index of the frame shown at `t` in sorted `times`: the last frame whose presentation time is ≤ t (within
 * {@link TIME_TOLERANCE}); before the first frame, the first frame (that is what a player shows). -1 if empty.
 */
export function frameIndexAt(times: readonly number[], t: number): number {
  if (times.length === 0) return -1;
  let lo = 0;
  let hi = times.length - 1;
  if (times[0] > t + TIME_TOLERANCE) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t + TIME_TOLERANCE) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * The frames shown in [a, b) (b ≥ a; with b = a, just the frame shown at a), read with margins and re-read from the
 * start or to the end when the margins did not reach far enough. `duration` (NaN if unknown) ends the last frame.
 */
export async function frameWindow(
  spec: SourceSpec,
  info: VideoInfo,
  a: number,
  b: number,
  options: FrameTimesOptions = {},
): Promise<FrameWindow> {
  const frameGap = info.frameRate > 0 ? 1 / info.frameRate : 0.04;
  const margin = Math.max(2, 8 * frameGap);
  let from = a - margin;
  let to = b + margin;
  for (;;) {
    const times = await listFrameTimes(spec, info, from, to, options);
    const missedStart = Number.isFinite(from) && from > 0 && (times.length === 0 || times[0] > a + TIME_TOLERANCE);
    const lastNeeded = times.length > 0 && times[times.length - 1] < b + TIME_TOLERANCE;
    const missedEnd = Number.isFinite(to) && (times.length === 0 || lastNeeded);
    if (missedStart || missedEnd) {
      if (missedStart) from = -Infinity;
      if (missedEnd) to = Infinity;
      continue;
    }
    if (times.length === 0) {
      throw new ClipError('ffmpeg-failed', `ffprobe found no video frames in ${describeSource(spec)}.`);
    }
    const first = frameIndexAt(times, a);
    const frames = [times[first]];
    let k = first + 1;
    for (; k < times.length && times[k] < b - TIME_TOLERANCE; k++) frames.push(times[k]);
    let end: number;
    if (k < times.length) end = times[k];
    else if (Number.isFinite(info.duration) && info.duration > times[times.length - 1] + TIME_TOLERANCE) end = info.duration;
    else end = times[times.length - 1] + (times.length > 1 ? times[times.length - 1] - times[times.length - 2] : frameGap);
    const window: FrameWindow = { frames, end };
    if (first > 0) window.previous = times[first - 1];
    return window;
  }
}

/**
 * A `-ss` value (seconds) at which ffmpeg's accurate seek keeps the frame at `pts` and drops the one before: 1 ms
 * (or half the gap to the previous frame, if less) before it. ffmpeg drops decoded frames with pts < -ss, so
 * seeking exactly to `pts` would depend on how it rounds the time; this margin is far above its rounding (≤ half
 * a time-base unit) and below any real frame interval.
 */
export function seekBefore(pts: number, previous?: number): number {
  const gap = previous === undefined ? Infinity : pts - previous;
  return pts - Math.min(0.001, gap / 2);
}
