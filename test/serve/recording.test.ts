import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grabFrame } from '../../src/clip/frame-grab.js';
import { recordingDir } from '../../src/record/live-recording.js';
import { fixture } from '../video/fixtures.js';
import { cosine } from '../../scripts/device-check/report.js';
import { LivePublisher } from '../support/live-publisher.js';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';

const DETECTOR = { backbone: {}, config: { longSide: 384, maxPeaks: 6 }, logLevel: 'error' as const };

/** Adds the publisher as a stream and waits until it analysed `keyframes` keyframes. */
async function streamFor(server: TestServer, publisher: LivePublisher, keyframes: number): Promise<{ id: number; videoId: number }> {
  const added = await server.api('/v1/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: publisher.url, interval: 0.5 }) });
  expect(added.status).toBe(201);
  const stream = (await added.json()) as { id: number; videoId: number };
  await waitFor(async () => ((await (await server.api(`/v1/streams/${stream.id}`)).json()) as { counters: { processed: number } }).counters.processed >= keyframes || undefined, 120_000, `${keyframes} analysed keyframes`);
  return stream;
}

describe('recorded live streams', () => {
  let server: TestServer;
  let publisher: LivePublisher;
  beforeAll(async () => {
    publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
  });
  afterAll(async () => {
    await server?.stop();
    await publisher.stop();
  });

  it("gives a live hit a clip that shows the object, and a picture, from the stream's recording", async () => {
    server = await startTestServer({ detector: DETECTOR, record: { segmentSeconds: 1, maxAgeSeconds: 3600, maxBytes: 2 ** 30 } });
    // Two loops of the 6 s file: the object crosses twice.
    const stream = await streamFor(server, publisher, 24);
    expect((await server.api(`/v1/streams/${stream.id}`, { method: 'DELETE' })).status).toBe(204);
    const segments = server.service.embedded!.db.segmentsOfVideo(stream.videoId);
    expect(segments.length).toBeGreaterThan(5);
    for (const [i, s] of segments.entries()) {
      expect(s.tEnd).toBeGreaterThan(s.tStart);
      if (i > 0 && s.path.split('/').at(-2) === segments[i - 1]!.path.split('/').at(-2)) expect(s.tStart).toBeCloseTo(segments[i - 1]!.tEnd, 3);
    }

    const form = new FormData();
    form.append('image', new Blob([readFileSync(fixture('moving-object-query.png'))]), 'query.png');
    form.append('top', '3');
    const result = (await (await server.api('/v1/search', { method: 'POST', body: form })).json()) as {
      hits: { video: number; track: number; score: number; start: number; end: number; best: { t: number; box: number[]; region: number }; clip: string | null; thumbnail: string | null }[];
    };
    // The best hit whose track was recorded whole: the stream was stopped by killing its ffmpeg, so the segment it was
    // writing ends where its file does, which may be before the last keyframes analysed.
    const recorded = (t: number): boolean => segments.some((s) => s.tStart <= t && t < s.tEnd);
    const hit = result.hits.find((h) => recorded(h.start) && recorded(h.end))!;
    expect(result.hits.indexOf(hit)).toBeGreaterThanOrEqual(0);
    expect(hit.video).toBe(stream.videoId);
    expect(hit.score).toBeGreaterThan(0.6);
    expect(hit.clip).toMatch(new RegExp(`^/v1/tracks/${hit.track}/clip\\?expires=\\d+&sig=`));
    expect(hit.thumbnail).toMatch(new RegExp(`^/v1/regions/${hit.best.region}/thumbnail\\?expires=\\d+&sig=`));

    // The clip without boxes, its frame at the best time, described at the best box: the object the query found.
    const clip = await fetch(`${server.url}${hit.clip}&boxes=false&pad=0`); // signed: no token
    expect(clip.status, await clip.clone().text()).toBe(200);
    expect(clip.headers.get('content-type')).toBe('video/mp4');
    const file = join(server.dataDir, 'hit-clip.mp4');
    writeFileSync(file, Buffer.from(await clip.arrayBuffer()));
    // Its frame at the best time, described at the best box, is what was indexed there: the same picture, up to
    // re-encoding.
    const stored = server.service.embedded!.db.features([hit.best.region]).get(hit.best.region)!;
    const detector = server.service.queryDetector;
    const similarityAt = async (t: number): Promise<number> => cosine(await detector.describe(await grabFrame(file, t), hit.best.box as [number, number, number, number]), stored);
    // (the frame at the best time or a neighbour: times are exact to a frame, 40 ms, after two muxings; the clip,
    // without padding, spans the track, so a neighbour past either end is not in it)
    const at = hit.best.t - hit.start;
    const atBest = Math.max(...(await Promise.all([at - 0.04, at, at + 0.04].filter((t) => t >= 0 && t <= hit.end - hit.start).map(similarityAt))));
    expect(atBest).toBeGreaterThan(0.9);

    const thumbnail = await fetch(`${server.url}${hit.thumbnail!}`);
    expect(thumbnail.status).toBe(200);
    expect(Buffer.from(await thumbnail.arrayBuffer()).subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));

    // Deleting the run takes its recording with it.
    expect((await server.api(`/v1/videos/${stream.videoId}`, { method: 'DELETE' })).status).toBe(204);
    expect(() => statSync(recordingDir(server.dataDir, stream.videoId))).toThrow();
    await server.stop();
  }, 300_000);

  it('keeps the recordings under the size limit while the stream runs, removing the regions of what it deletes', async () => {
    const maxBytes = 400_000;
    server = await startTestServer({ detector: DETECTOR, record: { segmentSeconds: 1, maxAgeSeconds: 3600, maxBytes } });
    const stream = await streamFor(server, publisher, 4);
    const db = server.service.embedded!.db;
    let retained = false;
    for (let check = 0; check < 12; check++) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const segments = db.segmentsOfVideo(stream.videoId);
      const bytes = segments.reduce((n, s) => n + s.bytes, 0);
      expect(bytes).toBeLessThanOrEqual(maxBytes);
      // On disk: the committed segments, and newer ones (finished since the last keyframe, or being written); older
      // ones only while retention, having removed them from the index, is deleting their files (this check runs in
      // the service's process, so it may come between the two).
      const dir = join(recordingDir(server.dataDir, stream.videoId), '0');
      const committed = new Set(segments.map((s) => basename(s.path)));
      const oldest = basename(segments[0]!.path);
      const newest = basename(segments.at(-1)!.path);
      expect(readdirSync(dir).filter((f) => f.endsWith('.ts') && f >= oldest && f <= newest && !committed.has(f))).toEqual([]);
      // Every region lies in a recorded segment, or after the last one (in the segment being written).
      const first = segments[0]!;
      const last = segments.at(-1)!;
      const times = db.keyframesOfVideo(stream.videoId).map((k) => k.t);
      for (const t of times) expect(t >= first.tStart - 1e-6 && (t >= last.tEnd - 1e-6 || segments.some((s) => s.tStart - 1e-6 <= t && t < s.tEnd))).toBe(true);
      if (first.path !== `recordings/${stream.videoId}/0/seg-000000.ts`) retained = true;
    }
    expect(retained, 'retention removed the oldest segments').toBe(true);
    // and deleted their files
    await waitFor(() => {
      const oldest = basename(db.segmentsOfVideo(stream.videoId)[0]!.path);
      return readdirSync(join(recordingDir(server.dataDir, stream.videoId), '0')).every((f) => !f.endsWith('.ts') || f >= oldest) || undefined;
    }, 5000, 'the files of removed segments to be deleted');
    // What retention removed is gone from the index too: no region before the first segment.
    const firstKept = db.segmentsOfVideo(stream.videoId)[0]!.tStart;
    const regions = db.regionsByIds(db.regionIdsOfVideo(stream.videoId));
    expect(regions.length).toBeGreaterThan(0);
    expect(Math.min(...regions.map((r) => r.t))).toBeGreaterThanOrEqual(firstKept - 1e-6);
    expect((await server.service.embedded!.vectors.ids({ live: true })).sort((a, b) => a - b)).toEqual(db.regionIds().sort((a, b) => a - b));
  }, 300_000);
});
