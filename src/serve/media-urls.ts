import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The signing key of a cluster's API replicas: derived from the API tokens they share, so that a URL one replica
 * gave out is served by any other.
 */
export function sharedMediaKey(tokens: readonly string[]): Buffer {
  return createHmac('sha256', [...tokens].sort().join('\n')).update('dasr media URLs').digest();
}

/** The media routes (thumbnails, clips): GETs a signed URL may make without a token. */
export const MEDIA_PATH = /^\/v1\/(regions\/\d+\/thumbnail|keyframes\/\d+\/thumbnail|tracks\/\d+\/clip|videos\/\d+\/clip)$/;

/** A clip of a video span asks for at least this long: an appearance or a shot of one keyframe has no length. */
const MIN_CLIP_SECONDS = 1;

/** The span a clip of [start, end] is cut for. */
export function clipSpan(start: number, end: number): { start: number; end: number } {
  return { start, end: Math.max(end, start + MIN_CLIP_SECONDS) };
}

/**
 * Short-lived signed media URLs: `<path>?[start=…&end=…&]expires=<unix s>&sig=<HMAC>`. A browser puts them straight
 * into `<img src>` and `<video src>` (which cannot send a token header), so a clip streams with byte ranges as the
 * player asks instead of being downloaded whole through fetch. The signature covers the path, the span of a video
 * clip (start, end: which frames it shows) and the expiry; the other query parameters (pad, up to 60 s; boxes) only
 * shape the picture. Expiries are rounded up to a step so that the same media keeps one URL (and the browser's
 * cache) for a while. The key is the process's own (URLs die with it), or on a cluster's replicas one they share.
 */
export class MediaSigner {
  constructor(
    private readonly ttlSeconds = 3600,
    private readonly now: () => number = Date.now,
    private readonly key: Buffer = randomBytes(32),
  ) {}

  /** `path` (a media route's path, no query), and for a video clip its span, signed for at least `ttlSeconds`. */
  sign(path: string, span?: { start: number; end: number }): string {
    const step = Math.max(60, Math.floor(this.ttlSeconds / 6));
    const expires = Math.ceil((this.now() / 1000 + this.ttlSeconds) / step) * step;
    const spanQuery = span ? `start=${span.start}&end=${span.end}&` : '';
    return `${path}?${spanQuery}expires=${expires}&sig=${this.signature(path, span ? String(span.start) : null, span ? String(span.end) : null, expires)}`;
  }

  /** Whether the query parameters sign `path` (and its start and end, when it has them) and have not expired. */
  verify(path: string, params: URLSearchParams): boolean {
    const expires = params.get('expires');
    const sig = params.get('sig');
    if (!expires || !sig || !/^\d{1,12}$/.test(expires)) return false;
    const at = Number(expires);
    if (at * 1000 < this.now()) return false;
    const expected = Buffer.from(this.signature(path, params.get('start'), params.get('end'), at));
    const given = Buffer.from(sig);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private signature(path: string, start: string | null, end: string | null, expires: number): string {
    return createHmac('sha256', this.key).update(`${path}\n${start ?? ''}\n${end ?? ''}\n${expires}`).digest('base64url').slice(0, 32);
  }
}
