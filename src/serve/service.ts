/**
 * The service's state, independent of HTTP, wired together: the index, the indexing jobs, the live streams, the
 * subscriptions, and DASR threads. Two kinds:
 * - embedded (`--data`): SQLite + hnswlib-node in the data directory, two DASR threads (ingestion, and queries so
 *   that a search never waits behind a keyframe), jobs and streams run here;
 * - a cluster's API replica (`--index postgres://… --nats …`): the shared index, one DASR thread for queries; jobs go
 *   to the workers through NATS JetStream, streams are the index's (their workers hold leases), and live keyframes
 *   come from the workers' fan-out. Persisted subscriptions are in PostgreSQL, so any replica can resume them.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Box } from '../detect/box.js';
import { DetectorThread } from '../detect/detector-thread.js';
import type { Detection } from '../detect/dasr.js';
import type { Detector } from '../detect/detector.js';
import type { DecodedImage } from '../image/load.js';
import { IndexStore } from '../index/index-store.js';
import { PostgresRegionStore } from '../index/postgres-store.js';
import type { RegionStore } from '../index/region-store.js';
import { descriptorSettingMismatches } from '../search/index-settings.js';
import { ClusterJobs } from '../cluster/cluster-jobs.js';
import { ClusterStreams } from '../cluster/cluster-streams.js';
import { connectNats, ensureJobQueue } from '../cluster/job-queue.js';
import { ensureLiveFanout, followLiveKeyframes, type FannedKeyframe } from '../cluster/live-fanout.js';
import { PostgresSubscriptionRecords } from '../cluster/postgres-subscriptions.js';
import { StreamLeases } from '../cluster/stream-leases.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as delay } from 'node:timers/promises';
import { Supervisor, type SupervisedState } from '../util/supervisor.js';
import { WorkLimiter } from '../util/work-limiter.js';
import { FileCache } from '../util/file-cache.js';
import { OnnxMatchKernel } from '../live/match-kernel.js';
import type { Logger } from '../log.js';
import { MediaSigner, sharedMediaKey } from './media-urls.js';
import { splitInferenceThreads, type ServeConfig } from './config.js';
import { LiveStreams, type StreamStatus } from './live-streams.js';
import { ServiceMetrics } from './metrics.js';
import { SubscriptionHub } from './subscriptions.js';
import type { SubscriptionRecords } from './subscription-records.js';
import type { IndexingJobs, StreamRegistry } from './ingest-control.js';
import { VideoJobs } from './video-jobs.js';
import { ageRecordings, recoverRecordings } from '../record/live-recording.js';
import { DEFAULT_STILL_THRESHOLD } from '../ingest/still-gate.js';

/**
 * A supervised DASR thread (restarted when it dies) whose calls are timed into the inference histogram. Settings
 * are those of the first thread: every restart starts it with the same ones.
 */
class TimedDetector implements Detector {
  readonly config: DetectorThread['config'];
  readonly featureDim: number;
  readonly topDown: DetectorThread['topDown'];

  constructor(
    first: DetectorThread,
    readonly supervisor: Supervisor<DetectorThread>,
    private readonly metrics: ServiceMetrics,
  ) {
    this.config = first.config;
    this.featureDim = first.featureDim;
    this.topDown = first.topDown;
  }

  async detect(image: DecodedImage): Promise<Detection> {
    const started = performance.now();
    try {
      return await (await this.supervisor.current()).detect(image);
    } finally {
      this.metrics.inferenceSeconds.observe({ op: 'detect' }, (performance.now() - started) / 1000);
    }
  }

  async describe(image: DecodedImage, box?: Box): Promise<Float32Array> {
    const started = performance.now();
    try {
      return await (await this.supervisor.current()).describe(image, box);
    } finally {
      this.metrics.inferenceSeconds.observe({ op: 'describe' }, (performance.now() - started) / 1000);
    }
  }

