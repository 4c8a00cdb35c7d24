import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { IndexStore } from '../../src/index/index-store.js';
import { LiveIngestion, type LiveKeyframe, type LiveState } from '../../src/ingest/ingest-live.js';
import { fixture } from '../video/fixtures.js';
import { LivePublisher } from '../support/live-publisher.js';
import { committedTrackerState } from '../../src/track/state.js';
import { createLogger } from '../../src/log.js';

const quiet = createLogger('error');

describe('live ingestion', () => {
  let dasr: DetectorThread;
  let dir: string;
  beforeAll(async () => {
    // In its own thread, as in the product: inference on the main thread would stop the stream being read.
    dasr = await DetectorThread.start({ backbone: {}, config: { longSide: 256, maxPeaks: 4 }, logLevel: 'error' });
    dir = mkdtempSync(join(tmpdir(), 'dasr-live-'));
  });
  afterAll(async () => {
    await dasr.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ingests a live HTTP stream, notices when the publisher dies, and resumes by itself when it is back', async () => {
    const publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
    const store = await IndexStore.open(dir, { logger: quiet });
    const live = await LiveIngestion.open(publisher.url, dasr, store, {
      interval: 0.5,
      backoff: { initialMs: 300, maxMs: 2000 },
      ioTimeoutMs: 2000,
      stallTimeoutMs: 3000,
      logger: quiet,
    });
    const states: LiveState[] = [];
    live.state$.subscribe((s) => states.push(s));
    live.start();
    const keyframeAfter = (count: number) => firstValueFrom(live.keyframes$.pipe(filter(() => live.counters.keyframes >= count)));

    const first = await keyframeAfter(2);
    expect(live.state).toBe('live');
    // Frames keep arriving while keyframes are being processed: the stream is read at its own pace.
    expect(live.counters.framesDecoded).toBeGreaterThan(live.counters.keyframes);
    expect(first.processedAt).toBeGreaterThanOrEqual(first.receivedAt);
    expect(Number.isFinite(first.pts)).toBe(true);

    await publisher.stop();
    await firstValueFrom(live.state$.pipe(filter((s) => s === 'reconnecting')));
    const keyframesWhileDown = live.counters.keyframes;

    await publisher.start();
    await firstValueFrom(live.state$.pipe(filter((s) => s === 'live')));
    const resumed = await keyframeAfter(keyframesWhileDown + 2);
    expect(resumed.t).toBeGreaterThan(first.t);
    expect(live.counters.reconnects).toBeGreaterThanOrEqual(1);

    await live.stop();
    await publisher.stop();
    expect(states[0]).toBe('connecting');
    expect(states).toContain('reconnecting');
    expect(states.at(-1)).toBe('stopped');
    // Everything processed is in the index, in time order, under the stream's video row.
    const video = store.db.listVideos()[0]!;
    expect(video).toMatchObject({ sourceKind: 'live', path: publisher.url, status: 'ready' });
    const times = store.db.keyframesOfVideo(video.id).map((k) => k.t);
    expect(times).toHaveLength(live.counters.keyframes);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    await store.close();
  });

  it('hands a stream over and continues it as the same video: one timeline, its tracks going on from the committed state', async () => {
    const publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'dasr-live-handover-'));
    const store = await IndexStore.open(dataDir, { logger: quiet });
    onTestFinished(async () => {
      await publisher.stop();
      await store.close().catch(() => undefined); // closed already when the test passed
      rmSync(dataDir, { recursive: true, force: true });
    });
    const options = { interval: 0.5, logger: quiet };
    const keyframes = (live: LiveIngestion, count: number) => firstValueFrom(live.keyframes$.pipe(filter(() => live.counters.keyframes >= count)));
    const first = (await LiveIngestion.open(publisher.url, dasr, store, options)).start();
    const lastOfFirst = await keyframes(first, 3);
    await first.handOver();
    expect(first.state).toBe('stopped');
    expect(await store.getVideo(first.videoId)).toMatchObject({ status: 'indexing', width: 640, height: 360 });
    const committed = store.db.keyframesOfVideo(first.videoId).map((k) => k.t);
    expect(committed.at(-1)).toBeGreaterThanOrEqual(lastOfFirst.t);

    const open = new Set((committedTrackerState(await store.videoState(first.videoId)).tracks ?? []).map((t) => t.id));
    await expect(LiveIngestion.open('http://127.0.0.1:1/other.ts', dasr, store, { ...options, continueVideo: first.videoId })).rejects.toThrow(/not the live video/);
    const second = await LiveIngestion.open(publisher.url, dasr, store, { ...options, continueVideo: first.videoId });
    expect(second.videoId).toBe(first.videoId);
    const seen: LiveKeyframe[] = [];
    second.keyframes$.subscribe((k) => seen.push(k));
    second.start();
    // 6 keyframes, 3 s: past the tracker's gap (2 s and 2 keyframes), so a track not followed on has been ended.
    await keyframes(second, 6);
    await second.stop();
    await publisher.stop();

    expect(seen[0]!.t).toBeGreaterThan(committed.at(-1)!);
    const times = store.db.keyframesOfVideo(first.videoId).map((k) => k.t);
    expect(times.slice(0, committed.length)).toEqual(committed);
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(store.db.listVideos().map((v) => [v.id, v.status])).toEqual([[first.videoId, 'ready']]);
    // The tracker was restored from the committed state: each track open at the hand-over is followed on or ended
    // by the second run (a fresh tracker would know none of them).
    expect(open.size).toBeGreaterThan(0);
    const takenUp = new Set(seen.flatMap((k) => [...k.regions.filter((r) => !r.isNewTrack).map((r) => r.trackId), ...k.endedTracks.map((t) => t.id)]));
    expect([...open].filter((id) => !takenUp.has(id))).toEqual([]);
    await store.close();
  });

  it('a process whose stream was taken over while it still ran (frozen past its lease) writes nothing more: it stops as superseded', async () => {
    const publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'dasr-live-superseded-'));
    const store = await IndexStore.open(dataDir, { logger: quiet });
    onTestFinished(async () => {
      await publisher.stop();
      await store.close().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    });
    const options = { interval: 0.5, logger: quiet };
    const keyframes = (live: LiveIngestion, count: number) => firstValueFrom(live.keyframes$.pipe(filter(() => live.counters.keyframes >= count)));
    const video = await store.addVideo({ path: publisher.url, sourceKind: 'live', status: 'indexing' });
    const stale = (await LiveIngestion.open(publisher.url, dasr, store, { ...options, continueVideo: video.id })).start();
    await keyframes(stale, 2);

    // Another process takes the video while the first one goes on reading: the first one's next commit is refused.
    const fresh = await LiveIngestion.open(publisher.url, dasr, store, { ...options, continueVideo: video.id });
    const committedBefore = store.db.keyframesOfVideo(video.id).length;
    await firstValueFrom(stale.state$.pipe(filter((s) => s === 'superseded')));
    expect(stale.counters.lastError).toBe(`video ${video.id} was taken over by another writer`);
    expect(store.db.keyframesOfVideo(video.id)).toHaveLength(committedBefore);
    expect(stale.counters.keyframes).toBe(committedBefore);
    await stale.handOver();

    fresh.start();
    await keyframes(fresh, 3);
    await fresh.stop();
    const times = store.db.keyframesOfVideo(video.id).map((k) => k.t);
    expect(times).toHaveLength(committedBefore + fresh.counters.keyframes);
    // In commit order, one timeline going forward: nothing of the superseded process came in between.
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(new Set(times).size).toBe(times.length);
    expect(await store.getVideo(video.id)).toMatchObject({ status: 'ready' });
    await store.close();
  });

  it('refuses protocols outside the allowlist without touching the index', async () => {
    const store = await IndexStore.open(mkdtempSync(join(tmpdir(), 'dasr-live-refuse-')), { logger: quiet });
    await expect(LiveIngestion.open('concat:/etc/passwd', dasr, store, { interval: 1 })).rejects.toThrow(/not allowed/);
    await expect(LiveIngestion.open('rtsp://127.0.0.1/cam', dasr, store, { interval: 1, allowedProtocols: ['http'] })).rejects.toThrow(/not allowed/);
    expect(store.db.listVideos()).toEqual([]);
    await store.close();
  });
});
