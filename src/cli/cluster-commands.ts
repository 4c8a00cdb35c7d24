import { hostname } from 'node:os';
import { resolve } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { probeVideo } from '../decode/probe.js';
import type { Box } from '../detect/box.js';
import type { DetectorThread } from '../detect/detector-thread.js';
import { decodeImage } from '../image/load.js';
import { connectNats, ensureJobQueue, enqueueJobs, type IngestJob } from '../cluster/job-queue.js';
import { ensureLiveFanout, followLiveKeyframes } from '../cluster/live-fanout.js';
import { registerStream, stopStream } from '../cluster/cluster-streams.js';
import { splitFile } from '../ingest/ingest-file.js';
import { holdStreams } from '../cluster/stream-holder.js';
import { StreamLeases } from '../cluster/stream-leases.js';
import { runWorker } from '../cluster/worker.js';
import type { RecordingOptions } from '../record/live-recording.js';
import { interruptSignal } from './interrupt.js';
import { LiveMatcher, type LiveEvent } from '../live/live-matcher.js';
import { openRegionStore, openExistingRegionStore } from '../index/open-store.js';
import { PostgresRegionStore, redactPassword } from '../index/postgres-store.js';
import { isPostgresLocation, type RegionStore } from '../index/region-store.js';
import { describeQuery, typicalFrameSize } from '../search/describe-query.js';
import { parseSource } from '../source/source-spec.js';

/**
 * `dasr index … --nats`: every file is checked here, then queued for the workers (who must see it at the same path):
 * one job per file, or with `split` one per range of that many seconds, so that several workers index one video.
 */
export async function enqueueCommand(inputs: readonly string[], options: { nats: string; interval: number; scene: number; still: number; force?: boolean; split?: number }): Promise<void> {
  const { split } = options;
  if (split !== undefined) {
    if (options.force) throw new Error('--split and --force do not go together: delete the video first (dasr rm), then queue it again');
    // A range must begin on the keyframe grid, so that the ranges keep the keyframes a whole decode keeps.
    const intervals = split / options.interval;
    if (options.interval > 0 && Math.abs(intervals - Math.round(intervals)) > 1e-9) throw new Error(`--split ${split} is not a whole number of --interval ${options.interval} keyframe intervals`);
  }
  const jobs: IngestJob[] = [];
  for (const input of inputs) {
    if (parseSource(input).kind !== 'file') throw new Error(`${input}: cluster mode queues video files; follow a live stream with dasr index --data or dasr serve`);
    const info = await probeVideo(input);
    const job: IngestJob = { path: resolve(input), interval: options.interval, sceneThreshold: options.scene, stillThreshold: options.still, force: options.force ?? false };
    const ranges = split === undefined ? [] : splitFile(info.duration, split);
    if (ranges.length > 1) for (const range of ranges) jobs.push({ ...job, range });
    else jobs.push(job);
  }
  const nc = await connectNats(options.nats, 'dasr index');
  try {
    await ensureJobQueue(nc);
    await enqueueJobs(nc, jobs);
  } finally {
    await nc.close();
  }
  for (const job of jobs) process.stdout.write(`${job.path}: queued${job.range ? ` (range ${job.range.index + 1} of ${job.range.count}, from ${(job.range.index * job.range.seconds).toFixed(3)} s)` : ''}\n`);
}

/**
 * `dasr worker`: pulls ingest jobs into the index and follows up to `streams` live streams, until Ctrl-C or SIGTERM,
 * which give the job in hand back to the queue and hand the streams over to other workers.
 */
export async function workerCommand(
  startDasr: () => Promise<DetectorThread>,
  options: { nats: string; index: string; ackWait?: number; streams: number; record?: RecordingOptions },
): Promise<void> {
  const nc = await connectNats(options.nats, 'dasr worker');
  const interrupt = interruptSignal();
  try {
    // The worker signals progress at a third of the ack wait in force, whoever set it.
    const ackWaitMs = await ensureJobQueue(nc, options.ackWait === undefined ? undefined : options.ackWait * 1000);
    // Streams are registered in a cluster index only (dasr stream add): a worker on a data directory has none to follow.
    const followsStreams = options.streams > 0 && isPostgresLocation(options.index);
    const leases = followsStreams ? await StreamLeases.open(nc) : null;
    if (followsStreams) await ensureLiveFanout(nc);
    const dasr = await startDasr();
    try {
      const store = await openRegionStore(options.index, { dim: dasr.featureDim, writer: 'dasr worker' });
      try {
        const recorded = options.record ? `, recorded into ${options.record.dataDir}` : '';
        const streams = leases ? `, and follows up to ${options.streams} live stream${options.streams === 1 ? '' : 's'}${recorded}` : '';
        process.stderr.write(`worker: indexing jobs from ${options.nats} into ${redactPassword(options.index)}${streams}; Ctrl-C stops\n`);
        // Either part failing stops the other, so that the worker ends instead of half-running.
        const stopOthersOnFailure = (work: Promise<void>): Promise<void> =>
          work.catch((error: unknown) => {
            interrupt.abort();
            throw error;
          });
        const outcomes = await Promise.allSettled([
          stopOthersOnFailure(runWorker({
            nc,
            store,
            detector: dasr,
            signal: interrupt.signal,
            ackWaitMs,
            onJob: (job, { result }) => {
              const part = job.range ? ` (range ${job.range.index + 1} of ${job.range.count})` : '';
              if (result) process.stderr.write(`${job.path}${part}: video ${result.videoId} ${result.status}, ${result.keyframes} keyframes, ${result.regions} regions\n`);
            },
          })),
          leases ? stopOthersOnFailure(holdStreams({ nc, store, detector: dasr, leases, holder: `${hostname()}:${process.pid}`, maxStreams: options.streams, signal: interrupt.signal, live: { record: options.record } })) : Promise.resolve(),
        ]);
        const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
        if (failed) throw failed.reason;
      } finally {
        await store.close();
      }
    } finally {
      await dasr.terminate();
    }
  } finally {
    interrupt.release();
    await nc.close();
  }
}

