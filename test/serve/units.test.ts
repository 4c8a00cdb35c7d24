import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { TokenCheck, presentedToken } from '../../src/serve/auth.js';
import { confinedPath, toApiError } from '../../src/serve/app.js';
import { ApiError } from '../../src/serve/errors.js';
import { parseBoxText } from '../../src/search/search-json.js';
import { resolveTokens, splitInferenceThreads } from '../../src/serve/config.js';
import { MEDIA_PATH, MediaSigner } from '../../src/serve/media-urls.js';

describe('tokens', () => {
  const check = new TokenCheck(['a-long-enough-token-1', 'another-long-token-22']);

  it('accepts configured tokens only', () => {
    expect(check.accepts('a-long-enough-token-1')).toBe(true);
    expect(check.accepts('another-long-token-22')).toBe(true);
    expect(check.accepts('a-long-enough-token-2')).toBe(false);
    expect(check.accepts('')).toBe(false);
    expect(check.accepts(undefined)).toBe(false);
  });

  it('refuses short or missing tokens in the configuration', () => {
    expect(() => new TokenCheck([])).toThrow(/at least one/);
    expect(() => new TokenCheck(['short'])).toThrow(/16 characters/);
  });

  it('finds the token in Authorization, X-API-Token, and the query only when allowed', () => {
    expect(presentedToken({ authorization: 'Bearer abc' }, '/x', false)).toBe('abc');
    expect(presentedToken({ 'x-api-token': 'def' }, '/x', false)).toBe('def');
    expect(presentedToken({}, '/v1/live?token=ghi', false)).toBeUndefined();
    expect(presentedToken({}, '/v1/live?token=ghi', true)).toBe('ghi');
    expect(presentedToken({ authorization: 'Basic abc' }, '/x', false)).toBeUndefined();
  });

  it('creates a token file once and reads it back; DASR_API_TOKENS wins', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-token-'));
    const first = resolveTokens(dir, {});
    expect(first.generated).toBe(true);
    expect(first.tokens[0]!.length).toBeGreaterThanOrEqual(16);
    expect(resolveTokens(dir, {})).toEqual({ tokens: first.tokens, file: first.file, generated: false });
    expect(resolveTokens(dir, { DASR_API_TOKENS: ' x-0123456789abcdef , y-0123456789abcdef' })).toEqual({ tokens: ['x-0123456789abcdef', 'y-0123456789abcdef'], file: null, generated: false });
    rmSync(dir, { recursive: true });
  });
});

describe('confinedPath', () => {
  const base = mkdtempSync(join(tmpdir(), 'dasr-roots-'));
  const root = join(base, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'sub', 'a.mp4'), 'x');
  writeFileSync(join(base, 'outside.mp4'), 'x');
  symlinkSync(join(base, 'outside.mp4'), join(root, 'link.mp4'));
  afterAll(() => rmSync(base, { recursive: true }));
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (error) {
      return (error as ApiError).code;
    }
  };

  it('accepts files under a root', () => {
    expect(confinedPath(join(root, 'sub', 'a.mp4'), [root])).toBe(join(root, 'sub', 'a.mp4'));
  });

  it('refuses traversal, symbolic links out of the root, relative paths, directories, and everything without roots', () => {
    expect(code(() => confinedPath(join(root, '..', 'outside.mp4'), [root]))).toBe('forbidden');
    expect(code(() => confinedPath(join(root, 'link.mp4'), [root]))).toBe('forbidden');
    expect(code(() => confinedPath('sub/a.mp4', [root]))).toBe('bad-request');
    expect(code(() => confinedPath(join(root, 'sub'), [root]))).toBe('bad-request');
    expect(code(() => confinedPath(root, [root]))).toBe('forbidden');
    expect(code(() => confinedPath(join(root, 'missing.mp4'), [root]))).toBe('not-found');
    expect(code(() => confinedPath(join(root, 'sub', 'a.mp4'), []))).toBe('forbidden');
  });
});

describe('parseBoxText', () => {
  it('reads x,y,w,h and [x, y, w, h] into corners', () => {
    expect(parseBoxText('10,20,30,40')).toEqual([10, 20, 40, 60]);
    expect(parseBoxText('[1.5, 2, 3, 4]')).toEqual([1.5, 2, 4.5, 6]);
  });

  it('refuses anything else', () => {
    for (const text of ['1,2,3', '1,2,3,4,5', 'a,b,c,d', '1,,3,4', '1,2,0,4', '1,2,3,-4', '', 'NaN,1,1,1', 'Infinity,0,1,1']) expect(() => parseBoxText(text)).toThrow(RangeError);
  });
});

