import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import type { SegmentInput } from '../index/database.js';
import type { RegionStore } from '../index/region-store.js';
import { SEGMENT_LIST, type RecordOutput } from '../decode/frames.js';
import type { Logger } from '../log.js';
import { parseSegmentList, type ListedSegment } from './segment-list.js';
import { probeVideo } from '../decode/probe.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { RETENTION_PERIOD_MS, retentionCuts, type RetentionLimits } from './retention.js';

export interface RecordingOptions extends RetentionLimits {
  /**
   * the data directory: recordings go to `<data>/recordings/<video id>/<connection>/`; the index records their paths
   * relative to it, so in a cluster every worker and API replica mounts the same storage there
   */
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
 * and committed; then retention runs over every recorded segment of the index.
 */
export class LiveRecording {
  private connection = -1;
  /** segments of the current connection already committed, by file name */
  private readonly committed = new Set<string>();
  /** whether the current connection's offset is written in its folder */
  private offsetSaved = false;
  /** whether the current connection records (its folder could be made) */
  private recording = false;
  /** whether ffmpeg gave up the current connection's recording (RecordOutput.onFailure) */
  private failed = false;

  /**
   * `writerEpoch`: this writer's epoch of a run taken over from another (cluster streams): its connections' folders
   * are named after it, so that they never meet the folders of the writers before it.
   */
  constructor(
    private readonly store: RegionStore,
    private readonly videoId: number,
    private readonly options: RecordingOptions,
    private readonly logger: Logger,
    private readonly writerEpoch?: number,
  ) {}

  /**
   * The ffmpeg output for a new connection; none when its folder cannot be made (the storage failing): the connection
   * is then indexed without a recording.
   */
  nextConnection(): RecordOutput | undefined {
    this.connection++;
    this.committed.clear();
    this.offsetSaved = false;
    this.failed = false;
    const dir = this.connectionDir();
    try {
      mkdirSync(dir, { recursive: true });
      this.recording = true;
      const connection = this.connection;
      const onFailure = (reason: string): void => {
        if (connection === this.connection) this.failed = true;
        this.logger.warn(`live run ${this.videoId}: connection ${connection} stopped recording (${reason}); indexing goes on, and what was recorded stays`);
      };
      return { dir, segmentSeconds: this.options.segmentSeconds, onFailure };
    } catch (error) {
      this.recording = false;
      this.logger.warn(`live run ${this.videoId}: connection ${this.connection} is not recorded (${error instanceof Error ? error.message : String(error)})`);
      return undefined;
    }
  }

  /**
   * Commits the segments the current connection finished since the last call and, when there were any, applies
   * retention. With `lastT` (the connection ended), a segment ffmpeg was still writing is committed too, ending at
   * `lastT`.
   */
  async sync(offset: number | undefined, lastT?: number): Promise<void> {
    if (this.connection < 0 || offset === undefined || !this.recording) return;
    const dir = this.connectionDir();
    if (!this.offsetSaved && !this.failed) {
      // A writer that dies before its connection's first segment is listed leaves no committed segment to place the
      // others by: the offset, known from the first keyframe, is kept beside them for recoverRecording.
      await writeFileAtomic(join(dir, CONNECTION_OFFSET), Buffer.from(`${JSON.stringify(offset)}\n`));
      this.offsetSaved = true;
    }
    const listed = readSegmentList(dir);
    const fresh: SegmentInput[] = [];
    let end = offset;
    for (const segment of listed) {
      end = Math.max(end, offset + segment.end);
      if (this.committed.has(segment.file)) continue;
      fresh.push(segmentAt(this.options.dataDir, dir, segment.file, offset + segment.start, offset + segment.end));
    }
    if (lastT !== undefined) {
      for (const file of (existsSync(dir) ? readdirSync(dir) : []).filter((f) => f.endsWith('.ts')).sort()) {
        if (this.committed.has(file) || listed.some((s) => s.file === file) || lastT <= end) continue;
        // The segment ffmpeg was writing when it was stopped (killed) holds what it had flushed: up to lastT at most,
        // often less. After a failed recording the decode went on, so it holds a part of [end, lastT] at most, and on
        // a full disk its space is better given back.
        const duration = this.failed ? 0 : await recordedDuration(join(dir, file));
        if (duration > 0) fresh.push(segmentAt(this.options.dataDir, dir, file, end, Math.min(lastT, end + duration)));
        else rmSync(join(dir, file), { force: true });
      }
    }
    if (fresh.length === 0) return;
    await this.store.addSegments(this.videoId, fresh);
    for (const segment of fresh) this.committed.add(basename(segment.path));
    // Retention looks at every segment: once per new segment, not per keyframe.
    await applyRetention(this.store, this.options.dataDir, this.options, this.logger);
  }