/** The cluster index a stream command works on (streams exist only there: the embedded service keeps its own). */
async function openClusterIndex(location: string): Promise<RegionStore> {
  if (!isPostgresLocation(location)) throw new Error('dasr stream manages the streams of a cluster index (postgres://…); the embedded service takes streams through its API');
  return PostgresRegionStore.open(location, { create: false });
}

/** `dasr stream add`: registers a live stream; a worker with room takes it up within a second or so. */
export async function streamAddCommand(url: string, options: { index: string; interval: number }): Promise<void> {
  if (parseSource(url).kind === 'file') throw new Error(`${url} is a file: queue it with dasr index --nats`);
  if (!(options.interval > 0)) throw new Error('--interval must be above 0 seconds for a live stream');
  const store = await openClusterIndex(options.index);
  try {
    const video = await registerStream(store, url, { interval: options.interval });
    process.stdout.write(`stream ${video.id}: ${url}, a keyframe every ${options.interval} s; the workers take it up\n`);
  } finally {
    await store.close();
  }
}

/** `dasr stream stop`: the stream's worker lets it go; what was indexed stays searchable. */
export async function streamStopCommand(ids: readonly number[], options: { index: string }): Promise<void> {
  const store = await openClusterIndex(options.index);
  try {
    for (const id of ids) {
      if (!(await stopStream(store, id))) throw new Error(`no live stream ${id} is being followed in this index`);
      process.stdout.write(`stream ${id}: stopped\n`);
    }
  } finally {
    await store.close();
  }
}

/** `dasr stream list`: the streams being followed, with their holders when NATS is given. */
export async function streamListCommand(options: { index: string; nats?: string; json?: boolean }): Promise<void> {
  const store = await openClusterIndex(options.index);
  let nc: NatsConnection | null = null;
  try {
    const videos = await store.liveVideosIndexing();
    let holders = new Map<number, string>();
    if (options.nats) {
      nc = await connectNats(options.nats, 'dasr stream list');
      holders = await (await StreamLeases.open(nc)).holders();
    }
    const rows = await Promise.all(
      videos.map(async (v) => ({ id: v.id, url: v.path, since: new Date(v.createdAt).toISOString(), keyframes: (await store.videoSummary(v.id))?.keyframeCount ?? 0, holder: options.nats ? holders.get(v.id) ?? null : undefined })),
    );
    if (options.json) {
      process.stdout.write(`${JSON.stringify(rows)}\n`);
      return;
    }
    if (rows.length === 0) process.stdout.write('no live stream is being followed\n');
    for (const r of rows) process.stdout.write(`${r.id}\t${r.url}\t${r.keyframes} keyframes since ${r.since}${r.holder === undefined ? '' : `\t${r.holder ?? 'waiting for a worker'}`}\n`);
  } finally {
    await nc?.close();
    await store.close();
  }
}

/**
 * `dasr watch`: a standing query from the command line. The object is described here, then every live keyframe the
 * workers publish is matched against it; each match and each end of an appearance is printed as a JSON line, until
 * Ctrl-C.
 */
export async function watchCommand(
  startDasr: () => Promise<DetectorThread>,
  imagePath: string,
  options: { nats: string; index: string; box?: Box; threshold: number; stream?: number[] },
): Promise<void> {
  if (!isPostgresLocation(options.index)) throw new Error('dasr watch follows the live streams of a cluster (--index postgres://…); the embedded service has WebSocket subscriptions');
  const image = await decodeImage(imagePath);
  const store = await openExistingRegionStore(options.index);
  const nc = await connectNats(options.nats, 'dasr watch');
  const interrupt = interruptSignal();
  try {
    const dasr = await startDasr();
    let vector: Float32Array;
    try {
      vector = await describeQuery(dasr, image, options.box, await typicalFrameSize(store, options.stream));
    } finally {
      await dasr.terminate();
    }
    if (vector.length !== store.dim) throw new Error(`the query descriptor is ${vector.length}-d but the index holds ${store.dim}-d descriptors: watch with the --whitening (or none) the workers use`);
    const matcher = new LiveMatcher(store.dim);
    matcher.add({ id: 'watch', vector, threshold: options.threshold, streams: options.stream ?? null, updates: false });
    await ensureLiveFanout(nc);
    process.stderr.write(`watch: matching the live streams at cosine ≥ ${options.threshold}; Ctrl-C stops\n`);
    await followLiveKeyframes(nc, async (keyframe) => {
      for (const event of await matcher.offer(keyframe)) process.stdout.write(`${JSON.stringify(watchEvent(event))}\n`);
    }, interrupt.signal);
  } finally {
    interrupt.release();
    await nc.close();
    await store.close();
  }
}

function watchEvent(event: LiveEvent): Record<string, unknown> {
  const round = (x: number, digits: number): number => Math.round(x * 10 ** digits) / 10 ** digits;
  if (event.kind === 'ended') return { type: 'ended', appearance: event.appearance, stream: event.streamId, tracks: event.trackIds, start: round(event.firstT, 3), end: round(event.lastT, 3), bestScore: round(event.bestScore, 4) };
  return {
    type: event.kind,
    appearance: event.appearance,
    stream: event.streamId,
    track: event.trackId,
    region: event.regionId,
    t: round(event.t, 3),
    frameTime: new Date(event.receivedAt).toISOString(),
    box: event.box.map((v) => round(v, 1)),
    score: round(event.score, 4),
  };
}
