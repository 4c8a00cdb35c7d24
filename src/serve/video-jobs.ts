/**
 * Indexing jobs for video files, run one at a time in submission order (they share the one detector thread).
 * A job that was running when the service stopped or crashed is resumed on the next start: the index keeps
 * every committed keyframe and ingestFile continues after the last one.
 */
import type { Detector } from '../detect/detector.js';
import type { IndexStore } from '../index/index-store.js';
import { ingestFile } from '../ingest/ingest-file.js';
import type { IngestProgress } from '../ingest/progress.js';
import type { Logger } from '../log.js';

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
  /** the uploaded file to remove when the video is deleted (uploads only) */
  uploaded: boolean;
}

export interface VideoJobsOptions {
  interval: number;
  sceneThreshold: number;
  logger: Logger;
  /** how many finished jobs are remembered for listing */
  keepFinished?: number;
}

export class VideoJobs {
  private readonly jobs: VideoJob[] = [];
  private nextId = 1;
  private running: Promise<void> | null = null;
  private current: { job: VideoJob; abort: AbortController } | null = null;
  private closed = false;

  constructor(
    private readonly store: IndexStore,
    private readonly detector: Detector,
    private readonly options: VideoJobsOptions,
  ) {}

  submit(path: string, uploaded: boolean): VideoJob {
    if (this.closed) throw new Error('the service is shutting down');
    const job: VideoJob = { id: this.nextId++, path, state: 'queued', videoId: null, position: 0, duration: null, keyframes: 0, regions: 0, error: null, createdAt: Date.now(), uploaded };
    this.jobs.push(job);
    this.prune();
    this.running ??= this.drain();
    return job;
  }

  list(): VideoJob[] {
    return this.jobs.map((job) => ({ ...job }));
  }

  get(id: number): VideoJob | undefined {
    const job = this.jobs.find((j) => j.id === id);
    return job ? { ...job } : undefined;
  }

  /** Jobs waiting or running. */
  get pending(): number {
    return this.jobs.filter((j) => j.state === 'queued' || j.state === 'indexing').length;
  }

  /** The job indexing (or queued for) a video, if any. */
  jobOfVideo(videoId: number): VideoJob | undefined {
    return this.jobs.find((j) => j.videoId === videoId && (j.state === 'queued' || j.state === 'indexing'));
  }

  /** Stops the job of a video (before it is deleted); resolves once it no longer writes. */
  async cancelVideo(videoId: number): Promise<void> {
    if (this.current?.job.videoId === videoId) {
      this.current.abort.abort();
      await this.running;
    }
  }

  /** Stops the running job and skips the queue; the index keeps what was committed, for a resume. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.jobs) if (job.state === 'queued') job.state = 'cancelled';
    this.current?.abort.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let job = this.nextQueued(); job && !this.closed; job = this.nextQueued()) {
      const abort = new AbortController();
      this.current = { job, abort };
      job.state = 'indexing';
      try {
        const result = await ingestFile(job.path, this.detector, this.store, {
          interval: this.options.interval,
          sceneThreshold: this.options.sceneThreshold,
          signal: abort.signal,
          logger: this.options.logger,
          onVideo: (videoId) => (job.videoId = videoId),
          onProgress: (progress: IngestProgress) => {
            job.position = progress.position;
            job.duration = progress.duration;
            job.keyframes = progress.keyframes;
            job.regions = progress.regions;
          },
        });
        job.videoId = result.videoId;
        job.keyframes = result.progress.keyframes;
        job.regions = result.progress.regions;
        job.position = result.progress.position;
        job.duration = result.progress.duration;
        job.state = 'done';
      } catch (error) {
        job.state = abort.signal.aborted ? 'cancelled' : 'failed';
        job.error = error instanceof Error ? error.message : String(error);
        if (job.state === 'failed') this.options.logger.warn(`indexing ${job.path} failed: ${job.error}`);
      }
      this.current = null;
    }
    this.running = null;
  }

  private nextQueued(): VideoJob | undefined {
    return this.jobs.find((j) => j.state === 'queued');
  }

  private prune(): void {
    const keep = this.options.keepFinished ?? 200;
    const finished = this.jobs.filter((j) => j.state !== 'queued' && j.state !== 'indexing');
    for (const job of finished.slice(0, Math.max(0, finished.length - keep))) this.jobs.splice(this.jobs.indexOf(job), 1);
  }
}
