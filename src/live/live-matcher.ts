/**
 * Standing queries over live streams: which regions of a processed keyframe match which subscription, turned
 * into a few messages per appearance instead of one per frame.
 *
 * An appearance is what a user means by "it showed up": one or more tracks of one stream that match a
 * subscription. A newly matching track joins an open appearance of the same subscription and stream silently
 * when its box overlaps the appearance's last box (intersection ≥ JOIN_OVERLAP of the smaller box: DASR* often
 * finds several regions on one object, the whole and its parts, each followed by its own track), or when nothing
 * else matched that appearance in this keyframe (the object moved too far between keyframes for the tracker to
 * follow, which happens when keyframes are seconds apart under load). Only a second matching region in the same
 * keyframe, away from the first, opens a second appearance. Messages:
 * - match: the first matching region of a new appearance;
 * - update (only when the subscription asks for them): a later region scoring at least UPDATE_MIN_GAIN above the
 *   best so far;
 * - ended: every track of the appearance has ended (the tracker gave it up) or the stream went away.
 * Pure state: no I/O and no clock; keyframes carry their own times.
 */
import { boxArea, intersectionArea, type Box } from '../detect/box.js';
import { packVectors } from './match-scores.js';
import { javascriptKernel, type MatchKernel } from './match-kernel.js';

export const JOIN_OVERLAP = 0.3;
/** A subscription's least similarity of a match when it names none. */
export const DEFAULT_MATCH_THRESHOLD = 0.7;
export const UPDATE_MIN_GAIN = 0.02;

export interface LiveSubscription {
  id: string;
  /** unit query descriptor */
  vector: Float32Array;
  /** minimum cosine similarity of a matching region */
  threshold: number;
  /** only these streams; null = every stream */
  streams: readonly number[] | null;
  /** send update messages when an appearance is seen with a clearly higher score */
  updates: boolean;
}

export interface KeyframeRegion {
  regionId: number;
  box: Box;
  trackId: number;
  feature: Float32Array;
}

/** A processed keyframe of a live stream. */
export interface StreamKeyframe {
  streamId: number;
  videoId: number;
  /** seconds in the stream's index */
  t: number;
  /** Unix ms: when the frame arrived from the decoder, and when its processing finished */
  receivedAt: number;
  processedAt: number;
  regions: readonly KeyframeRegion[];
  /** tracks the tracker ended with this keyframe */
  endedTrackIds: readonly number[];
}

interface Appearance {
  id: number;
  subscriptionId: string;
  streamId: number;
  videoId: number;
  /** tracks still running */
  trackIds: Set<number>;
  /** every track that joined, for the ended message */
  allTrackIds: Set<number>;
  lastBox: Box;
  firstT: number;
  lastT: number;
  bestScore: number;
}

export type LiveEvent =
  | {
      kind: 'match' | 'update';
      subscriptionId: string;
      appearance: number;
      streamId: number;
      videoId: number;
      trackId: number;
      regionId: number;
      t: number;
      receivedAt: number;
      processedAt: number;
      box: Box;
      score: number;
    }
  | {
      kind: 'ended';
      subscriptionId: string;
      appearance: number;
      streamId: number;
      videoId: number;
      trackIds: number[];
      firstT: number;
      lastT: number;
      bestScore: number;
    };

/** Intersection area over the smaller box's area (1 when one box contains the other). */
export function overlapOfSmaller(a: Box, b: Box): number {
  const smaller = Math.min(boxArea(a), boxArea(b));
  return smaller > 0 ? intersectionArea(a, b) / smaller : 0;
}

export class LiveMatcher {
  private readonly subscriptions = new Map<string, LiveSubscription>();
  private packed: Float32Array | null = null;
  private order: LiveSubscription[] = [];
  private readonly open = new Map<number, Appearance>();
  private nextAppearance = 1;

  constructor(readonly dim: number) {}

  get size(): number {
    return this.subscriptions.size;
  }

  /** Open appearances (for metrics and tests). */
  get openAppearances(): number {
    return this.open.size;
  }

  add(subscription: LiveSubscription): void {
    if (subscription.vector.length !== this.dim) throw new RangeError(`subscription vector has ${subscription.vector.length} dimensions, expected ${this.dim}`);
    if (!(subscription.threshold >= -1 && subscription.threshold <= 1)) throw new RangeError(`threshold must lie in [-1, 1], got ${subscription.threshold}`);
    this.subscriptions.set(subscription.id, subscription);
    this.packed = null;
  }

  /** Forgets a subscription and its open appearances (no ended messages: nobody is listening). */
  remove(id: string): boolean {
    const removed = this.subscriptions.delete(id);
    if (removed) {
      this.packed = null;
      for (const [key, appearance] of this.open) if (appearance.subscriptionId === id) this.open.delete(key);
    }
    return removed;
  }