  async describeCrop(crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array> {
    const started = performance.now();
    try {
      return await (await this.supervisor.current()).describeCrop(crop, frame);
    } finally {
      this.metrics.inferenceSeconds.observe({ op: 'describe-crop' }, (performance.now() - started) / 1000);
    }
  }
}

export interface WorkerStatus {
  worker: 'ingest-dasr' | 'query-dasr' | 'vectors';
  state: SupervisedState;
  restarts: number;
}

/** How often a cluster replica follows the shared subscriptions and notices streams that stopped. */
const CLUSTER_POLL_MS = 2_000;

/** Beyond this, no keyframe of a stopped stream is still in the fan-out (it keeps a minute). */
const LATE_KEYFRAME_MS = 120_000;

/** A cluster replica's links: NATS, the shared subscription records, and what follows them. */
interface ClusterLink {
  nc: NatsConnection;
  records: SubscriptionRecords;
  /** ends the fan-out consumer and the polling */
  stop: AbortController;
  following: Promise<void>;
  polling: Promise<void>;
}

type DetectorPair = [DetectorThread, Supervisor<DetectorThread>];

interface ServiceParts {
  store: RegionStore;
  /** the embedded index (shots, recordings and the vector thread are its own); null on a cluster replica */
  embedded: IndexStore | null;
  ingest: DetectorPair | null;
  query: DetectorPair;
  kernel: OnnxMatchKernel;
  records?: SubscriptionRecords;
  /** builds the jobs and streams of this kind of service */
  ingestion(ingestDetector: TimedDetector | null, hub: SubscriptionHub): { jobs: IndexingJobs; streams: StreamRegistry };
}

export class DasrService {
  openSockets = 0;
  /** ffmpeg work for clips and thumbnails: capped, queued, cancelled when the client leaves */
  readonly media: WorkLimiter;
  readonly clipCache: FileCache;
  /** age-based retention of live recordings, when streams are recorded */
  private readonly aging: { stop(): Promise<void> } | null = null;
  /** set on a cluster replica */
  private cluster: ClusterLink | null = null;

  private constructor(
    readonly config: ServeConfig,
    readonly store: RegionStore,
    readonly embedded: IndexStore | null,
    /** null on a cluster replica: the workers ingest */
    readonly ingestDetector: TimedDetector | null,
    readonly queryDetector: TimedDetector,
    readonly jobs: IndexingJobs,
    readonly streams: StreamRegistry,
    readonly hub: SubscriptionHub,
    readonly metrics: ServiceMetrics,
    readonly logger: Logger,
    private readonly kernel: OnnxMatchKernel,
    /** signs the media URLs handed to clients (search hits, live matches) */
    readonly mediaUrls: MediaSigner,
  ) {
    this.media = new WorkLimiter(config.mediaConcurrency, config.mediaQueue);
    this.clipCache = new FileCache(join(config.dataDir, 'clips'), config.clipCacheBytes);
    if (config.record && embedded) this.aging = ageRecordings(embedded, { ...config.record, dataDir: config.dataDir }, logger);
  }

  /** The embedded service (`--data`), or a cluster's API replica when `config.cluster` is set. */
  static start(config: ServeConfig, logger: Logger): Promise<DasrService> {
    mkdirSync(config.dataDir, { recursive: true });
    return config.cluster ? DasrService.startReplica(config, config.cluster, logger) : DasrService.startEmbedded(config, logger);
  }

