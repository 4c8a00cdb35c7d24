/**
 * Standing "tell me when this appears" queries: their records (persisted ones in SubscriptionRecords: a JSON file
 * of the data directory, or the cluster's PostgreSQL), the matcher they share, and one bounded outbox each. Every
 * processed live keyframe is matched against all subscriptions at once (LiveMatcher); the resulting messages wait
 * in the subscription's outbox until its WebSocket client takes them. A detached persisted subscription (its client
 * is gone, or the service restarted) keeps collecting, bounded, until a client resumes it.
 *
 * In a cluster every API replica holds every persisted subscription (refresh() follows the shared records), so a
 * client whose replica died resumes its subscription on another one, whose outbox has collected meanwhile.
 */
import type { MatchKernel } from '../live/match-kernel.js';
import { mayAccess, type Principal } from './auth.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Box } from '../detect/box.js';
import { drawDetections } from '../image/annotate.js';
import { decodeImage, type DecodedImage } from '../image/load.js';
import { LiveMatcher, type LiveEvent, type StreamKeyframe } from '../live/live-matcher.js';
import { Outbox } from '../live/outbox.js';
import type { Logger } from '../log.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { ApiError } from './errors.js';
import { clipSpan } from './media-urls.js';
import { JsonSubscriptionRecords, type SavedSubscription, type SubscriptionRecords } from './subscription-records.js';

export interface SubscriptionParams {
  vector: Float32Array;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  persist: boolean;
  name: string | null;
  /** who created it (auth.ts): only they, and administrators, see and change it */
  owner: string;
}

export interface SubscriptionInfo {
  id: string;
  owner: string;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  persist: boolean;
  name: string | null;
  createdAt: number;
  attached: boolean;
  queued: number;
  dropped: number;
  pushed: number;
}

/** Messages the service pushes to a subscriber. */
export type PushMessage =
  | {
      type: 'match' | 'update';
      subscription: string;
      appearance: number;
      stream: number;
      video: number;
      track: number;
      region: number;
      /** seconds in the stream's index */
      t: number;
      /** when the frame arrived, when it was processed (ISO 8601, UTC) */
      frameTime: string;
      processedAt: string;
      box: Box;
      score: number;
      /** null when the picture could not be written */
      thumbnail: string | null;
      /** the track's clip, cut from the stream's recording (null when streams are not recorded) */
      clip: string | null;
    }
  | { type: 'ended'; subscription: string; appearance: number; stream: number; video: number; tracks: number[]; start: number; end: number; bestScore: number; clip: string | null; processedAt: string }
  | { type: 'dropped'; subscription: string; count: number };

interface Subscription extends SubscriptionParams {
  id: string;
  createdAt: number;
  /** the refresh generation at which its save was confirmed (Infinity while unconfirmed; -1: read at open) */
  confirmedAt: number;
  /** the latest processing time (Unix ms) of a message dropped from the outbox */
  droppedUpTo: number;
  /** what its client had when it resumed (Unix ms of processing; null: nothing), and matches held back under it */
  since: number | null;
  heldMatches: Map<number, QueuedMessage>;
  outbox: Outbox<QueuedMessage>;
  pushed: number;
  /** the attached client's pump, called when something was queued */
  listener: (() => void) | null;
  /** tells the attached client that the subscription was removed (over HTTP) */
  onRemoved: (() => void) | null;
}

export interface HubOptions {
  dataDir: string;
  /** where persisted subscriptions are kept; default `<data>/subscriptions.json` */
  records?: SubscriptionRecords;
  dim: number;
  /** messages kept per subscription for a slow or absent client */
  queueCapacity: number;
  /** computes the keyframe × subscription similarities (OnnxMatchKernel in the service); default: JavaScript */
  kernel?: MatchKernel;
  logger: Logger;
  /** a media path (and a clip's span) as clients get it (signed: media-urls.ts); default as it is */
  signMedia?: (path: string, span?: { start: number; end: number }) => string;
  /** whether live streams are recorded: then matches carry clip URLs (served once their moments are recorded) */
  recorded?: boolean;
  /** when a message leaves for a client: ms since the frame was processed, and since it arrived */
  onPushed?: (message: PushMessage, sinceProcessedMs: number, sinceFrameMs: number) => void;
}

