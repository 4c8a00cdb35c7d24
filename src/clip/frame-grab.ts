/**
 * One frame of a video as RGB pixels: the frame *shown* at a time t, i.e. the last frame whose presentation time is
 * ≤ t (a frame is shown from its timestamp until the next frame's).
 *
 * 1. `probeVideo` (display size, duration, stream index; DecodeError for missing/unreadable/non-video files).
 * 2. ffprobe lists the packet timestamps around t (see frame-times.ts) → pts of the frame shown at t.
 * 3. ffmpeg -hide_banner -nostdin -nostats -loglevel error -ss <pts − 1 ms> -protocol_whitelist file -i file:<path>
 *           -map 0:<video stream> -an -sn -dn -frames:v 1 -vf scale=W:H:flags=area -pix_fmt rgb24 -f rawvideo pipe:1
 *
 * `-ss` before `-i` seeks to the keyframe before, decodes from there and drops every frame with pts < the -ss time
 * (accurate seek, ffmpeg ≥ 2.1), so the first frame out is the one at pts. A plain `-ss t` would instead return
 * the first frame at or *after* t. Scaling and colour conversion are the same as the indexer's (src/decode/frames.ts),
 * so box coordinates from the index line up with these pixels.
 */

import { DecodeError } from '../decode/errors.js';
import { describeSource, ffmpegBinary, inputArgs, toSourceSpec, type FfmpegBinaries } from '../decode/ffmpeg-args.js';
import { probeVideo, type VideoInfo } from '../decode/probe.js';
import type { DecodedImage } from '../image/load.js';
import type { SourceSpec } from '../source/source-spec.js';
import { ClipError } from './errors.js';
import { frameWindow, seekBefore, TIME_TOLERANCE } from './frame-times.js';
import { runProcess } from '../decode/process.js';

/** Largest output width accepted (pixels). */
export const MAX_GRAB_WIDTH = 16384;

export interface GrabOptions extends FfmpegBinaries {
  /** Output width in pixels; the height keeps the display aspect ratio. Default: the display width. */
  width?: number;
  signal?: AbortSignal;
  /** Limit for each ffmpeg/ffprobe run; default 60 s. */
  timeoutMs?: number;
  /** Probe result to reuse (several grabs from one video). */
  info?: VideoInfo;
}

/** A grabbed frame: RGB pixels plus the presentation time of the frame that was shown at the requested time. */
export interface GrabbedFrame extends DecodedImage {
  /** Presentation time (seconds) of the returned frame; ≤ the requested t except before the first frame. */
  pts: number;
}

/**
 * The RGB frame shown at `t` seconds (presentation time, relative to the start of the file like the indexer's
 * timestamps), at display size (rotation and sample aspect ratio applied) or scaled to `options.width`.
 *
 * Throws DecodeError for a missing, unreadable or non-video file ('not-found', 'empty', 'corrupt',
 * 'no-video-stream'), ClipError 'out-of-range' for t < 0 or t > duration, 'invalid-argument' for a non-finite t or
 * a bad width, 'ffmpeg-failed' when ffmpeg fails or returns no frame.
 */
export async function grabFrame(videoPath: string, t: number, options: GrabOptions = {}): Promise<GrabbedFrame> {
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new ClipError('invalid-argument', `time must be a finite number of seconds, got ${String(t)}`);
  const width = options.width;
  if (width !== undefined && (!Number.isInteger(width) || width < 1 || width > MAX_GRAB_WIDTH)) {
    throw new ClipError('invalid-argument', `width must be an integer from 1 to ${MAX_GRAB_WIDTH}, got ${String(width)}`);
  }
  const spec = toSourceSpec(videoPath);
  const info = options.info ?? (await probeVideo(spec, { ...options, signal: options.signal }));
  checkTime(info, t, describeSource(spec));

  const window = await frameWindow(spec, info, t, t, options);
  const pts = window.frames[0];
  const size = grabSize(info, width);
  const data = await decodeOneFrame(spec, info, seekBefore(pts, window.previous), size, options);
  return { width: size.width, height: size.height, data, pts };
}

/** Throws 'out-of-range' unless 0 ≤ t ≤ duration (the duration check is skipped when it is unknown). */
export function checkTime(info: VideoInfo, t: number, name: string): void {
  const end = info.duration;
  if (t < -TIME_TOLERANCE || (Number.isFinite(end) && t > end + TIME_TOLERANCE)) {
    const span = Number.isFinite(end) ? `0–${end.toFixed(3)} s` : 'from 0 s';
    throw new ClipError('out-of-range', `t = ${t} s is outside the video ${name} (${span}).`);
  }
}

/** Display size, or `width` × proportional height (at least 1). */
export function grabSize(info: Pick<VideoInfo, 'displayWidth' | 'displayHeight'>, width?: number): { width: number; height: number } {
  if (width === undefined) return { width: info.displayWidth, height: info.displayHeight };
  return { width, height: Math.max(1, Math.round((width * info.displayHeight) / info.displayWidth)) };
}

async function decodeOneFrame(
  spec: SourceSpec,
  info: VideoInfo,
  seek: number,
  size: { width: number; height: number },
  options: GrabOptions,
): Promise<Buffer> {
  const args = [
    '-hide_banner',
    '-nostdin',
    '-nostats',
    '-loglevel',
    'error',
    ...(seek > 0 ? ['-ss', seek.toFixed(6)] : []),
    ...inputArgs(spec),
    '-map',
    `0:${info.streamIndex}`,
    '-an',
    '-sn',
    '-dn',
    '-frames:v',
    '1',
    '-vf',
    `scale=${size.width}:${size.height}:flags=area`,
    '-pix_fmt',
    'rgb24',
    '-f',
    'rawvideo',
    'pipe:1',
  ];
  const expected = size.width * size.height * 3;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const name = describeSource(spec);
  const result = await runProcess(ffmpegBinary(options), args, { timeoutMs, signal: options.signal, maxStdoutBytes: expected });
  if (result.timedOut) throw new DecodeError('timeout', `ffmpeg returned no frame of ${name} within ${timeoutMs} ms.`, { stderr: result.stderr });
  if (result.exitCode !== 0 && !result.overflow) {
    throw new ClipError('ffmpeg-failed', `ffmpeg could not decode a frame of ${name} (${result.stderr || `exit status ${result.exitCode}`}).`, {
      stderr: result.stderr,
    });
  }
  if (result.stdout.length !== expected) {
    throw new ClipError(
      'ffmpeg-failed',
      `ffmpeg returned ${result.stdout.length} bytes for a frame of ${name}, expected ${expected} (${size.width}×${size.height} RGB)` +
        (result.stderr ? `: ${result.stderr}` : '.'),
      { stderr: result.stderr },
    );
  }
  return result.stdout;
}
