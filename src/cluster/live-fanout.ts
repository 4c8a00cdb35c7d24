/**
 * Live keyframes from the workers to every API replica (and `dasr watch`): each analysed keyframe of a stream is
 * published on `dasr.live.<video id>` in a JetStream stream that keeps a minute of them. Each consumer reads them
 * with its own ordered consumer from the moment it starts, so every replica sees every keyframe and matches its
 * own subscriptions; a consumer that loses the server picks up where it was once it is back.
 *
 * A message carries what a subscriber's match needs without asking the worker anything: the regions with their
 * descriptors (the index has them too, in half precision), the tracks the keyframe ended, and the analysed frame as
 * a JPEG for the match's picture.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import type { Box } from '../detect/box.js';
import { encodeImage } from '../image/annotate.js';
import type { LiveKeyframe } from '../ingest/ingest-live.js';
import type { StreamKeyframe } from '../live/live-matcher.js';

export const LIVE_STREAM = 'DASR_LIVE';
const LIVE_SUBJECT_PREFIX = 'dasr.live.';

/** How long analysed keyframes stay in the stream: enough for a consumer that reconnects to catch up. */
const KEEP_MS = 60_000;

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
  /** Float32 little-endian, base64 */
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

/** Creates the stream of live keyframes when missing (workers and consumers both call it). */
export async function ensureLiveFanout(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(LIVE_STREAM);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    await jsm.streams.add({
      name: LIVE_STREAM,
      subjects: [`${LIVE_SUBJECT_PREFIX}>`],
      retention: RetentionPolicy.Limits,
      storage: StorageType.Memory,
      max_age: KEEP_MS * 1_000_000,
      discard: DiscardPolicy.Old,
    });
  }
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
      feature: Buffer.from(r.feature.buffer, r.feature.byteOffset, r.feature.byteLength).toString('base64'),
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
  const consumer = await jetstream(nc).consumers.get(LIVE_STREAM, { deliver_policy: DeliverPolicy.New });
  const messages = await consumer.consume();
  const stop = (): void => void messages.close();
  signal.addEventListener('abort', stop, { once: true });
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
        // copied out: a decoded Buffer may sit at an offset of a shared pool that a Float32Array cannot start at
        const feature = new Float32Array(new Uint8Array(Buffer.from(r.feature, 'base64')).buffer);
        return { regionId: r.regionId, box: r.box, score: r.score, trackId: r.trackId, isNewTrack: r.isNewTrack, feature };
      }),
      endedTrackIds: wire.endedTrackIds,
      frame: Buffer.from(wire.frame, 'base64'),
    };
  } catch {
    return null;
  }
}
