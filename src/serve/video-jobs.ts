/**
 * Indexing jobs for video files, run one at a time in submission order (they share the one detector thread).
 * The jobs not yet finished are kept in `<data>/jobs.json`, so that nothing accepted is lost when the service
 * stops or crashes: on the next start they are submitted again, and ingestFile resumes a video after its last
 * committed keyframe.
 */
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Detector } from '../detect/detector.js';
import type { VideoRecord, VideoSummary } from '../index/database.js';
import type { IndexStore } from '../index/index-store.js';
import { ingestFile } from '../ingest/ingest-file.js';
import type { IngestProgress } from '../ingest/progress.js';
import type { Logger } from '../log.js';
import type { IndexingJobs } from './ingest-control.js';
import { readJsonFile, writeJsonAtomic } from './json-file.js';

export type JobState = 'queued' | 'indexing' | 'done' | 'failed' | 'cancelled';

export interface VideoJob {
  id: number;
  path: string;
  state: JobState;
  videoId: number | null;
  /** seconds indexed so far, of `duration` */
  position: number;
  duration: number | null;
  keyframes: number;
  regions: number;
  error: string | null;
  createdAt: number;
  /** the file was uploaded (it lives in its own directory under `<data>/uploads/`, removed with the video) */
  uploaded: boolean;
}

export interface VideoJobsOptions {
  dataDir: string;
  interval: number;
  sceneThreshold: number;
  stillThreshold?: number;
  logger: Logger;
  /** how many finished jobs are remembered for listing */
  keepFinished?: number;
}

interface SavedJob {
  path: string;
  uploaded: boolean;
  videoId: number | null;
}

export class VideoJobs implements IndexingJobs {
  private readonly jobs: VideoJob[] = [];
  private readonly file: string;
  private nextId = 1;
  private running: Promise<void> | null = null;
  private current: { job: VideoJob; abort: AbortController; done: Promise<void> } | null = null;
  private closed = false;

  constructor(
    private readonly store: IndexStore,
    private readonly detector: Detector,
    private readonly options: VideoJobsOptions,
  ) {
    this.file = join(options.dataDir, 'jobs.json');
  }

  /** Jobs left unfinished by the last run (see the module comment), for submitting again. */
  saved(): SavedJob[] {
    return readJsonFile<{ jobs: SavedJob[] }>(this.file, { jobs: [] }).jobs;
  }

  submit(path: string, uploaded: boolean, videoId: number | null = null): VideoJob {
    if (this.closed) throw new Error('the service is shutting down');
    const job: VideoJob = { id: this.nextId++, path, state: 'queued', videoId, position: 0, duration: null, keyframes: 0, regions: 0, error: null, createdAt: Date.now(), uploaded };
    this.jobs.push(job);
    this.prune();
    this.persist();
    this.running ??= this.drain();
    return job;
  }

  list(): VideoJob[] {
    return this.jobs.map((job) => ({ ...job }));
  }

  /** Jobs waiting or running. */
  pendingCount(): number {
    return this.jobs.filter(unfinished).length;
  }

  /** How far the video's unfinished job has come, if it has one. */
  progress(video: VideoSummary): { state: JobState; position: number; duration: number | null } | null {
    const job = this.jobs.find((j) => j.videoId === video.id && unfinished(j));
    return job ? { state: job.state, position: job.position, duration: job.duration } : null;
  }

  /** Stops the video's job (running or queued) before the video is deleted; resolves once it no longer writes. */
  async cancelVideo(video: VideoRecord): Promise<void> {
    const videoId = video.id;
    for (const job of this.jobs) if (job.videoId === videoId && job.state === 'queued') job.state = 'cancelled';
    this.persist();
    if (this.current?.job.videoId === videoId) {
      this.current.abort.abort();
      await this.current.done;
    }
  }

  /** Stops the running job and the queue; unfinished jobs stay in jobs.json for the next start. */
  async close(): Promise<void> {
    this.closed = true;
    this.current?.abort.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let job = this.nextQueued(); job && !this.closed; job = this.nextQueued()) {
      const abort = new AbortController();
      const done = this.run(job, abort);
      this.current = { job, abort, done };
      await done;
      this.current = null;
      this.persist();
    }
    this.running = null;
  }

  private async run(job: VideoJob, abort: AbortController): Promise<void> {
    job.state = 'indexing';
    try {
      const result = await ingestFile(job.path, this.detector, this.store, {
        interval: this.options.interval,
        sceneThreshold: this.options.sceneThreshold,
        stillThreshold: this.options.stillThreshold,
        signal: abort.signal,
        logger: this.options.logger,
        onVideo: (videoId) => {
          job.videoId = videoId;
          this.persist();
        },
        onProgress: (progress: IngestProgress) => {
          job.position = progress.position;
          job.duration = progress.duration;
          job.keyframes = progress.keyframes;
          job.regions = progress.regions;
        },
      });
      // The same content was indexed before: this second upload is not needed. Removed before the job reads done.
      if (result.status === 'already-indexed' && job.uploaded)
        await rm(dirname(job.path), { recursive: true, force: true }).catch((error: unknown) => this.options.logger.warn(`${job.path}: duplicate upload not removed (${String(error)})`));
      Object.assign(job, { videoId: result.videoId, keyframes: result.progress.keyframes, regions: result.progress.regions, position: result.progress.position, duration: result.progress.duration, state: 'done' });
    } catch (error) {
      // Stopped by close(): still unfinished, resumed on the next start. Stopped by a deletion: cancelled.
      job.state = abort.signal.aborted ? (this.closed ? 'indexing' : 'cancelled') : 'failed';
      job.error = error instanceof Error ? error.message : String(error);
      if (job.state === 'failed') this.options.logger.warn(`indexing ${job.path} failed: ${job.error}`);
    }
  }

  private nextQueued(): VideoJob | undefined {
    return this.jobs.find((j) => j.state === 'queued');
  }

  private persist(): void {
    const jobs: SavedJob[] = this.jobs.filter(unfinished).map((j) => ({ path: j.path, uploaded: j.uploaded, videoId: j.videoId }));
    writeJsonAtomic(this.file, { jobs });
  }

  private prune(): void {
    const keep = this.options.keepFinished ?? 200;
    const finished = this.jobs.filter((j) => !unfinished(j));
    for (const job of finished.slice(0, Math.max(0, finished.length - keep))) this.jobs.splice(this.jobs.indexOf(job), 1);
  }
}

function unfinished(job: VideoJob): boolean {
  return job.state === 'queued' || job.state === 'indexing';
}
