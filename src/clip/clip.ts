/**
 * Cutting a clip of a video around a hit, optionally with the instance's box drawn on every frame.
 *
 * The clip shows source time [start − pad, end + pad], clamped to the video: its first frame is the frame shown at
 * start − pad (the last frame at or before it, as {@link grabFrame} picks it), its last frame the last one before
 * end + pad. The frame times come from the container (frame-times.ts) and the cut is re-encoded, so it is frame
 * accurate whatever the keyframe layout. The command:
 *
 *   ffmpeg -hide_banner -nostdin -nostats -loglevel error -y
 *          -ss S -t D -protocol_whitelist file -i file:<video>
 *          -map 0:<video stream> [-map 0:a:0? -c:a aac -b:a 128k | -an] -sn -dn
 *          -vf "[scale=W:H,setsar=1,]format=yuv420p[,sendcmd=f=<script>,drawbox@instance=…:enable='between(t,A,B)'],setpts=PTS-STARTPTS"
 *          -fps_mode passthrough -c:v libx264 -preset veryfast -crf 20 -pix_fmt yuv420p
 *          -movflags +faststart -f mp4 <out.partial>
 *
 * - S = (pts of the first frame) − 1 ms: `-ss` before `-i` seeks to the keyframe before S, decodes from there and
 *   drops frames with pts < S (accurate seek), so the first frame kept is exactly the first wanted one. D makes the
 *   input stop 1 ms before the frame after the last wanted one.
 * - Inside the filter graph timestamps are shifted by −S: `t` (and sendcmd's `T`) = source time − S. The box track
 *   is therefore written in filter time (offset S); `setpts=PTS-STARTPTS` comes last, so the file starts at 0 while
 *   the drawing still sees the shifted source times.
 * - Box track (box-track.ts): ffmpeg 5.1's drawbox cannot animate its x/y/w/h by itself (they are evaluated once at
 *   configuration; its `t` option is the thickness), so one `drawbox@instance` is driven by `sendcmd` with one
 *   interval per keyframe segment whose `[expr]` commands set x/y/w/h on every frame from expressions linear in
 *   the frame time T (linear interpolation keyframe to keyframe); drawbox's `enable='between(t,A,B)'` limits it to
 *   the span where a box is shown (half a keyframe interval beyond the first and last keyframe).
 * - yuv420p + `+faststart` (index at the front) so browsers can play the file while it downloads; `-fps_mode
 *   passthrough` keeps the source frame timing (variable frame rate stays variable). Non-square pixels or odd sizes
 *   are scaled to an even display size first (boxes are scaled with them).
 * - The clip is written to a temporary file next to `out` and renamed into place when ffmpeg succeeded, so `out`
 *   is never a half-written file. The JPEG thumbnail `<out>.jpg` is a frame of the finished clip (box included).
 */

import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

import type { Box } from '../detect/box.js';
import { DecodeError } from '../decode/errors.js';
import { describeSource, ffmpegBinary, inputArgs, toSourceSpec, type FfmpegBinaries } from '../decode/ffmpeg-args.js';
import { probeVideo, type VideoInfo } from '../decode/probe.js';
import { encodeImage } from '../image/annotate.js';
import { boxSegments, normaliseKeyframes, sendcmdScript, trackSpan, type BoxKeyframe } from './box-track.js';
import { ClipError } from './errors.js';
import { frameWindow, seekBefore, TIME_TOLERANCE } from './frame-times.js';
import { grabFrame } from './frame-grab.js';
import { runProcess } from '../decode/process.js';

/** Box colour in clips: the colour drawDetections gives its first-ranked region (src/image/annotate.ts). */
export const CLIP_BOX_COLOUR = '#4e79a7';

export interface CutClipOptions extends FfmpegBinaries {
  /** Source video file. */
  video: string;
  /** Seconds (source presentation time, like the index): the span to show, e.g. a hit's track span. */
  start: number;
  end: number;
  /** Seconds added before start and after end (clamped to the video). Default 0. */
  pad?: number;
  /** The instance's box at keyframes (source time, display pixels): drawn on every frame, interpolated. */
  boxes?: { t: number; box: Box }[];
  /** Output file (an H.264 mp4 is written whatever the extension); the thumbnail goes to `<out>.jpg`. */
  out: string;
  /** Source time of the thumbnail frame; default: the box keyframe closest to the clip's middle, else the middle. */
  thumbnailTime?: number;
  /** Keep the first audio stream (AAC). Default true. */
  audio?: boolean;
  /** x264 constant rate factor, default 20 (visually near-lossless at small sizes). */
  crf?: number;
  /** x264 preset, default 'veryfast'. */
  preset?: string;
  signal?: AbortSignal;
  /** Kill ffmpeg after this long; default 10 minutes. */
  timeoutMs?: number;
}

