/**
 * The cluster's indexing jobs as the API sees them: a job is a message of the JetStream work queue until a worker
 * acknowledges it, so the queue itself is the list of jobs waiting and running (no copy of it is kept anywhere).
 * Finished jobs leave the queue; their videos show what became of them.
 */
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { VideoRecord, VideoSummary } from '../index/database.js';
import { ApiError } from '../serve/errors.js';
import type { IndexingJobs } from '../serve/ingest-control.js';
import type { JobState, VideoJob } from '../serve/video-jobs.js';
import { splitSeconds } from '../ingest/ingest-file.js';
import { enqueueJobs, JOB_STREAM, parseJob, WORKER_CONSUMER, type IngestJob } from './job-queue.js';

/** Jobs listed at most, oldest first; and sequence numbers looked at to find them (acknowledged ones leave gaps). */
const MAX_LISTED = 200;
const MAX_LOOKED_AT = 500;

export class ClusterJobs implements IndexingJobs {
  constructor(
    private readonly nc: NatsConnection,
    private readonly settings: Pick<IngestJob, 'interval' | 'sceneThreshold' | 'stillThreshold'>,
    /** where this service keeps uploads: their jobs say `uploaded` */
    private readonly uploadDir: string,
  ) {}

  async submit(path: string, uploaded: boolean): Promise<VideoJob> {
    const [seq] = await enqueueJobs(this.nc, [{ path, ...this.settings, force: false }]);
    return jobView(seq!, path, 'queued', Date.now(), uploaded);
  }

  /**
   * The jobs in the queue: 'indexing' once a worker has been given it and not acknowledged it (a job waiting to be
   * redelivered after a failure reads so too), else 'queued'.
   */
  async list(): Promise<VideoJob[]> {
    const jsm = await jetstreamManager(this.nc);
    const { state } = await jsm.streams.info(JOB_STREAM);
    const delivered = (await jsm.consumers.info(JOB_STREAM, WORKER_CONSUMER)).delivered.stream_seq;
    const jobs: VideoJob[] = [];
    const last = Math.min(state.last_seq, state.first_seq + MAX_LOOKED_AT - 1);
    for (let seq = state.first_seq; seq <= last && jobs.length < MAX_LISTED && state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(JOB_STREAM, { seq }).catch(() => null);
      const job = message && parseJob(message);
      if (!message || !job) continue;
      jobs.push(jobView(seq, job.path, seq <= delivered ? 'indexing' : 'queued', message.time.getTime(), job.path.startsWith(this.uploadDir)));
    }
    return jobs;
  }

  async pendingCount(): Promise<number> {
    const jsm = await jetstreamManager(this.nc);
    return (await jsm.streams.info(JOB_STREAM)).state.messages;
  }

  /**
   * A file's video is being indexed until its job ends: how far the workers have committed. A split one is written
   * in several places at once: its keyframes times the interval say how much of it is done.
   */
  progress(video: VideoSummary): { state: JobState; position: number; duration: number | null } | null {
    if (video.status !== 'indexing' || video.sourceKind !== 'file') return null;
    const { interval } = (video.config ?? {}) as { interval?: number };
    const position = splitSeconds(video) !== undefined && interval ? Math.min(video.duration ?? Number.POSITIVE_INFINITY, video.keyframeCount * interval) : (video.lastCommittedT ?? 0);
    return { state: 'indexing', position, duration: video.duration };
  }

  /** A worker's job cannot be stopped from here: a video still indexing is refused. */
  async cancelVideo(video: VideoRecord): Promise<void> {
    if (video.status === 'indexing') {
      throw new ApiError('conflict', `video ${video.id} is being indexed by the cluster: ${video.sourceKind === 'live' ? 'remove its stream first' : 'delete it once its job has finished'}`);
    }
  }

  /** (Queued jobs belong to the cluster: they wait for its workers.) */
  async close(): Promise<void> {}
}

function jobView(id: number, path: string, state: JobState, createdAt: number, uploaded: boolean): VideoJob {
  return { id, path, state, videoId: null, position: 0, duration: null, keyframes: 0, regions: 0, error: null, createdAt, uploaded };
}
