import type { Box } from '../detect/box.js';
import type { TrackHit } from './search.js';
import type { ShotHit } from './shot-search.js';

const round = (v: number, digits: number): number => Math.round(v * 10 ** digits) / 10 ** digits;

/** The stable search result shape (CLI --json and the API): times in seconds, boxes [x1, y1, x2, y2] in video pixels. */
export function searchJson(hits: readonly TrackHit[]): { hits: Record<string, unknown>[] } {
  return {
    hits: hits.map((h) => ({
      video: h.videoId,
      path: h.path,
      track: h.track,
      score: round(h.score, 6),
      similarity: round(h.similarity, 6),
      start: round(h.start, 3),
      end: round(h.end, 3),
      best: { t: round(h.best.t, 3), box: h.best.box.map((v) => round(v, 1)), region: h.best.regionId },
      ...(h.keyframes ? { keyframes: h.keyframes.map((k) => ({ t: round(k.t, 3), box: k.box.map((v) => round(v, 1)), score: round(k.score, 6) })) } : {}),
    })),
  };
}

/** Shot search results in the same shape, a shot being no track: best.box is the whole frame, `keyframeCount` counts its matching keyframes. */
export function shotSearchJson(hits: readonly ShotHit[]): { hits: Record<string, unknown>[] } {
  return {
    hits: hits.map((h) => ({
      video: h.videoId,
      path: h.path,
      track: null,
      score: round(h.score, 6),
      start: round(h.start, 3),
      end: round(h.end, 3),
      best: { t: round(h.best.t, 3), box: h.best.box, keyframe: h.best.keyframeId },
      keyframeCount: h.keyframeCount,
    })),
  };
}

/**
 * A query box written as "x,y,w,h" (or the JSON array "[x, y, w, h]"), in query-image pixels → [x1, y1, x2, y2].
 * RangeError with a message for the user when it is not four finite numbers with positive width and height.
 */
export function parseBoxText(text: string): Box {
  const parts = text.trim().replace(/^\[|\]$/g, '').split(',').map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  if (parts.length !== 4 || !parts.every(Number.isFinite)) throw new RangeError(`expected x,y,w,h (four numbers, pixels), got "${text.slice(0, 100)}"`);
  const [x, y, w, h] = parts as [number, number, number, number];
  if (w <= 0 || h <= 0) throw new RangeError('width and height must be positive');
  return [x, y, x + w, y + h];
}