  private static async startEmbedded(config: ServeConfig, logger: Logger): Promise<DasrService> {
    const supervisors: Supervisor<DetectorThread>[] = [];
    let store: IndexStore;
    try {
      const split = splitInferenceThreads(config.detector.backbone.threads);
      for (const [role, share] of [['ingest', split.ingest], ['query', split.query]] as const) {
        supervisors.push(await startDetector(config, share, role, logger));
      }
      // A new data directory takes the detector's descriptor length (a reduced whitening's, say); another is refused.
      const first = await supervisors[0]!.current();
      store = await IndexStore.open(config.dataDir, { logger, dim: first.featureDim, writer: 'dasr serve' });
      // before any stream records again: what a crash left of the recordings
      await recoverRecordings(store, config.dataDir, logger).catch((error: unknown) => logger.warn(`recordings left by a crash were not recovered: ${error instanceof Error ? error.message : String(error)}`));
    } catch (error) {
      await Promise.all(supervisors.map((t) => t.close()));
      throw error;
    }
    try {
      const kernel = await OnnxMatchKernel.create();
      const service = await DasrService.assemble(config, logger, {
        store,
        embedded: store,
        ingest: [await supervisors[0]!.current(), supervisors[0]!],
        query: [await supervisors[1]!.current(), supervisors[1]!],
        kernel,
        ingestion: (ingestDetector, hub) => {
          const jobs = new VideoJobs(store, ingestDetector!, { dataDir: config.dataDir, interval: config.interval, sceneThreshold: config.sceneThreshold, stillThreshold: config.stillThreshold, logger });
          const streams = new LiveStreams(store, ingestDetector!, {
            dataDir: config.dataDir,
            allowedProtocols: config.allowedProtocols,
            hostPolicy: config.hostPolicy,
            maxStreams: config.maxStreams,
            sceneThreshold: config.sceneThreshold,
            stillThreshold: config.stillThreshold,
            logger,
            ioTimeoutMs: config.streamIoTimeoutMs,
            backoff: config.streamBackoff,
            record: config.record,
            onKeyframe: (stream, keyframe) => void hub.offerKeyframe(stream.id, { ...keyframe, endedTrackIds: keyframe.endedTracks.map((track) => track.id) }),
            onStopped: (stream) => void hub.endStream(stream.id),
          });
          resumeUnfinishedJobs(jobs, store, config.dataDir, logger);
          return { jobs, streams };
        },
      });
      await (service.streams as LiveStreams).restore();
      return service;
    } catch (error) {
      await Promise.all(supervisors.map((t) => t.close()));
      await store.close();
      throw error;
    }
  }

  private static async startReplica(config: ServeConfig, cluster: { index: string; nats: string }, logger: Logger): Promise<DasrService> {
    const query = await startDetector(config, config.detector.backbone.threads ?? 0, 'query', logger);
    const opened: { close(): Promise<void> }[] = [{ close: () => query.close() }];
    try {
      const detector = await query.current();
      // Replicas may start before any worker: the schema is made by whoever comes first.
      const store = await PostgresRegionStore.open(cluster.index, { dim: detector.featureDim, logger });
      opened.push(store);
      const records = await PostgresSubscriptionRecords.open(cluster.index, logger);
      opened.push(records);
      const nc = await connectNats(cluster.nats, 'dasr serve');
      opened.push({ close: () => nc.close() });
      await ensureJobQueue(nc);
      await ensureLiveFanout(nc);
      // The leases' bucket is the workers' (its TTL is theirs to set): read where it exists, never made here.
      let leases: StreamLeases | null = null;
      const holders = async (): Promise<Map<number, string>> => {
        leases ??= await StreamLeases.openExisting(nc);
        return leases ? leases.holders() : new Map();
      };
      const kernel = await OnnxMatchKernel.create();
      opened.push({ close: () => kernel.release() });
      const service = await DasrService.assemble(config, logger, {
        store,
        embedded: null,
        ingest: null,
        query: [detector, query],
        kernel,
        records,
        ingestion: () => ({
          jobs: new ClusterJobs(nc, { interval: config.interval, sceneThreshold: config.sceneThreshold, stillThreshold: config.stillThreshold ?? DEFAULT_STILL_THRESHOLD }, uploadDir(config.dataDir)),
          streams: new ClusterStreams(store, holders, { allowedProtocols: config.allowedProtocols, hostPolicy: config.hostPolicy, maxStreams: config.maxStreams }),
        }),
      });
      service.followCluster(nc, records);
      return service;
    } catch (error) {
      for (const part of opened.reverse()) await part.close().catch(() => undefined);
      throw error;
    }
  }

