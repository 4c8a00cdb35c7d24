/**
 * Instance tracker: links the class-agnostic DASR regions of consecutive keyframes into tracks, so that one physical
 * appearance of an object on screen is one track.
 *
 * Per keyframe (presentation-time order):
 *  1. Tracks that can no longer be continued (unmatched for more than `maxGapSeconds` AND more than
 *     `maxGapKeyframes` keyframes) are ended; `ended(t)` / `finish()` hand them to the caller.
 *  2. Every remaining track is compared with every region: cos = descriptor · feature (both unit length) and
 *     IoU = iou(track's last box, region box). A pair is admissible when cos ≥ minSimilarity (appearance alone: the
 *     box may have moved anywhere between keyframes a second apart) or when IoU ≥ minIou and cos ≥ minSimilarity / 2
 *     (the object stayed in place but its descriptor changed: pose, lighting, a partial occlusion, a different crop).
 *  3. Admissible pairs score similarityWeight·cos + (1 − similarityWeight)·IoU; the Hungarian algorithm picks the
 *     matching with the largest total score (src/track/assignment.ts). Matched regions continue their track;
 *     every other region starts a new one, with an id from a counter the caller can seed.
 *
 * Track descriptor: the L2-normalised exponential moving average of the track's (normalised) region features, the
 * newest weighted DESCRIPTOR_EMA_WEIGHT = 0.5. Why not just the last feature: a DASR region of the same object
 * varies from keyframe to keyframe (another peak, part versus whole box, motion blur), so the last feature is
 * sometimes an outlier; the average remembers the object's usual appearance, so one odd crop neither breaks the
 * chain nor lets a look-alike take the track over, and a reappearance after a short occlusion is compared with a
 * steadier reference. The cost is a small lag under steady drift: for features that random-walk with cosine 0.9
 * between keyframes the average scores ≈ 0.87 against the next feature, against 0.9 for the last one. A weight of
 * 0.5 keeps that lag small (memory of about two keyframes), which matters when appearance keeps changing.
 *
 * The tracker is deterministic and its whole state is `snapshot()`: a plain object (Float32Array descriptors; see
 * src/track/state.ts for an exact JSON encoding) from which `new Tracker(config, state)` continues exactly as the
 * uninterrupted tracker would.
 */
import { iou, type Box } from '../detect/box.js';
import { dot, l2Normalize } from '../detect/vector.js';
import { maxWeightMatching } from './assignment.js';

export interface TrackerConfig {
  /**
   * Cosine between a track's descriptor and a region's feature at or above which the pair may link on appearance
   * alone, wherever the box is. Default 0.6: regions of one object in keyframes a second apart are expected well
   * above it (a steady view), different instances well below it with whitened descriptors (not yet measured on
   * this project's videos: tune it on real tracks). Raise
   * it for unwhitened descriptors: post-ReLU features are all non-negative, so unrelated regions already score
   * higher. The IoU route uses half of it as its appearance floor, so that floor follows when it is tuned.
   */
  minSimilarity: number;
  /**
   * IoU with the track's last box at or above which a pair whose cosine is only ≥ minSimilarity / 2 may still
   * link. Default 0.3: a box that kept a third of its union with the previous one barely moved (a 30 %-of-width
   * shift still has IoU 0.54), and it equals DASR*'s default NMS IoU, so two regions of one keyframe rarely both
   * qualify for the same track through this route.
   */
  minIou: number;
  /**
   * Weight of the cosine in the score (the IoU gets the rest). Default 0.8: appearance is the identity evidence;
   * at one keyframe a second boxes often move too far for any overlap, and DASR boxes (thresholded saliency) are
   * rough. The IoU's 0.2 mostly separates near-ties in appearance in favour of spatial continuity.
   */
  similarityWeight: number;
  /**
   * A track ends when it has gone unmatched for more than this many seconds AND more than maxGapKeyframes
   * keyframes (Infinity disables). Default 2 s: covers a detector miss (peaks are capped, saliency fluctuates) or
   * a short occlusion when keyframes are dense (every frame at 25 fps: 50 frames), yet an object that leaves and
   * comes back after longer is a new appearance, hence a new track.
   */
  maxGapSeconds: number;
  /**
   * See maxGapSeconds; a non-negative integer (or Infinity). Default 2: when keyframes are sparse (one a second,
   * or one every few seconds) a track survives two keyframes without a match even if that spans more than
   * maxGapSeconds, so one or two missed detections do not split it.
   */
  maxGapKeyframes: number;
}

