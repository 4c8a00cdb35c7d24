import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { fixture } from '../video/fixtures.js';
import { startTestServer, TEST_TOKEN, type TestServer } from '../support/serve.js';

const ALICE = 'alice-token-0123456789';
const BOB = 'bob-token-0123456789ab';
const VIEWER = 'viewer-token-0123456789';

/** Tokens with owners and roles: each sees and changes only what it created; read-only tokens change nothing. */
describe('token owners and roles', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ tokens: [TEST_TOKEN, `alice:user:${ALICE}`, `bob:user:${BOB}`, `viewer:read-only:${VIEWER}`] });
  }, 120_000);
  afterAll(() => server.stop());

  const as = (token: string, path: string, init: RequestInit = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string> | undefined) } });
  const json = (body: object): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const code = async (response: Response): Promise<string> => ((await response.json()) as { error: { code: string } }).error.code;

  /** One WebSocket message exchange as `token`. */
  async function socket(token: string, message: object): Promise<Record<string, unknown>> {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/live?token=${token}`);
    await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)));
    const reply = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (data) => resolve(JSON.parse(String(data)) as Record<string, unknown>)));
    ws.send(JSON.stringify(message));
    const answer = await reply;
    ws.close();
    return answer;
  }

  it('keeps streams to their owner (and admins); another owner gets 404, a read-only token 403', async () => {
    const added = await as(ALICE, '/v1/streams', json({ url: 'rtsp://127.0.0.1:1/alice' }));
    expect(added.status).toBe(201);
    const stream = (await added.json()) as { id: number; owner: string };
    expect(stream.owner).toBe('alice');

    expect(((await (await as(BOB, '/v1/streams')).json()) as { streams: unknown[] }).streams).toEqual([]);
    expect((await as(BOB, `/v1/streams/${stream.id}`)).status).toBe(404);
    expect((await as(BOB, `/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(404);
    expect(((await (await as(ALICE, '/v1/streams')).json()) as { streams: { id: number }[] }).streams.map((s) => s.id)).toEqual([stream.id]);
    expect(((await (await as(TEST_TOKEN, '/v1/streams')).json()) as { streams: { owner: string }[] }).streams.map((s) => s.owner)).toEqual(['alice']);

    const refused = await as(VIEWER, '/v1/streams', json({ url: 'rtsp://127.0.0.1:1/viewer' }));
    expect(refused.status).toBe(403);
    expect(await code(refused)).toBe('forbidden');
    expect((await as(VIEWER, `/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(403);
    expect((await as(ALICE, `/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(204);
  });

  it('lets read-only tokens search and look, and only admins delete videos', async () => {
    const form = new FormData();
    form.append('image', new Blob([readFileSync(fixture('moving-object-query.png'))]), 'query.png');
    expect((await as(VIEWER, '/v1/search', { method: 'POST', body: form })).status).toBe(200);
    expect((await as(VIEWER, '/v1/videos')).status).toBe(200);
    const upload = new FormData();
    upload.append('file', new Blob([readFileSync(fixture('moving-object.mp4'))]), 'moving-object.mp4');
    expect((await as(VIEWER, '/v1/videos', { method: 'POST', body: upload })).status).toBe(403);
    const deletion = await as(ALICE, '/v1/videos/1', { method: 'DELETE' });
    expect(deletion.status).toBe(403);
    expect(await code(deletion)).toBe('forbidden');
    // the route as matched decides, however its path is spelled
    expect((await as(ALICE, '/v1/%76ideos/1', { method: 'DELETE' })).status).toBe(403);
    // shot search is a search (409 here: no codebook yet); learning the codebook changes everyone's: admins only
    const shots = new FormData();
    shots.append('image', new Blob([readFileSync(fixture('moving-object-query.png'))]), 'query.png');
    expect((await as(VIEWER, '/v1/shots/search', { method: 'POST', body: shots })).status).toBe(409);
    for (const [token, path] of [[ALICE, '/v1/shots/learn'], [ALICE, '/v1/shots/%6cearn'], [VIEWER, '/v1/shots/learn']] as const) {
      const learn = await as(token, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(learn.status).toBe(403);
      expect(await code(learn)).toBe('forbidden');
    }
    // video 1 is the run of the stream the first test added and removed: an admin may delete it
    expect((await as(TEST_TOKEN, '/v1/videos/1', { method: 'DELETE' })).status).toBe(204);
  });

  it('keeps subscriptions to their owner: listing, removing and resuming', async () => {
    const image = readFileSync(fixture('moving-object-query.png')).toString('base64');
    const subscribed = await socket(ALICE, { type: 'subscribe', image, persist: true, requestId: 'a' });
    expect(subscribed).toMatchObject({ type: 'subscribed', subscription: { owner: 'alice', persist: true } });
    const id = (subscribed.subscription as { id: string }).id;

    const list = async (token: string) => ((await (await as(token, '/v1/subscriptions')).json()) as { subscriptions: { id: string }[] }).subscriptions.map((s) => s.id);
    expect(await list(BOB)).toEqual([]);
    expect(await list(VIEWER)).toEqual([]);
    expect(await list(ALICE)).toEqual([id]);
    expect(await list(TEST_TOKEN)).toEqual([id]);
    expect((await as(BOB, `/v1/subscriptions/${id}`, { method: 'DELETE' })).status).toBe(404);
    expect(await socket(BOB, { type: 'resume', subscription: id, requestId: 'b' })).toMatchObject({ type: 'error', requestId: 'b', error: { code: 'not-found' } });
    expect(await socket(ALICE, { type: 'resume', subscription: id, requestId: 'c' })).toMatchObject({ type: 'resumed', requestId: 'c' });
    // a read-only token subscribes too: a standing search of its own
    expect(await socket(VIEWER, { type: 'subscribe', image, persist: true, requestId: 'v' })).toMatchObject({ type: 'subscribed', subscription: { owner: 'viewer' } });
    expect(await list(VIEWER)).toHaveLength(1);
    expect((await as(ALICE, `/v1/subscriptions/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect(await list(TEST_TOKEN)).toHaveLength(1);
  });
});