export type QueuedMessage = PushMessage & { processedMs?: number; frameMs?: number };

/** A processed live keyframe as the hub matches it: from this service's own stream, or from the cluster's fan-out. */
export interface OfferedKeyframe extends Omit<StreamKeyframe, 'streamId' | 'regions'> {
  regions: (StreamKeyframe['regions'][number] & { score: number })[];
  /** the stream's display size: the coordinate system of the boxes */
  width: number;
  height: number;
  /** the analysed frame, decoded or as an image file (the fan-out's JPEG), for the match's picture */
  frame: DecodedImage | Buffer;
}

export class SubscriptionHub {
  readonly matcher: LiveMatcher;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly thumbnailDir: string;
  /** keyframes are turned into messages strictly in order, thumbnails included */
  private chain: Promise<void> = Promise.resolve();
  /**
   * Counts refreshes, so that one never acts on records read before a change this hub made: a subscription is dropped
   * only when its save was confirmed before the refresh read, and one removed here is not brought back by a read
   * that started before its deletion was confirmed.
   */
  private generation = 0;
  private readonly removedAt = new Map<string, number>();
  private refreshing: Promise<void> = Promise.resolve();
  /** the refresh that will read next, shared by the calls made while another runs */
  private nextRefresh: Promise<void> | null = null;
  /** the latest processing time of each stream's keyframes: the time of its end, on every replica alike */
  private readonly lastProcessed = new Map<number, number>();
  /** persisted subscriptions whose descriptor does not fit this index (said once, not at every refresh) */
  private readonly incompatible = new Set<string>();

  private constructor(
    private readonly options: HubOptions,
    private readonly records: SubscriptionRecords,
  ) {
    this.matcher = new LiveMatcher(options.dim);
    this.thumbnailDir = join(options.dataDir, 'thumbnails');
    mkdirSync(this.thumbnailDir, { recursive: true });
  }

  /** A hub holding the persisted subscriptions the records have. */
  static async open(options: HubOptions): Promise<SubscriptionHub> {
    const hub = new SubscriptionHub(options, options.records ?? new JsonSubscriptionRecords(join(options.dataDir, 'subscriptions.json')));
    for (const saved of await hub.records.load()) hub.insertSaved(saved, -1);
    return hub;
  }

  /** Creates a subscription; a persisted one is saved before this resolves (nothing acknowledged is lost on a crash). */
  async create(params: SubscriptionParams): Promise<SubscriptionInfo> {
    const subscription = this.insert(randomUUID(), params, Date.now(), Number.POSITIVE_INFINITY);
    if (params.persist) {
      try {
        await this.records.save(toSaved(subscription));
      } catch (error) {
        this.drop(subscription.id);
        throw error;
      }
      if (!this.subscriptions.has(subscription.id)) {
        // removed (over HTTP) while it was being saved: the save must not outlive the removal
        const { id } = subscription;
        await this.removeRecord(id).catch((error: unknown) => this.options.logger.warn(`subscription ${id}, removed while it was being saved, is still in the records: ${error instanceof Error ? error.message : String(error)}`));
        throw new ApiError('conflict', `subscription ${id} was removed while it was being made`);
      }
      subscription.confirmedAt = this.generation;
    }
    return this.info(subscription);
  }

  /**
   * Follows the shared records: persisted subscriptions created elsewhere join, those removed elsewhere leave (their
   * attached client is told). Each call reads the records after it was made: one refresh runs, and the calls made
   * meanwhile share the next.
   */
  refresh(): Promise<void> {
    if (this.nextRefresh) return this.nextRefresh;
    const run = this.refreshing.then(() => {
      this.nextRefresh = null;
      return this.refreshOnce();
    });
    this.nextRefresh = run;
    this.refreshing = run.catch(() => undefined);
    return run;
  }

