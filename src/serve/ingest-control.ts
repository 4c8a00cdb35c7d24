/**
 * What the API needs of ingestion, wherever it runs: here (VideoJobs and LiveStreams, one service with its own DASR
 * thread) or on a cluster's workers (ClusterJobs and ClusterStreams: jobs on NATS JetStream, streams in the shared
 * index with their workers' leases).
 */
import type { VideoRecord, VideoSummary } from '../index/database.js';
import type { Principal } from './auth.js';
import type { StreamStatus } from './live-streams.js';
import type { JobState, VideoJob } from './video-jobs.js';
import type { MaybePromise } from '../util/maybe-promise.js';

export interface IndexingJobs {
  /** queues a video file for indexing */
  submit(path: string, uploaded: boolean): MaybePromise<VideoJob>;
  /** the jobs waiting and running (and, here, the recently finished ones) */
  list(): MaybePromise<VideoJob[]>;
  /** how many jobs wait or run */
  pendingCount(): MaybePromise<number>;
  /** how far the indexing of a video has come; null when it is not being indexed */
  progress(video: VideoSummary): { state: JobState; position: number; duration: number | null } | null;
  /** stops the indexing of a video about to be deleted; ApiError 'conflict' where it cannot be stopped from here */
  cancelVideo(video: VideoRecord): Promise<void>;
  close(): Promise<void>;
}

export interface StreamRegistry {
  /** checks the URL (allowed protocols, no files, the host policy) and starts following it */
  add(url: string, interval: number, name: string | null, owner: string): Promise<StreamStatus>;
  /** stops and forgets a stream (what it indexed stays); false when there is none */
  remove(id: number): Promise<boolean>;
  /** the streams `principal` may see (all, without one) */
  list(principal?: Principal): MaybePromise<StreamStatus[]>;
  status(id: number): MaybePromise<StreamStatus | undefined>;
  close(): Promise<void>;
}
