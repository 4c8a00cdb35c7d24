import { BehaviorSubject, Subject, defaultIfEmpty, filter, lastValueFrom, tap } from 'rxjs';
import type { Detector } from '../detect/detector.js';
import { poolingLongSide } from '../detect/config.js';
import type { Box } from '../detect/box.js';
import type { DecodedImage } from '../image/load.js';
import { decodeFrames, type DecodedFrame } from '../decode/frames.js';
import { KeyframeSelector } from '../decode/keyframes.js';
import { probeVideo } from '../decode/probe.js';
import { parseSource, SourceError, type SourceSpec } from '../source/source-spec.js';
import { checkSourceHost, type HostPolicy } from '../source/host-policy.js';
import { SupersededWriterError, type RegionStore } from '../index/region-store.js';
import type { VideoRecord } from '../index/database.js';
import { Tracker, type Track, type TrackerConfig, type TrackerState } from '../track/tracker.js';
import { committedTrackerState } from '../track/state.js';
import { TrackIdReserve } from './track-ids.js';
import { defaultLogger, type Logger } from '../log.js';
import { processLatest, type LatestStats } from './flow.js';
import { DEFAULT_STILL_THRESHOLD, StillGate } from './still-gate.js';
import type { Detection } from '../detect/dasr.js';
import { regionsInVideoPixels, trackAndCommit } from './commit-keyframe.js';
import { LiveRecording, recoverRecording, type RecordingOptions } from '../record/live-recording.js';

/** 'superseded': another process took the video over (RegionStore.takeWriter) and this one may no longer write it. */
export type LiveState = 'connecting' | 'live' | 'reconnecting' | 'failed' | 'superseded' | 'stopped';

export interface LiveCounters extends LatestStats {
  framesDecoded: number;
  keyframes: number;
  /** keyframes that carried the last analysed one's regions, the picture being still */
  carried: number;
  regions: number;
  reconnects: number;
  lastError: string | null;
}

export interface LiveRegion {
  regionId: number;
  box: Box;
  score: number;
  trackId: number;
  /** true when this region started its track */
  isNewTrack: boolean;
  feature: Float32Array;
}

/** One processed keyframe of a live source. */
export interface LiveKeyframe {
  videoId: number;
  /**
   * seconds since the live video was created: the keyframe's time in the index, monotonic across reconnects and
   * hand-overs. Wall clock at a connection's first keyframe, then that plus the stream's own time, so recorded segments
   * line up frame-exactly.
   */
  t: number;
  /** the frame's presentation time in the current connection's stream */
  pts: number;
  /** when the frame arrived from ffmpeg (Unix ms) */
  receivedAt: number;
  /** when processing finished (Unix ms) */
  processedAt: number;
  regions: LiveRegion[];
  /** tracks that ended with this keyframe */
  endedTracks: Track[];
  /** the analysed frame (RGB at the network's input size), for pictures of what was seen */
  frame: DecodedImage;
  /** the stream's display size: the coordinate system of the region boxes */
  width: number;
  height: number;
}

export interface LiveOptions {
  interval: number;
  sceneThreshold?: number;
  tracker?: Partial<TrackerConfig>;
  /** reconnect delays: initialMs, doubled after each failed attempt, capped at maxMs */
  backoff?: { initialMs: number; maxMs: number };
  /** network I/O timeout handed to ffmpeg, and how long without frames counts as lost */
  ioTimeoutMs?: number;
  stallTimeoutMs?: number;
  /** how often the vector graph is saved */
  saveEverySeconds?: number;
  allowedProtocols?: readonly string[];
  /** see IngestOptions.stillThreshold */
  stillThreshold?: number;
  /** where the source may point (checked before every connection); absent: anywhere, as a local user chose */
  hostPolicy?: HostPolicy;
  /** record the stream (segments, retention) so that its hits have clips; absent: not recorded */
  record?: RecordingOptions;
  /**
   * Continue this live video of the index instead of starting one: a stream another worker held until it died. Its
   * tracks go on from the committed tracker state, and its times from the last committed keyframe. This process
   * becomes the video's writer: should the one before only have been frozen, its commits are refused from now on.
   */
  continueVideo?: number;
  logger?: Logger;
}

const DEFAULT_BACKOFF = { initialMs: 1000, maxMs: 30_000 };

/**
 * Ingests a live source until stopped. Frames are read as fast as the source sends them; when inference is
 * slower, only the newest keyframe waits (older ones are dropped and counted), so latency stays bounded. A
 * lost source is reconnected with exponential backoff; `state$` says where it stands.
 *
 * A keyframe's index time is seconds since the video was created, so a stream continued by another process
 * (`continueVideo`) keeps one timeline, with the outage as a gap.
 */
