/**
 * Errors from probing or decoding a video. Like the image errors, the message is meant for the user as is and
 * includes what ffmpeg/ffprobe said (their last stderr lines); `code` is for callers (exit codes, HTTP status).
 */

export type DecodeErrorCode =
  /** The file does not exist (or vanished / is not readable between checks). */
  | 'not-found'
  /** The file has zero bytes, or the video stream has no frames. */
  | 'empty'
  /** The input is readable but holds no video: audio only, a text file, only a cover image. */
  | 'no-video-stream'
  /** ffprobe/ffmpeg cannot parse the input: truncated, damaged, random bytes with a video extension. */
  | 'corrupt'
  /** A network source could not be opened or read (refused, 404, DNS, protocol error, I/O timeout). */
  | 'source-unavailable'
  /** A live source delivered no data for longer than the stall timeout, or ffprobe ran past its time limit. */
  | 'timeout'
  /** ffmpeg exited with a non-zero status while decoding (details from its stderr in the message). */
  | 'ffmpeg-failed'
  /** ffmpeg/ffprobe could not be started (not installed, not executable). */
  | 'spawn-failed'
  /** ffmpeg's output did not match what we expected (frame size, missing timestamps): a bug or an odd build. */
  | 'protocol-mismatch';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly code: DecodeErrorCode;
  /** ffmpeg/ffprobe's last stderr lines, when there were any. */
  readonly stderr: string | undefined;
  readonly exitCode: number | null | undefined;

  constructor(
    code: DecodeErrorCode,
    message: string,
    options: { cause?: unknown; stderr?: string; exitCode?: number | null } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.stderr = options.stderr;
    this.exitCode = options.exitCode;
  }
}

/** Failures that the same input gives again on any machine: missing, empty, damaged, no video. */
const PERMANENT_CODES: ReadonlySet<DecodeErrorCode> = new Set(['not-found', 'empty', 'no-video-stream', 'corrupt']);

export function isPermanentDecodeError(error: unknown): error is DecodeError {
  return error instanceof DecodeError && PERMANENT_CODES.has(error.code);
}
