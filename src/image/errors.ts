/**
 * Errors about an image a user gave us. The message is meant to be shown to that user as is: it says what was
 * wrong with which input (file name, size, limit) without a stack trace or library jargon. `code` lets callers
 * (CLI exit codes, HTTP status) react without parsing the message.
 */

export type ImageInputErrorCode =
  /** The file is missing, is a directory, or cannot be read (permissions, I/O error, damaged image data). */
  | 'unreadable'
  /** The file or buffer has zero bytes. */
  | 'empty'
  /** The bytes are not in any image format we can decode. */
  | 'not-image'
  /** The image has more pixels than the configured limit (checked from the header, before decoding). */
  | 'too-large'
  /** A side of the image is shorter than the network needs. */
  | 'too-small';

export class ImageInputError extends Error {
  override readonly name = 'ImageInputError';
  readonly code: ImageInputErrorCode;

  constructor(code: ImageInputErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}
