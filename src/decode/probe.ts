/**
 * `ffprobe -v error -print_format json -show_streams -show_format` wrapped into a typed result or a typed error.
 */

import { open, stat } from 'node:fs/promises';

import type { SourceSpec } from '../source/source-spec.js';
import { DecodeError } from './errors.js';
import { runProcess } from './process.js';
import { describeSource, ffprobeBinary, inputArgs, toSourceSpec, type FfmpegBinaries } from './ffmpeg-args.js';

export interface VideoInfo {
  /** Coded width of the chosen video stream, in pixels (before rotation and sample aspect ratio). */
  width: number;
  height: number;
  /** Seconds; NaN when unknown (live sources). */
  duration: number;
  /**
   * Average frame rate (`avg_frame_rate`). When the container has none (Matroska VFR, some live streams) this falls
   * back to `r_frame_rate`, ffprobe's guess of the base rate, which can be much higher than the real average; NaN
   * when neither is known.
   */
  frameRate: number;
  /** ffprobe's codec_name, e.g. "h264". */
  codec: string;
  hasVideo: boolean;
  hasAudio: boolean;
  /** Clockwise rotation in degrees (0, 90, 180, 270) that players (and ffmpeg, which autorotates) apply; absent if 0. */
  rotation?: number;

  /** ffprobe index of the chosen video stream (what `-map 0:<index>` selects). */
  streamIndex: number;
  /** Sample (pixel) aspect ratio, 1 when square or unknown. */
  sampleAspectRatio: number;
  /** Size as displayed: after rotation and sample aspect ratio (rounded). This is what the decoder scales from. */
  displayWidth: number;
  displayHeight: number;
  /** Stream time base, e.g. "1/12800". */
  timeBase: string;
  /** Seconds; 0 when unknown. */
  startTime: number;
  /** Frame count from the container header, when it has one (mp4 does, Matroska doesn't). */
  frameCount?: number;
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2". */
  formatName: string;
}

export interface ProbeOptions extends FfmpegBinaries {
  signal?: AbortSignal;
  /** Allowlist used when `source` is a string (see parseSource). */
  allowedProtocols?: readonly string[];
  /** Kill ffprobe after this long. Default 30 s for files, 3 × ioTimeoutMs for network sources. */
  timeoutMs?: number;
  /** Network I/O timeout for remote/live sources (see `timeoutArgs`). */
  ioTimeoutMs?: number;
  /** Analyse only a second of input (LIVE_ANALYSIS_ARGS). Default: true for live sources. */
  live?: boolean;
}

interface FfprobeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  sample_aspect_ratio?: string;
  avg_frame_rate?: string;
  r_frame_rate?: string;
  time_base?: string;
  start_time?: string;
  duration?: string;
  nb_frames?: string;
  disposition?: Record<string, number>;
  tags?: Record<string, string>;
  side_data_list?: Array<Record<string, unknown>>;
}

interface FfprobeOutput {
  streams?: FfprobeStream[];
  format?: { format_name?: string; duration?: string; start_time?: string };
}

/** Codecs that ffmpeg exposes as "video" but are text renderers (ANSI art, etc.), not pictures. */
const TEXT_VIDEO_CODECS = new Set(['ansi', 'bintext', 'xbin', 'idf', 'tty']);

/**
 * Probes a source and returns its video properties. Throws {@link DecodeError}:
 * 'not-found' (no such file), 'empty' (zero bytes or zero frames), 'no-video-stream' (audio only, text, cover art
 * only), 'corrupt' (ffprobe cannot parse it), 'source-unavailable' (network), 'timeout', 'spawn-failed'.
 */
export async function probeVideo(source: string | SourceSpec, options: ProbeOptions = {}): Promise<VideoInfo> {
  const spec = toSourceSpec(source, options.allowedProtocols);
  const info = await probeMedia(spec, options);
  if (!info.hasVideo) {
    const what = info.hasAudio ? 'only audio' : 'no video';
    throw new DecodeError('no-video-stream', `${describeSource(spec)} has ${what} (no video stream to index).`);
  }
  return info;
}