  private connectionDir(): string {
    const name = this.writerEpoch === undefined ? String(this.connection) : `w${this.writerEpoch}-${this.connection}`;
    return join(recordingDir(this.options.dataDir, this.videoId), name);
  }
}

/** A connection folder's file holding its offset (index time − stream time), written at its first keyframe. */
const CONNECTION_OFFSET = 'offset.json';

/** The offset a connection's folder keeps, if it has one. */
function savedOffset(dir: string): number | undefined {
  try {
    const offset: unknown = JSON.parse(readFileSync(join(dir, CONNECTION_OFFSET), 'utf8'));
    return typeof offset === 'number' && Number.isFinite(offset) ? offset : undefined;
  } catch {
    return undefined;
  }
}

/** The segment `file` of a connection's folder, placed at [tStart, tEnd) on its run's timeline. */
function segmentAt(dataDir: string, dir: string, file: string, tStart: number, tEnd: number): SegmentInput {
  const path = join(dir, file);
  return { path: relative(dataDir, path), tStart, tEnd, bytes: statSync(path).size };
}

/** How long a segment file ffmpeg did not finish plays, as ffprobe reads it (0: nothing readable). */
async function recordedDuration(path: string): Promise<number> {
  const duration = await probeVideo(path).then((info) => info.duration, () => 0);
  return duration > 0 ? duration : 0;
}

/** The segments ffmpeg has finished in a connection's folder (none before it lists one). */
function readSegmentList(dir: string): ListedSegment[] {
  return existsSync(join(dir, SEGMENT_LIST)) ? parseSegmentList(readFileSync(join(dir, SEGMENT_LIST), 'utf8')) : [];
}

/**
 * Removes the segments past the limits with everything indexed before their end in their run (the database
 * first, then the files: a crash in between leaves a file nobody points at, never a region without its picture).
 */
export async function applyRetention(store: RegionStore, dataDir: string, limits: RetentionLimits, logger: Logger, now = Date.now()): Promise<void> {
  // Mostly nothing is due: two aggregates say so without reading every segment (a day of 10 s segments per stream).
  const totals = await store.segmentTotals();
  if (totals.oldestCreatedAt === null || (totals.bytes <= limits.maxBytes && now - totals.oldestCreatedAt <= limits.maxAgeSeconds * 1000)) return;
  const segments = await store.expiringSegments(limits, now);
  if (segments.length === 0) return;
  for (const [videoId, t] of retentionCuts(segments)) {
    for (const segment of await store.trimVideoBefore(videoId, t)) rmSync(join(dataDir, segment.path), { force: true });
  }
  logger.debug(`retention removed ${segments.length} recorded segments (${segments.reduce((n, s) => n + s.bytes, 0)} bytes)`);
}

/**
 * Age-based retention on its own clock, every RETENTION_PERIOD_MS, one run at a time: recordings age whether or not a
 * stream still records (a recording stream also applies retention per committed segment). `stop` ends the clock and
 * waits for a run in progress.
 */
export function ageRecordings(store: RegionStore, options: RetentionLimits & { dataDir: string }, logger: Logger): { stop(): Promise<void> } {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = applyRetention(store, options.dataDir, options, logger)
      .catch((error: unknown) => logger.warn(`retention failed: ${error instanceof Error ? error.message : String(error)}`))
      .finally(() => (running = null));
  }, RETENTION_PERIOD_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * After a crash, the recordings of the live runs it cut (recoverRecording for each live video). Call it before any
 * stream records again.
 */
export async function recoverRecordings(store: RegionStore, dataDir: string, logger: Logger): Promise<void> {
  for (const video of await store.listVideos()) {
    if (video.sourceKind === 'live') await recoverRecording(store, dataDir, video.id, logger);
  }
}

/**
 * What a writer that stopped without finishing (a crash, a killed cluster worker) left of a live run's recording:
 * segments ffmpeg finished that were not committed yet, and the one it was writing (never listed), are committed on
 * the run's timeline — a connection's offset is known from a segment of it already committed, or from the offset its
 * writer kept in the folder at its first keyframe; the unfinished one starts where the listed ones end (at 0 when none
 * is: the recording's timeline starts at zero) and lasts what ffprobe reads of it. A connection with neither cannot be
 * placed: its files are removed. Call it before the run records again.
 */
export async function recoverRecording(store: RegionStore, dataDir: string, videoId: number, logger: Logger): Promise<void> {
  const runDir = recordingDir(dataDir, videoId);
  if (!existsSync(runDir)) return;
  const committed = new Map((await store.segmentsOfVideo(videoId)).map((s) => [s.path, s]));
  // A run with no keyframe and no segment left was trimmed whole by retention, whose crash came before its files went
  // (a connection's offset is kept only after its first keyframe is committed): none of them has anything to show.
  if (committed.size === 0 && !((await store.videoSummary(videoId))?.keyframeCount ?? 0)) {
    rmSync(runDir, { recursive: true, force: true });
    logger.info(`live run ${videoId}: its recordings, which retention had emptied of everything indexed, were removed`);
    return;
  }
  // Retention trims a run from its start, the index first, then the files: a file placed wholly before the run's
  // earliest committed segment is one it removed (a crash came before the file went, or it is going now).
  let trimmedBefore = committed.size > 0 ? Infinity : -Infinity;
  for (const segment of committed.values()) trimmedBefore = Math.min(trimmedBefore, segment.tStart);
  for (const connection of readdirSync(runDir)) {
    const dir = join(runDir, connection);
    const files = readdirSync(dir).filter((f) => f.endsWith('.ts')).sort();
    const pathOf = (file: string) => relative(dataDir, join(dir, file));
    const orphans = files.filter((f) => !committed.has(pathOf(f)));
    if (orphans.length === 0) continue;
    const listed = readSegmentList(dir);
    const anchor = listed.find((s) => committed.has(pathOf(s.file)));
    const offset = anchor ? committed.get(pathOf(anchor.file))!.tStart - anchor.start : savedOffset(dir);
    if (offset === undefined) {
      for (const file of orphans) rmSync(join(dir, file), { force: true });
      logger.warn(`live run ${videoId}: ${orphans.length} recorded segments of connection ${connection} cannot be placed on its timeline (none was committed, and no keyframe placed it): removed`);
      continue;
    }
    const recovered: SegmentInput[] = [];
    let end = listed.reduce((latest, s) => Math.max(latest, s.end), 0);
    const place = (file: string, tStart: number, tEnd: number): void => {
      if (tEnd <= trimmedBefore) {
        rmSync(join(dir, file), { force: true });
        return;
      }
      try {
        recovered.push(segmentAt(dataDir, dir, file, tStart, tEnd));
      } catch (error) {
        // gone meanwhile (retention removing it): nothing to place
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    };
    for (const file of orphans) {
      const entry = listed.find((s) => s.file === file);
      if (entry) {
        place(file, offset + entry.start, offset + entry.end);
        continue;
      }
      const duration = await recordedDuration(join(dir, file));
      if (!(duration > 0)) {
        rmSync(join(dir, file), { force: true });
        continue;
      }
      place(file, offset + end, offset + end + duration);
      end += duration;
    }
    await store.addSegments(videoId, recovered);
    if (recovered.length) logger.info(`live run ${videoId}: ${recovered.length} recorded segments a crash left uncommitted were recovered`);
  }
}