export const DEFAULT_TRACKER_CONFIG: Readonly<TrackerConfig> = Object.freeze({
  minSimilarity: 0.6,
  minIou: 0.3,
  similarityWeight: 0.8,
  maxGapSeconds: 2,
  maxGapKeyframes: 2,
});

/** Weight of the newest feature in a track's descriptor average (see the module comment). */
export const DESCRIPTOR_EMA_WEIGHT = 0.5;

/** The first track id when the caller seeds none. */
export const FIRST_TRACK_ID = 1;

/** Version tag of TrackerState. */
export const TRACKER_STATE_VERSION = 1;

/** One region of a keyframe, as the detector gives it (a DASR `Region` fits). */
export interface TrackInput {
  /** [x1, y1, x2, y2] in video pixels */
  box: Box;
  /** the region's response (R at its peak) */
  score: number;
  /** descriptor; L2-normalised by the detector (normalised again here, a zero vector stays zero) */
  feature: Float32Array;
}

export interface TrackerKeyframe {
  /** presentation time in seconds; keyframes must come with non-decreasing t */
  t: number;
  regions: readonly TrackInput[];
}

export interface TrackAssignment {
  trackId: number;
  /** true when this region started the track */
  isNew: boolean;
}

/** A region kept by a track, with the time of its keyframe. */
export interface TrackRegion {
  t: number;
  box: Box;
  score: number;
  /** the region's feature, L2-normalised */
  feature: Float32Array;
}

export interface Track {
  id: number;
  /** time of the first and of the latest keyframe where the track was matched */
  firstT: number;
  lastT: number;
  /** number of keyframes in which the track was matched */
  keyframes: number;
  /** keyframes processed since lastT in which it was not matched */
  missed: number;
  /** the region with the highest `score` (peak response); the earliest one on ties */
  best: TrackRegion;
  /** the box of the latest matched region */
  lastBox: Box;
  /** unit-length moving average of the matched features (zero while they were all zero) */
  descriptor: Float32Array;
}

/** Everything the tracker remembers; plain data, Float32Array for vectors. */
export interface TrackerState {
  version: typeof TRACKER_STATE_VERSION;
  /** id the next new track gets */
  nextTrackId: number;
  /** t of the latest keyframe, null before the first */
  lastT: number | null;
  /** tracks that may still be continued, by id */
  tracks: Track[];
  /** tracks that have ended but were not yet handed out by ended() / finish(), by id */
  ended: Track[];
}

/**
 * Validates a partial configuration and fills in the defaults. Throws RangeError on values out of range:
 * minSimilarity, minIou and similarityWeight in [0, 1]; maxGapSeconds ≥ 0; maxGapKeyframes a non-negative integer;
 * both gaps may be Infinity.
 */
export function resolveTrackerConfig(partial: Partial<TrackerConfig> = {}): TrackerConfig {
  const defined = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<TrackerConfig>;
  const config: TrackerConfig = { ...DEFAULT_TRACKER_CONFIG, ...defined };
  const unit = (name: keyof TrackerConfig): void => {
    const value = config[name];
    if (!(typeof value === 'number' && value >= 0 && value <= 1)) throw new RangeError(`${name} must be in [0, 1], got ${String(value)}`);
  };
  unit('minSimilarity');
  unit('minIou');
  unit('similarityWeight');
  if (!(typeof config.maxGapSeconds === 'number' && config.maxGapSeconds >= 0)) {
    throw new RangeError(`maxGapSeconds must be ≥ 0, got ${String(config.maxGapSeconds)}`);
  }
  const k = config.maxGapKeyframes;
  if (!(typeof k === 'number' && k >= 0 && (Number.isInteger(k) || k === Infinity))) {
    throw new RangeError(`maxGapKeyframes must be a non-negative integer or Infinity, got ${String(k)}`);
  }
  return config;
}