  /**
   * The events one keyframe causes, in order: matches and updates by subscription, then endings. The similarities
   * come from `kernel` (one matrix product for all subscriptions); calls must not overlap (the hub chains them).
   */
  async offer(keyframe: StreamKeyframe, kernel: MatchKernel = javascriptKernel): Promise<LiveEvent[]> {
    const events: LiveEvent[] = [];
    if (keyframe.regions.length > 0 && this.subscriptions.size > 0) {
      if (!this.packed) {
        this.order = [...this.subscriptions.values()];
        this.packed = packVectors(this.order.map((s) => s.vector), this.dim);
      }
      // A subscription removed while the kernel ran is skipped; one added waits for the next keyframe.
      const order = this.order;
      const scores = await kernel.scores(this.packed, packVectors(keyframe.regions.map((r) => r.feature), this.dim), this.dim);
      const regionCount = keyframe.regions.length;
      order.forEach((subscription, s) => {
        if (this.subscriptions.get(subscription.id) !== subscription) return;
        if (subscription.streams && !subscription.streams.includes(keyframe.streamId)) return;
        keyframe.regions.forEach((region, r) => {
          const score = scores[s * regionCount + r]!;
          if (score >= subscription.threshold) this.matched(subscription, keyframe, region, score, events);
        });
      });
    }
    const ended = new Set(keyframe.endedTrackIds);
    for (const [key, appearance] of this.open) {
      if (appearance.streamId !== keyframe.streamId) continue;
      for (const trackId of appearance.trackIds) if (ended.has(trackId)) appearance.trackIds.delete(trackId);
      if (appearance.trackIds.size === 0) {
        this.open.delete(key);
        events.push(endedEvent(appearance));
      }
    }
    return events;
  }

  /** Ends every open appearance of a stream (it was removed or stopped). */
  endStream(streamId: number): LiveEvent[] {
    const events: LiveEvent[] = [];
    for (const [key, appearance] of this.open) {
      if (appearance.streamId !== streamId) continue;
      this.open.delete(key);
      events.push(endedEvent(appearance));
    }
    return events;
  }

  private matched(subscription: LiveSubscription, keyframe: StreamKeyframe, region: KeyframeRegion, score: number, events: LiveEvent[]): void {
    const candidates = [...this.open.values()].filter((a) => a.subscriptionId === subscription.id && a.streamId === keyframe.streamId);
    let appearance = candidates.find((a) => a.trackIds.has(region.trackId));
    if (!appearance) {
      appearance = candidates.find((a) => overlapOfSmaller(a.lastBox, region.box) >= JOIN_OVERLAP) ?? candidates.find((a) => a.lastT < keyframe.t);
      if (appearance) {
        appearance.trackIds.add(region.trackId);
        appearance.allTrackIds.add(region.trackId);
      }
    }
    const event = {
      subscriptionId: subscription.id,
      streamId: keyframe.streamId,
      videoId: keyframe.videoId,
      trackId: region.trackId,
      regionId: region.regionId,
      t: keyframe.t,
      receivedAt: keyframe.receivedAt,
      processedAt: keyframe.processedAt,
      box: region.box,
      score,
    };
    if (!appearance) {
      const id = this.nextAppearance++;
      this.open.set(id, {
        id,
        subscriptionId: subscription.id,
        streamId: keyframe.streamId,
        videoId: keyframe.videoId,
        trackIds: new Set([region.trackId]),
        allTrackIds: new Set([region.trackId]),
        lastBox: region.box,
        firstT: keyframe.t,
        lastT: keyframe.t,
        bestScore: score,
      });
      events.push({ kind: 'match', appearance: id, ...event });
      return;
    }
    appearance.lastBox = region.box;
    appearance.lastT = keyframe.t;
    if (score >= appearance.bestScore + UPDATE_MIN_GAIN) {
      appearance.bestScore = score;
      if (subscription.updates) events.push({ kind: 'update', appearance: appearance.id, ...event });
    } else {
      appearance.bestScore = Math.max(appearance.bestScore, score);
    }
  }
}

function endedEvent(appearance: Appearance): LiveEvent {
  return {
    kind: 'ended',
    subscriptionId: appearance.subscriptionId,
    appearance: appearance.id,
    streamId: appearance.streamId,
    videoId: appearance.videoId,
    trackIds: [...appearance.allTrackIds].sort((a, b) => a - b),
    firstT: appearance.firstT,
    lastT: appearance.lastT,
    bestScore: appearance.bestScore,
  };
}
