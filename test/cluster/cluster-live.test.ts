/**
 * Live streams in cluster mode on this machine: a camera on loopback (LivePublisher), NATS with JetStream, the
 * shared index (PGlite over the wire protocol), two `dasr worker` processes and a `dasr watch` standing query. The
 * stream is registered with `dasr stream add`; one worker holds it; that worker is killed; the other takes the
 * stream over and continues the same video, and its keyframes keep reaching the watchers.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/cluster/job-queue.js';
import { ensureLiveFanout, followLiveKeyframes, type FannedKeyframe } from '../../src/cluster/live-fanout.js';
import { DEFAULT_LEASE_TTL_MS, StreamLeases } from '../../src/cluster/stream-leases.js';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { dot } from '../../src/detect/vector.js';
import { decodeImage } from '../../src/image/load.js';
import { PostgresRegionStore } from '../../src/index/postgres-store.js';
import { describeQuery } from '../../src/search/describe-query.js';
import { runCli } from '../support/cli.js';
import { startDasr, stopDasr, waitUntil, type DasrProcess } from '../support/dasr-process.js';
import { LivePublisher } from '../support/live-publisher.js';
import { startNatsServer, type NatsServer } from '../support/nats-server.js';
import { startTestPostgres, type TestPostgres } from '../support/test-postgres.js';
import { fixture } from '../video/fixtures.js';

// As in the service's live test: at long side 384 with 6 peaks the fixture object's regions score ≥ 0.65 against
// its crop and every other region ≤ 0.54, so 0.6 separates them.
const DETECTOR = ['--long-side', '384', '--max-peaks', '6'];
const THRESHOLD = 0.6;
const QUERY = fixture('moving-object-query.png');
/** the fixture's frame size: the scale a crop query is described at */
const FRAME = { width: 640, height: 360 };
/**
 * What the test allows between the kill and the first keyframe the other worker analyses: the lease's TTL, a
 * second for the other worker to look, then its connection to the camera, probe and first DASR pass, on a machine
 * that also runs a watcher and this test.
 */
const TAKEOVER_BOUND_MS = DEFAULT_LEASE_TTL_MS + 12_000;

let nats: NatsServer;
let postgres: TestPostgres;
let publisher: LivePublisher;
let query: Float32Array;
const running = new Set<ChildProcess>();
const dirs: string[] = [];

beforeAll(async () => {
  [nats, postgres] = await Promise.all([startNatsServer(), startTestPostgres()]);
  await (await PostgresRegionStore.open(postgres.url, { dim: 2048 })).close();
  publisher = new LivePublisher(fixture('moving-object.mp4'));
  await publisher.start();
  const dasr = await DetectorThread.start({ backbone: {}, config: { longSide: 384, maxPeaks: 6 }, logLevel: 'error' });
  try {
    query = await describeQuery(dasr, await decodeImage(QUERY), undefined, FRAME);
  } finally {
    await dasr.close();
  }
}, 60_000);

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await publisher?.stop();
  await Promise.all([nats?.stop(), postgres?.stop()]);
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Holder {
  id: number;
  url: string;
  keyframes: number;
  holder: string | null;
}

async function streams(): Promise<Holder[]> {
  const run = await runCli(['stream', 'list', '--index', postgres.url, '--nats', nats.url, '--json']);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Holder[];
}

