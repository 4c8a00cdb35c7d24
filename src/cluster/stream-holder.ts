/**
 * A worker's share of the cluster's live streams. The streams are the index's live videos still indexing (`dasr
 * stream add` registers one); each is followed by exactly one worker at a time, the holder of its lease
 * (stream-leases.ts). Every second a worker renews its leases, drops the streams it lost or that were stopped, and
 * takes free ones up to its capacity, continuing each as the same video from its last committed keyframe. Each
 * analysed keyframe is committed, then published for the API replicas (live-fanout.ts).
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Detector } from '../detect/detector.js';
import type { RegionStore } from '../index/region-store.js';
import type { VideoRecord } from '../index/database.js';
import { LiveIngestion, type LiveOptions } from '../ingest/ingest-live.js';
import { SourceError } from '../source/source-spec.js';
import { defaultLogger, type Logger } from '../log.js';
import { publishLiveKeyframe } from './live-fanout.js';
import type { StreamLease, StreamLeases } from './stream-leases.js';

export interface StreamHolderOptions {
  nc: NatsConnection;
  store: RegionStore;
  detector: Detector;
  leases: StreamLeases;
  /** this worker's name in the leases (host and process) */
  holder: string;
  /** the most streams this worker follows at once */
  maxStreams: number;
  /** ends the holder: its streams are handed over (their leases released) */
  signal: AbortSignal;
  /** ingestion settings of this worker (a stream's keyframe interval is the stream's own) */
  live?: Pick<LiveOptions, 'sceneThreshold' | 'stillThreshold' | 'ioTimeoutMs' | 'stallTimeoutMs' | 'backoff'>;
  logger?: Logger;
}

/** Keyframe interval of a stream registered without one. */
const DEFAULT_STREAM_INTERVAL = 1;

interface Held {
  lease: StreamLease;
  ingestion: LiveIngestion;
}

/** Follows streams until `signal` ends it; then hands each over and releases its lease. */
export async function holdStreams(options: StreamHolderOptions): Promise<void> {
  const logger = options.logger ?? defaultLogger;
  const held = new Map<number, Held>();
  const tickMs = Math.min(1_000, options.leases.ttlMs / 3);
  const drop = async (videoId: number, why: string): Promise<void> => {
    const entry = held.get(videoId)!;
    held.delete(videoId);
    logger.info(`stream ${videoId}: ${why}`);
    await entry.ingestion.handOver();
    await entry.lease.release().catch((error: unknown) => logger.warn(`stream ${videoId}: lease not released (${String(error)}); it expires`));
  };

  while (!options.signal.aborted) {
    for (const [videoId, entry] of held) {
      if (!(await entry.lease.renew())) {
        await drop(videoId, 'lease lost; another worker follows it');
      } else if (entry.ingestion.state === 'failed') {
        const error = entry.ingestion.counters.lastError ?? 'failed';
        await options.store.setVideoStatus(videoId, 'failed', error).catch((e: unknown) => logger.warn(`stream ${videoId}: not marked failed (${String(e)})`));
        await drop(videoId, `failed: ${error}`);
      }
    }
    let wanted: VideoRecord[] | null = null;
    try {
      wanted = await options.store.liveVideosIndexing();
    } catch (error) {
      logger.warn(`streams: the index is unreachable (${error instanceof Error ? error.message : String(error)}); looking again`);
    }
    if (wanted) {
      const ids = new Set(wanted.map((v) => v.id));
      for (const videoId of [...held.keys()]) if (!ids.has(videoId)) await drop(videoId, 'stopped');
      for (const video of wanted) {
        if (held.size >= options.maxStreams || options.signal.aborted) break;
        if (held.has(video.id)) continue;
        const entry = await takeStream(video, options, logger);
        if (entry) held.set(video.id, entry);
      }
    }
    await delay(tickMs, undefined, { signal: options.signal }).catch(() => undefined); // an abort ends the wait
  }
  for (const videoId of [...held.keys()]) await drop(videoId, 'handed over (worker stopping)');
}

/** Takes a free stream's lease and starts following it; null when another worker holds it or it cannot start. */
async function takeStream(video: VideoRecord, options: StreamHolderOptions, logger: Logger): Promise<Held | null> {
  let lease: StreamLease | null;
  try {
    lease = await options.leases.take(video.id, options.holder);
  } catch (error) {
    logger.warn(`stream ${video.id}: lease not taken (${error instanceof Error ? error.message : String(error)})`);
    return null;
  }
  if (!lease) return null;
  const interval = (video.config as { interval?: unknown } | null)?.interval;
  try {
    const ingestion = await LiveIngestion.open(video.path, options.detector, options.store, {
      ...options.live,
      interval: typeof interval === 'number' && interval > 0 ? interval : DEFAULT_STREAM_INTERVAL,
      continueVideo: video.id,
      logger,
    });
    ingestion.keyframes$.subscribe((keyframe) => {
      publishLiveKeyframe(options.nc, keyframe).catch((error: unknown) => logger.warn(`stream ${video.id}: keyframe at t = ${keyframe.t.toFixed(2)} s not published (${String(error)})`));
    });
    ingestion.start();
    logger.info(`stream ${video.id}: following ${video.path}`);
    return { lease, ingestion };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof SourceError) {
      // No worker could follow it: it fails here rather than going from worker to worker.
      await options.store.setVideoStatus(video.id, 'failed', message).catch(() => undefined);
    }
    logger.warn(`stream ${video.id}: not started (${message})`);
    await lease.release().catch(() => undefined);
    return null;
  }
}