describe('toApiError', () => {
  it('maps input errors to stable codes and hides internal ones', () => {
    expect(toApiError(Object.assign(new Error('x'), { name: 'ImageInputError', code: 'not-image' })).toJSON()).toEqual({ error: { code: 'bad-image', message: 'x', details: { reason: 'not-image' } } });
    expect(toApiError(Object.assign(new Error('x'), { name: 'ImageInputError', code: 'too-large' })).status).toBe(413);
    expect(toApiError(Object.assign(new Error('flat'), { name: 'DasrInputError', code: 'no-object' })).status).toBe(422);
    expect(toApiError(Object.assign(new Error('tiny'), { name: 'DasrInputError', code: 'box-too-small' })).code).toBe('bad-box');
    expect(toApiError(new TypeError('secret internals')).toJSON()).toEqual({ error: { code: 'internal', message: 'internal error' } });
  });
});

describe('inference threads of the service', () => {
  it('gives queries a quarter of the cores (at least one) and ingestion the rest, never more than the cores', () => {
    expect(splitInferenceThreads(1)).toEqual({ ingest: 1, query: 1 });
    expect(splitInferenceThreads(2)).toEqual({ ingest: 1, query: 1 });
    expect(splitInferenceThreads(4)).toEqual({ ingest: 3, query: 1 });
    expect(splitInferenceThreads(16)).toEqual({ ingest: 12, query: 4 });
    const all = splitInferenceThreads(0);
    expect(all.ingest + all.query).toBe(Math.max(2, availableParallelism()));
  });
});

describe('signed media URLs', () => {
  it('sign a media path until it expires, and nothing else', () => {
    let now = 1_800_000_000_000;
    const signer = new MediaSigner(3600, () => now, Buffer.alloc(32, 7));
    const url = signer.sign('/v1/tracks/3/clip');
    const [path, query] = url.split('?') as [string, string];
    const params = new URLSearchParams(query);
    const expires = params.get('expires')!;
    const withParams = (changes: Record<string, string | null>) => {
      const changed = new URLSearchParams(params);
      for (const [key, value] of Object.entries(changes)) {
        if (value === null) changed.delete(key);
        else changed.set(key, value);
      }
      return changed;
    };
    expect(path).toBe('/v1/tracks/3/clip');
    expect(Number(expires) * 1000 - now).toBeGreaterThanOrEqual(3600 * 1000);
    expect(signer.sign('/v1/tracks/3/clip')).toBe(url); // the same URL for a while: the browser caches it
    expect(signer.verify(path, params)).toBe(true);
    expect(signer.verify(path, withParams({ pad: '2', boxes: 'false' }))).toBe(true); // shaping the picture is free
    expect(signer.verify('/v1/tracks/4/clip', params)).toBe(false);
    expect(signer.verify(path, withParams({ expires: String(Number(expires) + 600) }))).toBe(false);
    expect(signer.verify(path, withParams({ sig: `${params.get('sig')!.slice(0, -1)}A` }))).toBe(false);
    expect(signer.verify(path, withParams({ sig: null }))).toBe(false);
    expect(signer.verify(path, withParams({ expires: '1e9' }))).toBe(false);
    expect(new MediaSigner(3600, () => now).verify(path, params)).toBe(false); // another process's key
    now = Number(expires) * 1000 + 1;
    expect(signer.verify(path, params)).toBe(false);
  });

  it("sign a video clip's span: another span is refused", () => {
    const signer = new MediaSigner(3600, () => 1_800_000_000_000, Buffer.alloc(32, 7));
    const url = signer.sign('/v1/videos/3/clip', { start: 12, end: 15.5 });
    expect(url).toMatch(/^\/v1\/videos\/3\/clip\?start=12&end=15\.5&expires=\d+&sig=[\w-]+$/);
    const params = new URLSearchParams(url.split('?')[1]);
    expect(signer.verify('/v1/videos/3/clip', params)).toBe(true);
    for (const [key, value] of [['start', '0'], ['end', '3600']]) {
      const changed = new URLSearchParams(params);
      changed.set(key!, value!);
      expect(signer.verify('/v1/videos/3/clip', changed)).toBe(false);
    }
    const withoutSpan = new URLSearchParams(params);
    withoutSpan.delete('start');
    withoutSpan.delete('end');
    expect(signer.verify('/v1/videos/3/clip', withoutSpan)).toBe(false);
  });

  it('cover exactly the media routes', () => {
    for (const path of ['/v1/regions/1/thumbnail', '/v1/keyframes/5/thumbnail', '/v1/tracks/22/clip', '/v1/videos/3/clip']) expect(MEDIA_PATH.test(path)).toBe(true);
    for (const path of ['/v1/videos/3', '/v1/search', '/v1/regions/x/thumbnail', '/v1/tracks/2/clip/x', '/metrics']) expect(MEDIA_PATH.test(path)).toBe(false);
  });
});