  private async refreshOnce(): Promise<void> {
    const started = ++this.generation;
    const present = new Set(await this.records.ids());
    const absent = (id: string): boolean => !this.subscriptions.has(id) && !this.removedAt.has(id) && !this.incompatible.has(id);
    const joining = [...present].filter(absent);
    if (joining.length > 0) {
      for (const record of await this.records.load(joining)) if (absent(record.id)) this.insertSaved(record, started);
    }
    for (const subscription of [...this.subscriptions.values()]) {
      if (subscription.persist && subscription.confirmedAt < started && !present.has(subscription.id)) this.drop(subscription.id);
    }
    for (const [id, at] of this.removedAt) if (at < started) this.removedAt.delete(id);
  }

  /** Removes a subscription (from the records too); an attached client is told through the `onRemoved` it gave to attach(). */
  async remove(id: string): Promise<boolean> {
    const subscription = this.drop(id);
    if (!subscription) return false;
    if (subscription.persist) await this.removeRecord(id);
    return true;
  }

  /**
   * Deletes a subscription's record, tombstoned meanwhile so that no refresh reading before the deletion brings it
   * back. When the deletion fails the record stays: the next refresh brings it back, and a retried removal finds it.
   */
  private async removeRecord(id: string): Promise<void> {
    this.removedAt.set(id, Number.POSITIVE_INFINITY);
    try {
      await this.records.remove(id);
    } catch (error) {
      this.removedAt.delete(id);
      throw error;
    }
    this.removedAt.set(id, this.generation);
  }

  /** Forgets a subscription here only, telling its client; the records are the caller's business. */
  private drop(id: string): Subscription | undefined {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return undefined;
    this.subscriptions.delete(id);
    this.matcher.remove(id);
    subscription.onRemoved?.();
    return subscription;
  }

  get(id: string): SubscriptionInfo | undefined {
    const subscription = this.subscriptions.get(id);
    return subscription ? this.info(subscription) : undefined;
  }

  /** Those `principal` may see (all for an administrator). */
  list(principal: Principal): SubscriptionInfo[] {
    return [...this.subscriptions.values()].filter((s) => mayAccess(principal, s.owner)).map((s) => this.info(s));
  }

  get size(): number {
    return this.subscriptions.size;
  }

  /** Messages waiting in all outboxes. */
  get queued(): number {
    let n = 0;
    for (const s of this.subscriptions.values()) n += s.outbox.length;
    return n;
  }

  /**
   * A client takes the subscription's messages from now on (`listener` is called when some are queued, `onRemoved`
   * if the subscription is removed by someone else); `false` when it does not exist or is taken.
   */
  attach(id: string, listener: () => void, onRemoved?: () => void, since?: number): boolean {
    const subscription = this.subscriptions.get(id);
    if (!subscription || subscription.listener) return false;
    this.resumeFrom(subscription, since ?? null);
    subscription.listener = listener;
    subscription.onRemoved = onRemoved ?? null;
    if (subscription.outbox.length > 0) listener();
    return true;
  }

  /** The client is gone: a persisted subscription keeps collecting, any other is removed. */
  detach(id: string): void {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return;
    subscription.listener = null;
    subscription.onRemoved = null;
    if (!subscription.persist) this.drop(id);
  }

  /** The next message for the client, a drop notice first when messages were lost. */
  take(id: string): QueuedMessage | undefined {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return undefined;
    const dropped = subscription.outbox.takeDropped();
    if (dropped > 0) return { type: 'dropped', subscription: id, count: dropped };
    const message = subscription.outbox.shift();
    if (message) subscription.pushed++;
    return message;
  }

  /** Report a message as sent (metrics). */
  sent(message: QueuedMessage): void {
    if (message.processedMs !== undefined && message.frameMs !== undefined) {
      const now = Date.now();
      this.options.onPushed?.(message, now - message.processedMs, now - message.frameMs);
    }
  }

  /** Matches a processed keyframe of a live stream against every subscription. */
  offerKeyframe(streamId: number, keyframe: OfferedKeyframe): Promise<void> {
    const streamKeyframe: StreamKeyframe = {
      streamId,
      videoId: keyframe.videoId,
      t: keyframe.t,
      receivedAt: keyframe.receivedAt,
      processedAt: keyframe.processedAt,
      regions: keyframe.regions,
      endedTrackIds: keyframe.endedTrackIds,
    };
    return this.enqueue(async () => {
      this.lastProcessed.set(streamId, keyframe.processedAt);
      await this.deliver(await this.matcher.offer(streamKeyframe, this.options.kernel), keyframe);
    });
  }

