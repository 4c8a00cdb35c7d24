/**
 * Cluster mode end to end on this machine: a NATS server with JetStream (Debian's nats-server, own port and store),
 * PostgreSQL + pgvector (PGlite over the wire protocol), `dasr index --nats` to queue files and `dasr worker`
 * processes to index them. What the workers build is compared with what `dasr index --data` builds from the same
 * files: the same keyframes, regions and tracks, and the same search results.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegionRow as StoredRegionRow } from '../../src/index/database.js';
import { IndexStore } from '../../src/index/index-store.js';
import { PostgresRegionStore } from '../../src/index/postgres-store.js';
import { createLogger } from '../../src/log.js';
import { connectNats, ensureJobQueue } from '../../src/cluster/job-queue.js';
import { runCli } from '../support/cli.js';
import { startDasr, stopDasr, waitUntil, type DasrProcess } from '../support/dasr-process.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startTestPostgres, type TestPostgres } from '../support/test-postgres.js';
import { fixture } from '../video/fixtures.js';

const DETECTOR = ['--long-side', '256', '--max-peaks', '4'];
const INDEXING = ['--interval', '0.5'];
/** short, so that a dead worker's job is redelivered quickly */
const ACK_WAIT_S = 2;
/** halfvec keeps ~3 significant digits: a cosine moves by up to ~1e-3 */
const HALF_PRECISION = 2e-3;
/** pixels change between the variants: no two videos share a frame (identical descriptors would tie in search) */
const VARIANTS = ['hflip', 'vflip', 'negate', 'hue=h=120', 'transpose=1', 'crop=iw*0.8:ih*0.8,scale=320:-2'];

let nats: NatsServer;
let postgres: TestPostgres;
let work: string;
let videos: string[];
const workers = new Set<ChildProcess>();

