import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { SubscriptionHub, regionThumbnailPath, type OfferedKeyframe, type QueuedMessage } from '../../src/serve/subscriptions.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 16;
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function hub(queueCapacity: number): Promise<SubscriptionHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'dasr-hub-'));
  dirs.push(dataDir);
  return SubscriptionHub.open({ dataDir, dim: DIM, queueCapacity, logger: createLogger('error') });
}

/** Keyframe k of a stream: one region starting track k, or with `end` no region and track k ended; a grey frame. */
function keyframe(k: number, feature: Float32Array, end = false): OfferedKeyframe {
  return {
    videoId: 1,
    t: k,
    receivedAt: 1_000_000 + 1000 * k,
    processedAt: 1_000_500 + 1000 * k,
    regions: end ? [] : [{ regionId: 100 + k, box: [300, 100, 400, 200], score: 1, trackId: k, feature }],
    endedTrackIds: end ? [k] : [],
    frame: { width: 32, height: 18, data: Buffer.alloc(32 * 18 * 3, 128) },
    width: 640,
    height: 360,
  };
}

describe('SubscriptionHub', () => {
  it('keeps at most its capacity for a client that does not read, and says how many it dropped', async () => {
    const h = await hub(8);
    const rand = mulberry32(1);
    const feature = randomUnitVector(rand, DIM);
    const { id } = await h.create({ vector: feature, threshold: 0.5, streams: null, updates: false, persist: false, name: null, owner: 'admin' });
    // 100 appearances, each a match then an ended message; only the newest 8 wait.
    for (let k = 0; k < 100; k++) {
      await h.offerKeyframe(7, keyframe(k, feature));
      await h.offerKeyframe(7, keyframe(k, feature, true));
    }
    expect(h.queued).toBe(8);
    const taken: QueuedMessage[] = [];
    for (let m = h.take(id); m; m = h.take(id)) taken.push(m);
    expect(taken[0]).toEqual({ type: 'dropped', subscription: id, count: 200 - 8 });
    expect(taken.slice(1).map((m) => m.type)).toEqual(['match', 'ended', 'match', 'ended', 'match', 'ended', 'match', 'ended']);
    expect(taken.at(-1)).toMatchObject({ type: 'ended', tracks: [99], start: 99, end: 99 });
    const last = taken.at(-2) as Extract<QueuedMessage, { type: 'match' | 'update' }>;
    expect(last).toMatchObject({ stream: 7, video: 1, track: 99, region: 199, t: 99, box: [300, 100, 400, 200], score: 1, thumbnail: '/v1/regions/199/thumbnail' });
    expect(last.frameTime).toBe(new Date(1_099_000).toISOString());
    expect(existsSync(regionThumbnailPath(h['options'].dataDir, 199))).toBe(true);
    expect(h.get(id)).toMatchObject({ queued: 0, dropped: 192 });
  });

  it('matches only above the threshold, and removes a non-persisted subscription when its client leaves', async () => {
    const h = await hub(8);
    const rand = mulberry32(2);
    const wanted = randomUnitVector(rand, DIM);
    const { id } = await h.create({ vector: wanted, threshold: 0.9, streams: null, updates: false, persist: false, name: null, owner: 'admin' });
    await h.offerKeyframe(1, keyframe(0, randomUnitVector(rand, DIM)));
    expect(h.queued).toBe(0);
    let woken = 0;
    expect(h.attach(id, () => woken++)).toBe(true);
    expect(h.attach(id, () => undefined)).toBe(false);
    await h.offerKeyframe(1, keyframe(1, wanted));
    expect(woken).toBe(1);
    expect(h.take(id)).toMatchObject({ type: 'match', track: 1 });
    h.detach(id);
    expect(h.get(id)).toBeUndefined();
  });

  it('tells the attached client when its subscription is removed by someone else', async () => {
    const h = await hub(8);
    const { id } = await h.create({ vector: randomUnitVector(mulberry32(3), DIM), threshold: 0.9, streams: null, updates: false, persist: true, name: null, owner: 'admin' });
    const removed: string[] = [];
    h.attach(id, () => undefined, () => removed.push(id));
    expect(await h.remove(id)).toBe(true);
    expect(removed).toEqual([id]);
    expect(await h.remove(id)).toBe(false);
    expect(removed).toEqual([id]);
  });

  it('a client resuming with `since` gets only what came after, and no drop notice for messages it already had', async () => {
    const h = await hub(4);
    const feature = randomUnitVector(mulberry32(4), DIM);
    const { id } = await h.create({ vector: feature, threshold: 0.5, streams: null, updates: false, persist: true, name: null, owner: 'admin' });
    // appearances k = 0..4: a match then an ended each, processed at 1 000 500 + 1000 k; the outbox keeps the last 4
    for (let k = 0; k < 5; k++) {
      await h.offerKeyframe(7, keyframe(k, feature));
      await h.offerKeyframe(7, keyframe(k, feature, true));
    }
    const processedAt = (k: number): number => 1_000_500 + 1000 * k;
    // the client had everything up to keyframe 3 (appearance 3 began and ended there): only appearance 4 is new, and
    // what was dropped (appearances 0-2) it had
    expect(h.attach(id, () => undefined, undefined, processedAt(3))).toBe(true);
    const taken: QueuedMessage[] = [];
    for (let m = h.take(id); m; m = h.take(id)) taken.push(m);
    expect(taken.map((m) => [m.type, m.processedMs])).toEqual([['match', processedAt(4)], ['ended', processedAt(4)]]);
    h.detach(id);

    // a client that had less than what was dropped is told
    for (let k = 5; k < 10; k++) {
      await h.offerKeyframe(7, keyframe(k, feature));
      await h.offerKeyframe(7, keyframe(k, feature, true));
    }
    expect(h.attach(id, () => undefined, undefined, processedAt(4))).toBe(true);
    expect(h.take(id)).toEqual({ type: 'dropped', subscription: id, count: 6 });
    expect(h.take(id)).toMatchObject({ type: 'match', track: 8 });
    h.detach(id);

    // an appearance that began before `since` and ends after it: what waits is all older than `since`, but the
    // appearance's match (this hub's numbering) comes again before its end
    const begun = { ...keyframe(20, feature), processedAt: processedAt(20) };
    await h.offerKeyframe(7, begun);
    expect(h.attach(id, () => undefined, undefined, processedAt(20))).toBe(true);
    await h.offerKeyframe(7, { ...keyframe(21, feature, true), endedTrackIds: [20] });
    const [match, ended] = [h.take(id), h.take(id)];
    expect(match).toMatchObject({ type: 'match', track: 20, processedMs: processedAt(20) });
    expect(ended).toMatchObject({ type: 'ended', tracks: [20], appearance: (match as { appearance: number }).appearance, processedMs: processedAt(21) });
    expect(h.take(id)).toBeUndefined();
  });
});