export interface CutClipResult {
  /** The clip file (as given). */
  out: string;
  /** The JPEG thumbnail, `<out>.jpg`. */
  thumbnail: string;
  /** Source time of the clip's first frame: clip time 0 shows source time `start`. */
  start: number;
  /** Source time at which the clip's last frame stops being shown (the next source frame's time or the video end). */
  end: number;
}

/** Line thickness of the drawn box for a frame size: about 1/120 of the shorter side, 2 to 8 pixels. */
export function boxThickness(width: number, height: number): number {
  return Math.min(8, Math.max(2, Math.round(Math.min(width, height) / 120)));
}

/**
 * Cuts [start − pad, end + pad] (clamped to the video) into an H.264/yuv420p mp4 with the index at the front, draws
 * the instance's box if `boxes` are given, and writes a JPEG thumbnail next to it.
 *
 * Errors: DecodeError for a missing/unreadable/non-video source; ClipError 'invalid-argument' (non-finite times,
 * negative pad, bad boxes), 'out-of-range' (start or end outside the video), 'invalid-range' (start > end, or an
 * empty span: start = end with no padding), 'not-writable' (missing or read-only directory, `out` is a directory
 * or the source itself), 'ffmpeg-failed'.
 */
export async function cutClip(options: CutClipOptions): Promise<CutClipResult> {
  const { start, end } = options;
  const pad = options.pad ?? 0;
  for (const [name, v] of [['start', start], ['end', end], ['pad', pad]] as const) {
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ClipError('invalid-argument', `${name} must be a finite number of seconds, got ${String(v)}`);
  }
  if (pad < 0) throw new ClipError('invalid-argument', `pad must be ≥ 0, got ${pad}`);
  if (start > end) throw new ClipError('invalid-range', `The clip starts after it ends (start ${start} s > end ${end} s).`);
  if (typeof options.out !== 'string' || options.out === '') throw new ClipError('invalid-argument', 'out must be a file path');
  const crf = options.crf ?? 20;
  if (!Number.isFinite(crf) || crf < 0 || crf > 51) throw new ClipError('invalid-argument', `crf must be from 0 to 51, got ${crf}`);
  const preset = options.preset ?? 'veryfast';
  if (!/^[a-z]+$/.test(preset)) throw new ClipError('invalid-argument', `unknown x264 preset "${preset}"`);
  const keyframes = normaliseKeyframes(options.boxes ?? []);

  const spec = toSourceSpec(options.video);
  const name = describeSource(spec);
  const info = await probeVideo(spec, { ...options, signal: options.signal });
  const duration = info.duration;
  for (const [label, v] of [['start', start], ['end', end]] as const) {
    if (v < -TIME_TOLERANCE || (Number.isFinite(duration) && v > duration + TIME_TOLERANCE)) {
      throw new ClipError('out-of-range', `The clip ${label} ${v} s is outside the video ${name} (0–${duration.toFixed(3)} s).`);
    }
  }
  const a = Math.max(0, start - pad);
  const b = Number.isFinite(duration) ? Math.min(duration, end + pad) : end + pad;
  if (!(b - a > TIME_TOLERANCE)) {
    throw new ClipError('invalid-range', `The clip [${a}, ${b}] s is empty: start must be before end (or give a pad).`);
  }

  const out = options.out;
  const outPath = resolve(out);
  const thumbnail = `${out}.jpg`;
  await checkWritable(outPath, spec.kind === 'file' ? spec.path : undefined);

  const window = await frameWindow(spec, info, a, b, options);
  const first = window.frames[0];
  const last = window.frames[window.frames.length - 1];
  if (first >= b - TIME_TOLERANCE) throw new ClipError('invalid-range', `No frame of ${name} is shown in [${a}, ${b}] s.`);
  const seek = seekBefore(first, window.previous);
  const offset = seek > 0 ? seek : 0;
  const inputDuration = window.end - offset - Math.min(0.001, (window.end - last) / 2);

  // Frame size of the clip: the display size, rounded to even for yuv420p.
  const codedW = info.rotation === 90 || info.rotation === 270 ? info.height : info.width;
  const codedH = info.rotation === 90 || info.rotation === 270 ? info.width : info.height;
  const outW = even(info.displayWidth);
  const outH = even(info.displayHeight);
  const scale = outW !== codedW || outH !== codedH || info.sampleAspectRatio !== 1;

  const tmp = await mkdtemp(join(tmpdir(), 'dasr-clip-'));
  const partial = join(dirname(outPath), `.${basename(outPath)}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
  try {
    const filters: string[] = [];
    if (scale) filters.push(`scale=${outW}:${outH}`, 'setsar=1');
    filters.push('format=yuv420p');
    const segments = boxSegments(keyframes);
    const span = trackSpan(segments);
    const script = sendcmdScript(segments, {
      offset,
      scaleX: outW / info.displayWidth,
      scaleY: outH / info.displayHeight,
      target: 'drawbox@instance',
      until: inputDuration,
    });
    if (span && script !== '') {
      const scriptPath = join(tmp, 'box.cmd');
      await writeFile(scriptPath, script, 'utf8');
      filters.push(
        `sendcmd=f=${escapeFilterValue(scriptPath)}`,
        `drawbox@instance=x=-100:y=-100:w=1:h=1:color=0x${CLIP_BOX_COLOUR.slice(1)}:t=${boxThickness(outW, outH)}` +
          `:enable='between(t,${(span[0] - offset).toFixed(6)},${(span[1] - offset).toFixed(6)})'`,
      );
    }
    filters.push('setpts=PTS-STARTPTS');

    const audio = options.audio !== false && info.hasAudio;
    const args = [
      '-hide_banner',
      '-nostdin',
      '-nostats',
      '-loglevel',
      'error',
      '-y',
      ...(offset > 0 ? ['-ss', offset.toFixed(6)] : []),
      '-t',
      inputDuration.toFixed(6),
      ...inputArgs(spec),
      '-map',
      `0:${info.streamIndex}`,
      ...(audio ? ['-map', '0:a:0?', '-c:a', 'aac', '-b:a', '128k'] : ['-an']),
      '-sn',
      '-dn',
      '-vf',
      filters.join(','),
      '-fps_mode',
      'passthrough',
      '-c:v',
      'libx264',
      '-preset',
      preset,
      '-crf',
      String(crf),
      '-pix_fmt',
      'yuv420p',
      '-movflags',
      '+faststart',
      '-f',
      'mp4',
      partial,
    ];
    const timeoutMs = options.timeoutMs ?? 600_000;
    const result = await runProcess(ffmpegBinary(options), args, { timeoutMs, signal: options.signal });
    if (result.timedOut) throw new DecodeError('timeout', `ffmpeg did not finish the clip of ${name} within ${timeoutMs} ms.`, { stderr: result.stderr });
    if (result.exitCode !== 0) {
      throw new ClipError('ffmpeg-failed', `ffmpeg could not cut ${name} (${result.stderr || `exit status ${result.exitCode}`}).`, { stderr: result.stderr });
    }
    await rename(partial, outPath);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }

  const clipStart = first;
  const clipEnd = window.end;
  const thumbT = thumbnailTime(options.thumbnailTime, keyframes, clipStart, clipEnd);
  const frame = await grabFrame(outPath, Math.min(Math.max(0, thumbT - clipStart), Math.max(0, last - clipStart)), {
    ...options,
    signal: options.signal,
    width: undefined,
  });
  try {
    await writeFile(thumbnail, await encodeImage(frame, 'jpeg', 85));
  } catch (cause) {
    throw new ClipError('not-writable', `Cannot write the thumbnail ${thumbnail}: ${(cause as Error).message}`, { cause });
  }
  return { out, thumbnail, start: clipStart, end: clipEnd };
}

/** The thumbnail's source time: as asked, else the box keyframe nearest the middle of the clip, else the middle. */
function thumbnailTime(asked: number | undefined, keyframes: readonly BoxKeyframe[], start: number, end: number): number {
  if (asked !== undefined) {
    if (!Number.isFinite(asked)) throw new ClipError('invalid-argument', `thumbnailTime must be a finite number, got ${asked}`);
    return asked;
  }
  const middle = (start + end) / 2;
  let best: number | undefined;
  for (const k of keyframes) {
    if (k.t < start - TIME_TOLERANCE || k.t >= end) continue;
    if (best === undefined || Math.abs(k.t - middle) < Math.abs(best - middle)) best = k.t;
  }
  return best ?? middle;
}

async function checkWritable(outPath: string, sourcePath: string | undefined): Promise<void> {
  if (sourcePath !== undefined && resolve(sourcePath) === outPath) {
    throw new ClipError('not-writable', `The clip cannot overwrite its source video ${outPath}.`);
  }
  const dir = dirname(outPath);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    await access(dir, fsConstants.W_OK);
  } catch (cause) {
    throw new ClipError('not-writable', `Cannot write the clip ${outPath}: the directory ${dir} does not exist or is not writable.`, { cause });
  }
  const existing = await stat(outPath).catch(() => undefined);
  if (existing?.isDirectory()) throw new ClipError('not-writable', `Cannot write the clip ${outPath}: it is a directory.`);
}

/**
 * Escapes a value (here a file path) for an ffmpeg filter option inside a filtergraph description: first the
 * option level (`\`, `'` and `:`), then the graph level (`\`, `'`, `[`, `]`, `,`, `;`).
 */
export function escapeFilterValue(value: string): string {
  const option = value.replace(/[\\':]/g, (c) => `\\${c}`);
  return option.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

function even(v: number): number {
  return Math.max(2, 2 * Math.round(v / 2));
}
