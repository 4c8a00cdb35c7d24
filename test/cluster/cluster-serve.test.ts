/**
 * API replicas of a cluster on this machine: NATS with JetStream, the shared index (PGlite over the wire protocol),
 * one `dasr worker`, a camera on loopback, and two replicas of the API: one a `dasr serve --index … --nats …`
 * process, one in this process. A stream added through one replica is followed by the worker and seen through the
 * other; a file queued through one is indexed and searched alike through both; a persisted subscription made on the
 * process replica gets matches, and when that replica is SIGKILLed its client reconnects to the other, resumes the
 * subscription (without what it already had) and keeps getting its messages, while the survivor keeps serving search.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDasr, stopDasr, type DasrProcess } from '../support/dasr-process.js';
import { LiveClient } from '../support/live-client.js';
import { LivePublisher } from '../support/live-publisher.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startTestPostgres, type TestPostgres } from '../support/test-postgres.js';
import { startTestServer, TEST_TOKEN, waitFor, type TestServer } from '../support/serve.js';
import { fixture } from '../video/fixtures.js';

// As in the service's live test: at long side 384 with 6 peaks the fixture object's regions score ≥ 0.65 against
// its crop and every other region ≤ 0.54, so 0.6 separates them.
const DETECTOR_ARGS = ['--long-side', '384', '--max-peaks', '6'];
const DETECTOR = { backbone: {}, config: { longSide: 384, maxPeaks: 6 }, logLevel: 'error' as const };
const THRESHOLD = 0.6;
const QUERY = fixture('moving-object-query.png');

let nats: NatsServer;
let postgres: TestPostgres;
let publisher: LivePublisher;
const running = new Set<ChildProcess>();
const dirs: string[] = [];

beforeAll(async () => {
  [nats, postgres] = await Promise.all([startNatsServer(), startTestPostgres()]);
  publisher = new LivePublisher(fixture('moving-object.mp4'));
  await publisher.start();
}, 60_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await publisher?.stop();
  await Promise.all([nats?.stop(), postgres?.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function api(url: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(init.headers as Record<string, string> | undefined) } });
}

function postJson(url: string, path: string, body: unknown): Promise<Response> {
  return api(url, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

/** The fixture object searched in one video: hits with their boxes, tracks and scores. */
async function search(url: string, videoId: number): Promise<{ hits: Record<string, unknown>[] }> {
  const form = new FormData();
  form.append('image', new Blob([readFileSync(QUERY)]), 'query.png');
  form.append('videos', String(videoId));
  const response = await api(url, '/v1/search', { method: 'POST', body: form });
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as { hits: Record<string, unknown>[] };
}

/** `waiting`, failing with what the processes said. */
async function withLogs<T>(waiting: Promise<T>, logs: () => string): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    throw new Error(`${(error as Error).message}\nthe processes said:\n${logs()}`);
  }
}

/** A search's hits without their signed media URLs (each replica signs its own moment). */
function hitsOf(result: { hits: Record<string, unknown>[] }): Record<string, unknown>[] {
  return result.hits.map(({ thumbnail: _t, clip: _c, ...hit }) => hit);
}

