import { EMPTY, from, lastValueFrom, defaultIfEmpty, of, takeWhile } from 'rxjs';
import { performance } from 'node:perf_hooks';
import type { Detector } from '../detect/detector.js';
import { poolingLongSide } from '../detect/config.js';
import { concatMapFrames, decodeTimeline, seekBefore, type DecodedFrame } from '../decode/frames.js';
import { KeyframeSelector } from '../decode/keyframes.js';
import { probeVideo, type VideoInfo } from '../decode/probe.js';
import { isPermanentDecodeError } from '../decode/errors.js';
import { parseSource, type SourceSpec } from '../source/source-spec.js';
import { fileContentKey, inTimeRange, TIME_EPSILON, type TimeRange, type VideoRecord } from '../index/database.js';
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
  /** index only this part of the file: one job of a file split for several workers */
  range?: FileRange;
}

/**
 * Part `index` of a file split into `count` ranges of `seconds`: [t0 + index·seconds, t0 + (index + 1)·seconds), the
 * last one to the end, t0 being the first frame's time. Its keyframes are those a whole decode keeps in it (`seconds`
 * is a whole number of keyframe intervals, and the interval grid is the whole decode's). The tracker starts afresh
 * in each range, so a track is cut where a range begins (and where an interrupted range resumes).
 */
export interface FileRange {
  index: number;
  count: number;
  seconds: number;
}

export function isFileRange(range: unknown): range is FileRange {
  const r = range as Partial<FileRange> | null;
  return (
    typeof r === 'object' && r !== null && Number.isInteger(r.index) && Number.isInteger(r.count) && r.index! >= 0 && r.index! < r.count! && typeof r.seconds === 'number' && r.seconds > 0 && Number.isFinite(r.seconds)
  );
}

/** The range length of a video indexed in ranges (its settings record it), undefined for a whole-file one. */
export function splitSeconds(video: Pick<VideoRecord, 'config'>): number | undefined {
  return (video.config as { split?: number } | null)?.split;
}