export class LiveIngestion {
  readonly state$ = new BehaviorSubject<LiveState>('connecting');
  readonly keyframes$ = new Subject<LiveKeyframe>();
  readonly counters: LiveCounters = { framesDecoded: 0, keyframes: 0, carried: 0, processed: 0, dropped: 0, regions: 0, reconnects: 0, lastError: null };
  readonly videoId: number;
  private readonly abort = new AbortController();
  private readonly tracker: Tracker;
  private readonly trackIds: TrackIdReserve;
  private readonly startedAt: number;
  private lastT: number;
  private lastSave = Date.now();
  private running: Promise<void> | null = null;
  /** Keyframes are processed strictly one after another, also across a reconnect (the tracker needs order). */
  private inFlight: Promise<void> = Promise.resolve();
  private readonly logger: Logger;
  private readonly recording: LiveRecording | undefined;
  /** connections made so far (0-based number of the current one), and index time − stream time of each */
  private connection = -1;
  private readonly offsets = new Map<number, number>();

  /** Checks the source, then starts a live video in the index (or takes up `continueVideo`); call start() next. */
  static async open(url: string, dasr: Detector, store: RegionStore, options: LiveOptions): Promise<LiveIngestion> {
    const spec = parseSource(url, { allowedProtocols: options.allowedProtocols });
    if (spec.kind === 'file') throw new SourceError('protocol-not-allowed', `${url} is a file: index it with the file ingestion`);
    if (options.continueVideo === undefined) {
      const video = await store.addVideo({ path: url, sourceKind: 'live', status: 'indexing', config: { dasr: dasr.config, topDown: dasr.topDown ?? null, interval: options.interval } });
      return new LiveIngestion(url, spec, dasr, store, options, video, {}, -1);
    }
    const video = await store.getVideo(options.continueVideo);
    if (!video || video.sourceKind !== 'live' || video.path !== url) throw new Error(`video ${options.continueVideo} is not the live video of ${url}`);
    if (video.status !== 'indexing') throw new Error(`live video ${video.id} is ${video.status}: only a stream still being indexed is continued`);
    // Taken before the state is read: the state is then the last one the previous writer could commit.
    const writerEpoch = await store.takeWriter(video.id);
    const state = await store.videoState(video.id);
    // What the writer before recorded but could not commit (it died) joins the run's recording first.
    if (options.record) await recoverRecording(store, options.record.dataDir, video.id, options.logger ?? defaultLogger).catch((error: unknown) => (options.logger ?? defaultLogger).warn(`recording of ${url}: what the previous writer left was not recovered (${error instanceof Error ? error.message : String(error)})`));
    return new LiveIngestion(url, spec, dasr, store, options, video, committedTrackerState(state), state?.lastCommittedT ?? -1, writerEpoch);
  }

  private constructor(
    readonly url: string,
    private readonly spec: SourceSpec,
    private readonly dasr: Detector,
    private readonly store: RegionStore,
    private readonly options: LiveOptions,
    video: VideoRecord,
    trackerState: Partial<TrackerState>,
    lastT: number,
    /** this process's writer epoch of a continued video (its commits are fenced by it) */
    private readonly writerEpoch?: number,
  ) {
    this.logger = options.logger ?? defaultLogger;
    this.videoId = video.id;
    this.startedAt = video.createdAt;
    this.lastT = lastT;
    this.sizeRecorded = video.width !== null;
    this.trackIds = new TrackIdReserve(store);
    this.tracker = new Tracker(options.tracker, trackerState, this.trackIds.take);
    this.still = new StillGate({ threshold: options.stillThreshold ?? DEFAULT_STILL_THRESHOLD });
    this.recording = options.record ? new LiveRecording(store, this.videoId, options.record, this.logger, writerEpoch) : undefined;
  }

  private sizeRecorded: boolean;
  private readonly still: StillGate;
  /** the last analysed keyframe's detection, carried by still keyframes */
  private lastDetection: Detection | undefined;

  get state(): LiveState {
    return this.state$.value;
  }

  start(): this {
    this.running ??= this.run();
    return this;
  }

  /** Stops reading, waits for the keyframe in flight, and marks the stream's index complete. */
  async stop(): Promise<void> {
    try {
      await this.halt();
      await this.store.setVideoStatus(this.videoId, 'ready');
      await this.store.checkpoint();
    } finally {
      this.end();
    }
  }

  /**
   * Stops reading and waits for the keyframe in flight, leaving the video indexing: the stream is handed to another
   * process, which continues it (`continueVideo`).
   */
  async handOver(): Promise<void> {
    try {
      await this.halt();
      await this.store.checkpoint();
    } finally {
      this.end();
    }
  }

  private async halt(): Promise<void> {
    this.abort.abort();
    await this.running;
    await this.inFlight;
  }

  private end(): void {
    this.state$.next('stopped');
    this.state$.complete();
    this.keyframes$.complete();
  }

