import type { NatsConnection } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPermanentDecodeError } from '../decode/errors.js';
import type { Detector } from '../detect/detector.js';
import type { RegionStore } from '../index/region-store.js';
import { FileBusyError, ingestFile, UnfinishableJobError, type IngestResult } from '../ingest/ingest-file.js';
import { defaultLogger, type Logger } from '../log.js';
import { DEFAULT_ACK_WAIT_MS, jobConsumer, parseJob, type IngestJob } from './job-queue.js';

export interface WorkerOptions {
  nc: NatsConnection;
  store: RegionStore;
  detector: Detector;
  /** ends the worker: the job in hand stops at its next keyframe and goes back to the queue */
  signal: AbortSignal;
  /** the consumer's ack wait (ensureJobQueue): signs of life go out three times within it */
  ackWaitMs?: number;
  logger?: Logger;
  /** after each job, whatever its end */
  onJob?: (job: IngestJob, outcome: { result?: IngestResult; error?: unknown }) => void;
}

/** Wait before a job whose file another worker holds is offered again. */
const RETRY_DELAY_MS = 5_000;

/** The longest wait before a failed job is offered again. */
const MAX_RETRY_DELAY_MS = 5 * 60_000;

/**
 * Wait before a job that failed (the store or the disk unreachable, say) is offered again: 5 s, doubling with each
 * delivery up to 5 min, so a job that keeps failing costs the cluster little while it stays queued for an operator.
 */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(MAX_RETRY_DELAY_MS, RETRY_DELAY_MS * 2 ** Math.max(0, deliveryCount - 1));
}

/** How long one pull waits for a job before the worker checks whether it should stop. */
const PULL_EXPIRES_MS = 2_000;

/**
 * Pulls ingest jobs one at a time until `signal` ends it. A job is acked only after ingestFile returned, i.e. after
 * every keyframe was committed and the video marked ready; until then the worker tells the server it is working. A
 * job this worker could not finish (stopped, store unreachable) is given back; the next worker resumes the video
 * after its last committed keyframe, and commits are idempotent, so nothing is indexed twice.
 */
export async function runWorker(options: WorkerOptions): Promise<void> {
  const logger = options.logger ?? defaultLogger;
  const consumer = await jobConsumer(options.nc);
  while (!options.signal.aborted) {
    let message: JsMsg | null;
    try {
      message = await consumer.next({ expires: PULL_EXPIRES_MS });
    } catch (err) {
      // NATS unreachable (restarting): the connection reconnects by itself.
      logger.warn(`jobs: ${err instanceof Error ? err.message : String(err)}; pulling again`);
      await sleep(500);
      continue;
    }
    if (!message) continue;
    const job = parseJob(message);
    if (!job) {
      logger.error(`jobs: message ${message.seq} is not an ingest job; dropped`);
      message.term('not an ingest job');
      continue;
    }
    await runJob(job, message, options, logger);
  }
}

async function runJob(job: IngestJob, message: JsMsg, options: WorkerOptions, logger: Logger): Promise<void> {
  const heartbeat = setInterval(() => message.working(), (options.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) / 3);
  try {
    const part = job.range ? `, range ${job.range.index + 1} of ${job.range.count}` : '';
    logger.info(`${job.path}: job ${message.seq}${part} (delivery ${message.info.deliveryCount})`);
    const result = await ingestFile(job.path, options.detector, options.store, {
      interval: job.interval,
      sceneThreshold: job.sceneThreshold,
      stillThreshold: job.stillThreshold,
      force: job.force,
      range: job.range,
      signal: options.signal,
      logger,
    });
    // An ack lost here (NATS restarting) redelivers the job; the next worker finds the video indexed.
    await message.ackAck().catch((err: unknown) => logger.warn(`${job.path}: ack not confirmed (${String(err)}); a redelivery will find it indexed`));
    options.onJob?.(job, { result });
  } catch (error) {
    if (options.signal.aborted) {
      message.nak();
      logger.info(`${job.path}: stopped; the job goes back to the queue`);
    } else if (error instanceof FileBusyError) {
      // The same file queued twice, or a job handed over while its first worker still runs: after that one.
      message.nak(RETRY_DELAY_MS);
      logger.info(`${error.message}; the job waits ${RETRY_DELAY_MS / 1000} s`);
    } else if (isPermanentDecodeError(error) || error instanceof UnfinishableJobError) {
      // It would fail again on any worker: dropped, not retried.
      message.term(error.message);
      logger.error(`${job.path}: ${error.message}; the job is dropped`);
    } else {
      const delayMs = retryDelayMs(message.info.deliveryCount);
      message.nak(delayMs);
      logger.warn(`${job.path}: ${error instanceof Error ? error.message : String(error)}; retried in ${delayMs / 1000} s (delivery ${message.info.deliveryCount})`);
    }
    options.onJob?.(job, { error });
  } finally {
    clearInterval(heartbeat);
  }
}
