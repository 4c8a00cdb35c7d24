import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { IndexStore } from '../../src/index/index-store.js';
import { DATABASE_FILE } from '../../src/index/database.js';
import { fixture } from '../video/fixtures.js';
import { createLogger } from '../../src/log.js';
import { LivePublisher } from '../support/live-publisher.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const quiet = createLogger('error');
const KILLS = 20;
const LIVE_KILLS = 8;
const INDEX_ARGS = ['--long-side', '256', '--max-peaks', '4', 'index', fixture('moving-object.mp4'), '--interval', '0.2'];
const liveIndexArgs = (url: string): string[] => ['--long-side', '256', '--max-peaks', '4', 'index', url, '--interval', '0.5'];

/** Keyframes committed so far, read from outside the process as any other reader would. */
function committedKeyframes(dataDir: string): number {
  const path = join(dataDir, DATABASE_FILE);
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM keyframes').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0; // schema not created yet
  }
}

interface KillPlan {
  /** kill once this many more keyframes are committed than at the start of the run… */
  afterKeyframes: number;
  /** …plus this delay, so the kill lands anywhere in the next keyframe's decode, inference or commit */
  delayMs: number;
}

/**
 * `dasr index` as a real child process; resolves with its exit status or the signal that ended it. `kill` ends it
 * with `signal` (SIGKILL unless said) at the planned moment.
 */
function runIndex(dataDir: string, kill?: KillPlan & { signal?: NodeJS.Signals }, args = INDEX_ARGS): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args, '--data', dataDir], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DASR_LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    const start = committedKeyframes(dataDir);
    const poll = kill
      ? setInterval(() => {
          if (committedKeyframes(dataDir) < start + kill.afterKeyframes) return;
          clearInterval(poll);
          setTimeout(() => child.kill(kill.signal ?? 'SIGKILL'), kill.delayMs);
        }, 20)
      : undefined;
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      done({ code, signal, stderr });
    });
  });
}

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
      const hits = await store.search(store.db.features([probe]).get(probe)!, 1);
      expect(hits[0]!.id).toBe(probe);
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
        const run = await runIndex(dataDir, { afterKeyframes: 1 + Math.floor(random() * 4), delayMs: random() * 600 }, liveIndexArgs(publisher.url));
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
      const stopped = await runIndex(dataDir, { afterKeyframes: 2, delayMs: 0, signal: 'SIGINT' }, liveIndexArgs(publisher.url));
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
      const probe = dbIds[dbIds.length >> 1]!;
      expect((await store.search(store.db.features([probe]).get(probe)!, 1))[0]!.id).toBe(probe);
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