  private async run(): Promise<void> {
    const backoff = this.options.backoff ?? DEFAULT_BACKOFF;
    let failures = 0;
    while (!this.abort.signal.aborted) {
      this.state$.next(failures === 0 && this.counters.reconnects === 0 ? 'connecting' : 'reconnecting');
      let failure: unknown = null;
      try {
        await this.connectOnce(() => (failures = 0));
        this.counters.lastError = 'the stream ended';
      } catch (error) {
        failure = error;
      }
      await this.endConnection();
      if (this.abort.signal.aborted) break;
      if (failure instanceof SourceError) {
        this.counters.lastError = failure.message;
        this.state$.next('failed');
        this.logger.error(`live source ${this.url} failed: ${failure.message}`);
        return;
      }
      if (failure instanceof SupersededWriterError) {
        this.counters.lastError = failure.message;
        this.state$.next('superseded');
        this.logger.warn(`live source ${this.url}: ${failure.message}; this process stops following it`);
        return;
      }
      if (failure !== null) this.counters.lastError = failure instanceof Error ? failure.message.split('\n')[0]! : String(failure);
      const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** failures);
      failures++;
      this.counters.reconnects++;
      this.state$.next('reconnecting');
      this.logger.warn(`live source ${this.url} lost (${this.counters.lastError}); reconnecting in ${(delay / 1000).toFixed(1)} s`);
      await sleep(delay, this.abort.signal);
    }
  }

  private async connectOnce(onLive: () => void): Promise<void> {
    const signal = this.abort.signal;
    if (this.options.hostPolicy) await checkSourceHost(this.spec, this.options.hostPolicy);
    const common = { signal, ioTimeoutMs: this.options.ioTimeoutMs, allowedProtocols: this.options.allowedProtocols, live: true };
    const info = await probeVideo(this.spec, common);
    // pts restart with every connection, so the selector's interval grid does too.
    const selector = new KeyframeSelector({ interval: this.options.interval, sceneThreshold: this.options.sceneThreshold });
    let first = true;
    const connection = ++this.connection;
    const record = this.recording?.nextConnection();
    await lastValueFrom(
      decodeFrames(this.spec, { ...common, longSide: poolingLongSide(this.dasr.config), info, stallTimeoutMs: this.options.stallTimeoutMs, record }).pipe(
        tap(() => {
          this.counters.framesDecoded++;
          if (first) {
            first = false;
            onLive();
            this.state$.next('live');
          }
        }),
        filter((frame) => selector.offer(frame).keep),
        processLatest((frame) => this.enqueue(frame, info.displayWidth, info.displayHeight, connection), this.counters),
        defaultIfEmpty(undefined),
      ),
    );
  }

  private enqueue(frame: DecodedFrame, width: number, height: number, connection: number): Promise<void> {
    const run = this.inFlight.then(() => this.processKeyframe(frame, width, height, connection));
    this.inFlight = run.catch(() => undefined);
    return run;
  }

  /** After a connection: its last keyframe processed, the segment ffmpeg was writing is committed too. */
  private async endConnection(): Promise<void> {
    await this.inFlight;
    if (this.connection >= 0) await this.syncRecording(this.lastT);
  }

  private async syncRecording(lastT?: number): Promise<void> {
    try {
      await this.recording?.sync(this.offsets.get(this.connection), lastT);
    } catch (error) {
      // The index stays right without the recording: hits of the span have no clip.
      this.logger.warn(`recording of ${this.url}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private async processKeyframe(frame: DecodedFrame, width: number, height: number, connection: number): Promise<void> {
    if (!this.sizeRecorded) {
      // Query crops are described at the scale of the indexed frames: a stream's size counts once it is known.
      await this.store.setVideoSize(this.videoId, { width, height });
      this.sizeRecorded = true;
    }
    let detection = this.lastDetection;
    if (!this.still.needsAnalysis(frame) && detection) this.counters.carried++;
    else detection = this.lastDetection = await this.dasr.detect({ width: frame.width, height: frame.height, data: frame.data });
    const regions = regionsInVideoPixels(detection.regions, frame, width, height);
    // Index time: wall clock since the start at a connection's first keyframe (stream pts restart when the source
    // reconnects), the stream's own clock from there.
    const wall = Math.max(this.lastT + 1e-3, (frame.receivedAt - this.startedAt) / 1000);
    if (!this.offsets.has(connection) && Number.isFinite(frame.pts)) this.offsets.set(connection, wall - frame.pts);
    const offset = this.offsets.get(connection);
    const t = offset === undefined ? wall : Math.max(this.lastT + 1e-3, offset + frame.pts);
    this.lastT = t;
    const { assignments, committed, ended } = await trackAndCommit(this.store, this.videoId, this.tracker, { t, width, height, regions }, { trackIds: this.trackIds, writerEpoch: this.writerEpoch });
    this.counters.keyframes++;
    this.counters.regions += regions.length;
    if (connection === this.connection) await this.syncRecording();
    if (Date.now() - this.lastSave > (this.options.saveEverySeconds ?? 30) * 1000) {
      this.lastSave = Date.now();
      await this.store.checkpoint();
    }
    this.keyframes$.next({
      videoId: this.videoId,
      t,
      pts: frame.pts,
      receivedAt: frame.receivedAt,
      processedAt: Date.now(),
      regions: regions.map((r, j) => ({
        regionId: committed.regionIds[0]![j]!,
        box: r.box,
        score: r.score,
        trackId: assignments[j]!.trackId,
        isNewTrack: assignments[j]!.isNew,
        feature: r.feature,
      })),
      endedTracks: ended,
      frame: { width: frame.width, height: frame.height, data: frame.data },
      width,
      height,
    });
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