describe('cluster API replicas: jobs, streams, search and subscriptions through any replica', () => {
  it('serves one cluster through two replicas, and a client of a killed replica resumes its subscription on the other', async () => {
    // The replicas and the worker share one data directory: the worker records the stream there, the replicas cut
    // clips from it.
    const dataA = mkdtempSync(join(tmpdir(), 'dasr-replica-'));
    dirs.push(dataA);
    const worker = startDasr([...DETECTOR_ARGS, 'worker', '--nats', nats.url, '--index', postgres.url, '--streams', '1', '--data', dataA], running);
    const cluster = ['--index', postgres.url, '--nats', nats.url];
    const processReplica: DasrProcess = startDasr([...DETECTOR_ARGS, 'serve', ...cluster, '--port', '0', '--data', dataA, '--root', dirname(QUERY), '--allow-private-hosts'], running, { DASR_API_TOKENS: TEST_TOKEN });
    let replica: TestServer | null = null;
    const logs = (): string => [worker, processReplica].map((p) => p.log).join('\n');
    try {
      replica = await startTestServer({ cluster: { index: postgres.url, nats: nats.url }, detector: DETECTOR, pathRoots: [dirname(QUERY)], dataDir: dataA });
      const a = await waitFor(() => /dasr serving .* at (http:\/\/\S+)/.exec(processReplica.log)?.[1], 120_000, `the process replica to listen\n${logs()}`);
      const b = replica.url;
      expect(processReplica.log).toMatch(/the cluster index postgres:\/\/.* \(an API replica\)/);

      // A stream added through one replica is followed by the worker and seen through the other.
      const added = await postJson(a, '/v1/streams', { url: publisher.url, interval: 0.5, name: 'loopback' });
      expect(added.status, await added.clone().text()).toBe(201);
      const stream = (await added.json()) as { id: number; videoId: number; state: string; holder: string | null };
      expect(stream).toMatchObject({ videoId: stream.id, state: 'connecting', holder: null });
      const held = await waitFor(async () => {
        const { streams } = (await (await api(b, '/v1/streams')).json()) as { streams: { id: number; name: string; state: string; holder: string | null }[] };
        return streams[0]?.holder ? streams : undefined;
      }, 60_000, 'the worker to take the stream');
      expect(held).toMatchObject([{ id: stream.id, name: 'loopback', state: 'live', holder: expect.stringMatching(new RegExp(`:${worker.pid}$`)) }]);

      // A file queued through one replica is indexed by the worker; both replicas list it and search it alike.
      const queued = await postJson(b, '/v1/videos', { path: fixture('moving-object.mp4') });
      expect(queued.status, await queued.clone().text()).toBe(202);
      expect(((await queued.json()) as { job: unknown }).job).toMatchObject({ id: expect.any(Number), path: fixture('moving-object.mp4'), state: 'queued' });
      const file = await waitFor(async () => {
        const { videos, jobs } = (await (await api(a, '/v1/videos')).json()) as { videos: { id: number; sourceKind: string; status: string; keyframeCount: number }[]; jobs: unknown[] };
        const video = videos.find((v) => v.sourceKind === 'file');
        return video?.status === 'ready' && jobs.length === 0 ? video : undefined;
      }, 120_000, `the queued file to be indexed\n${logs()}`);
      expect(file.keyframeCount).toBeGreaterThan(0);
      expect(await (await api(b, `/v1/videos/${file.id}`)).json()).toMatchObject({ id: file.id, status: 'ready', keyframeCount: file.keyframeCount, progress: null });
      const [fromA, fromB] = [await search(a, file.id), await search(b, file.id)];
      expect(fromA.hits.length).toBeGreaterThan(0);
      expect(hitsOf(fromA)).toEqual(hitsOf(fromB));
      expect(fromA.hits[0]).toMatchObject({ video: file.id, track: expect.any(Number) });

      // A persisted subscription made on the process replica gets matches from the worker's stream.
      const client = await LiveClient.connect({ url: a, token: TEST_TOKEN });
      client.send({ type: 'subscribe', image: readFileSync(QUERY).toString('base64'), threshold: THRESHOLD, persist: true, name: 'bag' });
      const { message: subscribed } = await withLogs(client.next('subscribed', 60_000), () => `${logs()}\nthe client received: ${JSON.stringify(client.received)}`);
      const subscription = (subscribed.subscription as { id: string }).id;
      expect((await client.next('match', 60_000)).message).toMatchObject({ subscription, stream: stream.id, video: stream.id, score: expect.any(Number) });
      // the other replica holds it too (it follows the shared records), detached there
      await waitFor(async () => {
        const { subscriptions } = (await (await api(b, '/v1/subscriptions')).json()) as { subscriptions: { id: string; attached: boolean }[] };
        return subscriptions.some((s) => s.id === subscription && !s.attached) ? true : undefined;
      }, 10_000, 'the other replica to hold the subscription');

      // The process replica dies: its client goes to the other and resumes; the survivor keeps serving search.
      const closed = new Promise<void>((resolve) => client.ws.once('close', () => resolve()));
      await stopDasr(processReplica, 'SIGKILL');
      await closed;
      expect(hitsOf(await search(b, file.id))).toEqual(hitsOf(fromB));
      const again = await LiveClient.connect({ url: b, token: TEST_TOKEN });
      // The survivor collects for the subscription, detached (the object comes into view every 6 s).
      const survivor = replica;
      await waitFor(() => ((survivor.service.hub.get(subscription)?.queued ?? 0) > 0 ? true : undefined), 30_000, 'the survivor to collect a message for the subscription');
      // what the client has already (from the dead replica) is not sent again
      const since = client.received.map((r) => r.message.processedAt).filter((t): t is string => typeof t === 'string').at(-1)!;
      again.send({ type: 'resume', subscription, since });
      expect((await again.next('resumed', 10_000)).message).toMatchObject({ subscription: { id: subscription, name: 'bag', persist: true, attached: true } });
      // What came after `since` waits in the survivor's outbox or comes live. Stopping the stream through it ends the
      // appearances it holds open; each appearance the client hears of from it is opened by a match from it first.
      expect((await api(b, `/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(204);
      await again.next('ended', 30_000);
      const appearances = (type: string): unknown[] => again.of(type).map((m) => m.message.appearance);
      await waitFor(() => (appearances('match').every((n) => appearances('ended').includes(n)) ? true : undefined), 10_000, 'the appearances to end with the stream');
      expect(appearances('ended').filter((n) => !appearances('match').includes(n))).toEqual([]);
      const ended = again.of('ended').at(-1)!.message;
      expect(ended).toMatchObject({ subscription, stream: stream.id, tracks: expect.any(Array), clip: expect.stringMatching(new RegExp(`^/v1/videos/${stream.id}/clip\\?`)) });
      // The worker recorded the stream into the shared directory: the appearance's clip is served by the survivor, from
      // segments the worker committed (the last one once it has let the stream go).
      const clip = await waitFor(async () => {
        const response = await api(b, ended.clip as string);
        return response.status === 200 ? response : undefined;
      }, 30_000, `the clip of the ended appearance\n${logs()}`);
      expect(clip.headers.get('content-type')).toBe('video/mp4');
      expect((await clip.arrayBuffer()).byteLength).toBeGreaterThan(1000);
      const segments = await postgres.query<{ path: string }>(`SELECT path FROM segments WHERE video_id = ${stream.id}`);
      expect(segments.length).toBeGreaterThan(0);
      expect(segments.every((s) => s.path.startsWith(`recordings/${stream.id}/w`))).toBe(true);
      // (a match processed before `since` comes only ahead of its appearance's later messages)
      expect(again.received.filter((r) => r.message.type !== 'match' && typeof r.message.processedAt === 'string' && Date.parse(r.message.processedAt) <= Date.parse(since))).toEqual([]);
      expect(await (await api(b, '/v1/streams')).json()).toEqual({ streams: [] });
      expect((await api(b, `/v1/subscriptions/${subscription}`, { method: 'DELETE' })).status).toBe(204);
      expect((await again.next('unsubscribed', 5_000)).message).toMatchObject({ subscription, reason: 'removed' });
      expect(await postgres.query('SELECT id FROM dasr_subscriptions')).toEqual([]);
      await again.close();
    } finally {
      await replica?.stop({ keepData: true });
      await stopDasr(worker);
    }
  }, 300_000);
});
