/**
 * Who follows which live stream in cluster mode: one lease per stream in a JetStream key-value bucket whose entries
 * expire (the bucket's TTL). A worker takes a lease by creating its key, which fails while another holds it, and
 * keeps it by rewriting it at the revision it last wrote, several times per TTL. A worker that dies stops rewriting;
 * the entry expires and the next worker that looks creates it. A worker that stops cleanly deletes its entry, so
 * the stream is taken over at once.
 *
 * A holder that cannot get a renewal confirmed for half the TTL (NATS unreachable, or too slow to answer) counts the
 * lease as lost and stops the stream: its entry lives at least a TTL after the last confirmed write was sent, so it
 * has stopped before anyone else can take the stream.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { JetStreamApiCodes, JetStreamApiError, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';

export const LEASE_BUCKET = 'dasr_stream_leases';

/**
 * How long a lease outlives its holder's last renewal. With renewals every sixth of it and workers looking for free
 * streams every second, a dead worker's stream is taken over within about TTL + 1 s of its last renewal, plus the
 * time the next worker needs to connect to the camera and analyse a keyframe.
 */
export const DEFAULT_LEASE_TTL_MS = 6_000;

/** Renewals per TTL: a lease survives five in a row going unanswered. */
export const RENEWALS_PER_TTL = 6;

export class StreamLeases {
  private constructor(
    private readonly kv: KV,
    /** the TTL in force: the bucket's, as the first worker created it */
    readonly ttlMs: number,
  ) {}

  /** Opens the bucket, creating it with `ttlMs` when there is none (an existing bucket keeps its own TTL). */
  static async open(nc: NatsConnection, ttlMs = DEFAULT_LEASE_TTL_MS): Promise<StreamLeases> {
    const kvm = new Kvm(nc);
    const kv = await kvm.create(LEASE_BUCKET, { ttl: ttlMs, history: 1, storage: StorageType.File });
    const status = await kv.status();
    return new StreamLeases(kv, status.ttl);
  }

  /**
   * Opens the bucket where the workers made it; null while there is none. For readers (an API replica), which must
   * not create it: the bucket's TTL is the first worker's to set (dasr worker --lease-ttl).
   */
  static async openExisting(nc: NatsConnection): Promise<StreamLeases | null> {
    const kv = await new Kvm(nc).open(LEASE_BUCKET);
    try {
      return new StreamLeases(kv, (await kv.status()).ttl);
    } catch (error) {
      if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound) return null;
      throw error;
    }
  }

  /** Takes the lease of a stream (its live video's id) for `holder`; null while another holds it. */
  async take(videoId: number, holder: string): Promise<StreamLease | null> {
    const sentAt = Date.now();
    try {
      const revision = await this.kv.create(leaseKey(videoId), holder);
      return new StreamLease(this.kv, videoId, holder, revision, this.ttlMs, sentAt);
    } catch (error) {
      if (isWrongRevision(error)) return null;
      throw error;
    }
  }

  /** Who holds each stream's lease now, by video id. */
  async holders(): Promise<Map<number, string>> {
    const holders = new Map<number, string>();
    for await (const key of await this.kv.keys()) {
      const entry = await this.kv.get(key);
      const videoId = Number(key.slice(LEASE_PREFIX.length));
      if (entry && entry.operation === 'PUT' && key.startsWith(LEASE_PREFIX) && Number.isSafeInteger(videoId)) holders.set(videoId, entry.string());
    }
    return holders;
  }
}

export class StreamLease {
  constructor(
    private readonly kv: KV,
    readonly videoId: number,
    readonly holder: string,
    private revision: number,
    private readonly ttlMs: number,
    /** when the last write the server confirmed was sent: the entry lives at least a TTL after it */
    private confirmedSentAt: number,
  ) {}

  /**
   * Rewrites the lease. False when it is lost: another worker took it, or no renewal has been confirmed for half the
   * TTL; the holder must then stop following the stream. One that fails for a moment before that is retried at the
   * next call. Never rejects.
   */
  async renew(): Promise<boolean> {
    const sentAt = Date.now();
    try {
      this.revision = await this.kv.update(leaseKey(this.videoId), this.holder, this.revision, this.ttlMs / RENEWALS_PER_TTL);
      this.confirmedSentAt = sentAt;
      return true;
    } catch (error) {
      if (isWrongRevision(error)) return false;
      return Date.now() - this.confirmedSentAt < this.ttlMs / 2;
    }
  }

  /** Gives the lease up (only if still ours), so another worker takes the stream without waiting for the TTL. */
  async release(): Promise<void> {
    try {
      await this.kv.delete(leaseKey(this.videoId), { previousSeq: this.revision });
    } catch (error) {
      if (!isWrongRevision(error)) throw error;
    }
  }
}

const LEASE_PREFIX = 'stream.';

function leaseKey(videoId: number): string {
  return `${LEASE_PREFIX}${videoId}`;
}

function isWrongRevision(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === JetStreamApiCodes.StreamWrongLastSequence || error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}
