/**
 * Ingest jobs on NATS JetStream: a work-queue stream (each job goes to one worker and leaves the stream when acked)
 * with one durable pull consumer that every worker pulls from. A worker acks a job only once all its keyframes are
 * committed; while it works it tells the server so before `ackWait` runs out. A worker that dies stops doing so, and
 * the server hands the job to another worker, which resumes after the last committed keyframe.
 */
import { connect, millis, nanos, type NatsConnection } from '@nats-io/transport-node';
import { AckPolicy, jetstream, jetstreamManager, JetStreamApiError, RetentionPolicy, StorageType, type Consumer, type JsMsg } from '@nats-io/jetstream';
import { ensureStream } from './jetstream-streams.js';
import { isFileRange, type FileRange } from '../ingest/ingest-file.js';

export const JOB_STREAM = 'DASR_JOBS';
export const JOB_SUBJECT = 'dasr.jobs.ingest';
export const WORKER_CONSUMER = 'dasr-workers';

/** How long a job may go without a sign of life from its worker before another worker gets it. */
export const DEFAULT_ACK_WAIT_MS = 30_000;

/** One file to index, with the settings that decide its index (the worker's detector settings are its own). */
export interface IngestJob {
  /** the file's path, as the workers see it (shared storage) */
  path: string;
  interval: number;
  sceneThreshold: number;
  stillThreshold: number;
  force: boolean;
  /** one part of a file split among workers (dasr index --split); absent: the whole file */
  range?: FileRange;
}

/** Connects to NATS, waiting for a server that is not up yet and reconnecting for ever: a restarted server must not end a worker. */
export function connectNats(servers: string, name: string): Promise<NatsConnection> {
  return connect({ servers: servers.split(','), name, maxReconnectAttempts: -1, reconnectTimeWait: 500, waitOnFirstConnect: true });
}

/**
 * Creates the stream and the workers' consumer when missing (every worker and enqueuer calls it). `ackWaitMs` is the
 * consumer's ack wait when it is created, and replaces the one it has when given (a worker's --ack-wait; an
 * enqueuer gives none, so queuing jobs never changes it). Returns the ack wait in force, in milliseconds.
 */
export async function ensureJobQueue(nc: NatsConnection, ackWaitMs?: number): Promise<number> {
  await ensureStream(nc, { name: JOB_STREAM, subjects: [JOB_SUBJECT], retention: RetentionPolicy.Workqueue, storage: StorageType.File });
  const jsm = await jetstreamManager(nc);
  const wanted = ackWaitMs === undefined ? undefined : nanos(ackWaitMs);
  try {
    const existing = await jsm.consumers.info(JOB_STREAM, WORKER_CONSUMER);
    if (wanted === undefined || existing.config.ack_wait === wanted) return ackWaitOf(existing.config);
    return ackWaitOf((await jsm.consumers.update(JOB_STREAM, WORKER_CONSUMER, { ack_wait: wanted })).config);
  } catch (err) {
    if (!(err instanceof JetStreamApiError)) throw err;
    const created = await jsm.consumers.add(JOB_STREAM, { durable_name: WORKER_CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: wanted ?? nanos(DEFAULT_ACK_WAIT_MS), max_deliver: -1 });
    return ackWaitOf(created.config);
  }
}

/** A consumer's ack wait in milliseconds (the server always reports one; 30 s is its own default). */
function ackWaitOf(config: { ack_wait?: number }): number {
  return millis(config.ack_wait ?? nanos(DEFAULT_ACK_WAIT_MS));
}

/** Publishes jobs; resolves once the stream has stored each one, with their sequence numbers in the stream. */
export async function enqueueJobs(nc: NatsConnection, jobs: readonly IngestJob[]): Promise<number[]> {
  const js = jetstream(nc);
  const sequences: number[] = [];
  for (const job of jobs) sequences.push((await js.publish(JOB_SUBJECT, JSON.stringify(job))).seq);
  return sequences;
}

export async function jobConsumer(nc: NatsConnection): Promise<Consumer> {
  return jetstream(nc).consumers.get(JOB_STREAM, WORKER_CONSUMER);
}

/** A job's message read back; null when it is not one (it is then terminated: no worker could do it). */
export function parseJob(message: Pick<JsMsg, 'json'>): IngestJob | null {
  try {
    const job = message.json<Partial<IngestJob>>();
    const numbers = [job.interval, job.sceneThreshold, job.stillThreshold];
    if (typeof job.path !== 'string' || job.path === '' || !numbers.every((n) => typeof n === 'number' && Number.isFinite(n)) || typeof job.force !== 'boolean') return null;
    if (job.range !== undefined && (!isFileRange(job.range) || job.force)) return null;
    return job as IngestJob;
  } catch {
    return null;
  }
}