export class Tracker {
  readonly config: TrackerConfig;
  private nextTrackId: number;
  private lastT: number | null;
  /** active tracks, ascending id */
  private tracks: Track[];
  /** ended tracks not yet handed out */
  private pending: Track[];

  /**
   * `state`: a `snapshot()` to resume from, or just `{ nextTrackId }` to seed the id counter (ids stay unique
   * across restarts when the caller persists the counter). Missing fields start empty. The state is copied.
   * `allocateId`, when given, hands out new track ids instead of the counter: several trackers writing into one
   * index at once (live streams, a file being indexed) must not give two tracks the same id.
   */
  constructor(
    config: Partial<TrackerConfig> = {},
    state: Partial<TrackerState> = {},
    private readonly allocateId: (() => number) | null = null,
  ) {
    this.config = resolveTrackerConfig(config);
    const restored = restoreState(state);
    this.nextTrackId = restored.nextTrackId;
    this.lastT = restored.lastT;
    this.tracks = restored.tracks;
    this.pending = restored.ended;
  }

  /**
   * Associates the keyframe's regions with the active tracks and returns, for each region in input order, its
   * track. Throws (RangeError, before changing any state) on a non-finite or decreasing t, a region without a
   * 4-number finite box or finite score, or features whose length differs from each other or from the tracks'.
   */
  update(keyframe: TrackerKeyframe): TrackAssignment[] {
    const { t, regions } = keyframe;
    if (!Number.isFinite(t)) throw new RangeError(`keyframe t must be finite, got ${t}`);
    if (this.lastT !== null && t < this.lastT) throw new RangeError(`keyframes must come in time order: ${t} after ${this.lastT}`);
    let dim = this.tracks.length > 0 ? this.tracks[0].descriptor.length : -1;
    const features = regions.map((region, index) => {
      checkRegion(region, index);
      if (dim < 0) dim = region.feature.length;
      if (region.feature.length !== dim) {
        throw new RangeError(`region ${index}: feature has ${region.feature.length} dimensions, expected ${dim}`);
      }
      return l2Normalize(region.feature);
    });

    this.retire(t);
    const tracks = this.tracks;
    const { minSimilarity, minIou, similarityWeight } = this.config;
    const iouFloor = minSimilarity / 2;
    const weights = tracks.map((track) =>
      regions.map((region, j) => {
        const cos = clampCosine(dot(track.descriptor, features[j]));
        const overlap = safeIou(track.lastBox, region.box);
        const admissible = cos >= minSimilarity || (overlap >= minIou && cos >= iouFloor);
        return admissible ? similarityWeight * cos + (1 - similarityWeight) * overlap : -Infinity;
      }),
    );
    const { rowToCol } = maxWeightMatching(weights, regions.length);

    const assignments = new Array<TrackAssignment | undefined>(regions.length).fill(undefined);
    tracks.forEach((track, i) => {
      const j = rowToCol[i];
      if (j < 0) {
        track.missed += 1;
        return;
      }
      extendTrack(track, t, regions[j], features[j]);
      assignments[j] = { trackId: track.id, isNew: false };
    });
    regions.forEach((region, j) => {
      if (assignments[j]) return;
      const id = this.allocateId ? this.allocateId() : this.nextTrackId;
      if (!(Number.isSafeInteger(id) && id >= 1 && this.tracks.every((track) => track.id !== id))) throw new RangeError(`track id allocator gave ${id}`);
      this.nextTrackId = Math.max(this.nextTrackId, id + 1);
      this.tracks.push(newTrack(id, t, region, features[j]));
      assignments[j] = { trackId: id, isNew: true };
    });
    this.lastT = t;
    return assignments as TrackAssignment[];
  }

