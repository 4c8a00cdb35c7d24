import { resolve } from 'node:path';
import { probeVideo } from '../decode/probe.js';
import type { DetectorThread } from '../detect/detector-thread.js';
import { connectNats, ensureJobQueue, enqueueJobs, type IngestJob } from '../cluster/job-queue.js';
import { runWorker } from '../cluster/worker.js';
import { openRegionStore } from '../index/open-store.js';
import { redactPassword } from '../index/postgres-store.js';
import { parseSource } from '../source/source-spec.js';

/** `dasr index … --nats`: every file is checked here, then queued for the workers (who must see it at the same path). */
export async function enqueueCommand(inputs: readonly string[], options: { nats: string; interval: number; scene: number; still: number; force?: boolean }): Promise<void> {
  const jobs: IngestJob[] = [];
  for (const input of inputs) {
    if (parseSource(input).kind !== 'file') throw new Error(`${input}: cluster mode queues video files; follow a live stream with dasr index --data or dasr serve`);
    await probeVideo(input);
    jobs.push({ path: resolve(input), interval: options.interval, sceneThreshold: options.scene, stillThreshold: options.still, force: options.force ?? false });
  }
  const nc = await connectNats(options.nats, 'dasr index');
  try {
    await ensureJobQueue(nc);
    await enqueueJobs(nc, jobs);
  } finally {
    await nc.close();
  }
  for (const job of jobs) process.stdout.write(`${job.path}: queued\n`);
}

/** `dasr worker`: pulls ingest jobs into the index until Ctrl-C or SIGTERM, which give the job in hand back. */
export async function workerCommand(startDasr: () => Promise<DetectorThread>, options: { nats: string; index: string; ackWait?: number }): Promise<void> {
  const nc = await connectNats(options.nats, 'dasr worker');
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    // The worker signals progress at a third of the ack wait in force, whoever set it.
    const ackWaitMs = await ensureJobQueue(nc, options.ackWait === undefined ? undefined : options.ackWait * 1000);
    const dasr = await startDasr();
    try {
      const store = await openRegionStore(options.index, { dim: dasr.featureDim, writer: 'dasr worker' });
      try {
        process.stderr.write(`worker: indexing jobs from ${options.nats} into ${redactPassword(options.index)}; Ctrl-C stops\n`);
        await runWorker({
          nc,
          store,
          detector: dasr,
          signal: abort.signal,
          ackWaitMs,
          onJob: (job, { result }) => {
            if (result) process.stderr.write(`${job.path}: video ${result.videoId} ${result.status}, ${result.keyframes} keyframes, ${result.regions} regions\n`);
          },
        });
      } finally {
        await store.close();
      }
    } finally {
      await dasr.terminate();
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await nc.close();
  }
}