  /** The stream is gone: its open appearances end (after the keyframes offered before). */
  endStream(streamId: number): Promise<void> {
    return this.enqueue(() => {
      const endedAt = this.lastProcessed.get(streamId) ?? Date.now();
      this.lastProcessed.delete(streamId);
      return this.deliver(this.matcher.endStream(streamId), null, endedAt);
    });
  }

  private sign(path: string, span?: { start: number; end: number }): string {
    if (this.options.signMedia) return this.options.signMedia(path, span);
    return span ? `${path}?start=${span.start}&end=${span.end}` : path;
  }

  /** Keyframes become messages strictly in order: matching, thumbnails and queueing one keyframe after another. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work).catch((error: unknown) => this.options.logger.error(`live delivery failed: ${error instanceof Error ? error.stack : String(error)}`));
    return this.chain;
  }

  /** Resolves when every keyframe offered so far has been turned into queued messages. */
  settled(): Promise<void> {
    return this.chain;
  }

  private async deliver(events: LiveEvent[], keyframe: OfferedKeyframe | null, endedAt?: number): Promise<void> {
    // One picture per matching region, however many subscriptions it matched; the frame decoded once for them.
    const thumbnails = new Map<number, Promise<boolean>>();
    let frame: Promise<DecodedImage> | null = null;
    const decodedFrame = (from: OfferedKeyframe): Promise<DecodedImage> => (frame ??= Buffer.isBuffer(from.frame) ? decodeImage(from.frame) : Promise.resolve(from.frame));
    for (const event of events) {
      const subscription = this.subscriptions.get(event.subscriptionId);
      if (!subscription) continue;
      if (event.kind === 'ended') {
        const processedMs = keyframe?.processedAt ?? endedAt ?? Date.now();
        const clip = this.options.recorded ? this.sign(`/v1/videos/${event.videoId}/clip`, clipSpan(event.firstT, event.lastT)) : null;
        this.queue(subscription, { type: 'ended', subscription: event.subscriptionId, appearance: event.appearance, stream: event.streamId, video: event.videoId, tracks: event.trackIds, start: event.firstT, end: event.lastT, bestScore: round(event.bestScore), clip, processedAt: new Date(processedMs).toISOString(), processedMs });
      } else {
        let pictured = false;
        if (keyframe) {
          if (!thumbnails.has(event.regionId)) thumbnails.set(event.regionId, this.saveThumbnail(event.regionId, keyframe, decodedFrame, event.box));
          pictured = await thumbnails.get(event.regionId)!;
        }
        this.queue(subscription, {
          type: event.kind,
          subscription: event.subscriptionId,
          appearance: event.appearance,
          stream: event.streamId,
          video: event.videoId,
          track: event.trackId,
          region: event.regionId,
          t: Math.round(event.t * 1000) / 1000,
          frameTime: new Date(event.receivedAt).toISOString(),
          processedAt: new Date(event.processedAt).toISOString(),
          box: event.box.map((v) => Math.round(v * 10) / 10) as Box,
          score: round(event.score),
          thumbnail: pictured ? this.sign(`/v1/regions/${event.regionId}/thumbnail`) : null,
          clip: this.options.recorded ? this.sign(`/v1/tracks/${event.trackId}/clip`) : null,
          processedMs: event.processedAt,
          frameMs: event.receivedAt,
        });
      }
      subscription.listener?.();
    }
  }

