/**
 * One worker's stream holder (holdStreams) in this process, on a real NATS with JetStream (leases, fan-out), an
 * embedded index and a camera on loopback: how it lets a stream go when the stream fails and when another writer
 * took it over. (Taking a dead worker's stream over is tested across processes in cluster-live.test.ts.)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ClusterStreams, registerStream, streamHostPolicy, streamProtocols, type StreamSettings } from '../../src/cluster/cluster-streams.js';
import { connectNats } from '../../src/cluster/job-queue.js';
import { ensureLiveFanout } from '../../src/cluster/live-fanout.js';
import { holdStreams } from '../../src/cluster/stream-holder.js';
import { StreamLeases } from '../../src/cluster/stream-leases.js';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { IndexStore } from '../../src/index/index-store.js';
import { DEFAULT_HOST_POLICY } from '../../src/source/host-policy.js';
import type { Logger } from '../../src/log.js';
import { waitUntil } from '../support/dasr-process.js';
import { LivePublisher } from '../support/live-publisher.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { fixture } from '../video/fixtures.js';

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
/** Longer than every wait below, so a lease that comes free was released, not expired. */
const LEASE_TTL_MS = 60_000;
const LIVE = { backoff: { initialMs: 200, maxMs: 1_000 }, ioTimeoutMs: 3_000, stallTimeoutMs: 4_000 };

let nats: NatsServer;
let nc: NatsConnection;
let leases: StreamLeases;
let detector: DetectorThread;

beforeAll(async () => {
  nats = await startNatsServer();
  nc = await connectNats(nats.url, 'stream-holder-test');
  await ensureLiveFanout(nc);
  leases = await StreamLeases.open(nc, LEASE_TTL_MS);
  detector = await DetectorThread.start({ backbone: {}, config: { longSide: 256, maxPeaks: 4 }, logLevel: 'error' });
}, 60_000);

afterAll(async () => {
  try {
    await detector?.close();
    await nc?.close();
  } finally {
    await nats?.stop();
  }
});

/** A fresh index with `publisher`'s stream registered, and holder "A" following it until the test ends. */
async function holding(publisher: LivePublisher, settings: Partial<StreamSettings> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-stream-holder-'));
  const stop = new AbortController();
  let store: IndexStore | undefined;
  let held: Promise<void> | undefined;
  onTestFinished(async () => {
    stop.abort();
    try {
      await held;
    } finally {
      await publisher.stop();
      await store?.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
  await publisher.start();
  store = await IndexStore.open(dir, { logger: quiet });
  const video = await registerStream(store, publisher.url, { interval: 0.5, ...settings });
  held = holdStreams({ nc, store, detector, leases, holder: 'A', maxStreams: 1, signal: stop.signal, live: LIVE, logger: quiet });
  const opened = store;
  const keyframes = (): number => opened.db.keyframesOfVideo(video.id).length;
  return { store: opened, video, keyframes };
}

const nothingSaid = (): string => '(in this process)';

describe('stream holder', () => {
  it('checks each connection against the host policy the stream was admitted under: a refused host fails the stream, with the reason, and its lease is given back', async () => {
    // As if the camera's host name had resolved to a public address when an API replica admitted it, and to a
    // loopback one now: the holder's connection is refused.
    const { store, video } = await holding(new LivePublisher(fixture('moving-object.mp4')), { hostPolicy: { allowPrivateHosts: false, allowListeners: false } });
    await waitUntil('the stream is failed', async () => (await store.getVideo(video.id))?.status === 'failed', 30_000, nothingSaid);
    expect((await store.getVideo(video.id))?.error).toMatch(/loopback, link-local or private address/);
    expect(store.db.keyframesOfVideo(video.id)).toHaveLength(0);
    await waitUntil('the lease is given back', async () => !(await leases.holders()).has(video.id), 10_000, nothingSaid);
  }, 60_000);

  it('lets a stream another writer took over go, leaving it indexing, and does not take it back while the other holds its lease', async () => {
    const { store, video, keyframes } = await holding(new LivePublisher(fixture('moving-object.mp4')));
    await waitUntil('two keyframes are committed', async () => keyframes() >= 2, 30_000, nothingSaid);

    // Another worker took the stream (its writer epoch), as one does after this holder's lease lapsed.
    await store.takeWriter(video.id);
    let taken: Awaited<ReturnType<StreamLeases['take']>> = null;
    onTestFinished(() => taken?.release());
    const deadline = Date.now() + 15_000;
    while (!taken && Date.now() < deadline) {
      taken = await leases.take(video.id, 'B');
      if (!taken) await sleep(50);
    }
    expect(taken, 'holder A gives the lease back').not.toBeNull();
    const committed = keyframes();
    // A looks every second: three looks while B holds the lease (renewing it as a worker does), and A writes nothing more.
    for (let i = 0; i < 6; i++) {
      await sleep(500);
      expect(await taken!.renew()).toBe(true);
    }
    expect(keyframes()).toBe(committed);
    expect((await leases.holders()).get(video.id)).toBe('B');
    expect(await store.getVideo(video.id)).toMatchObject({ status: 'indexing' });
  }, 60_000);
});

describe('stream registration', () => {
  it('records the host policy an API replica admitted a stream under, for its worker to keep to; an operator\'s stream has none', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-stream-policy-'));
    const store = await IndexStore.open(dir, { logger: quiet });
    onTestFinished(async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const camera = 'http://127.0.0.1:9/live.ts';
    const replica = (hostPolicy: typeof DEFAULT_HOST_POLICY) => new ClusterStreams(store, async () => new Map(), { allowedProtocols: ['http'], hostPolicy, maxStreams: 4 });
    const lan = { allowPrivateHosts: true, allowListeners: false };
    const added = (await store.getVideo((await replica(lan).add(camera, 1, null, 'someone')).videoId))!;
    expect(streamHostPolicy(added)).toEqual(lan);
    expect(streamProtocols(added)).toEqual(['http']);
    await expect(replica(DEFAULT_HOST_POLICY).add(camera, 1, null, 'someone')).rejects.toThrow(/loopback, link-local or private address/);
    const operators = await registerStream(store, camera, { interval: 1 });
    expect([streamHostPolicy(operators), streamProtocols(operators)]).toEqual([undefined, undefined]);
    // A damaged policy refuses what it does not explicitly allow.
    const damaged = await store.addVideo({ path: camera, sourceKind: 'live', status: 'indexing', config: { interval: 1, hostPolicy: null } });
    expect(streamHostPolicy(damaged)).toEqual(DEFAULT_HOST_POLICY);
  });
});