  /**
   * Hands out (once) the tracks that have ended: those ended while processing keyframes, plus the active ones that
   * can no longer be continued by a keyframe at time ≥ t (unmatched for more than maxGapKeyframes keyframes and
   * more than maxGapSeconds before t). Call it with the keyframe's t after each update() to emit "ended" events as
   * soon as they are certain. Ascending id.
   */
  ended(t: number): Track[] {
    if (Number.isNaN(t)) throw new RangeError('ended: t is NaN');
    this.retire(t);
    const out = this.pending.sort((a, b) => a.id - b.id);
    this.pending = [];
    return out;
  }

  /** End of stream: ends every track and hands out all ended tracks not yet handed out, ascending id. */
  finish(): Track[] {
    const out = [...this.pending, ...this.tracks].sort((a, b) => a.id - b.id);
    this.pending = [];
    this.tracks = [];
    return out;
  }

  /** Copies of the active tracks, ascending id. */
  activeTracks(): Track[] {
    return this.tracks.map(copyTrack);
  }

  /** The id the next new track will get. */
  peekNextTrackId(): number {
    return this.nextTrackId;
  }

  /** A deep copy of the whole state; `new Tracker(config, snapshot)` resumes exactly from it. */
  snapshot(): TrackerState {
    return {
      version: TRACKER_STATE_VERSION,
      nextTrackId: this.nextTrackId,
      lastT: this.lastT,
      tracks: this.tracks.map(copyTrack),
      ended: this.pending.map(copyTrack),
    };
  }

  /** Moves the tracks that a keyframe at time t could no longer continue to the pending ended list. */
  private retire(t: number): void {
    const { maxGapKeyframes, maxGapSeconds } = this.config;
    const keep: Track[] = [];
    for (const track of this.tracks) {
      if (track.missed > maxGapKeyframes && t - track.lastT > maxGapSeconds) this.pending.push(track);
      else keep.push(track);
    }
    this.tracks = keep;
  }
}

function checkRegion(region: TrackInput, index: number): void {
  const { box, score, feature } = region;
  if (!Array.isArray(box) || box.length !== 4 || !box.every((c) => typeof c === 'number' && Number.isFinite(c))) {
    throw new RangeError(`region ${index}: box must be 4 finite numbers`);
  }
  if (!Number.isFinite(score)) throw new RangeError(`region ${index}: score must be finite, got ${score}`);
  if (!(feature instanceof Float32Array)) throw new RangeError(`region ${index}: feature must be a Float32Array`);
}

/** Float32 rounding can push the dot product of unit vectors slightly past ±1. */
function clampCosine(c: number): number {
  return Number.isNaN(c) ? 0 : Math.min(1, Math.max(-1, c));
}

function safeIou(a: Box, b: Box): number {
  const value = iou(a, b);
  return Number.isFinite(value) ? value : 0;
}

function newTrack(id: number, t: number, region: TrackInput, feature: Float32Array): Track {
  return {
    id,
    firstT: t,
    lastT: t,
    keyframes: 1,
    missed: 0,
    best: { t, box: copyBox(region.box), score: region.score, feature: Float32Array.from(feature) },
    lastBox: copyBox(region.box),
    descriptor: feature,
  };
}

function extendTrack(track: Track, t: number, region: TrackInput, feature: Float32Array): void {
  track.lastT = t;
  track.keyframes += 1;
  track.missed = 0;
  track.lastBox = copyBox(region.box);
  if (region.score > track.best.score) {
    track.best = { t, box: copyBox(region.box), score: region.score, feature: Float32Array.from(feature) };
  }
  const mixed = new Float32Array(feature.length);
  for (let k = 0; k < feature.length; k++) {
    mixed[k] = (1 - DESCRIPTOR_EMA_WEIGHT) * track.descriptor[k] + DESCRIPTOR_EMA_WEIGHT * feature[k];
  }
  track.descriptor = l2Normalize(mixed);
}

function copyBox(box: Box): Box {
  return [box[0], box[1], box[2], box[3]];
}

