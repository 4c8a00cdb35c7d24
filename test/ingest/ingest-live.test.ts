import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom } from 'rxjs';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { IndexStore } from '../../src/index/index-store.js';
import { LiveIngestion, type LiveState } from '../../src/ingest/ingest-live.js';
import { fixture } from '../video/fixtures.js';
import { LivePublisher } from '../support/live-publisher.js';
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
    const live = new LiveIngestion(publisher.url, dasr, store, {
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

  it('refuses protocols outside the allowlist without touching the index', async () => {
    const store = await IndexStore.open(mkdtempSync(join(tmpdir(), 'dasr-live-refuse-')), { logger: quiet });
    expect(() => new LiveIngestion('concat:/etc/passwd', dasr, store, { interval: 1 })).toThrow(/not allowed/);
    expect(() => new LiveIngestion('rtsp://127.0.0.1/cam', dasr, store, { interval: 1, allowedProtocols: ['http'] })).toThrow(/not allowed/);
    expect(store.db.listVideos()).toEqual([]);
    await store.close();
  });
});