  /**
   * The thumbnail of a live region: the analysed frame with the box drawn (kept, so the picture stays after retention removes the recording).
   * false when it could not be written (the message then goes out without a picture rather than not at all).
   */
  private async saveThumbnail(regionId: number, keyframe: OfferedKeyframe, decodedFrame: (from: OfferedKeyframe) => Promise<DecodedImage>, box: Box): Promise<boolean> {
    try {
      const frame = await decodedFrame(keyframe);
      const sx = frame.width / keyframe.width;
      const sy = frame.height / keyframe.height;
      const score = keyframe.regions.find((r) => r.regionId === regionId)?.score ?? Number.NaN;
      const jpeg = await drawDetections(frame, [{ box: [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy], score, label: `t=${keyframe.t.toFixed(1)}s peak` }], { format: 'jpeg' });
      // atomically: replicas sharing a data directory write the same picture at once
      await writeFileAtomic(regionThumbnailPath(this.options.dataDir, regionId), jpeg);
      return true;
    } catch (error) {
      this.options.logger.warn(`thumbnail of live region ${regionId} not written: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
  }

  /**
   * Queues a message, noting up to when messages were dropped to make room (a resume past that needs no notice).
   * What the resumed client had already (processed up to its `since`) is left out, but for the match of an
   * appearance the client hears more of: that match goes first, so every update and end names an appearance the
   * client was told of by this replica (appearance numbers are each replica's own).
   */
  private queue(subscription: Subscription, message: QueuedMessage): void {
    if (message.type === 'dropped') return;
    const { since, heldMatches } = subscription;
    if (since !== null && message.processedMs !== undefined && message.processedMs <= since) {
      if (message.type === 'match') heldMatches.set(message.appearance, message);
      else if (message.type === 'ended') heldMatches.delete(message.appearance);
      return;
    }
    const held = heldMatches.get(message.appearance);
    if (held) {
      heldMatches.delete(message.appearance);
      this.push(subscription, held);
    }
    this.push(subscription, message);
  }

  private push(subscription: Subscription, message: QueuedMessage): void {
    const dropped = subscription.outbox.push(message);
    if (dropped) subscription.droppedUpTo = Math.max(subscription.droppedUpTo, dropped.processedMs ?? Number.POSITIVE_INFINITY);
  }

  /**
   * A client resumes having had what was processed up to `since` (Unix ms; none: it had nothing): from the replica it
   * was attached to before. What waits is queued again through that filter, and a drop notice that lost only such
   * messages is withdrawn.
   */
  private resumeFrom(subscription: Subscription, since: number | null): void {
    subscription.since = since;
    subscription.heldMatches.clear();
    if (since === null) return;
    const waiting: QueuedMessage[] = [];
    for (let message = subscription.outbox.shift(); message; message = subscription.outbox.shift()) waiting.push(message);
    for (const message of waiting) this.queue(subscription, message);
    if (subscription.droppedUpTo <= since) subscription.outbox.takeDropped();
  }

  private insert(id: string, params: SubscriptionParams, createdAt: number, confirmedAt: number): Subscription {
    const subscription: Subscription = { ...params, id, createdAt, confirmedAt, outbox: new Outbox(this.options.queueCapacity), droppedUpTo: Number.NEGATIVE_INFINITY, since: null, heldMatches: new Map(), pushed: 0, listener: null, onRemoved: null };
    this.matcher.add({ id, vector: params.vector, threshold: params.threshold, streams: params.streams, updates: params.updates });
    this.subscriptions.set(id, subscription);
    return subscription;
  }

  private insertSaved(saved: SavedSubscription, confirmedAt: number): void {
    if (saved.vector.length !== this.options.dim) {
      this.incompatible.add(saved.id);
      this.options.logger.warn(`subscription ${saved.id} skipped: its descriptor is ${saved.vector.length}-d, the index's ${this.options.dim}-d`);
      return;
    }
    const { id, createdAt, ...params } = saved;
    this.insert(id, { ...params, persist: true }, createdAt, confirmedAt);
  }

  private info(s: Subscription): SubscriptionInfo {
    return { id: s.id, owner: s.owner, threshold: s.threshold, streams: s.streams, updates: s.updates, persist: s.persist, name: s.name, createdAt: s.createdAt, attached: s.listener !== null, queued: s.outbox.length, dropped: s.outbox.droppedTotal, pushed: s.pushed };
  }
}

/** Where a region's thumbnail is kept (live regions: written when they match; file regions: on first request). */
export function regionThumbnailPath(dataDir: string, regionId: number): string {
  return join(dataDir, 'thumbnails', `region-${regionId}.jpg`);
}

function toSaved(s: Subscription): SavedSubscription {
  return { id: s.id, vector: s.vector, threshold: s.threshold, streams: s.streams, updates: s.updates, name: s.name, createdAt: s.createdAt, owner: s.owner };
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
