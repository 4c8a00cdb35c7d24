/**
 * Standing "tell me when this appears" queries: their records (persisted ones in `<data>/subscriptions.json`),
 * the matcher they share, and one bounded outbox each. Every processed live keyframe is matched against all
 * subscriptions at once (LiveMatcher); the resulting messages wait in the subscription's outbox until its
 * WebSocket client takes them. A detached persisted subscription (its client is gone, or the service restarted)
 * keeps collecting, bounded, until a client resumes it.
 */
import type { MatchKernel } from '../live/match-kernel.js';
import { ADMIN_OWNER, mayAccess, type Principal } from './auth.js';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Box } from '../detect/box.js';
import { drawDetections } from '../image/annotate.js';
import type { LiveKeyframe } from '../ingest/ingest-live.js';
import { LiveMatcher, type LiveEvent } from '../live/live-matcher.js';
import { Outbox } from '../live/outbox.js';
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';
import type { Logger } from '../log.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';
import { clipSpan } from './media-urls.js';

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
  | { type: 'ended'; subscription: string; appearance: number; stream: number; video: number; tracks: number[]; start: number; end: number; bestScore: number; clip: string | null }
  | { type: 'dropped'; subscription: string; count: number };

interface Subscription extends SubscriptionParams {
  id: string;
  createdAt: number;
  outbox: Outbox<QueuedMessage>;
  pushed: number;
  /** the attached client's pump, called when something was queued */
  listener: (() => void) | null;
  /** tells the attached client that the subscription was removed (over HTTP) */
  onRemoved: (() => void) | null;
}

interface SavedSubscription {
  id: string;
  vector: string;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  name: string | null;
  createdAt: number;
  /** absent in files written before subscriptions had owners: the administrator's */
  owner?: string;
}

export interface HubOptions {
  dataDir: string;
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

export class SubscriptionHub {
  readonly matcher: LiveMatcher;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly file: string;
  private readonly thumbnailDir: string;
  /** keyframes are turned into messages strictly in order, thumbnails included */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly options: HubOptions) {
    this.matcher = new LiveMatcher(options.dim);
    this.file = join(options.dataDir, 'subscriptions.json');
    this.thumbnailDir = join(options.dataDir, 'thumbnails');
    mkdirSync(this.thumbnailDir, { recursive: true });
    for (const saved of readJsonFile<{ subscriptions: SavedSubscription[] }>(this.file, { subscriptions: [] }).subscriptions) {
      this.insert(saved.id, { vector: float32FromLEBytes(Buffer.from(saved.vector, 'base64')), threshold: saved.threshold, streams: saved.streams, updates: saved.updates, persist: true, name: saved.name, owner: saved.owner ?? ADMIN_OWNER }, saved.createdAt);
    }
  }

  create(params: SubscriptionParams): SubscriptionInfo {
    const subscription = this.insert(randomUUID(), params, Date.now());
    if (params.persist) this.persist();
    return this.info(subscription);
  }

  /** Removes a subscription; an attached client is told through the `onRemoved` it gave to attach(). */
  remove(id: string): boolean {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return false;
    this.subscriptions.delete(id);
    this.matcher.remove(id);
    if (subscription.persist) this.persist();
    subscription.onRemoved?.();
    return true;
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
  attach(id: string, listener: () => void, onRemoved?: () => void): boolean {
    const subscription = this.subscriptions.get(id);
    if (!subscription || subscription.listener) return false;
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
    if (!subscription.persist) this.remove(id);
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
  offerKeyframe(streamId: number, keyframe: LiveKeyframe): Promise<void> {
    const streamKeyframe = {
      streamId,
      videoId: keyframe.videoId,
      t: keyframe.t,
      receivedAt: keyframe.receivedAt,
      processedAt: keyframe.processedAt,
      regions: keyframe.regions,
      endedTrackIds: keyframe.endedTracks.map((track) => track.id),
    };
    return this.enqueue(async () => this.deliver(await this.matcher.offer(streamKeyframe, this.options.kernel), keyframe));
  }

  /** The stream is gone: its open appearances end (after the keyframes offered before). */
  endStream(streamId: number): Promise<void> {
    return this.enqueue(() => this.deliver(this.matcher.endStream(streamId), null));
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

  private async deliver(events: LiveEvent[], keyframe: LiveKeyframe | null): Promise<void> {
    // One picture per matching region, however many subscriptions it matched.
    const thumbnails = new Map<number, Promise<boolean>>();
    for (const event of events) {
      const subscription = this.subscriptions.get(event.subscriptionId);
      if (!subscription) continue;
      if (event.kind === 'ended') {
        const clip = this.options.recorded ? this.sign(`/v1/videos/${event.videoId}/clip`, clipSpan(event.firstT, event.lastT)) : null;
        subscription.outbox.push({ type: 'ended', subscription: event.subscriptionId, appearance: event.appearance, stream: event.streamId, video: event.videoId, tracks: event.trackIds, start: event.firstT, end: event.lastT, bestScore: round(event.bestScore), clip });
      } else {
        let pictured = false;
        if (keyframe) {
          if (!thumbnails.has(event.regionId)) thumbnails.set(event.regionId, this.saveThumbnail(event.regionId, keyframe, event.box));
          pictured = await thumbnails.get(event.regionId)!;
        }
        subscription.outbox.push({
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
  private async saveThumbnail(regionId: number, keyframe: LiveKeyframe, box: Box): Promise<boolean> {
    try {
      const sx = keyframe.frame.width / keyframe.width;
      const sy = keyframe.frame.height / keyframe.height;
      const score = keyframe.regions.find((r) => r.regionId === regionId)?.score ?? Number.NaN;
      const jpeg = await drawDetections(keyframe.frame, [{ box: [box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy], score, label: `t=${keyframe.t.toFixed(1)}s peak` }], { format: 'jpeg' });
      await writeFile(regionThumbnailPath(this.options.dataDir, regionId), jpeg);
      return true;
    } catch (error) {
      this.options.logger.warn(`thumbnail of live region ${regionId} not written: ${error instanceof Error ? error.message : String(error)}`);
      return false;
    }
  }

  private insert(id: string, params: SubscriptionParams, createdAt: number): Subscription {
    const subscription: Subscription = { ...params, id, createdAt, outbox: new Outbox(this.options.queueCapacity), pushed: 0, listener: null, onRemoved: null };
    this.matcher.add({ id, vector: params.vector, threshold: params.threshold, streams: params.streams, updates: params.updates });
    this.subscriptions.set(id, subscription);
    return subscription;
  }

  private persist(): void {
    const saved: SavedSubscription[] = [...this.subscriptions.values()]
      .filter((s) => s.persist)
      .map((s) => ({ id: s.id, vector: float32ToLEBytes(s.vector).toString('base64'), threshold: s.threshold, streams: s.streams, updates: s.updates, name: s.name, createdAt: s.createdAt, owner: s.owner }));
    writeJsonAtomic(this.file, { subscriptions: saved });
  }

  private info(s: Subscription): SubscriptionInfo {
    return { id: s.id, owner: s.owner, threshold: s.threshold, streams: s.streams, updates: s.updates, persist: s.persist, name: s.name, createdAt: s.createdAt, attached: s.listener !== null, queued: s.outbox.length, dropped: s.outbox.droppedTotal, pushed: s.pushed };
  }
}

/** Where a region's thumbnail is kept (live regions: written when they match; file regions: on first request). */
export function regionThumbnailPath(dataDir: string, regionId: number): string {
  return join(dataDir, 'thumbnails', `region-${regionId}.jpg`);
}

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}