describe('cluster live streams: one worker per stream, taken over when it dies, keyframes fanned out to watchers', () => {
  it('a killed worker\'s stream is continued by the other worker as the same video, and the watchers keep receiving its keyframes, through a NATS restart too', async () => {
    // Both workers record the streams they follow into one directory, as workers on shared storage do.
    const data = mkdtempSync(join(tmpdir(), 'dasr-cluster-recordings-'));
    dirs.push(data);
    const workers = [0, 1].map(() => startDasr([...DETECTOR, 'worker', '--nats', nats.url, '--index', postgres.url, '--streams', '1', '--data', data], running));
    const logs = (): string => [...workers, watch].map((p) => p.log).join('\n');
    const watch: DasrProcess = startDasr([...DETECTOR, 'watch', QUERY, '--nats', nats.url, '--index', postgres.url, '--threshold', String(THRESHOLD)], running);

    // What any API replica would see: every keyframe published from now on.
    const nc = await connectNats(nats.url, 'test');
    await ensureLiveFanout(nc);
    const received: (FannedKeyframe & { at: number })[] = [];
    const abort = new AbortController();
    const following = followLiveKeyframes(nc, (k) => void received.push({ ...k, at: Date.now() }), abort.signal);
    try {
      const added = await runCli(['stream', 'add', publisher.url, '--index', postgres.url, '--interval', '0.5']);
      expect(added.code, added.stderr).toBe(0);
      const id = Number(/^stream (\d+):/.exec(added.stdout)?.[1]);
      expect(await runCli(['stream', 'add', fixture('moving-object.mp4'), '--index', postgres.url])).toMatchObject({ code: 1, stderr: expect.stringMatching(/is a file: queue it with dasr index --nats/) });
      expect(await runCli(['rm', String(id), '--index', postgres.url])).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`video ${id} is being indexed: stop the stream first \\(dasr stream stop ${id}\\)`)) });

      await waitUntil('the watcher printed a match', async () => /"type":"match"/.test(watch.out), 120_000, logs);
      const [held] = await streams();
      expect(held).toMatchObject({ id, url: publisher.url, holder: expect.stringMatching(/:\d+$/) });
      const holderPid = Number(held!.holder!.split(':').at(-1));
      const victim = workers.find((w) => w.pid === holderPid)!;
      const survivor = workers.find((w) => w !== victim)!;
      expect(victim).toBeDefined();
      expect(received.length).toBeGreaterThan(0);
      expect(received.every((k) => k.videoId === id && k.streamId === id)).toBe(true);

      await stopDasr(victim, 'SIGKILL');
      const killedAt = Date.now();
      const lastBefore = received.at(-1)!;
      await waitUntil('the other worker analysed a keyframe', async () => received.some((k) => k.processedAt > killedAt), TAKEOVER_BOUND_MS, logs);
      const firstAfter = received.find((k) => k.processedAt > killedAt)!;
      console.log(`takeover: first keyframe of the other worker processed ${firstAfter.processedAt - killedAt} ms after the kill (bound ${TAKEOVER_BOUND_MS} ms)`);
      expect(firstAfter.t).toBeGreaterThan(lastBefore.t);
      expect((await streams())[0]).toMatchObject({ id, holder: expect.stringMatching(new RegExp(`:${survivor.pid}$`)) });
      // The object comes back into view every 6 s: a region of the continued stream matches the query again.
      await waitUntil('a keyframe after the takeover matched the query', async () => received.some((k) => k.processedAt > killedAt && k.regions.some((r) => dot(r.feature, query) >= THRESHOLD)), 30_000, logs);

      // nats-server restarted under the stream: the holder keeps (or retakes) it and the fan-out goes on.
      await nats.restart({ downMs: 1_000 });
      const restartedAt = Date.now();
      await waitUntil('keyframes flow again after the NATS restart', async () => received.some((k) => k.processedAt > restartedAt), 30_000, logs);
      console.log(`NATS restart: the first keyframe after it reached the consumer ${received.find((k) => k.processedAt > restartedAt)!.at - restartedAt} ms after the server was back`);

      const leases = await StreamLeases.open(nc);
      const stopped = await runCli(['stream', 'stop', String(id), '--index', postgres.url]);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(await runCli(['stream', 'stop', String(id), '--index', postgres.url])).toMatchObject({ code: 1, stderr: expect.stringMatching(new RegExp(`no live stream ${id}`)) });
      expect(await streams()).toEqual([]);
      await waitUntil('the worker let the stream go (its lease released)', async () => !(await leases.holders()).has(id), 10_000, logs);
      const settled = received.length;
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(received.length).toBe(settled);
      abort.abort();
      await following;
      await Promise.all([stopDasr(survivor), stopDasr(watch)]);

      // One video, every published keyframe committed once, in time order across both workers.
      const video = (await postgres.query<{ status: string; width: number; height: number }>(`SELECT status, width, height FROM videos WHERE id = ${id}`))[0];
      expect(video).toEqual({ status: 'ready', width: 640, height: 360 });
      const times = (await postgres.query<{ t: number }>(`SELECT t FROM keyframes WHERE video_id = ${id} ORDER BY id`)).map((r) => Number(r.t));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect(new Set(times).size).toBe(times.length);
      const published = received.map((k) => k.t);
      expect(published.filter((t) => !times.includes(t))).toEqual([]);

      // The recording: each writer recorded into folders of its own (named after its writer epoch), and the run's
      // segments, the killed worker's included (the one it was writing, committed by its successor), are files of
      // the shared directory placed on the run's timeline, where keyframes of both workers find a recorded span.
      const segments = (await postgres.query<{ path: string; t_start: number; t_end: number; bytes: number }>(`SELECT path, t_start, t_end, bytes FROM segments WHERE video_id = ${id} ORDER BY t_start`)).map((s) => ({
        path: s.path,
        tStart: Number(s.t_start),
        tEnd: Number(s.t_end),
        bytes: Number(s.bytes),
      }));
      const folders = new Set(segments.map((s) => dirname(s.path)));
      expect([...folders].every((f) => new RegExp(`^recordings/${id}/w\\d+-\\d+$`).test(f))).toBe(true);
      const epochOf = (folder: string) => Number(/\/w(\d+)-/.exec(folder)![1]);
      expect(new Set([...folders].map(epochOf)).size).toBeGreaterThanOrEqual(2);
      for (const segment of segments) expect(statSync(join(data, segment.path)).size).toBe(segment.bytes);
      // The killed worker, the stream's first writer, was writing a segment (in its last connection's folder) it never
      // listed nor committed: its successor committed it (or removed it, had it held nothing yet), so every file of
      // that folder is in the index.
      const connectionOf = (folder: string) => Number(/-(\d+)$/.exec(folder)![1]);
      const killedEpoch = Math.min(...[...folders].map(epochOf));
      const killedFolder = [...folders].filter((f) => epochOf(f) === killedEpoch).sort((a, b) => connectionOf(b) - connectionOf(a))[0]!;
      const files = readdirSync(join(data, killedFolder)).filter((f) => f.endsWith('.ts')).map((f) => `${killedFolder}/${f}`);
      expect(files.sort()).toEqual(segments.filter((s) => dirname(s.path) === killedFolder).map((s) => s.path).sort());
      const spanAt = (t: number) => segments.some((s) => s.tStart <= t && t < s.tEnd);
      expect(spanAt(lastBefore.t - 1)).toBe(true);
      expect(spanAt(firstAfter.t + 1)).toBe(true);

      // Removed from the index with the directory the workers recorded into, the run's recordings go too.
      expect(await runCli(['rm', String(id), '--index', postgres.url, '--data', data])).toMatchObject({ code: 0, stdout: `removed video ${id}\n` });
      expect(existsSync(join(data, 'recordings', String(id)))).toBe(false);
    } finally {
      abort.abort();
      await following.catch(() => undefined);
      await nc.close();
    }
  }, 300_000);
});
