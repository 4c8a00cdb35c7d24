import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IndexStore } from '../../src/index/index-store.js';
import { fixture } from '../video/fixtures.js';
import { createLogger } from '../../src/log.js';
import { runIndex as runDasrIndex, type KillPlan } from '../support/kill-index.js';

const quiet = createLogger('error');
const KILLS = 8;
const INDEX_ARGS = ['--long-side', '256', '--max-peaks', '4', 'index', fixture('moving-object.mp4'), '--interval', '0.2'];
const runIndex = (dataDir: string, kill?: KillPlan) => runDasrIndex(dataDir, INDEX_ARGS, kill);

/**
 * Opens the data directory the way any later run would, and checks the database and the vectors agree. Returns
 * what a search can see: the keyframes, every region (box, score, track) and every track.
 */
async function checkConsistent(dataDir: string): Promise<{ keyframes: number; status: string | undefined; content: unknown }> {
  const store = await IndexStore.open(dataDir, { logger: quiet, verifySample: 'all' });
  try {
    const dbIds = store.db.regionIds().sort((a, b) => a - b);
    const vectorIds = (await store.vectors.ids({ live: true })).sort((a, b) => a - b);
    expect(vectorIds).toEqual(dbIds);
    if (dbIds.length > 0) {
      const probe = dbIds[dbIds.length >> 1]!;
      // Two regions can pool the same feature cells (a peak's part and its wider extent): the probe may have twins.
      const hits = await store.search(store.db.features([probe]).get(probe)!, 5);
      expect(hits[0]!.similarity).toBeCloseTo(1, 5);
      expect(hits.filter((h) => h.similarity > hits[0]!.similarity - 1e-6).map((h) => h.id)).toContain(probe);
    }
    const video = store.db.listVideos()[0];
    // Rounded: a resumed run recomputes the same keyframes, and ONNX Runtime's threaded sums may differ in the last bits.
    const round = (x: number): number => Math.round(x * 1000) / 1000;
    const tracks = video ? store.db.tracksOfVideo(video.id) : [];
    const content = {
      times: video ? store.db.keyframesOfVideo(video.id).map((k) => k.t) : [],
      tracks: tracks.map((t) => ({ id: t.id, firstT: t.firstT, lastT: t.lastT })),
      regions: tracks.flatMap((t) => store.db.regionsOfTrack(t.id).map((r) => ({ t: r.t, track: r.trackId, box: r.box.map(round), score: round(r.score) }))),
    };
    return { keyframes: video?.keyframeCount ?? 0, status: video?.status, content };
  } finally {
    await store.close({ saveVectors: false });
  }
}

describe('crash safety of dasr index', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it(`survives ${KILLS} kill -9 at seeded moments: database and vectors agree, search works, and every interrupted index resumes to the uninterrupted one`, async () => {
    const fresh = (prefix: string): string => {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    };
    const reference = fresh('dasr-crash-ref-');
    expect((await runIndex(reference)).code).toBe(0);
    const complete = await checkConsistent(reference);
    expect(complete.status).toBe('ready');
    expect((complete.content as { regions: unknown[] }).regions.length).toBeGreaterThan(10);

    // Seeded moments: after a few commits, then anywhere within the next keyframe's work. A directory whose run
    // finishes is compared with the reference, and the kills go on in a new one.
    let seed = 20261127;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    let crashed = fresh('dasr-crash-');
    let previous = 0;
    let kills = 0;
    let killedMidway = 0;
    let resumedToEnd = 0;
    while (kills < KILLS) {
      const run = await runIndex(crashed, { afterKeyframes: 1 + Math.floor(random() * 8), delayMs: random() * 600 });
      if (run.signal !== 'SIGKILL') {
        expect(run.code, run.stderr).toBe(0);
        expect(await checkConsistent(crashed)).toEqual(complete);
        resumedToEnd++;
        crashed = fresh('dasr-crash-');
        previous = 0;
        continue;
      }
      kills++;
      const state = await checkConsistent(crashed);
      expect(state.keyframes).toBeGreaterThanOrEqual(previous);
      if (state.keyframes > 0 && state.keyframes < complete.keyframes) killedMidway++;
      previous = state.keyframes;
    }
    expect(killedMidway).toBeGreaterThanOrEqual(KILLS / 2);
    const finished = await runIndex(crashed);
    expect(finished.code, finished.stderr).toBe(0);
    expect(await checkConsistent(crashed)).toEqual(complete);
    expect(resumedToEnd + 1).toBeGreaterThanOrEqual(2);
  }, 600_000);
});