/** Like {@link probeVideo} but returns `hasVideo: false` (sizes 0) instead of throwing 'no-video-stream'. */
export async function probeMedia(source: string | SourceSpec, options: ProbeOptions = {}): Promise<VideoInfo> {
  const spec = toSourceSpec(source, options.allowedProtocols);
  const name = describeSource(spec);

  if (spec.kind === 'file') {
    let size: number;
    try {
      size = (await stat(spec.path)).size;
    } catch (cause) {
      throw new DecodeError('not-found', `Video file ${name} does not exist or cannot be read.`, { cause });
    }
    if (size === 0) throw new DecodeError('empty', `Video file ${name} is empty (0 bytes).`);
  }

  const args = ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', ...inputArgs(spec, options.ioTimeoutMs, options.live)];
  const timeoutMs = options.timeoutMs ?? (spec.kind === 'file' ? 30_000 : 3 * (options.ioTimeoutMs ?? 10_000));
  const result = await runProcess(ffprobeBinary(options), args, { timeoutMs, signal: options.signal, maxStdoutBytes: 64 * 1024 * 1024 });
  const stderr = result.stderr;

  if (result.timedOut) {
    throw new DecodeError('timeout', `ffprobe gave no answer for ${name} within ${timeoutMs} ms.`, { stderr });
  }
  if (result.exitCode !== 0) {
    throw await classifyProbeFailure(spec, name, stderr, result.exitCode);
  }

  let parsed: FfprobeOutput;
  try {
    parsed = JSON.parse(result.stdout.toString('utf8')) as FfprobeOutput;
  } catch (cause) {
    throw new DecodeError('corrupt', `ffprobe returned unreadable output for ${name}.`, { cause, stderr });
  }
  return toVideoInfo(parsed, name);
}

async function classifyProbeFailure(spec: SourceSpec, name: string, stderr: string, exitCode: number | null): Promise<DecodeError> {
  const said = stderr === '' ? `ffprobe exited with status ${exitCode}` : `ffprobe: ${stderr}`;
  const opts = { stderr, exitCode };
  if (/No such file or directory/i.test(stderr)) {
    return new DecodeError('not-found', `Video file ${name} does not exist (${said}).`, opts);
  }
  if (spec.kind === 'remote' && /Invalid data found when processing input/i.test(stderr) && !/HTTP error|Server returned|timed out/i.test(stderr)) {
    return new DecodeError('corrupt', `${name} is damaged or not a video file (${said}).`, opts);
  }
  if (spec.kind !== 'file') {
    // For live protocols "Invalid data" is also what a silent server produces (rtsp answers a timeout with it).
    return new DecodeError('source-unavailable', `Cannot open ${name} (${said}).`, opts);
  }
  if (/Permission denied/i.test(stderr)) {
    return new DecodeError('not-found', `Video file ${name} cannot be read (${said}).`, opts);
  }
  if (await looksLikeText(spec.path)) {
    return new DecodeError('no-video-stream', `${name} is a text file, not a video (${said}).`, opts);
  }
  return new DecodeError('corrupt', `${name} is damaged or not a video file (${said}).`, opts);
}

/** First 4 KiB: valid UTF-8, no NUL, (almost) no control characters other than tab/CR/LF/FF. */
async function looksLikeText(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'r');
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    if (bytesRead === 0 || head.includes(0)) return false;
    let text: string;
    try {
      // A multi-byte character may be cut at the 4 KiB boundary: ignore the last 3 bytes for validation.
      text = new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, Math.max(1, bytesRead - (bytesRead === 4096 ? 3 : 0))));
    } catch {
      return false;
    }
    let control = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c < 32 && c !== 9 && c !== 10 && c !== 13 && c !== 12) control++;
    }
    return control <= text.length / 100;
  } catch {
    return false;
  } finally {
    await handle?.close();
  }
}

