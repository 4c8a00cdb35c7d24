import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grabFrame } from '../../src/clip/frame-grab.js';
import { fixture, manifest } from '../video/fixtures.js';
import { startTestServer, uploadAndIndex, type TestServer } from '../support/serve.js';

interface ShotHitJson {
  video: number;
  track: null;
  score: number;
  start: number;
  end: number;
  best: { t: number; box: number[]; keyframe: number };
  keyframeCount: number;
  thumbnail: string | null;
  clip: string | null;
}

/** A frame of a fixture video as a PNG, the way a user would grab one to ask for "shots like this". */
async function framePng(name: string, t: number): Promise<Blob> {
  const frame = await grabFrame(fixture(name), t);
  return new Blob([await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toBuffer()]);
}

describe('shot search over the API', () => {
  let server: TestServer;
  let sceneCut: number;
  let moving: number;
  const cut = manifest.files['scene-cut.mp4']!.cutTime as number;
  const search = async (image: Blob, fields: Record<string, string> = {}) => {
    const form = new FormData();
    form.append('image', image, 'scene.png');
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    return server.api('/v1/shots/search', { method: 'POST', body: form });
  };

  beforeAll(async () => {
    server = await startTestServer({ interval: 0.5 });
    sceneCut = await uploadAndIndex(server, 'scene-cut.mp4');
    moving = await uploadAndIndex(server, 'moving-object.mp4');
  });
  afterAll(() => server?.stop());

  it('asks for a codebook first, then learns one from the index (admin only) and gives every keyframe a shot vector', async () => {
    const before = await search(await framePng('scene-cut.mp4', 0.5));
    expect(before.status).toBe(409);
    expect(((await before.json()) as { error: { message: string } }).error.message).toMatch(/no shot codebook/);

    const learned = await server.api('/v1/shots/learn', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(learned.status).toBe(200);
    const body = (await learned.json()) as { keyframes: number; indexedKeyframes: number; trainingKeyframes: number; k: number; localDims: number; dim: number };
    expect(body.keyframes).toBe(body.indexedKeyframes);
    expect(body.trainingKeyframes).toBe(body.indexedKeyframes);
    expect(body.dim).toBe(body.k * body.localDims);

    const bad = await server.api('/v1/shots/learn', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"k": 0}' });
    expect(bad.status).toBe(400);
  });

  it('finds the shot a frame comes from: the right side of a hard cut, with its span, picture and clip', async () => {
    for (const [t, side] of [
      [0.6, 'before'],
      [2.2, 'after'],
    ] as const) {
      const response = await search(await framePng('scene-cut.mp4', t), { top: '5' });
      if (response.status !== 200) throw new Error(await response.text());
      const { hits, examples } = (await response.json()) as { hits: ShotHitJson[]; examples: number };
      expect(examples).toBe(1);
      const first = hits[0]!;
      expect(first).toMatchObject({ video: sceneCut, track: null, best: { box: [0, 0, 320, 240] } });
      // the whole shot lies on the query's side of the cut
      if (side === 'before') expect(first.end).toBeLessThan(cut);
      else expect(first.start).toBeGreaterThanOrEqual(cut);
      expect(first.keyframeCount).toBeGreaterThanOrEqual(1);
      expect(hits.slice(1).every((h) => h.score <= first.score)).toBe(true);

      // signed URLs: a browser's <img> and <video> fetch them without the token
      const picture = await fetch(`${server.url}${first.thumbnail}`);
      expect(picture.status).toBe(200);
      expect(picture.headers.get('content-type')).toBe('image/jpeg');
      expect(first.clip).toMatch(new RegExp(`^/v1/videos/${sceneCut}/clip\\?start=${first.start}&end=[\\d.]+&expires=\\d+&sig=[\\w-]+$`));
      const clip = await fetch(`${server.url}${first.clip}`);
      expect(clip.status).toBe(200);
      expect(clip.headers.get('content-type')).toBe('video/mp4');
    }
  });

  it('restricts shot search to videos and times, and refuses what a shot search has no use for', async () => {
    const query = await framePng('scene-cut.mp4', 0.6);
    const only = (await (await search(query, { videos: String(moving) })).json()) as { hits: ShotHitJson[] };
    expect(only.hits.length).toBeGreaterThan(0);
    expect(only.hits.every((h) => h.video === moving)).toBe(true);
    const late = (await (await search(query, { from: '2' })).json()) as { hits: ShotHitJson[] };
    expect(late.hits.length).toBeGreaterThan(0);
    expect(late.hits.every((h) => h.start >= 2)).toBe(true);
    const boxed = await search(query, { box: '0,0,10,10' });
    expect(boxed.status).toBe(400);
    expect(((await boxed.json()) as { error: { message: string } }).error.message).toMatch(/unknown field "box"/);
  });
});
