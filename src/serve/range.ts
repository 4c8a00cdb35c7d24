import { ApiError } from './errors.js';

/** Inclusive byte range of a file of `size` bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * The single range a `Range` header asks for (RFC 9110 §14.1.2): `bytes=a-b`, `bytes=a-` or the suffix
 * `bytes=-n`; the end is clamped to the file. null = no header, or a form we answer with the whole file (another
 * unit, several ranges). Unsatisfiable ranges throw ApiError 'range-not-satisfiable'.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | null {
  if (header === undefined) return null;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return null;
  const [, first, last] = match as unknown as [string, string, string];
  if (first === '' && last === '') return null;
  let start: number;
  let end: number;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(header, size);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(first);
    end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return null;
  }
  if (start >= size) throw unsatisfiable(header, size);
  return { start, end };
}

function unsatisfiable(header: string, size: number): ApiError {
  return new ApiError('range-not-satisfiable', `range "${header}" lies outside the ${size}-byte file`, { size });
}