/** The ranges of a file of `duration` seconds split into parts of `seconds`. */
export function splitFile(duration: number, seconds: number): FileRange[] {
  const count = Number.isFinite(duration) && duration > 0 ? Math.max(1, Math.ceil(duration / seconds - 1e-9)) : 1;
  return Array.from({ length: count }, (_, index) => ({ index, count, seconds }));
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

/** What the decode emits once a frame is past the range: the end of the run. */
const PAST_THE_RANGE = Symbol('past the range');

/** What a video's index depends on: a resume with other settings would mix two indexes, so it redoes. */
function ingestSettings(dasr: Detector, options: IngestOptions): Record<string, unknown> {
  return {
    dasr: dasr.config,
    topDown: dasr.topDown ?? null,
    interval: options.interval,
    sceneThreshold: options.sceneThreshold ?? null,
    stillThreshold: options.stillThreshold ?? DEFAULT_STILL_THRESHOLD,
    tracker: options.tracker ?? {},
    // Split indexes (tracks cut at range ends) are not resumed as whole ones, nor the other way round.
    ...(options.range ? { split: options.range.seconds } : {}),
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
  if (options.range) return ingestRange(spec, options.range, dasr, store, options, logger);
  const info = await probeVideo(spec, { signal: options.signal });
  const contentKey = await fileContentKey(spec.path);
  return withClaim(store, contentKey, spec.path, () => ingestClaimed(spec, info, contentKey, dasr, store, options, logger));
}

/** One range of a split file (options.range). */
async function ingestRange(spec: FileSpec, range: FileRange, dasr: Detector, store: RegionStore, options: IngestOptions, logger: Logger): Promise<IngestResult> {
  if (!isFileRange(range)) throw new UnfinishableJobError(`not a range of a split file: ${JSON.stringify(range)}`);
  // Forcing one range would delete the video its other ranges are writing into.
  if (options.force) throw new UnfinishableJobError(`${spec.path}: a file indexed in ranges is indexed again by deleting its video first (dasr rm), not by forcing a range`);
  try {
    const info = await probeVideo(spec, { signal: options.signal });
    const contentKey = await fileContentKey(spec.path);
    // The video row is found or made under the file's claim, so that its ranges share one; each range then has its own.
    const opened = await withClaim(store, contentKey, spec.path, () => openVideo(spec, info, contentKey, dasr, store, options, logger));
    if ('done' in opened) return opened.done;
    return await withClaim(store, `${contentKey}#range ${range.index}/${range.count}`, `${spec.path} (range ${range.index + 1} of ${range.count})`, () =>
      ingestVideo(spec, info, opened, dasr, store, options, logger),
    );
  } catch (error) {
    // A file gone or damaged fails every range alike: its split video is marked failed, so that its other ranges are
    // dropped and it can be removed, rather than left indexing for ever.
    if (isPermanentDecodeError(error)) await failSplitVideo(store, spec.path, error.message).catch((e: unknown) => logger.warn(`${spec.path}: not marked failed (${String(e)})`));
    throw error;
  }
}

async function failSplitVideo(store: RegionStore, path: string, error: string): Promise<void> {
  const video = (await store.listVideos()).find((v) => v.path === path && v.sourceKind === 'file' && v.status === 'indexing' && splitSeconds(v) !== undefined);
  if (video) await store.setVideoStatus(video.id, 'failed', error);
}

async function withClaim<T>(store: RegionStore, key: string, name: string, work: () => Promise<T>): Promise<T> {
  const claim = await store.claim(key);
  if (!claim) throw new FileBusyError(`${name} is being indexed by another worker`);
  try {
    return await work();
  } finally {
    await claim.release();
  }
}

/** The same file is being indexed elsewhere in the index (another cluster worker): try again later. */
export class FileBusyError extends Error {
  override name = 'FileBusyError';
}

/** A job no worker can finish as it stands (a range of a video that failed, a range that is none): not to retry. */
export class UnfinishableJobError extends Error {
  override name = 'UnfinishableJobError';
}

async function ingestClaimed(
  spec: FileSpec,
  info: VideoInfo,
  contentKey: string,
  dasr: Detector,
  store: RegionStore,
  options: IngestOptions,
  logger: Logger,
): Promise<IngestResult> {
  const opened = await openVideo(spec, info, contentKey, dasr, store, options, logger);
  return 'done' in opened ? opened.done : ingestVideo(spec, info, opened, dasr, store, options, logger);
}

type FileSpec = Extract<SourceSpec, { kind: 'file' }>;

/** The video row a run writes into: a new one, or one to resume. */
interface OpenedVideo {
  video: VideoRecord;
  resuming: boolean;
}

/**
 * Finds the file's video (resumed when its settings match) or makes it; `done` when it is indexed already. A video
 * of other settings is deleted and made again, but for a split one still indexing: its ranges are being written by
 * several workers, so another run of the file waits until it is ready (then the file is indexed).
 */
async function openVideo(
  spec: FileSpec,
  info: VideoInfo,
  contentKey: string,
  dasr: Detector,
  store: RegionStore,
  options: IngestOptions,
  logger: Logger,
): Promise<OpenedVideo | { done: IngestResult }> {
  const settings = ingestSettings(dasr, options);
  // Twice at most: a range of the same split, started on another worker at the same moment, may make it first.
  for (let attempt = 0; attempt < 2; attempt++) {
    const existing = await store.findVideoByContentKey(contentKey);
    if (existing && existing.status === 'ready' && !options.force) {
      const summary = await store.videoSummary(existing.id);
      logger.info(`${spec.path} is already indexed as video ${existing.id}`);
      const progress = { label: `video ${existing.id}`, position: info.duration, duration: info.duration, keyframes: summary?.keyframeCount ?? 0, regions: summary?.regionCount ?? 0, elapsedMs: 0 };
      return { done: { videoId: existing.id, status: 'already-indexed', keyframes: progress.keyframes, carried: 0, regions: progress.regions, elapsedMs: 0, detectMs: 0, commitMs: 0, progress } };
    }
    if (existing) {
      const sameSettings = JSON.stringify(existing.config) === JSON.stringify(settings);
      if (existing.status === 'indexing' && sameSettings) return { video: existing, resuming: true };
      if (splitSeconds(existing) !== undefined && existing.status === 'indexing') throw new FileBusyError(`${spec.path} is being indexed in ranges with other settings (video ${existing.id}); this job waits for it`);
      if (options.range && existing.status === 'failed' && sameSettings) throw new UnfinishableJobError(`${spec.path}: video ${existing.id} failed (${existing.error ?? 'no reason given'})`);
      logger.info(`re-indexing video ${existing.id} from the start (${existing.status === 'indexing' ? 'settings changed' : existing.status})`);
      await store.deleteVideo(existing.id);
    }
    const { video, added } = await store.findOrAddVideo({
      path: spec.path,
      sourceKind: 'file',
      contentKey,
      width: info.displayWidth,
      height: info.displayHeight,
      duration: info.duration,
      fps: info.frameRate,
      status: 'indexing',
      config: settings,
    });
    if (added) return { video, resuming: false };
  }
  throw new FileBusyError(`${spec.path}: its video is being made and remade by other workers; this job waits`);
}

const WHOLE_FILE: TimeRange = { start: Number.NEGATIVE_INFINITY, end: Number.POSITIVE_INFINITY };

/** A range's part of the file's timeline; its end is the next range's start, computed alike. */
function timeRangeOf(range: FileRange, firstPts: number): TimeRange {
  const startOf = (index: number): number => firstPts + index * range.seconds;
  return { start: startOf(range.index), end: range.index === range.count - 1 ? Number.POSITIVE_INFINITY : startOf(range.index + 1) };
}

/**
 * Indexes the file into its video: the whole file, or one range of it (options.range). Every frame from where the
 * decode starts goes through the keyframe selector (scene detection compares consecutive frames), also the ones
 * already indexed before a crash; keyframes in the span after the resume point are analysed and committed.
 */
async function ingestVideo(spec: FileSpec, info: VideoInfo, { video, resuming }: OpenedVideo, dasr: Detector, store: RegionStore, options: IngestOptions, logger: Logger): Promise<IngestResult> {
  const started = performance.now();
  const { range } = options;
  options.onVideo?.(video.id);
  // A range's tracker state is not kept (its ranges run at once): it resumes after its own last keyframe, afresh.
  const state = resuming && !range ? await store.videoState(video.id) : undefined;
  // A range is decoded from just before where it starts (or resumes), on the timeline of a whole decode.
  const timeline = range && (await decodeTimeline(spec, info, { signal: options.signal }));
  const bounds = range && timeline ? timeRangeOf(range, timeline.firstPts) : WHOLE_FILE;
  const resumeAfter = (range ? await store.lastKeyframeTime(video.id, bounds) : state?.lastCommittedT) ?? Number.NEGATIVE_INFINITY;
  const startAt = Math.max(bounds.start, resumeAfter);
  const seek = timeline && startAt > timeline.firstPts ? await seekBefore(spec, info, timeline, startAt, { signal: options.signal }) : undefined;
  const trackIds = new TrackIdReserve(store);
  const tracker = new Tracker(options.tracker, committedTrackerState(state), trackIds.take);
  const label = range ? `video ${video.id} (range ${range.index + 1} of ${range.count})` : `video ${video.id}`;
  if (resumeAfter > Number.NEGATIVE_INFINITY) logger.info(`resuming ${label} after t = ${resumeAfter.toFixed(3)} s`);

  const progress: IngestProgress = { label, position: 0, duration: info.duration, keyframes: 0, regions: 0, elapsedMs: 0 };
  const selector = new KeyframeSelector({ interval: options.interval, sceneThreshold: options.sceneThreshold, anchor: timeline?.firstPts });
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
    // A range keeps no tracker state: its ranges run at once, and it resumes afresh after its own last keyframe.
    await trackAndCommit(store, video.id, tracker, { t: frame.pts, width: info.displayWidth, height: info.displayHeight, regions }, { trackIds, keepState: !range });
    commitMs += performance.now() - t;
    progress.keyframes++;
    progress.regions += regions.length;
    if (performance.now() - lastSave > (options.saveEverySeconds ?? 30) * 1000) {
      await store.checkpoint();
      lastSave = performance.now();
    }
  };

  let firstFrame = true;
  try {
    await lastValueFrom(
      concatMapFrames<void | typeof PAST_THE_RANGE>(spec, { longSide: poolingLongSide(dasr.config), info, signal: options.signal, seek }, (frame) => {
        if (firstFrame && seek && frame.pts > startAt + TIME_EPSILON)
          throw new Error(`${spec.path}: the decode seeking to ${seek.seconds.toFixed(3)} s began at ${frame.pts.toFixed(3)} s, after the part it is to index`);
        firstFrame = false;
        if (frame.pts >= bounds.end - TIME_EPSILON) return of(PAST_THE_RANGE);
        const decision = selector.offer(frame);
        progress.position = frame.pts;
        progress.elapsedMs = performance.now() - started;
        options.onProgress?.(progress);
        return decision.keep && inTimeRange(frame.pts, bounds) && frame.pts > resumeAfter + TIME_EPSILON ? from(pipeline.submit(() => detect(frame), commit)) : EMPTY;
      }).pipe(
        // Past the range the decode is stopped (ffmpeg is killed), not read to the end of the file.
        takeWhile((step) => step !== PAST_THE_RANGE),
        defaultIfEmpty(undefined),
      ),
    );
    await pipeline.drain();
  } catch (error) {
    // Keyframes already in flight settle (commit, or stop at the abort) before the vectors are saved.
    await pipeline.drain().catch(() => undefined);
    await store.checkpoint();
    // A range leaves the video as it is: its other ranges go on, and the job is tried again (see ingestRange).
    if (!options.signal?.aborted && !range) await store.setVideoStatus(video.id, 'failed', error instanceof Error ? error.message : String(error));
    throw error;
  }
  if (range) {
    if (await store.finishRange(video.id, range)) logger.info(`${spec.path}: every range indexed; video ${video.id} is ready`);
  } else {
    await store.setVideoStatus(video.id, 'ready');
  }
  await store.checkpoint();
  progress.position = Number.isFinite(info.duration) ? info.duration : progress.position;
  progress.elapsedMs = performance.now() - started;
  return {
    videoId: video.id,
    status: resumeAfter > Number.NEGATIVE_INFINITY || (resuming && !range) ? 'resumed' : 'indexed',
    keyframes: progress.keyframes,
    carried,
    regions: progress.regions,
    elapsedMs: progress.elapsedMs,
    detectMs,
    commitMs,
    progress,
  };
}