beforeAll(async () => {
  [nats, postgres] = await Promise.all([startNatsServer(), startTestPostgres()]);
  // The queue exists before anyone queues or pulls, with the short ack wait the workers are also given.
  const nc = await connectNats(nats.url, 'test');
  expect(await ensureJobQueue(nc, ACK_WAIT_S * 1000)).toBe(ACK_WAIT_S * 1000);
  expect(await ensureJobQueue(nc)).toBe(ACK_WAIT_S * 1000); // queuing jobs leaves it as it is
  await nc.close();
  work = mkdtempSync(join(tmpdir(), 'dasr-cluster-'));
  videos = VARIANTS.map((filter, i) => {
    const path = join(work, `video-${i}.mp4`);
    execFileSync('ffmpeg', ['-v', 'error', '-i', fixture('moving-object.mp4'), '-t', '3', '-vf', filter, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-an', path]);
    return path;
  });
}, 60_000);

afterAll(async () => {
  for (const worker of workers) worker.kill('SIGKILL');
  await Promise.all([nats?.stop(), postgres?.stop()]);
  rmSync(work, { recursive: true, force: true });
});

/** A fresh shared index: the previous test's tables go, and empty ones for 2048-d descriptors take their place. */
async function resetSharedIndex(): Promise<void> {
  await postgres.dropIndex();
  await (await PostgresRegionStore.open(postgres.url, { dim: 2048 })).close();
}

function startWorker(): DasrProcess {
  return startDasr([...DETECTOR, 'worker', '--nats', nats.url, '--index', postgres.url, '--ack-wait', String(ACK_WAIT_S), '--streams', '0'], workers);
}

async function queue(paths: readonly string[], indexing = INDEXING): Promise<void> {
  const run = await runCli(['index', '--nats', nats.url, ...paths, ...indexing]);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
}


const readyCount = async (): Promise<number> => Number((await postgres.query<{ n: string }>(`SELECT count(*) AS n FROM videos WHERE status = 'ready'`))[0]!.n);
const keyframeCount = async (): Promise<number> => Number((await postgres.query<{ n: string }>('SELECT count(*) AS n FROM keyframes'))[0]!.n);

/** A region row of either engine, with its video's path: the columns both schemas share. */
type RegionRow = Pick<StoredRegionRow, 't' | 'x1' | 'y1' | 'x2' | 'y2' | 'score' | 'track_id'> & { path: string };

/**
 * Every video's regions in order, rounded (a resumed run recomputes a keyframe, and threaded sums differ in the last
 * bits), with track ids renamed by first appearance: ids differ between indexes, the grouping must not.
 */
function canonical(rows: readonly RegionRow[]): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  const names = new Map<string, number>();
  for (const row of rows) {
    const key = `${row.path}#${row.track_id}`;
    if (row.track_id !== null && !names.has(key)) names.set(key, names.size);
    (out[row.path] ??= []).push({
      t: Number(row.t),
      box: [row.x1, row.y1, row.x2, row.y2].map((v) => Math.round(Number(v) * 10) / 10),
      score: Math.round(Number(row.score) * 1000) / 1000,
      track: row.track_id === null ? null : names.get(key),
    });
  }
  return out;
}

/** The same SQL reads both engines' tables. */
const ALL_REGIONS = 'SELECT v.path, k.t, r.x1, r.y1, r.x2, r.y2, r.score, r.track_id FROM regions r JOIN keyframes k ON k.id = r.keyframe_id JOIN videos v ON v.id = r.video_id ORDER BY v.path, k.t, r.id';
const sharedRegions = async () => canonical(await postgres.query<RegionRow>(ALL_REGIONS));

function embeddedRegions(dataDir: string): Record<string, unknown[]> {
  const db = new Database(join(dataDir, 'index.db'), { readonly: true });
  try {
    return canonical(db.prepare(ALL_REGIONS).all() as RegionRow[]);
  } finally {
    db.close();
  }
}

/** The same files indexed the single-machine way, with the same settings. */
async function embeddedIndex(paths: readonly string[], indexing = INDEXING): Promise<string> {
  const dataDir = join(work, `embedded-${Date.now()}`);
  const run = await runCli([...DETECTOR, 'index', ...paths, ...indexing, '--data', dataDir]);
  expect(run.code, run.stderr).toBe(0);
  return dataDir;
}

describe('cluster ingestion: NATS JetStream jobs, dasr worker processes, one PostgreSQL + pgvector index', () => {
  it('three workers index six videos: every keyframe once, the same regions, tracks and search results as dasr index', async () => {
    await resetSharedIndex();
    const pool = [startWorker(), startWorker(), startWorker()];
    const logs = () => pool.map((w) => w.log).join('\n');
    await queue(videos);
    const reference = await embeddedIndex(videos);
    await waitUntil('six videos are ready', async () => (await readyCount()) === 6, 240_000, logs);
    await Promise.all(pool.map((w) => stopDasr(w)));
    // Each finished job is reported by the worker that did it: the work was shared.
    const finished = pool.map((w) => (w.log.match(/: video \d+ (indexed|resumed),/g) ?? []).length);
    expect(finished.reduce((a, b) => a + b, 0)).toBe(6);
    expect(finished.filter((n) => n > 0).length).toBeGreaterThanOrEqual(2);

    const expected = embeddedRegions(reference);
    expect(Object.keys(expected)).toHaveLength(6);
    expect(Object.values(expected).every((regions) => regions.length > 0)).toBe(true);
    expect(await sharedRegions()).toEqual(expected);
    const perVideo = await postgres.query<{ path: string; n: string; distinct_t: string }>('SELECT v.path, count(*) AS n, count(DISTINCT k.t) AS distinct_t FROM keyframes k JOIN videos v ON v.id = k.video_id GROUP BY v.path');
    expect(perVideo).toHaveLength(6);
    for (const row of perVideo) expect(row.n).toBe(row.distinct_t);

    // Search: the same queries on both indexes rank the same regions, scores within half-precision rounding.
    const quiet = createLogger('error');
    const embedded = await IndexStore.open(reference, { access: 'read', logger: quiet });
    const shared = await PostgresRegionStore.open(postgres.url);
    try {
      const ids = embedded.db.regionIds();
      for (const probe of [ids[0]!, ids[ids.length >> 1]!, ids.at(-1)!]) {
        const query = embedded.db.features([probe]).get(probe)!;
        const [local, remote] = await Promise.all([embedded.search(query, 10), shared.search(query, 10)]);
        const place = async (store: 'local' | 'remote', hits: typeof local) => {
          const paths = new Map<number, string>();
          for (const hit of hits) paths.set(hit.videoId, store === 'local' ? embedded.db.getVideo(hit.videoId)!.path : (await shared.getVideo(hit.videoId))!.path);
          return hits.map((h) => ({ path: paths.get(h.videoId), t: h.t, box: h.box.map((v) => Math.round(v * 10) / 10) }));
        };
        // Rank by rank the same similarity; the same regions wherever the ranking is not a tie within rounding (a
        // still keyframe carries its regions' descriptors, so exact twins exist, and they may come in either order).
        remote.forEach((hit, i) => expect(Math.abs(hit.similarity - local[i]!.similarity)).toBeLessThanOrEqual(HALF_PRECISION));
        const clear = local.at(-1)!.similarity + HALF_PRECISION;
        const clearOf = async (store: 'local' | 'remote', hits: typeof local) =>
          (await place(store, hits)).filter((_, i) => hits[i]!.similarity > clear).map((p) => JSON.stringify(p)).sort();
        const placesLocal = await clearOf('local', local);
        expect(placesLocal.length).toBeGreaterThan(0);
        expect(await clearOf('remote', remote)).toEqual(placesLocal);
      }
    } finally {
      await embedded.close({ saveVectors: false });
      await shared.close();
    }

    // dasr search on the cluster's index finds what it finds on the embedded one (query expansion included).
    const query = [...DETECTOR, 'search', fixture('moving-object-query.png'), '--top', '3', '--json'];
    const [fromShared, fromEmbedded] = await Promise.all([runCli([...query, '--index', postgres.url]), runCli([...query, '--data', reference])]);
    expect(fromShared.code, fromShared.stderr).toBe(0);
    const top = (run: { stdout: string }) => (JSON.parse(run.stdout) as { hits: { path: string; score: number; best: { t: number } }[] }).hits[0]!;
    expect(top(fromShared)).toMatchObject({ path: top(fromEmbedded).path, best: { t: top(fromEmbedded).best.t } });
    expect(Math.abs(top(fromShared).score - top(fromEmbedded).score)).toBeLessThanOrEqual(5e-3);

    // dasr videos and dasr rm on the cluster's index.
    const listed = async () => JSON.parse((await runCli(['videos', '--index', postgres.url, '--json'])).stdout) as { id: number; path: string; status: string; keyframes: number }[];
    const before = await listed();
    expect(before.map((v) => [v.path, v.status]).sort()).toEqual(videos.map((path) => [path, 'ready']).sort());
    expect(before.reduce((sum, v) => sum + v.keyframes, 0)).toBe(await keyframeCount());
    const removed = await runCli(['rm', String(before[0]!.id), '--index', postgres.url]);
    expect(removed).toMatchObject({ code: 0, stdout: `removed video ${before[0]!.id}\n` });
    expect((await listed()).map((v) => v.id)).toEqual(before.slice(1).map((v) => v.id));
    expect(await runCli(['rm', String(before[0]!.id), '--index', postgres.url])).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`no video ${before[0]!.id} in postgres://`)) });
  }, 300_000);

  it('a worker killed with SIGKILL mid-video: another takes the job over and resumes it, no keyframe missing or twice', async () => {
    await resetSharedIndex();
    // The whole fixture at 4 keyframes/s: 24 keyframes, so the kill lands mid-video.
    const video = fixture('moving-object.mp4');
    const dense = ['--interval', '0.25'];
    const first = startWorker();
    await queue([video], dense);
    await waitUntil('the first worker committed a keyframe', async () => (await keyframeCount()) >= 1, 120_000, () => first.log);
    await stopDasr(first, 'SIGKILL');
    const atKill = { keyframes: await keyframeCount(), ready: await readyCount() };
    const second = startWorker();
    await waitUntil('the video is ready', async () => (await readyCount()) === 1, 120_000, () => `${first.log}\n${second.log}`);
    await stopDasr(second);
    // The second worker resumed the job (it reports it so), from the keyframe after the last one committed.
    expect(second.log).toMatch(/: video \d+ resumed,/);

    const reference = await embeddedIndex([video], dense);
    expect(atKill.ready).toBe(0);
    expect(atKill.keyframes).toBeGreaterThanOrEqual(1);
    expect(await sharedRegions()).toEqual(embeddedRegions(reference));
  }, 300_000);

  it('a video queued in time ranges (--split) is indexed by several workers into one video: the keyframes and regions of dasr index', async () => {
    await resetSharedIndex();
    const pool = [startWorker(), startWorker()];
    const logs = () => pool.map((w) => w.log).join('\n');
    const video = videos[0]!;
    const queued = await runCli(['index', '--nats', nats.url, video, ...INDEXING, '--split', '1']);
    expect(queued).toMatchObject({ code: 0, stderr: '' });
    expect(queued.stdout.trim().split('\n')).toEqual([0, 1, 2].map((i) => `${video}: queued (range ${i + 1} of 3, from ${i}.000 s)`));
    expect(await runCli(['index', '--nats', nats.url, video, '--interval', '0.4', '--split', '1'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/--split 1 is not a whole number of --interval 0.4/) });
    expect(await runCli(['index', video, '--split', '1'])).toMatchObject({ code: 1, stderr: expect.stringMatching(/--split .* needs --nats/) });

    const reference = await embeddedIndex([video]);
    await waitUntil('the video is ready', async () => (await readyCount()) === 1, 240_000, logs);
    await Promise.all(pool.map((w) => stopDasr(w)));
    // Each range was a job of its own, reported by the worker that finished it.
    expect((logs().match(/ \(range \d of 3\): video \d+ (indexed|resumed),/g) ?? []).sort()).toHaveLength(3);
    const untracked = (regions: Record<string, unknown[]>) => Object.fromEntries(Object.entries(regions).map(([path, rows]) => [path, rows.map((row) => ({ ...(row as object), track: undefined }))]));
    expect(untracked(await sharedRegions())).toEqual(untracked(embeddedRegions(reference)));
    expect(await postgres.query('SELECT range_index FROM finished_ranges ORDER BY range_index')).toEqual([{ range_index: 0 }, { range_index: 1 }, { range_index: 2 }]);
  }, 300_000);

  it('nats-server restarted during ingestion: the workers reconnect and every queued video is indexed', async () => {
    await resetSharedIndex();
    const worker = startWorker();
    const pair = videos.slice(1, 3);
    await queue(pair);
    await waitUntil('ingestion started', async () => (await keyframeCount()) >= 1, 120_000, () => worker.log);
    await nats.restart({ crash: true, downMs: 500 });
    // The restart came mid-ingestion: not every queued video was indexed yet (the second waits in the stream).
    expect(await readyCount()).toBeLessThan(2);
    await waitUntil('both videos are ready', async () => (await readyCount()) === 2, 180_000, () => worker.log);
    await stopDasr(worker);
    expect(await sharedRegions()).toEqual(embeddedRegions(await embeddedIndex(pair)));
  }, 300_000);
});
