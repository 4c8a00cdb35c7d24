import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexStore } from '../../src/index/index-store.js';
import { fixture } from '../video/fixtures.js';
import { createLogger } from '../../src/log.js';
import { LivePublisher } from '../support/live-publisher.js';
import { runIndex } from '../support/kill-index.js';

const quiet = createLogger('error');
const LIVE_KILLS = 5;
const liveIndexArgs = (url: string): string[] => ['--long-side', '256', '--max-peaks', '4', 'index', url, '--interval', '0.5'];

describe('crash safety of live ingestion', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it(`survives ${LIVE_KILLS} kill -9 during live ingestion: each cut run stays searchable as it was committed, and later runs change no earlier one`, async () => {
    const publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'dasr-crash-live-'));
    dirs.push(dataDir);
    try {
      let seed = 20261203;
      const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      /** every run's content as read after the kill that cut it */
      const cutRuns = new Map<number, LiveRun['content']>();
      for (let kill = 0; kill < LIVE_KILLS; kill++) {
        const run = await runIndex(dataDir, liveIndexArgs(publisher.url), { afterKeyframes: 1 + Math.floor(random() * 4), delayMs: random() * 600 });
        expect(run.signal, run.stderr).toBe('SIGKILL');
        const runs = await liveRuns(dataDir);
        expect(runs.size).toBe(kill + 1);
        for (const [id, content] of cutRuns) expect(runs.get(id)!.content, `run ${id} after kill ${kill + 1}`).toEqual(content);
        // The run just cut is still marked indexing (a reader changes nothing); the next writer closes it.
        expect([...runs.values()].map((r) => r.status)).toEqual([...Array(kill).fill('ready'), 'indexing']);
        const [id, last] = [...runs].at(-1)!;
        expect(last.content.times.length, `run ${id}`).toBeGreaterThan(0);
        cutRuns.set(id, last.content);
      }
      // A last run stopped as a user does (Ctrl-C) closes cleanly; the cut runs were closed by the first writer after them.
      const stopped = await runIndex(dataDir, liveIndexArgs(publisher.url), { afterKeyframes: 2, delayMs: 0, signal: 'SIGINT' });
      expect(stopped.code, stopped.stderr).toBe(0);
      const runs = await liveRuns(dataDir);
      expect(runs.size).toBe(LIVE_KILLS + 1);
      for (const [id, content] of cutRuns) expect(runs.get(id)!.content, `run ${id} at the end`).toEqual(content);
      expect([...runs.values()].map((r) => r.status)).toEqual(Array(LIVE_KILLS + 1).fill('ready'));
    } finally {
      await publisher.stop();
    }
  }, 600_000);
});

/**
 * Opens the data directory as a reader, checks the database and the vectors agree and a search finds a stored
 * region, and returns each live run's status and committed content (keyframes, regions with their tracks).
 */
interface LiveRun {
  status: string;
  content: { times: number[]; regions: { id: number; t: number; track: number | null; box: number[] }[] };
}

async function liveRuns(dataDir: string): Promise<Map<number, LiveRun>> {
  const store = await IndexStore.open(dataDir, { logger: quiet, verifySample: 'all', access: 'read' });
  try {
    const dbIds = store.db.regionIds().sort((a, b) => a - b);
    expect((await store.vectors.ids({ live: true })).sort((a, b) => a - b)).toEqual(dbIds);
    if (dbIds.length > 0) {
      // A still keyframe carries the regions before it, features and all: the probe may have exact twins.
      const probe = dbIds[dbIds.length >> 1]!;
      const hits = await store.search(store.db.features([probe]).get(probe)!, 50);
      expect(hits[0]!.similarity).toBeCloseTo(1, 5);
      expect(hits.filter((h) => h.similarity > 1 - 1e-5).map((h) => h.id)).toContain(probe);
    }
    const runs = new Map<number, LiveRun>();
    for (const video of store.db.listVideos()) {
      const regions = store.db.regionsByIds(store.db.regionIdsOfVideo(video.id));
      runs.set(video.id, {
        status: video.status,
        content: { times: store.db.keyframesOfVideo(video.id).map((k) => k.t), regions: regions.map((r) => ({ id: r.id, t: r.t, track: r.trackId, box: [...r.box] })) },
      });
    }
    return runs;
  } finally {
    await store.close({ saveVectors: false });
  }
}
