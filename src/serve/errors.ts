/**
 * Every error the API returns has one shape: `{"error": {"code": "...", "message": "...", "details"?: ...}}`,
 * with a stable machine-readable code and an HTTP status that follows from it.
 */
export const ERROR_STATUS = {
  'bad-request': 400,
  'bad-image': 400,
  'bad-box': 400,
  'no-object': 422,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'too-large': 413,
  'unsupported-media-type': 415,
  'range-not-satisfiable': 416,
  'too-many-requests': 429,
  internal: 500,
} as const;

export type ApiErrorCode = keyof typeof ERROR_STATUS;

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { error: { code: ApiErrorCode; message: string; details?: unknown } } {
    return { error: { code: this.code, message: this.message, ...(this.details === undefined ? {} : { details: this.details }) } };
  }
}
