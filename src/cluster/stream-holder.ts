/**
 * A worker's share of the cluster's live streams. The streams are the index's live videos still indexing (`dasr
 * stream add` registers one); each is followed by exactly one worker at a time, the holder of its lease
 * (stream-leases.ts). Leases are renewed on their own clock, all at once, so that nothing the worker does delays
 * them. Every second the worker also drops the streams that were stopped or failed and takes free ones up to its
 * capacity, continuing each as the same video from its last committed keyframe. Each analysed keyframe is
 * committed, then published for the API replicas (live-fanout.ts), in order.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Detector } from '../detect/detector.js';
import type { RegionStore } from '../index/region-store.js';
import type { VideoRecord } from '../index/database.js';
import { LiveIngestion, type LiveOptions } from '../ingest/ingest-live.js';
import { SourceError } from '../source/source-spec.js';
import { ageRecordings } from '../record/live-recording.js';
import { defaultLogger, type Logger } from '../log.js';
import { streamHostPolicy, streamInterval, streamProtocols } from './cluster-streams.js';
import { publishLiveKeyframe } from './live-fanout.js';
import { RENEWALS_PER_TTL, type StreamLease, type StreamLeases } from './stream-leases.js';

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
  /**
   * ingestion settings of this worker (a stream's keyframe interval is the stream's own); with `record`, the streams
   * are recorded into a data directory the API replicas share, so that live hits have clips
   */
  live?: Pick<LiveOptions, 'sceneThreshold' | 'stillThreshold' | 'ioTimeoutMs' | 'stallTimeoutMs' | 'backoff' | 'record'>;
  logger?: Logger;
}

/** How often the worker looks for stopped, failed and free streams. */
const LOOK_EVERY_MS = 1_000;

interface Held {
  lease: StreamLease;
  ingestion: LiveIngestion;
  /** the keyframes published so far, one after another */
  published: Promise<void>;
  renewing: boolean;
}

/** Follows streams until `signal` ends it; then hands each over and releases its lease. */
export async function holdStreams(options: StreamHolderOptions): Promise<void> {
  const logger = options.logger ?? defaultLogger;
  const held = new Map<number, Held>();
  const leaving = new Set<Promise<void>>();
  /** Stops following a stream at once (it leaves `held` now); hands it over and releases its lease in the background. */
  const drop = (videoId: number, why: string): void => {
    const entry = held.get(videoId);
    if (!entry) return;
    held.delete(videoId);
    logger.info(`stream ${videoId}: ${why}`);
    const left = (async () => {
      await entry.ingestion.handOver().catch((error: unknown) => logger.warn(`stream ${videoId}: hand-over: ${error instanceof Error ? error.message : String(error)}`));
      await entry.published;
      await entry.lease.release().catch((error: unknown) => logger.warn(`stream ${videoId}: lease not released (${String(error)}); it expires`));
    })();
    leaving.add(left);
    void left.finally(() => leaving.delete(left));
  };
  const renewals = setInterval(() => {
    for (const [videoId, entry] of held) {
      if (entry.renewing) continue;
      entry.renewing = true;
      void entry.lease.renew().then((kept) => {
        entry.renewing = false;
        if (!kept && held.get(videoId) === entry) drop(videoId, 'lease lost; another worker follows it');
      });
    }
  }, options.leases.ttlMs / RENEWALS_PER_TTL);
  const record = options.live?.record;
  const aging = record ? ageRecordings(options.store, record, logger) : null;

  try {
    while (!options.signal.aborted) {
      for (const [videoId, entry] of held) {
        if (entry.ingestion.state === 'superseded') {
          drop(videoId, 'taken over by another worker');
          continue;
        }
        // A renewal in flight is awaited at the next look: two at once would each see the other's revision.
        if (entry.ingestion.state !== 'failed' || entry.renewing) continue;
        const error = entry.ingestion.counters.lastError ?? 'failed';
        // Only its holder ends a stream: a holder that was frozen past its lease lets it go without a word.
        // (`renewing` stays set: a renewal started now would leave the release below a stale revision.)
        entry.renewing = true;
        const holding = await entry.lease.renew();
        if (holding) await options.store.setVideoStatus(videoId, 'failed', error).catch((e: unknown) => logger.warn(`stream ${videoId}: not marked failed (${String(e)})`));
        drop(videoId, `failed: ${error}`);
      }
      let wanted: VideoRecord[] | null = null;
      try {
        wanted = await options.store.liveVideosIndexing();
      } catch (error) {
        logger.warn(`streams: the index is unreachable (${error instanceof Error ? error.message : String(error)}); looking again`);
      }
      if (wanted) {
        const ids = new Set(wanted.map((v) => v.id));
        for (const videoId of [...held.keys()]) if (!ids.has(videoId)) drop(videoId, 'stopped');
        for (const video of wanted) {
          if (held.size >= options.maxStreams || options.signal.aborted) break;
          if (held.has(video.id)) continue;
          const entry = await takeStream(video, options, logger);
          if (entry) held.set(video.id, entry);
        }
      }
      await delay(LOOK_EVERY_MS, undefined, { signal: options.signal }).catch(() => undefined); // an abort ends the wait
    }
  } finally {
    clearInterval(renewals);
    // The streams first: their leases are no longer renewed, and a retention run may outlast them.
    for (const videoId of [...held.keys()]) drop(videoId, 'handed over (worker stopping)');
    await Promise.all([...leaving, aging?.stop()]);
  }
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
  try {
    const ingestion = await LiveIngestion.open(video.path, options.detector, options.store, {
      ...options.live,
      interval: streamInterval(video),
      hostPolicy: streamHostPolicy(video),
      allowedProtocols: streamProtocols(video),
      continueVideo: video.id,
      logger,
    });
    const entry: Held = { lease, ingestion, published: Promise.resolve(), renewing: false };
    ingestion.keyframes$.subscribe((keyframe) => {
      entry.published = entry.published.then(() =>
        publishLiveKeyframe(options.nc, keyframe).catch((error: unknown) => logger.warn(`stream ${video.id}: keyframe at t = ${keyframe.t.toFixed(2)} s not published (${String(error)})`)),
      );
    });
    ingestion.start();
    logger.info(`stream ${video.id}: following ${video.path}`);
    return entry;
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
