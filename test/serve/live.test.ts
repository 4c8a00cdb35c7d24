import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixture } from '../video/fixtures.js';
import { decodeImage } from '../../src/image/load.js';
import { LiveClient } from '../support/live-client.js';
import { LivePublisher } from '../support/live-publisher.js';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';

// At long side 384 with 6 peaks the fixture object's regions score ≥ 0.65 against its crop and every other
// region ≤ 0.54 (measured with `dasr search --keyframes`), so 0.6 separates them with a margin.
const DETECTOR = { backbone: {}, config: { longSide: 384, maxPeaks: 6 }, logLevel: 'error' as const };
const THRESHOLD = 0.6;

const queryImage = (): string => readFileSync(fixture('moving-object-query.png')).toString('base64');

describe('live subscriptions', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ detector: DETECTOR });
  });
  afterAll(() => server?.stop());

  it('pushes exactly one match when the object appears on a live stream, soon after the frame is processed, then one ended', { timeout: 300_000 }, async () => {
    const client = await LiveClient.connect(server);
    client.send({ type: 'subscribe', image: queryImage(), threshold: THRESHOLD, requestId: 'r1' });
    const subscribed = (await client.next('subscribed', 60_000)).message as unknown as { requestId: string; subscription: { id: string; threshold: number; attached: boolean } };
    expect(subscribed.requestId).toBe('r1');
    expect(subscribed.subscription).toMatchObject({ threshold: THRESHOLD, attached: true, persist: false });

    // The 6 s fixture played once from its start, at a quarter of real time (the object is in view for 16 s of wall
    // time, from 4 s to 20 s: several keyframes are analysed even on a busy machine), then the camera is gone.
    const publisher = new LivePublisher(fixture('moving-object.mp4'), { playsFromStart: 2, readRate: 0.25 });
    await publisher.start();
    const added = await server.api('/v1/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: publisher.url, interval: 0.5, name: 'fixture camera' }) });
    expect(added.status).toBe(201);
    const stream = (await added.json()) as { id: number; videoId: number; state: string };
    expect(stream.state).toBe('connecting');

    const match = await client.next('match', 120_000);
    const m = match.message as unknown as { subscription: string; stream: number; video: number; track: number; t: number; frameTime: string; processedAt: string; box: number[]; score: number; thumbnail: string; clip: string };
    expect(m).toMatchObject({ subscription: subscribed.subscription.id, stream: stream.id, video: stream.videoId });
    expect(Number.isInteger(m.track)).toBe(true);
    expect(m.score).toBeGreaterThanOrEqual(THRESHOLD);
    expect(m.box).toHaveLength(4);
    expect(m.box[0]! >= 0 && m.box[1]! >= 0 && m.box[2]! <= 640 && m.box[3]! <= 360 && m.box[0]! < m.box[2]! && m.box[1]! < m.box[3]!).toBe(true);
    // within 2 s of the frame being processed
    expect(match.at - Date.parse(m.processedAt)).toBeLessThan(2000);
    expect(Date.parse(m.processedAt)).toBeGreaterThanOrEqual(Date.parse(m.frameTime));
    const thumbnail = await server.api(m.thumbnail);
    expect(thumbnail.status).toBe(200);
    expect(thumbnail.headers.get('content-type')).toBe('image/jpeg');

    // The stream ends (6 s) and the source is gone: wait until the last keyframe has been processed.
    await waitFor(async () => {
      const status = (await (await server.api(`/v1/streams/${stream.id}`)).json()) as { state: string; counters: { processed: number; reconnects: number } };
      return status.counters.reconnects >= 1 ? status : undefined;
    }, 60_000, 'the stream to end');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(client.of('match')).toHaveLength(1);
    const status = (await (await server.api(`/v1/streams/${stream.id}`)).json()) as { counters: { processed: number } };
    expect(status.counters.processed).toBeGreaterThanOrEqual(2);

    // Removing the stream closes the appearance: one ended message.
    expect((await server.api(`/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(204);
    const ended = (await client.next('ended', 10_000)).message;
    expect(ended).toMatchObject({ subscription: subscribed.subscription.id, stream: stream.id, appearance: (match.message as unknown as { appearance: number }).appearance });
    // the stream was recorded: the match's track clip plays once its moments are (the run is stopped: they are)
    expect(m.clip).toMatch(new RegExp(`^/v1/tracks/${m.track}/clip\\?expires=\\d+&sig=[\\w-]+$`));
    const endedClip = (ended as unknown as { clip: string }).clip;
    expect(endedClip).toMatch(new RegExp(`^/v1/videos/${stream.videoId}/clip\\?start=[\\d.]+&end=[\\d.]+&expires=\\d+&sig=[\\w-]+$`));
    for (const url of [m.clip, endedClip]) {
      const clip = await fetch(`${server.url}${url}`); // signed: no token
      expect(clip.status).toBe(200);
      expect(clip.headers.get('content-type')).toBe('video/mp4');
    }
    expect(client.of('match')).toHaveLength(1);
    expect(client.of('update')).toHaveLength(0);
    await publisher.stop();

    // A non-persisted subscription ends with its connection.
    await client.close();
    await waitFor(async () => ((await (await server.api('/v1/subscriptions')).json()) as { subscriptions: unknown[] }).subscriptions.length === 0 || undefined, 5000, 'the subscription to go');
    const metrics = await (await server.api('/metrics')).text();
    expect(metrics).toMatch(/^dasr_pushes_total\{type="match"\} 1$/m);
    expect(metrics).toMatch(/^dasr_push_latency_seconds_count 1$/m);
  });

  it('keeps a persisted subscription across a restart, and a client resumes it', { timeout: 300_000 }, async () => {
    const client = await LiveClient.connect(server);
    client.send({ type: 'subscribe', image: queryImage(), box: [10, 10, 100, 100], threshold: 0.75, persist: true, name: 'kept' });
    const { subscription } = (await client.next('subscribed', 60_000)).message as unknown as { subscription: { id: string } };
    await client.close();
    const listed = (await (await server.api('/v1/subscriptions')).json()) as { subscriptions: { id: string; attached: boolean; persist: boolean; name: string }[] };
    expect(listed.subscriptions.filter((s) => s.id === subscription.id)).toEqual([expect.objectContaining({ attached: false, persist: true, name: 'kept', threshold: 0.75 })]);

    await server.stop({ keepData: true });
    server = await startTestServer({ detector: DETECTOR, dataDir: server.dataDir });
    const after = (await (await server.api('/v1/subscriptions')).json()) as { subscriptions: { id: string }[] };
    expect(after.subscriptions.map((s) => s.id)).toContain(subscription.id);

    // While nobody listens, a keyframe with a region like the query arrives: its match waits for the client.
    const query = await server.service.queryDetector.describe(await decodeImage(fixture('moving-object-query.png')), [10, 10, 110, 110]);
    await server.service.hub.offerKeyframe(99, {
      videoId: 1, t: 5, receivedAt: Date.now() - 500, processedAt: Date.now(), endedTrackIds: [],
      regions: [{ regionId: 1, box: [0, 0, 64, 64], score: 1, trackId: 1, feature: query }],
      frame: { width: 32, height: 32, data: Buffer.alloc(32 * 32 * 3, 90) }, width: 640, height: 640,
    });
    const again = await LiveClient.connect(server);
    again.send({ type: 'resume', subscription: subscription.id });
    expect((await again.next('resumed', 10_000)).message).toMatchObject({ subscription: { id: subscription.id, attached: true } });
    expect((await again.next('match', 10_000)).message).toMatchObject({ subscription: subscription.id, stream: 99, track: 1, box: [0, 0, 64, 64] });
    const other = await LiveClient.connect(server);
    other.send({ type: 'resume', subscription: subscription.id });
    expect((await other.next('error', 10_000)).message).toMatchObject({ error: { code: 'conflict' } });
    again.send({ type: 'unsubscribe', subscription: subscription.id });
    await again.next('unsubscribed', 10_000);
    expect(((await (await server.api('/v1/subscriptions')).json()) as { subscriptions: { id: string }[] }).subscriptions.map((s) => s.id)).not.toContain(subscription.id);
    await Promise.all([again.close(), other.close()]);
  });
});
