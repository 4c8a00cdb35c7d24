import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import sharp from 'sharp';
import { iou, type Box } from '../../src/detect/box.js';
import { fixture, manifest, movingObjectBoxAt } from '../video/fixtures.js';
import { startTestServer, uploadAndIndex, waitFor, type TestServer } from '../support/serve.js';

function searchForm(image: string, fields: Record<string, string> = {}): FormData {
  const form = new FormData();
  form.append('image', new Blob([readFileSync(fixture(image))]), image);
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return form;
}

describe('the HTTP API', () => {
  let server: TestServer;
  let videoId: number;
  beforeAll(async () => {
    // The default long side (512): the fixture object's boxes are accurate there (see test/search).
    server = await startTestServer({ detector: { backbone: {}, config: { maxPeaks: 8 }, logLevel: 'error' } });
    videoId = await uploadAndIndex(server, 'moving-object.mp4');
  });
  afterAll(() => server?.stop());

  it('refuses every request without a valid token except /health', async () => {
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    for (const path of ['/v1/videos', '/v1/streams', '/v1/subscriptions', '/metrics', '/openapi.json', `/v1/videos/${videoId}`]) {
      const none = await fetch(`${server.url}${path}`);
      expect(none.status).toBe(401);
      expect(await none.json()).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      expect((await fetch(`${server.url}${path}`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
      expect((await fetch(`${server.url}${path}?token=${server.token}`)).status).toBe(401);
    }
    expect((await fetch(`${server.url}/v1/videos`, { headers: { 'x-api-token': server.token } })).status).toBe(200);
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/live`);
      ws.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
    expect(refused).toBe(401);
  });

  it('lists the indexed video with its counts', async () => {
    const video = (await (await server.api(`/v1/videos/${videoId}`)).json()) as Record<string, unknown>;
    expect(video).toMatchObject({ id: videoId, sourceKind: 'file', width: 640, height: 360, duration: 6, status: 'ready', keyframeCount: 6, progress: null });
    expect(video.regionCount).toBeGreaterThan(6);
  });

  it('finds the object with a crop: its track first, its span, a box on it, and a thumbnail', async () => {
    const response = await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { top: '5' }) });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { query: unknown; hits: { video: number; track: number; score: number; start: number; end: number; best: { t: number; box: Box }; thumbnail: string; clip: string; duration: number }[] };
    expect(body.query).toEqual({ width: 120, height: 120, box: [0, 0, 120, 120] });
    const first = body.hits[0]!;
    expect(first).toMatchObject({ video: videoId, start: 1, end: 5, duration: 6 });
    expect(first.clip).toMatch(new RegExp(`^/v1/tracks/${first.track}/clip\\?expires=\\d+&sig=[\\w-]+$`));
    // on the object as the localised metric counts it (its centre inside the truth), and mostly covering it, as in
    // test/search (the default search expands the query: its best region is another of the object's regions)
    const truth = movingObjectBoxAt(first.best.t)!;
    const [x1, y1, x2, y2] = first.best.box;
    expect([(x1 + x2) / 2 > truth[0], (x1 + x2) / 2 < truth[2], (y1 + y2) / 2 > truth[1], (y1 + y2) / 2 < truth[3]]).toEqual([true, true, true, true]);
    expect(iou(first.best.box, truth)).toBeGreaterThanOrEqual(0.4);
    expect(body.hits.slice(1).every((h) => h.score < first.score)).toBe(true);

    const thumbnail = await server.api(first.thumbnail);
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await thumbnail.arrayBuffer());
    expect(jpeg.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
  });

  it('serves the hit\'s clip with HTTP range requests', async () => {
    const search = (await (await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { top: '1' }) })).json()) as { hits: { clip: string }[] };
    const clipUrl = search.hits[0]!.clip;
    const whole = await server.api(clipUrl);
    expect(whole.status).toBe(200);
    expect(whole.headers.get('content-type')).toBe('video/mp4');
    expect(whole.headers.get('accept-ranges')).toBe('bytes');
    const bytes = Buffer.from(await whole.arrayBuffer());
    expect(bytes.subarray(4, 8).toString('latin1')).toBe('ftyp');
    expect(Number(whole.headers.get('content-length'))).toBe(bytes.length);

    const part = await server.api(clipUrl, { headers: { range: 'bytes=100-1123' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 100-1123/${bytes.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(bytes.subarray(100, 1124));
    const tail = await server.api(clipUrl, { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 10));
    const outside = await server.api(clipUrl, { headers: { range: `bytes=${bytes.length}-` } });
    expect(outside.status).toBe(416);
    expect(((await outside.json()) as { error: { code: string } }).error.code).toBe('range-not-satisfiable');
    for (const range of ['bytes=-0', 'bytes=9-3', 'bytes=a-b']) expect((await server.api(clipUrl, { headers: { range } })).status, range).toBe(416);
    const clamped = await server.api(clipUrl, { headers: { range: `bytes=${bytes.length - 5}-${bytes.length + 500}` } });
    expect(clamped.status).toBe(206);
    expect(Buffer.from(await clamped.arrayBuffer())).toEqual(bytes.subarray(bytes.length - 5));
    // The URL is signed: a <video> element gets it (and its ranges) without a token; a changed one is refused.
    const signed = await fetch(`${server.url}${clipUrl}`, { headers: { range: 'bytes=100-1123' } });
    expect(signed.status).toBe(206);
    expect(Buffer.from(await signed.arrayBuffer())).toEqual(bytes.subarray(100, 1124));
    for (const forged of [clipUrl.replace(/sig=.{4}/, 'sig=AAAA'), clipUrl.replace(/\/tracks\/\d+\//, '/tracks/999/'), clipUrl.split('?')[0]!]) {
      expect((await fetch(`${server.url}${forged}`)).status, forged).toBe(401);
    }
    // Forms answered with the whole file: another unit, several ranges.
    for (const range of ['items=0-1', 'bytes=0-1,5-6']) {
      const answer = await server.api(clipUrl, { headers: { range } });
      expect(answer.status, range).toBe(200);
      expect(Buffer.from(await answer.arrayBuffer()).length, range).toBe(bytes.length);
    }
  });

  it('combines several views of the object (one box per image) and refuses boxes that do not pair with the images', async () => {
    const scene = manifest.files['moving-object-query-scene.png'].box;
    const form = searchForm('moving-object-query.png', { box: '0,0,120,120', top: '3' });
    form.append('image', new Blob([readFileSync(fixture('moving-object-query-scene.png'))]), 'scene.png');
    form.append('box', `${scene.x},${scene.y},${scene.w},${scene.h}`);
    const response = await server.api('/v1/search', { method: 'POST', body: form });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { examples: number; query: { box: number[] }; hits: { video: number; start: number; end: number }[] };
    expect(body.examples).toBe(2);
    expect(body.query.box).toEqual([0, 0, 120, 120]);
    expect(body.hits[0]).toMatchObject({ video: videoId, start: 1, end: 5 });

    const unpaired = searchForm('moving-object-query.png', { box: '0,0,120,120' });
    unpaired.append('image', new Blob([readFileSync(fixture('moving-object-query-scene.png'))]), 'scene.png');
    const refused = await server.api('/v1/search', { method: 'POST', body: unpaired });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/1 box fields for 2 images/);
  });

  it('takes relevance feedback on earlier hits by region id, and refuses ids the index does not hold', async () => {
    const first = (await (await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { top: '5' }) })).json()) as { hits: { track: number; best: { region: number } }[] };
    expect(first.hits.length).toBeGreaterThan(1);
    const [right, ...others] = first.hits;
    const again = await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { top: '5', right: String(right!.best.region), wrong: others.map((h) => h.best.region).join(',') }) });
    expect(again.status).toBe(200);
    const second = (await again.json()) as { hits: { track: number; score: number }[] };
    expect(second.hits[0]!.track).toBe(right!.track);
    const unknown = await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { right: '99999999' }) });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toMatch(/no region 99999999/);
  });

  it('answers bad queries clearly: not an image, a box outside the image, a tiny box, a flat crop', async () => {
    const cases: [FormData, number, string][] = [
      [searchForm('not-video.txt'), 400, 'bad-image'],
      [searchForm('moving-object-query.png', { box: '500,500,20,20' }), 400, 'bad-box'],
      [searchForm('moving-object-query.png', { box: '10,10,3,3' }), 400, 'bad-box'],
      [searchForm('moving-object-query.png', { box: '10,10,-3,3' }), 400, 'bad-box'],
      [searchForm('moving-object-query.png', { top: '0' }), 400, 'bad-request'],
    ];
    for (const [form, status, code] of cases) {
      const response = await server.api('/v1/search', { method: 'POST', body: form });
      expect(response.status, code).toBe(status);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe(code);
    }
    const flat = new FormData();
    const grey = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#808080' } }).png().toBuffer();
    flat.append('image', new Blob([grey]), 'grey.png');
    const response = await server.api('/v1/search', { method: 'POST', body: flat });
    expect(response.status).toBe(422);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('no-object');
  });

  it('deletes a video: it leaves the list and the results', async () => {
    const second = await uploadAndIndex(server, 'cfr-testsrc.mp4');
    expect((await server.api(`/v1/videos/${second}`, { method: 'DELETE' })).status).toBe(204);
    expect((await server.api(`/v1/videos/${second}`)).status).toBe(404);
    const search = (await (await server.api('/v1/search', { method: 'POST', body: searchForm('moving-object-query.png', { top: '50' }) })).json()) as { hits: { video: number }[] };
    expect(search.hits.every((h) => h.video === videoId)).toBe(true);
  });

  it('exposes Prometheus metrics', async () => {
    const text = await (await server.api('/metrics')).text();
    expect(text).toMatch(/^dasr_index_regions \d+$/m);
    expect(text).toMatch(/^dasr_inference_seconds_count\{op="detect"\} [1-9]\d*$/m);
    expect(text).toMatch(/^dasr_search_seconds_count [1-9]\d*$/m);
    expect(text).toMatch(/^dasr_subscriptions 0$/m);
  });
});