  private static async assemble(config: ServeConfig, logger: Logger, parts: ServiceParts): Promise<DasrService> {
    const { store } = parts;
    let service: DasrService | null = null;
    // One scrape reads the streams once, not once per metric that shows them (in a cluster that is a query each).
    let streamsRead: { at: number; streams: Promise<StreamStatus[]> } | null = null;
    const metrics = new ServiceMetrics({
      streams: async () => {
        if (!service) return [];
        if (!streamsRead || Date.now() - streamsRead.at > 1_000) streamsRead = { at: Date.now(), streams: Promise.resolve(service.streams.list()) };
        return streamsRead.streams;
      },
      indexRegions: () => store.regionCount(),
      indexVideos: () => store.videoCount(),
      pendingJobs: async () => (await service?.jobs.pendingCount()) ?? 0,
      subscriptions: () => service?.hub.size ?? 0,
      queuedPushes: () => service?.hub.queued ?? 0,
      openSockets: () => service?.openSockets ?? 0,
      workers: () => service?.workers() ?? [],
    });
    const ingestDetector = parts.ingest && new TimedDetector(parts.ingest[0], parts.ingest[1], metrics);
    const queryDetector = new TimedDetector(parts.query[0], parts.query[1], metrics);
    const mediaUrls = parts.embedded ? new MediaSigner() : new MediaSigner(undefined, undefined, sharedMediaKey(config.tokens));
    const hub = await SubscriptionHub.open({
      dataDir: config.dataDir,
      records: parts.records,
      signMedia: (path, span) => mediaUrls.sign(path, span),
      // (in a cluster the workers record the streams into the --data the replicas share)
      recorded: config.record !== null,
      dim: store.dim,
      queueCapacity: config.queueCapacity,
      kernel: parts.kernel,
      logger,
      onPushed: (message, sinceProcessedMs, sinceFrameMs) => {
        metrics.pushes.inc({ type: message.type });
        metrics.pushLatencySeconds.observe(sinceProcessedMs / 1000);
        metrics.frameToPushSeconds.observe(sinceFrameMs / 1000);
      },
    });
    const { jobs, streams } = parts.ingestion(ingestDetector, hub);
    await store
      .videoSettings()
      .then((settings) => descriptorSettingMismatches(queryDetector.config, settings).forEach((line) => logger.warn(`index: ${line}`)))
      // only a warning: the service starts without it
      .catch((error: unknown) => logger.warn(`the indexed videos' settings were not read: ${error instanceof Error ? error.message : String(error)}`));
    service = new DasrService(config, store, parts.embedded, ingestDetector, queryDetector, jobs, streams, hub, metrics, logger, parts.kernel, mediaUrls);
    return service;
  }

