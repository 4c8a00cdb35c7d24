/**
 * The service's state, independent of HTTP: the index, two DASR threads (ingestion, and queries so that a search
 * never waits behind a keyframe), the indexing jobs, the live streams and the subscriptions, wired together.
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
import { Supervisor, type SupervisedState } from '../util/supervisor.js';
import { WorkLimiter } from '../util/work-limiter.js';
import { FileCache } from '../util/file-cache.js';
import { OnnxMatchKernel } from '../live/match-kernel.js';
import type { Logger } from '../log.js';
import { MediaSigner } from './media-urls.js';
import { splitInferenceThreads, type ServeConfig } from './config.js';
import { LiveStreams } from './live-streams.js';
import { ServiceMetrics } from './metrics.js';
import { SubscriptionHub } from './subscriptions.js';
import { VideoJobs } from './video-jobs.js';
import { applyRetention, recoverRecordings } from '../record/live-recording.js';

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

/** How often age-based retention of live recordings runs on its own. */
const RETENTION_PERIOD_MS = 60_000;

export class DasrService {
  openSockets = 0;
  /** ffmpeg work for clips and thumbnails: capped, queued, cancelled when the client leaves */
  readonly media: WorkLimiter;
  readonly clipCache: FileCache;
  /** age-based retention of live recordings, when streams are recorded, and its latest run */
  private readonly retentionTimer: NodeJS.Timeout | null = null;
  private retention: Promise<void> = Promise.resolve();

  private constructor(
    readonly config: ServeConfig,
    readonly store: IndexStore,
    readonly ingestDetector: TimedDetector,
    readonly queryDetector: TimedDetector,
    readonly jobs: VideoJobs,
    readonly streams: LiveStreams,
    readonly hub: SubscriptionHub,
    readonly metrics: ServiceMetrics,
    readonly logger: Logger,
    private readonly kernel: OnnxMatchKernel,
    /** signs the media URLs handed to clients (search hits, live matches) */
    readonly mediaUrls: MediaSigner,
  ) {
    this.media = new WorkLimiter(config.mediaConcurrency, config.mediaQueue);
    this.clipCache = new FileCache(join(config.dataDir, 'clips'), config.clipCacheBytes);
    const record = config.record;
    if (record) {
      // Recordings age whether or not a stream still records (a recording stream also applies it per segment).
      this.retentionTimer = setInterval(() => {
        this.retention = applyRetention(store, config.dataDir, record, logger).catch((error: unknown) => logger.warn(`retention failed: ${error instanceof Error ? error.message : String(error)}`));
      }, RETENTION_PERIOD_MS);
      this.retentionTimer.unref();
    }
  }

  static async start(config: ServeConfig, logger: Logger): Promise<DasrService> {
    mkdirSync(config.dataDir, { recursive: true });
    const supervisors: Supervisor<DetectorThread>[] = [];
    let store: IndexStore;
    try {
      const split = splitInferenceThreads(config.detector.backbone.threads);
      for (const [role, share] of [['ingest', split.ingest], ['query', split.query]] as const) {
        const data = { ...config.detector, backbone: { ...config.detector.backbone, threads: share } };
        supervisors.push(await Supervisor.start(() => DetectorThread.start(data), { name: `${role} DASR thread`, logger }));
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
      const service = DasrService.assemble(config, store, [await supervisors[0]!.current(), supervisors[0]!], [await supervisors[1]!.current(), supervisors[1]!], kernel, logger);
      await service.streams.restore();
      return service;
    } catch (error) {
      await Promise.all(supervisors.map((t) => t.close()));
      await store.close();
      throw error;
    }
  }

  private static assemble(
    config: ServeConfig,
    store: IndexStore,
    ingest: [DetectorThread, Supervisor<DetectorThread>],
    query: [DetectorThread, Supervisor<DetectorThread>],
    kernel: OnnxMatchKernel,
    logger: Logger,
  ): DasrService {
    let service: DasrService | null = null;
    const metrics = new ServiceMetrics({
      streams: () => service?.streams.list() ?? [],
      indexRegions: () => store.db.regionCount(),
      indexVideos: () => store.db.videoCount(),
      pendingJobs: () => service?.jobs.pending ?? 0,
      subscriptions: () => service?.hub.size ?? 0,
      queuedPushes: () => service?.hub.queued ?? 0,
      openSockets: () => service?.openSockets ?? 0,
      workers: () => service?.workers() ?? [],
    });
    const ingestDetector = new TimedDetector(ingest[0], ingest[1], metrics);
    const queryDetector = new TimedDetector(query[0], query[1], metrics);
    const mediaUrls = new MediaSigner();
    const hub = new SubscriptionHub({
      dataDir: config.dataDir,
      signMedia: (path, span) => mediaUrls.sign(path, span),
      recorded: config.record !== null,
      dim: store.dim,
      queueCapacity: config.queueCapacity,
      kernel,
      logger,
      onPushed: (message, sinceProcessedMs, sinceFrameMs) => {
        metrics.pushes.inc({ type: message.type });
        metrics.pushLatencySeconds.observe(sinceProcessedMs / 1000);
        metrics.frameToPushSeconds.observe(sinceFrameMs / 1000);
      },
    });
    const jobs = new VideoJobs(store, ingestDetector, { dataDir: config.dataDir, interval: config.interval, sceneThreshold: config.sceneThreshold, stillThreshold: config.stillThreshold, logger });
    const streams = new LiveStreams(store, ingestDetector, {
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
      onKeyframe: (stream, keyframe) => void hub.offerKeyframe(stream.id, keyframe),
      onStopped: (stream) => void hub.endStream(stream.id),
    });
    service = new DasrService(config, store, ingestDetector, queryDetector, jobs, streams, hub, metrics, logger, kernel, mediaUrls);
    // Work accepted before a stop or crash: the jobs file first, then videos left half-indexed by other means.
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
        jobs.submit(video.path, video.path.startsWith(uploadDir(config.dataDir)), video.id);
      }
    }
    return service;
  }

  /** The worker threads, each kept alive by a supervisor: for /ready and /metrics. */
  workers(): WorkerStatus[] {
    return [
      { worker: 'ingest-dasr', state: this.ingestDetector.supervisor.state, restarts: this.ingestDetector.supervisor.restarts },
      { worker: 'query-dasr', state: this.queryDetector.supervisor.state, restarts: this.queryDetector.supervisor.restarts },
      { worker: 'vectors', state: this.store.vectorWorker.state, restarts: this.store.vectorWorker.restarts },
    ];
  }

  /** Stops ingestion (keeping what was committed), saves the vector graph and ends the threads. */
  async close(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    await this.retention;
    await this.jobs.close();
    await this.streams.close();
    await this.hub.settled();
    await Promise.all([this.ingestDetector.supervisor.close(), this.queryDetector.supervisor.close(), this.kernel.release()]);
    await this.store.close();
  }
}

export function uploadDir(dataDir: string): string {
  return `${dataDir.replace(/\/$/, '')}/uploads/`;
}
