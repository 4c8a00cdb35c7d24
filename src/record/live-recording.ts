import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { SegmentInput } from '../index/database.js';
import type { IndexStore } from '../index/index-store.js';
import { SEGMENT_LIST, type RecordOutput } from '../decode/frames.js';
import type { Logger } from '../log.js';
import { parseSegmentList } from './segment-list.js';
import { expiredSegments, type RetentionLimits } from './retention.js';

export interface RecordingOptions extends RetentionLimits {
  /** the data directory: recordings go to `<data>/recordings/<video id>/<connection>/` */
  dataDir: string;
  segmentSeconds: number;
}

/** Where a live run's recordings are kept (removed with the run). */
export function recordingDir(dataDir: string, videoId: number): string {
  return join(dataDir, 'recordings', String(videoId));
}

/**
 * The recording of one live run: each connection to the source records into a folder of its own (ffmpeg numbers
 * segments from 0 again), and the segments it finished are placed on the run's index timeline — a connection's
 * time `pts` is index time `offset + pts` (LiveIngestion fixes the offset at the connection's first keyframe) —
 * and committed; then retention runs over the whole data directory.
 */
export class LiveRecording {
  private connection = -1;
  /** segments of the current connection already committed, by file name */
  private readonly committed = new Set<string>();

  constructor(
    private readonly store: IndexStore,
    private readonly videoId: number,
    private readonly options: RecordingOptions,
    private readonly logger: Logger,
  ) {}

  /** The ffmpeg output for a new connection. */
  nextConnection(): RecordOutput {
    this.connection++;
    this.committed.clear();
    const dir = this.connectionDir();
    mkdirSync(dir, { recursive: true });
    return { dir, segmentSeconds: this.options.segmentSeconds };
  }

  /**
   * Commits the segments the current connection finished since the last call and, when there were any, applies
   * retention. With `lastT` (the connection ended), a segment ffmpeg was still writing is committed too, ending at
   * `lastT`.
   */
  async sync(offset: number | undefined, lastT?: number): Promise<void> {
    if (this.connection < 0 || offset === undefined) return;
    const dir = this.connectionDir();
    const listed = existsSync(join(dir, SEGMENT_LIST)) ? parseSegmentList(readFileSync(join(dir, SEGMENT_LIST), 'utf8')) : [];
    const fresh: SegmentInput[] = [];
    let end = offset;
    for (const segment of listed) {
      end = Math.max(end, offset + segment.end);
      if (this.committed.has(segment.file)) continue;
      fresh.push(this.segment(segment.file, offset + segment.start, offset + segment.end));
    }
    if (lastT !== undefined) {
      for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()) {
        if (this.committed.has(file) || listed.some((s) => s.file === file) || lastT <= end) continue;
        fresh.push(this.segment(file, end, lastT));
      }
    }
    if (fresh.length === 0) return;
    this.store.db.addSegments(this.videoId, fresh);
    for (const segment of fresh) this.committed.add(basename(segment.path));
    // Retention looks at every segment: once per new segment, not per keyframe.
    await applyRetention(this.store, this.options.dataDir, this.options, this.logger);
  }

  private connectionDir(): string {
    return join(recordingDir(this.options.dataDir, this.videoId), String(this.connection));
  }

  private segment(file: string, tStart: number, tEnd: number): SegmentInput {
    const path = join(this.connectionDir(), file);
    return { path: relative(this.options.dataDir, path), tStart, tEnd, bytes: statSync(path).size };
  }
}

/**
 * Removes the segments past the limits with everything indexed before their end in their run (the database
 * first, then the files: a crash in between leaves a file nobody points at, never a region without its picture).
 */
export async function applyRetention(store: IndexStore, dataDir: string, limits: RetentionLimits, logger: Logger, now = Date.now()): Promise<void> {
  const { segments, cuts } = expiredSegments(store.db.segmentsOldestFirst(), limits, now);
  if (segments.length === 0) return;
  for (const [videoId, t] of cuts) {
    for (const segment of await store.trimVideoBefore(videoId, t)) rmSync(join(dataDir, segment.path), { force: true });
  }
  logger.debug(`retention removed ${segments.length} recorded segments (${segments.reduce((n, s) => n + s.bytes, 0)} bytes)`);
}