  /**
   * A replica's part of the cluster's live side: every keyframe the workers publish is matched against this
   * replica's subscriptions, and every few seconds the shared subscriptions are followed and the appearances of
   * streams that stopped are ended. A lost NATS or PostgreSQL is retried, not fatal.
   */
  private followCluster(nc: NatsConnection, records: SubscriptionRecords): void {
    const stop = new AbortController();
    const { logger, hub, store } = this;
    // Streams whose keyframes this replica matched (their appearances end when they stop), and those it saw stop,
    // with when: a keyframe of theirs still on its way (a worker lets a stream go within a second) would open an
    // appearance that nothing ends. Forgotten once no such keyframe can be left.
    const matched = new Set<number>();
    const ended = new Map<number, number>();
    const offer = (keyframe: FannedKeyframe): Promise<void> | undefined => {
      if (ended.has(keyframe.streamId)) return undefined;
      matched.add(keyframe.streamId);
      return hub.offerKeyframe(keyframe.streamId, keyframe);
    };
    const following = (async () => {
      while (!stop.signal.aborted) {
        try {
          await followLiveKeyframes(nc, offer, stop.signal);
        } catch (error) {
          if (stop.signal.aborted) break;
          logger.warn(`live fan-out: ${error instanceof Error ? error.message : String(error)}; following again shortly`);
        }
        await delay(1_000, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    })();
    const polling = (async () => {
      while (!stop.signal.aborted) {
        try {
          await hub.refresh();
          // the streams matched before the read: one registered (and matched) while it runs is not taken for stopped
          const seen = [...matched];
          const live = new Set((await store.liveVideosIndexing()).map((v) => v.id));
          for (const id of seen) {
            if (live.has(id)) continue;
            matched.delete(id);
            ended.set(id, Date.now());
            await hub.endStream(id);
          }
          for (const [id, at] of ended) if (Date.now() - at > LATE_KEYFRAME_MS) ended.delete(id);
        } catch (error) {
          logger.warn(`cluster subscriptions and streams not followed this time: ${error instanceof Error ? error.message : String(error)}`);
        }
        await delay(CLUSTER_POLL_MS, undefined, { signal: stop.signal }).catch(() => undefined);
      }
    })();
    this.cluster = { nc, records, stop, following, polling };
  }

  /** The worker threads, each kept alive by a supervisor: for /ready and /metrics. */
  workers(): WorkerStatus[] {
    const threads: WorkerStatus[] = [];
    if (this.ingestDetector) threads.push({ worker: 'ingest-dasr', state: this.ingestDetector.supervisor.state, restarts: this.ingestDetector.supervisor.restarts });
    threads.push({ worker: 'query-dasr', state: this.queryDetector.supervisor.state, restarts: this.queryDetector.supervisor.restarts });
    if (this.embedded) threads.push({ worker: 'vectors', state: this.embedded.vectorWorker.state, restarts: this.embedded.vectorWorker.restarts });
    return threads;
  }

  /** Stops ingestion (keeping what was committed), saves the vector graph and ends the threads. */
  async close(): Promise<void> {
    await this.aging?.stop();
    if (this.cluster) {
      this.cluster.stop.abort();
      await Promise.all([this.cluster.following, this.cluster.polling]);
    }
    await this.jobs.close();
    await this.streams.close();
    await this.hub.settled();
    await Promise.all([this.ingestDetector?.supervisor.close(), this.queryDetector.supervisor.close(), this.kernel.release()]);
    if (this.cluster) {
      await this.cluster.records.close();
      await this.cluster.nc.close();
    }
    await this.store.close();
  }
}

/** A supervised DASR thread with `threads` inference threads (0: every core). */
function startDetector(config: ServeConfig, threads: number, role: 'ingest' | 'query', logger: Logger): Promise<Supervisor<DetectorThread>> {
  const data = { ...config.detector, backbone: { ...config.detector.backbone, threads } };
  return Supervisor.start(() => DetectorThread.start(data), { name: `${role} DASR thread`, logger });
}

/** Work accepted before a stop or crash: the jobs file first, then videos left half-indexed by other means. */
function resumeUnfinishedJobs(jobs: VideoJobs, store: IndexStore, dataDir: string, logger: Logger): void {
  const resubmitted = new Set<string>();
  for (const saved of jobs.saved()) {
    if (saved.videoId !== null && store.db.getVideo(saved.videoId)?.status === 'deleted') continue;
    logger.info(`resuming the indexing of ${saved.path}`);
    jobs.submit(saved.path, saved.uploaded, saved.videoId);
    resubmitted.add(saved.path);
  }
  // (Live runs cut by a crash were closed when the store opened.)
  for (const video of store.db.listVideos()) {
    if (video.status === 'indexing' && video.sourceKind === 'file' && !resubmitted.has(video.path)) {
      jobs.submit(video.path, video.path.startsWith(uploadDir(dataDir)), video.id);
    }
  }
}

export function uploadDir(dataDir: string): string {
  return `${dataDir.replace(/\/$/, '')}/uploads/`;
}
