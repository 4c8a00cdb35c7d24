import { EMPTY, from, lastValueFrom, defaultIfEmpty } from 'rxjs';
import { performance } from 'node:perf_hooks';
import type { Detector } from '../detect/detector.js';
import { poolingLongSide } from '../detect/config.js';
import { concatMapFrames, type DecodedFrame } from '../decode/frames.js';
import { KeyframeSelector } from '../decode/keyframes.js';
import { probeVideo, type VideoInfo } from '../decode/probe.js';
import { parseSource, type SourceSpec } from '../source/source-spec.js';
import { fileContentKey } from '../index/database.js';
import type { RegionStore } from '../index/region-store.js';
import { Tracker, type TrackerConfig } from '../track/tracker.js';
import { committedTrackerState } from '../track/state.js';
import { defaultLogger, type Logger } from '../log.js';
import type { IngestProgress } from './progress.js';
import { regionsInVideoPixels, trackAndCommit } from './commit-keyframe.js';
import { OrderedPipeline } from './ordered-pipeline.js';
import { TrackIdReserve } from './track-ids.js';
import { DEFAULT_STILL_THRESHOLD, StillGate } from './still-gate.js';
import type { Detection } from '../detect/dasr.js';

export interface IngestOptions {
  /** seconds between interval keyframes; at or below the frame duration every frame is a keyframe */
  interval: number;
  /** scene-change threshold (0 disables scene keyframes) */
  sceneThreshold?: number;
  tracker?: Partial<TrackerConfig>;
  /** how often the vector graph is saved while indexing (it is always saved at the end) */
  saveEverySeconds?: number;
  signal?: AbortSignal;
  onProgress?: (progress: IngestProgress) => void;
  /** called once the video's row exists (new or resumed), before decoding starts */
  onVideo?: (videoId: number) => void;
  logger?: Logger;
  /** index again even when the same file was indexed completely */
  force?: boolean;
  /** keyframes whose 8×8 blocks all moved by at most this many levels of luma (twice as many of chroma) since the last analysed one carry its regions (still-gate.ts); 0 analyses every keyframe */
  stillThreshold?: number;
}

export interface IngestResult {
  videoId: number;
  status: 'indexed' | 'resumed' | 'already-indexed';
  keyframes: number;
  /** keyframes that carried the regions of the last analysed one, the picture being still */
  carried: number;
  regions: number;
  elapsedMs: number;
  /** time spent in DASR, and in tracking + committing to the index (SQLite + vectors) */
  detectMs: number;
  commitMs: number;
  progress: IngestProgress;
}

/**
 * Keyframes in flight at once: one in DASR while the previous one commits and ffmpeg decodes the next. More would
 * only queue decoded frames in memory: the detector runs one keyframe at a time.
 */
const PIPELINE_DEPTH = 2;

/** What a video's index depends on: a resume with other settings would mix two indexes, so it redoes. */
function ingestSettings(dasr: Detector, options: IngestOptions): Record<string, unknown> {
  return {
    dasr: dasr.config,
    topDown: dasr.topDown ?? null,
    interval: options.interval,
    sceneThreshold: options.sceneThreshold ?? null,
    stillThreshold: options.stillThreshold ?? DEFAULT_STILL_THRESHOLD,
    tracker: options.tracker ?? {},
  };
}

/**
 * Indexes one video file: decode (ffmpeg) → keyframes → DASR → tracker → one SQLite transaction per keyframe,
 * the three overlapping (decoding runs ahead by at most one keyframe; commits stay in video order). A crash loses
 * at most the keyframes in flight (two); running it again on the same file resumes after the last committed
 * keyframe, with the tracker restored as it was then. Unreadable inputs fail before anything is written.
 */
export async function ingestFile(input: string, dasr: Detector, store: RegionStore, options: IngestOptions): Promise<IngestResult> {
  const logger = options.logger ?? defaultLogger;
  const spec = parseSource(input);
  if (spec.kind !== 'file') throw new Error(`${input} is a URL: use live ingestion for streams`);
  const info = await probeVideo(spec, { signal: options.signal });
  const contentKey = await fileContentKey(spec.path);
  const claim = await store.claim(contentKey);
  if (!claim) throw new FileBusyError(`${spec.path} is being indexed by another worker`);
  try {
    return await ingestClaimed(spec, info, contentKey, dasr, store, options, logger);
  } finally {
    await claim.release();
  }
}

/** The same file is being indexed elsewhere in the index (another cluster worker): try again later. */
export class FileBusyError extends Error {
  override name = 'FileBusyError';
}

