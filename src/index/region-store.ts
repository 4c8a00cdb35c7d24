/**
 * What ingestion and search need of an index, whatever engine holds it: the embedded one (SQLite + hnswlib-node in
 * one data directory, IndexStore) or a shared one (PostgreSQL + pgvector, PostgresRegionStore) that several
 * workers and API replicas write and read at once. Both pass one contract suite (test/index/region-store-contract).
 *
 * The contract, beyond the types:
 * - a commit is one transaction; a keyframe the video already has at that time is left as it was (a redelivered job
 *   cannot duplicate a region) and its ids are returned, listed in `repeated`;
 * - a batch that was committed whole before changes nothing: not the tracks, the resume point or the tracker state;
 * - track ids come from the store and are unique across videos and writers;
 * - a commit under a writer epoch older than the video's (takeWriter) changes nothing and is refused;
 * - a deleted video's regions leave the search at once;
 * - search filters restrict the nearest-neighbour search itself; similarity is the cosine of the unit vectors.
 */
import type {
  CommitResult,
  KeyframeInput,
  NewVideo,
  RegionRecord,
  SegmentInput,
  SegmentRecord,
  TimeRange,
  TrackerState,
  TrackRecord,
  TrackUpdate,
  VideoRecord,
  VideoSettings,
  VideoState,
  VideoStatus,
  VideoSummary,
} from './database.js';
import type { SearchFilters, SearchHit } from './index-store.js';

