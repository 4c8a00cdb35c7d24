/**
 * Shared pieces of the ffmpeg/ffprobe command lines: which binaries, and the input options for a source.
 *
 * Everything is passed as an argument array to `spawn` (never through a shell), the input is always preceded by
 * `-protocol_whitelist` and given as `file:<absolute path>` or a URL that {@link parseSource} accepted.
 */

import { ffmpegInput, parseSource, protocolWhitelist, SourceError, type SourceSpec } from '../source/source-spec.js';
import { DecodeError } from './errors.js';

export interface FfmpegBinaries {
  /** ffmpeg executable. Default `$FFMPEG_PATH` or `ffmpeg` on the PATH. */
  ffmpegPath?: string;
  /** ffprobe executable. Default `$FFPROBE_PATH` or `ffprobe` on the PATH. */
  ffprobePath?: string;
}

export function ffmpegBinary(options: FfmpegBinaries = {}): string {
  return options.ffmpegPath ?? process.env['FFMPEG_PATH'] ?? 'ffmpeg';
}

export function ffprobeBinary(options: FfmpegBinaries = {}): string {
  return options.ffprobePath ?? process.env['FFPROBE_PATH'] ?? 'ffprobe';
}

/**
 * A string is parsed with parseSource (default allowlist unless given). A missing, unreadable or non-regular local
 * file becomes DecodeError 'not-found' (the SourceError is its cause); other refusals stay SourceErrors.
 */
export function toSourceSpec(source: string | SourceSpec, allowedProtocols?: readonly string[]): SourceSpec {
  if (typeof source !== 'string') return source;
  try {
    return parseSource(source, { allowedProtocols });
  } catch (error) {
    if (error instanceof SourceError && (error.code === 'not-found' || error.code === 'not-readable' || error.code === 'not-a-file')) {
      throw new DecodeError('not-found', error.message, { cause: error });
    }
    throw error;
  }
}

/** Default network I/O timeout for remote and live sources: 10 s. */
export const DEFAULT_IO_TIMEOUT_MS = 10_000;

/**
 * Timeout options for a network source, per protocol (ffmpeg 5.x semantics, all values in microseconds):
 *
 * - http, https (plain files and HLS): `-rw_timeout` — the generic URLContext I/O timeout; TCP connect/read give up
 *   after it, and the HLS demuxer passes it on to every playlist and segment request.
 * - rtmp, rtmps: `-rw_timeout`. (NOT `-timeout`: for rtmp that is the *listen* timeout and would turn the client
 *   into a server.)
 * - rtsp, rtsps: `-timeout` — the RTSP demuxer's socket I/O timeout (named `-stimeout` before ffmpeg 5.0).
 * - udp: `-timeout` — "raise error timeout" of the udp protocol in read mode.
 * - srt: `-timeout` — libsrt socket I/O timeout (connect has its own `connect_timeout`, 3 s by default).
 * - other (custom allowlist): `-rw_timeout`.
 *
 * Files get no timeout.
 */
export function timeoutArgs(spec: SourceSpec, ioTimeoutMs: number = DEFAULT_IO_TIMEOUT_MS): string[] {
  if (spec.kind === 'file' || !(ioTimeoutMs > 0) || !Number.isFinite(ioTimeoutMs)) return [];
  const us = String(Math.round(ioTimeoutMs * 1000));
  switch (spec.protocol) {
    case 'rtsp':
    case 'rtsps':
    case 'udp':
    case 'srt':
      return ['-timeout', us];
    default:
      return ['-rw_timeout', us];
  }
}

/**
 * For live sources ffmpeg's default stream analysis (5 s of input) delays the first frame and then releases
 * those seconds in one burst; one second of input is enough to find a camera's video stream.
 */
export const LIVE_ANALYSIS_ARGS: readonly string[] = ['-analyzeduration', '1000000', '-probesize', '1000000'];

/** Options placed before `-i`, then `-i` and the input itself. */
export function inputArgs(spec: SourceSpec, ioTimeoutMs?: number, live = spec.kind === 'live'): string[] {
  return ['-protocol_whitelist', protocolWhitelist(spec), ...timeoutArgs(spec, ioTimeoutMs), ...(live ? LIVE_ANALYSIS_ARGS : []), '-i', ffmpegInput(spec)];
}

/** Human-readable name of a source for messages. */
export function describeSource(spec: SourceSpec): string {
  return spec.kind === 'file' ? spec.path : spec.url;
}

/** Keeps the last `max` non-empty lines of a text stream, for error messages. */
export class LineTail {
  private readonly lines: string[] = [];
  constructor(private readonly max = 12) {}
  push(line: string): void {
    if (line.trim() === '') return;
    this.lines.push(line.length > 500 ? `${line.slice(0, 500)}…` : line);
    if (this.lines.length > this.max) this.lines.shift();
  }
  toString(): string {
    return this.lines.join('\n');
  }
}