async function ingestClaimed(
  spec: Extract<SourceSpec, { kind: 'file' }>,
  info: VideoInfo,
  contentKey: string,
  dasr: Detector,
  store: RegionStore,
  options: IngestOptions,
  logger: Logger,
): Promise<IngestResult> {
  const settings = ingestSettings(dasr, options);
  const started = performance.now();

  let existing = await store.findVideoByContentKey(contentKey);
  if (existing && existing.status === 'ready' && !options.force) {
    const summary = await store.videoSummary(existing.id);
    logger.info(`${spec.path} is already indexed as video ${existing.id}`);
    const progress = { label: `video ${existing.id}`, position: info.duration, duration: info.duration, keyframes: summary?.keyframeCount ?? 0, regions: summary?.regionCount ?? 0, elapsedMs: 0 };
    return { videoId: existing.id, status: 'already-indexed', keyframes: progress.keyframes, carried: 0, regions: progress.regions, elapsedMs: 0, detectMs: 0, commitMs: 0, progress };
  }
  if (existing && (existing.status !== 'indexing' || JSON.stringify(existing.config) !== JSON.stringify(settings))) {
    logger.info(`re-indexing video ${existing.id} from the start (${existing.status === 'indexing' ? 'settings changed' : existing.status})`);
    await store.deleteVideo(existing.id);
    existing = undefined;
  }

  const resuming = existing !== undefined;
  const video =
    existing ??
    (await store.addVideo({
      path: spec.path,
      sourceKind: 'file',
      contentKey,
      width: info.displayWidth,
      height: info.displayHeight,
      duration: info.duration,
      fps: info.frameRate,
      status: 'indexing',
      config: settings,
    }));
  options.onVideo?.(video.id);
  const state = resuming ? await store.videoState(video.id) : undefined;
  const resumeAfter = state?.lastCommittedT ?? Number.NEGATIVE_INFINITY;
    const trackIds = new TrackIdReserve(store);
  const tracker = new Tracker(options.tracker, committedTrackerState(state), trackIds.take);
  if (resuming) logger.info(`resuming video ${video.id} after t = ${resumeAfter.toFixed(3)} s`);

  const progress: IngestProgress = { label: `video ${video.id}`, position: 0, duration: info.duration, keyframes: 0, regions: 0, elapsedMs: 0 };
  const selector = new KeyframeSelector({ interval: options.interval, sceneThreshold: options.sceneThreshold });
  let lastSave = performance.now();
  let detectMs = 0;
  let commitMs = 0;
  // After a resume the first keyframe is analysed: the gate compares with what this run analysed.
  const still = new StillGate({ threshold: options.stillThreshold ?? DEFAULT_STILL_THRESHOLD });
  let lastAnalysis: Promise<Detection> | undefined;
  let carried = 0;

  const pipeline = new OrderedPipeline(PIPELINE_DEPTH);
  const detect = async (frame: DecodedFrame) => {
    // Decided in video order, when the keyframe is submitted: the analysis it carries may still be running.
    if (!still.needsAnalysis(frame) && lastAnalysis) {
      carried++;
      return { frame, detection: await lastAnalysis };
    }
    lastAnalysis = dasr.detect({ width: frame.width, height: frame.height, data: frame.data });
    const detection = await lastAnalysis;
    // The detector's own time: a keyframe may also wait behind the previous one, which is not DASR's cost.
    const { networkMs, boxesMs, poolingMs } = detection.timings;
    detectMs += networkMs + boxesMs + poolingMs;
    return { frame, detection };
  };
  const commit = async ({ frame, detection }: Awaited<ReturnType<typeof detect>>): Promise<void> => {
    // A stop request ends the run at the next commit, even when ffmpeg already decoded the last keyframe.
    options.signal?.throwIfAborted();
    const regions = regionsInVideoPixels(detection.regions, frame, info.displayWidth, info.displayHeight);
    const t = performance.now();
    await trackAndCommit(store, video.id, tracker, { t: frame.pts, width: info.displayWidth, height: info.displayHeight, regions }, trackIds);
    commitMs += performance.now() - t;
    progress.keyframes++;
    progress.regions += regions.length;
    if (performance.now() - lastSave > (options.saveEverySeconds ?? 30) * 1000) {
      await store.checkpoint();
      lastSave = performance.now();
    }
  };

  try {
    await lastValueFrom(
      concatMapFrames(spec, { longSide: poolingLongSide(dasr.config), info, signal: options.signal }, (frame) => {
        // Every frame goes through the selector (scene detection compares consecutive frames), also the
        // ones already indexed before a crash.
        const decision = selector.offer(frame);
        progress.position = frame.pts;
        progress.elapsedMs = performance.now() - started;
        options.onProgress?.(progress);
        return decision.keep && frame.pts > resumeAfter ? from(pipeline.submit(() => detect(frame), commit)) : EMPTY;
      }).pipe(defaultIfEmpty(undefined)),
    );
    await pipeline.drain();
  } catch (error) {
    // Keyframes already in flight settle (commit, or stop at the abort) before the vectors are saved.
    await pipeline.drain().catch(() => undefined);
    await store.checkpoint();
    if (!options.signal?.aborted) await store.setVideoStatus(video.id, 'failed', error instanceof Error ? error.message : String(error));
    throw error;
  }
  await store.setVideoStatus(video.id, 'ready');
  await store.checkpoint();
  progress.position = Number.isFinite(info.duration) ? info.duration : progress.position;
  progress.elapsedMs = performance.now() - started;
  return {
    videoId: video.id,
    status: resuming ? 'resumed' : 'indexed',
    keyframes: progress.keyframes,
    carried,
    regions: progress.regions,
    elapsedMs: progress.elapsedMs,
    detectMs,
    commitMs,
    progress,
  };
}