export interface RegionStore {
  /** length of every stored descriptor, fixed when the index is created */
  readonly dim: number;
  addVideo(video: NewVideo): Promise<VideoRecord>;
  /**
   * Adds a file's video unless the index has one (not deleted) with its content key, returned then instead: the
   * ranges of a split file, started at once by several workers, make one video between them.
   */
  findOrAddVideo(video: NewVideo & { contentKey: string }): Promise<{ video: VideoRecord; added: boolean }>;
  getVideo(id: number): Promise<VideoRecord | undefined>;
  /** a video with its keyframe, region and track counts */
  videoSummary(id: number): Promise<VideoSummary | undefined>;
  /** every video not deleted, with its counts, in id order */
  listVideos(): Promise<VideoSummary[]>;
  /** the most recent video not deleted with this content key (fileContentKey): what a file's job resumes */
  findVideoByContentKey(contentKey: string): Promise<VideoRecord | undefined>;
  setVideoStatus(id: number, status: VideoStatus, error?: string | null): Promise<void>;
  /** records a video's display size once known (a live stream's, at its first keyframe) */
  setVideoSize(id: number, size: { width: number; height: number }): Promise<void>;
  /** live videos still being indexed, oldest first: the streams a cluster's workers are to hold */
  liveVideosIndexing(): Promise<VideoRecord[]>;
  /** resume point and tracker state of a video */
  videoState(id: number): Promise<VideoState | undefined>;
  /**
   * Commits keyframes in one transaction. With `writerEpoch` (from takeWriter), a commit is refused with
   * SupersededWriterError once another writer has taken the video since.
   */
  commit(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates?: readonly TrackUpdate[],
    trackerState?: TrackerState,
    lastCommittedT?: number,
    writerEpoch?: number,
  ): Promise<CommitResult>;
  /** time of the latest keyframe of a video within a range (as inTimeRange tells), null when none: where it resumes */
  lastKeyframeTime(videoId: number, range: TimeRange): Promise<number | null>;
  /**
   * Records range `index` of a video indexed in `count` ranges as finished (again: no change), and marks the video
   * ready once every range is; true when it is ready (a failed or deleted one is left so). Finishers of one video are
   * serialised, so the last one always sees all.
   */
  finishRange(videoId: number, range: { index: number; count: number }): Promise<boolean>;
  /**
   * Makes the caller the video's only writer: returns a new writer epoch, and commits made under an older one are
   * refused from now on. A commit in progress finishes first, so the state read after this is the last one written.
   * For a stream whose holder seemed dead (its lease expired) but was only frozen: when it wakes, it cannot write.
   */
  takeWriter(videoId: number): Promise<number>;
  /** `count` track ids no writer of this index has been given (ids given out but never committed are skipped) */
  allocateTrackIds(count: number): Promise<number[]>;
  getTrack(id: number): Promise<TrackRecord | undefined>;
  /** regions by id, in the order asked; ids that do not exist are left out */
  regionsByIds(ids: readonly number[]): Promise<RegionRecord[]>;
  /** a track's regions in time order */
  regionsOfTrack(trackId: number): Promise<RegionRecord[]>;
  /**
   * Stored descriptors of up to `perTrack` regions of each track, evenly spaced in its time order (every
   * ⌈n / perTrack⌉-th of its n regions, from the first), by track id; tracks without regions are absent.
   */
  trackSamples(trackIds: readonly number[], perTrack: number): Promise<Map<number, Float32Array[]>>;
  /** stored descriptors by region id (as stored: the cluster's are half precision); missing ids are absent */
  features(ids: readonly number[]): Promise<Map<number, Float32Array>>;
  regionCount(): Promise<number>;
  /** videos not deleted */
  videoCount(): Promise<number>;
  /** frame sizes of the videos not deleted whose size is known (of `videoIds` only, when given), one per video */
  frameSizes(videoIds?: readonly number[]): Promise<{ width: number; height: number }[]>;
  /** the settings the videos not deleted were indexed with (of `videoIds` only, when given), each once with its video count */
  videoSettings(videoIds?: readonly number[]): Promise<VideoSettings[]>;
  /** the k regions most similar to a unit `feature`, most similar first */
  search(feature: Float32Array, k: number, filters?: SearchFilters): Promise<SearchHit[]>;
  /**
   * Records finished segments of a live run's recording. A segment recorded again (same path) keeps its start and
   * takes the longer end and size: a writer taking a stream over commits the segment its predecessor was writing as
   * far as it reaches then, and should that writer only have been frozen, its own later commit of the segment whole
   * wins.
   */
  addSegments(videoId: number, segments: readonly SegmentInput[]): Promise<void>;
  /** a live run's recorded segments overlapping [from, to] (all of them without bounds), in time order */
  segmentsOfVideo(videoId: number, from?: number, to?: number): Promise<SegmentRecord[]>;
  /** all recorded segments together: their bytes and the oldest one's creation time (null without segments) */
  segmentTotals(): Promise<{ bytes: number; oldestCreatedAt: number | null }>;
  /**
   * The segments past retention's limits, oldest first: every one recorded more than `maxAgeSeconds` before `now`
   * (Unix ms), then the oldest while all segments from it on hold more than `maxBytes`. Selected by the engine, so
   * that retention reads only what it removes.
   */
  expiringSegments(limits: { maxAgeSeconds: number; maxBytes: number }, now: number): Promise<SegmentRecord[]>;
  /**
   * Forgets what a live run holds before `t`, in one transaction: its keyframes and their regions, the segments that
   * end by then, tracks left without regions (the others start at their first remaining keyframe and keep a best
   * region). Returns the removed segments, whose files the caller deletes afterwards, so that no region ever points
   * at a missing file.
   */
  trimVideoBefore(videoId: number, t: number): Promise<SegmentRecord[]>;
  /** deletes a video with everything it owns; false if there was none */
  deleteVideo(id: number): Promise<boolean>;
  /**
   * Claims a file (by its content key) for one ingestion at a time across every writer of the index, until
   * `release`; null when another holds it. A claim dies with its holder's connection (a killed worker).
   */
  claim(contentKey: string): Promise<Claim | null>;
  /** makes what was committed quick to reopen (the embedded engine saves its graph); commits are durable without it */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

/** A commit under a writer epoch that another writer has replaced since (RegionStore.takeWriter). */
export class SupersededWriterError extends Error {
  constructor(readonly videoId: number) {
    super(`video ${videoId} was taken over by another writer`);
    this.name = 'SupersededWriterError';
  }
}

/** Refuses a commit under `epoch` when the video's writer epoch is now `current`; commits without one are not fenced. */
export function assertWriterEpoch(videoId: number, current: number, epoch: number | undefined): void {
  if (epoch !== undefined && epoch !== current) throw new SupersededWriterError(videoId);
}

export interface Claim {
  release(): Promise<void>;
}

/** A search filter that leaves at most this many regions is ranked exactly: a graph search would miss most of them. */
export const EXACT_SEARCH_MAX = 4096;

/** Where an index lives: a `postgres://` (or `postgresql://`) URL names a shared one, anything else a data directory. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location);
}