function toVideoInfo(out: FfprobeOutput, name: string): VideoInfo {
  const streams = out.streams ?? [];
  const format = out.format ?? {};
  const videos = streams.filter(
    (s) => s.codec_type === 'video' && !s.disposition?.['attached_pic'] && !TEXT_VIDEO_CODECS.has(s.codec_name ?? ''),
  );
  const hasAudio = streams.some((s) => s.codec_type === 'audio');
  // Same preference as ffmpeg's automatic stream selection: the largest picture wins, the first one on a tie.
  let video: FfprobeStream | undefined;
  for (const s of videos) {
    if (!video || (s.width ?? 0) * (s.height ?? 0) > (video.width ?? 0) * (video.height ?? 0)) video = s;
  }

  const formatName = format.format_name ?? '';
  const formatDuration = num(format.duration);
  if (!video) {
    return {
      width: 0,
      height: 0,
      duration: formatDuration,
      frameRate: NaN,
      codec: '',
      hasVideo: false,
      hasAudio,
      streamIndex: -1,
      sampleAspectRatio: 1,
      displayWidth: 0,
      displayHeight: 0,
      timeBase: '',
      startTime: 0,
      formatName,
    };
  }

  const width = video.width ?? 0;
  const height = video.height ?? 0;
  if (!(width > 0 && height > 0)) {
    throw new DecodeError('corrupt', `${name}: the video stream has no picture size (damaged header?).`);
  }
  const frameCount = video.nb_frames === undefined ? undefined : Number.parseInt(video.nb_frames, 10);
  if (frameCount === 0) throw new DecodeError('empty', `${name}: the video stream has no frames.`);

  const rotation = readRotation(video);
  const sar = ratio(video.sample_aspect_ratio, ':');
  const sampleAspectRatio = sar > 0 && Number.isFinite(sar) ? sar : 1;
  const shownWidth = Math.round(width * sampleAspectRatio);
  const swap = rotation === 90 || rotation === 270;
  const streamDuration = num(video.duration);

  const avg = ratio(video.avg_frame_rate, '/');
  const base = ratio(video.r_frame_rate, '/');
  const info: VideoInfo = {
    width,
    height,
    duration: Number.isFinite(streamDuration) ? streamDuration : formatDuration,
    frameRate: avg > 0 && Number.isFinite(avg) ? avg : base > 0 && Number.isFinite(base) ? base : NaN,
    codec: video.codec_name ?? '',
    hasVideo: true,
    hasAudio,
    streamIndex: video.index,
    sampleAspectRatio,
    displayWidth: swap ? height : shownWidth,
    displayHeight: swap ? shownWidth : height,
    timeBase: video.time_base ?? '',
    startTime: Number.isFinite(num(video.start_time)) ? num(video.start_time) : Number.isFinite(num(format.start_time)) ? num(format.start_time) : 0,
    formatName,
  };
  if (rotation !== 0) info.rotation = rotation;
  if (frameCount !== undefined && Number.isFinite(frameCount)) info.frameCount = frameCount;
  return info;
}

/** Display-matrix side data (ffprobe ≥ 5: counter-clockwise degrees) or the older `rotate` tag (clockwise). */
function readRotation(stream: FfprobeStream): number {
  let clockwise = 0;
  const matrix = stream.side_data_list?.find((d) => typeof d['rotation'] === 'number');
  if (matrix) clockwise = -(matrix['rotation'] as number);
  else if (stream.tags?.['rotate'] !== undefined) clockwise = Number(stream.tags['rotate']);
  if (!Number.isFinite(clockwise)) return 0;
  // ffmpeg autorotates only by multiples of 90 degrees.
  return (((Math.round(clockwise / 90) * 90) % 360) + 360) % 360;
}

function num(value: string | undefined): number {
  if (value === undefined || value === 'N/A') return NaN;
  const n = Number(value);
  return Number.isFinite(n) ? n : NaN;
}

function ratio(value: string | undefined, sep: string): number {
  if (!value) return NaN;
  const [a, b] = value.split(sep);
  const n = Number(a);
  const d = Number(b);
  return d === 0 || !Number.isFinite(n) || !Number.isFinite(d) ? NaN : n / d;
}

