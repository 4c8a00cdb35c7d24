/**
 * Errors from cutting clips and grabbing frames. Problems with the video file itself (missing, unreadable, not a
 * video) are reported as {@link DecodeError} by the probe; everything about the request is a ClipError.
 */

export type ClipErrorCode =
  /** A time (frame time, clip start or end) lies outside the video. */
  | 'out-of-range'
  /** The clip range is empty or reversed (start > end, or nothing left after padding and clamping). */
  | 'invalid-range'
  /** An option is malformed: non-finite time, bad width, malformed box. */
  | 'invalid-argument'
  /** The output file cannot be written (missing or read-only directory, path is a directory, same as the input). */
  | 'not-writable'
  /** ffmpeg/ffprobe failed or produced something unexpected (details from its stderr in the message). */
  | 'ffmpeg-failed';

export class ClipError extends Error {
  override readonly name = 'ClipError';
  readonly code: ClipErrorCode;
  /** ffmpeg/ffprobe's last stderr lines, when there were any. */
  readonly stderr: string | undefined;

  constructor(code: ClipErrorCode, message: string, options: { cause?: unknown; stderr?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.stderr = options.stderr;
  }
}