function copyTrack(track: Track): Track {
  return {
    id: track.id,
    firstT: track.firstT,
    lastT: track.lastT,
    keyframes: track.keyframes,
    missed: track.missed,
    best: { t: track.best.t, box: copyBox(track.best.box), score: track.best.score, feature: Float32Array.from(track.best.feature) },
    lastBox: copyBox(track.lastBox),
    descriptor: Float32Array.from(track.descriptor),
  };
}

/** Validates and deep-copies a (partial) state; throws RangeError when it is inconsistent. */
function restoreState(state: Partial<TrackerState>): Omit<TrackerState, 'version'> {
  if (state.version !== undefined && state.version !== TRACKER_STATE_VERSION) {
    throw new RangeError(`tracker state version ${String(state.version)} is not supported (expected ${TRACKER_STATE_VERSION})`);
  }
  for (const track of [...(state.tracks ?? []), ...(state.ended ?? [])]) checkTrackShape(track);
  const tracks = (state.tracks ?? []).map(copyTrack).sort((a, b) => a.id - b.id);
  const ended = (state.ended ?? []).map(copyTrack).sort((a, b) => a.id - b.id);
  const all = [...tracks, ...ended];
  const highestId = all.reduce((max, track) => Math.max(max, track.id), FIRST_TRACK_ID - 1);
  const nextTrackId = state.nextTrackId ?? highestId + 1;
  if (!Number.isSafeInteger(nextTrackId)) throw new RangeError(`nextTrackId must be a safe integer, got ${nextTrackId}`);
  if (nextTrackId <= highestId) throw new RangeError(`nextTrackId ${nextTrackId} is not above the highest track id ${highestId}`);
  const lastT = state.lastT ?? null;
  if (lastT !== null && !Number.isFinite(lastT)) throw new RangeError(`state lastT must be finite or null, got ${lastT}`);
  const ids = new Set<number>();
  for (const track of all) {
    const where = `state track ${track.id}`;
    if (!Number.isSafeInteger(track.id)) throw new RangeError(`${where}: id must be a safe integer`);
    if (ids.has(track.id)) throw new RangeError(`${where}: duplicate id`);
    ids.add(track.id);
    if (!(Number.isFinite(track.firstT) && Number.isFinite(track.lastT) && track.firstT <= track.lastT)) {
      throw new RangeError(`${where}: firstT/lastT must be finite with firstT ≤ lastT`);
    }
    if (lastT === null || track.lastT > lastT) throw new RangeError(`${where}: lastT is after the state's lastT`);
    if (!(Number.isInteger(track.keyframes) && track.keyframes >= 1)) throw new RangeError(`${where}: keyframes must be a positive integer`);
    if (!(Number.isInteger(track.missed) && track.missed >= 0)) throw new RangeError(`${where}: missed must be a non-negative integer`);
    if (track.descriptor.length !== track.best.feature.length) throw new RangeError(`${where}: descriptor and best feature lengths differ`);
  }
  if (tracks.some((track) => track.descriptor.length !== tracks[0].descriptor.length)) {
    throw new RangeError('state tracks have descriptors of different lengths');
  }
  return { nextTrackId, lastT, tracks, ended };
}

/** The parts copyTrack relies on: vectors must really be Float32Arrays (a JSON round trip turns them into objects). */
function checkTrackShape(track: Track): void {
  const where = `state track ${String(track?.id)}`;
  if (typeof track !== 'object' || track === null || typeof track.best !== 'object' || track.best === null) {
    throw new RangeError(`${where}: not a track`);
  }
  if (!(track.descriptor instanceof Float32Array) || !(track.best.feature instanceof Float32Array)) {
    throw new RangeError(`${where}: descriptor and best.feature must be Float32Arrays (see src/track/state.ts for JSON)`);
  }
  for (const box of [track.lastBox, track.best.box]) {
    if (!Array.isArray(box) || box.length !== 4 || !box.every((c) => typeof c === 'number' && Number.isFinite(c))) {
      throw new RangeError(`${where}: boxes must be 4 finite numbers`);
    }
  }
  if (!Number.isFinite(track.best.t) || !Number.isFinite(track.best.score)) throw new RangeError(`${where}: best t and score must be finite`);
}
