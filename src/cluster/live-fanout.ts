/**
 * Live keyframes from the workers to every API replica (and `dasr watch`): each analysed keyframe of a stream is
 * published on `dasr.live.<video id>` in a JetStream stream that keeps a minute of them. Each consumer reads them
 * with its own ordered consumer from the moment it starts, so every replica sees every keyframe and matches its
 * own subscriptions; a consumer that loses the server picks up where it was once it is back (the stream is on disk).
 *
 * A message carries what a subscriber's match needs without asking the worker anything: the regions with their
 * descriptors (the index has them too, in half precision), the tracks the keyframe ended, and the analysed frame as
 * a JPEG for the match's picture.
 */
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, DiscardPolicy, jetstream, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';
import { ensureStream } from './jetstream-streams.js';
import type { Box } from '../detect/box.js';
import { encodeImage } from '../image/annotate.js';
import type { LiveKeyframe } from '../ingest/ingest-live.js';
import type { StreamKeyframe } from '../live/live-matcher.js';

export const LIVE_STREAM = 'DASR_LIVE';
const LIVE_SUBJECT_PREFIX = 'dasr.live.';

/** How long analysed keyframes stay in the stream: enough for a consumer that reconnects to catch up. */
const KEEP_MS = 60_000;

/**
 * Each pull of a consumer lasts this long. It also paces the client's recovery after a server restart: a consumer
 * that cannot be checked at once (JetStream still starting) is checked again after one pull's time, and missed
 * heartbeats (at half of it) reveal a consumer the server lost. The client's default, 30 s, left watchers deaf for
 * half a minute after a restart.
 */
const PULL_EXPIRES_MS = 5_000;

/** One analysed live keyframe, as a consumer receives it. */
export interface FannedKeyframe extends StreamKeyframe {
  /** the stream's display size: the coordinate system of the boxes */
  width: number;
  height: number;
  regions: (StreamKeyframe['regions'][number] & { score: number; isNewTrack: boolean })[];
  /** the analysed frame, JPEG */
  frame: Buffer;
}

interface WireRegion {
  regionId: number;
  box: Box;
  score: number;
  trackId: number;
  isNewTrack: boolean;
  /** float32 little-endian, base64 */
  feature: string;
}

interface WireKeyframe {
  videoId: number;
  t: number;
  receivedAt: number;
  processedAt: number;
  width: number;
  height: number;
  regions: WireRegion[];
  endedTrackIds: number[];
  /** JPEG, base64 */
  frame: string;
}

/**
 * Creates the stream of live keyframes when missing (workers and consumers both call it). On disk, so that it
 * outlives a restart of the server (a stream in memory loses its definition with it); the minute it keeps stays small.
 */
export function ensureLiveFanout(nc: NatsConnection): Promise<void> {
  return ensureStream(nc, {
    name: LIVE_STREAM,
    subjects: [`${LIVE_SUBJECT_PREFIX}>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_age: nanos(KEEP_MS),
    discard: DiscardPolicy.Old,
  });
}

/** Publishes one analysed keyframe of a stream; resolves once the server has stored it. */
export async function publishLiveKeyframe(nc: NatsConnection, keyframe: LiveKeyframe): Promise<void> {
  const wire: WireKeyframe = {
    videoId: keyframe.videoId,
    t: keyframe.t,
    receivedAt: keyframe.receivedAt,
    processedAt: keyframe.processedAt,
    width: keyframe.width,
    height: keyframe.height,
    regions: keyframe.regions.map((r) => ({
      regionId: r.regionId,
      box: r.box,
      score: r.score,
      trackId: r.trackId,
      isNewTrack: r.isNewTrack,
      feature: float32ToLEBytes(r.feature).toString('base64'),
    })),
    endedTrackIds: keyframe.endedTracks.map((track) => track.id),
    frame: (await encodeImage(keyframe.frame, 'jpeg', 85)).toString('base64'),
  };
  await jetstream(nc).publish(`${LIVE_SUBJECT_PREFIX}${keyframe.videoId}`, JSON.stringify(wire));
}

/**
 * Hands every live keyframe published from now on to `onKeyframe`, in order per stream, until `signal` ends it.
 * A message that is not a keyframe is skipped.
 */
export async function followLiveKeyframes(nc: NatsConnection, onKeyframe: (keyframe: FannedKeyframe) => Promise<void> | void, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return;
  const consumer = await jetstream(nc).consumers.get(LIVE_STREAM, { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume({ expires: PULL_EXPIRES_MS });
  const stop = (): void => void messages.close();
  signal.addEventListener('abort', stop, { once: true });
  if (signal.aborted) stop(); // aborted while the consumer was being made
  try {
    for await (const message of messages) {
      const keyframe = parseKeyframe(message.string());
      if (keyframe) await onKeyframe(keyframe);
    }
  } finally {
    signal.removeEventListener('abort', stop);
  }
}

function parseKeyframe(text: string): FannedKeyframe | null {
  try {
    const wire = JSON.parse(text) as WireKeyframe;
    return {
      streamId: wire.videoId,
      videoId: wire.videoId,
      t: wire.t,
      receivedAt: wire.receivedAt,
      processedAt: wire.processedAt,
      width: wire.width,
      height: wire.height,
      regions: wire.regions.map((r) => {
        return { regionId: r.regionId, box: r.box, score: r.score, trackId: r.trackId, isNewTrack: r.isNewTrack, feature: float32FromLEBytes(Buffer.from(r.feature, 'base64')) };
      }),
      endedTrackIds: wire.endedTrackIds,
      frame: Buffer.from(wire.frame, 'base64'),
    };
  } catch {
    return null;
  }
}
