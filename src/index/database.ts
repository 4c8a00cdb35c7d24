/**
 * The durable part of the index: one SQLite database per data directory. It is the source of truth for
 * everything, feature vectors included (float32 LE BLOBs); the HNSW file next to it is a derived cache that
 * IndexStore reconciles against these tables on open.
 *
 * Durability choices:
 *  - WAL journal: readers never block the single writer, and a crash (kill -9, power loss) leaves the database
 *    at the last committed transaction.
 *  - synchronous=FULL: in WAL mode NORMAL only fsyncs at checkpoints, so a power loss may roll back transactions
 *    that were already reported committed. The vector cache is written after SQLite and may be saved to disk
 *    right after a commit; with NORMAL it could then hold ids that SQLite lost, and (ids being handed out again
 *    after the rollback) attach an old vector to a new region. FULL fsyncs the WAL on every commit, so whatever
 *    the HNSW file contains was durable in SQLite first. The cost is one fsync per keyframe batch — negligible
 *    next to feature extraction and HNSW insertion.
 *  - AUTOINCREMENT ids for videos, keyframes and regions: a deleted region's id is never handed out again, so an
 *    id in the HNSW file always means the same vector (reconciliation relies on this).
 */
import Database from 'better-sqlite3';
import { createHash, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { open as openFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Box } from '../detect/box.js';
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';
import { assertWriterEpoch } from './region-store.js';

export type SqliteDb = Database.Database;

export const DATABASE_FILE = 'index.db';
export const DEFAULT_DIM = 2048;

export type SourceKind = 'file' | 'live';
export type VideoStatus = 'indexing' | 'ready' | 'failed' | 'deleted';
export type { Box };

export interface VideoRecord {
  id: number;
  path: string;
  sourceKind: SourceKind;
  contentKey: string | null;
  width: number | null;
  height: number | null;
  duration: number | null;
  fps: number | null;
  status: VideoStatus;
  error: string | null;
  /** Unix milliseconds. */
  createdAt: number;
  updatedAt: number;
  /** pts (seconds) of the last committed keyframe; ingestion resumes after it. */
  lastCommittedT: number | null;
  /** Detector settings used for this video (parsed config_json). */
  config: unknown;
}

export interface VideoSummary extends VideoRecord {
  keyframeCount: number;
  regionCount: number;
  trackCount: number;
}

/** Settings some videos were indexed with (parsed config_json), and how many. */
export interface VideoSettings {
  config: unknown;
  videos: number;
}

export interface NewVideo {
  path: string;
  sourceKind: SourceKind;
  contentKey?: string | null;
  width?: number | null;
  height?: number | null;
  duration?: number | null;
  fps?: number | null;
  status?: VideoStatus;
  config?: unknown;
}

export type VideoInfoUpdate = Partial<Pick<NewVideo, 'path' | 'contentKey' | 'width' | 'height' | 'duration' | 'fps' | 'config'>>;

export interface RegionInput {
  box: Box | readonly number[];
  score: number;
  /** L2-normalised, length = the database's dimension. */
  feature: Float32Array;
  /** Tracker id; the track row is created/extended automatically. null = not tracked. */
  trackId: number | null;
}

export interface KeyframeInput {
  /** pts in seconds, unique per video. */
  t: number;
  width: number;
  height: number;
  regions: readonly RegionInput[];
  /** the keyframe's shot descriptor (VLAD of its regions), when the index has a shot codebook */
  shotVector?: Float32Array;
}

/** Seconds [start, end) of a video; a file indexed in parts has one job per range. */
export interface TimeRange {
  start: number;
  /** Infinity for the last range: to the end of the file */
  end: number;
}

/**
 * Range ends are compared with this tolerance (seconds): a range's start and the previous range's end are sums of
 * floating-point steps, and a frame time may lie a bit below either.
 */
export const TIME_EPSILON = 1e-6;

/** Whether a time lies in a range: at or after its start and before its end, both less TIME_EPSILON. */
export function inTimeRange(t: number, range: TimeRange): boolean {
  return t >= range.start - TIME_EPSILON && t < range.end - TIME_EPSILON;
}

/** The bounds inTimeRange compares with, finite for SQL (Infinity is not a number there): t ≥ low and t < high. */
export function timeRangeBounds(range: TimeRange): { low: number; high: number } {
  return { low: range.start - TIME_EPSILON, high: Number.isFinite(range.end) ? range.end - TIME_EPSILON : Number.MAX_VALUE };
}

/** A region either already committed (by id) or in the batch being committed (by position). */
export type RegionRef = { regionId: number } | { keyframe: number; region: number };

/**
 * Per-track changes decided by the tracker. first_t / last_t / keyframes are derived from the committed regions
 * themselves, so only the choice of the representative ("best") region is passed here.
 */
export interface TrackUpdate {
  id: number;
  bestRegion?: RegionRef | null;
}

/** Opaque tracker state: bytes are stored as a BLOB, anything else as JSON. */
export type TrackerState = Uint8Array | Record<string, unknown> | unknown[] | string | number | boolean | null;

export interface CommitResult {
  keyframeIds: number[];
  /** regionIds[i][j] is the id of batch[i].regions[j]. */
  regionIds: number[][];
  /**
   * Positions in the batch of keyframes the video already had at that time (a redelivered or repeated commit): they
   * were left as they were, and their ids (and their regions', in the order they were committed) are returned.
   */
  repeated: number[];
}

export interface KeyframeRecord {
  id: number;
  videoId: number;
  t: number;
  width: number;
  height: number;
}

export interface TrackRecord {
  id: number;
  videoId: number;
  firstT: number;
  lastT: number;
  keyframes: number;
  bestRegionId: number | null;
}

export interface RegionRecord {
  id: number;
  keyframeId: number;
  videoId: number;
  trackId: number | null;
  t: number;
  box: Box;
  score: number;
}

export interface VideoState {
  videoId: number;
  lastCommittedT: number | null;
  trackerState: TrackerState | undefined;
}

export interface RegionFilter {
  videoIds?: readonly number[];
  minRegionScore?: number;
  /** keyframe time window, seconds, inclusive */
  from?: number;
  to?: number;
}

/** A recorded piece of a live run (an MPEG-TS file), placed on the run's index timeline. */
export interface SegmentInput {
  /** the file, relative to the data directory */
  path: string;
  /** index times (seconds) of its first frame and of its end */
  tStart: number;
  tEnd: number;
  bytes: number;
}

export interface SegmentRecord extends SegmentInput {
  id: number;
  videoId: number;
  /** Unix ms */
  createdAt: number;
}

export interface OpenDatabaseOptions {
  /** Feature dimension. Recorded in meta on creation; must match afterwards. Default 2048 for a new database. */
  dim?: number;
  /** Override of the migration list (tests). */
  migrations?: readonly Migration[];
}

/** Migration i (0-based) takes the schema from user_version i to i + 1. Runs inside a transaction. */
export type Migration = (db: SqliteDb) => void;

export const MIGRATIONS: readonly Migration[] = [
  // v1: initial schema.
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE videos (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        path             TEXT NOT NULL,
        source_kind      TEXT NOT NULL CHECK (source_kind IN ('file', 'live')),
        content_key      TEXT,
        width            INTEGER,
        height           INTEGER,
        duration         REAL,
        fps              REAL,
        status           TEXT NOT NULL DEFAULT 'indexing'
                           CHECK (status IN ('indexing', 'ready', 'failed', 'deleted')),
        error            TEXT,
        created_at       INTEGER NOT NULL,
        updated_at       INTEGER NOT NULL,
        last_committed_t REAL,
        config_json      TEXT
      );
      CREATE INDEX videos_content_key ON videos(content_key);
      CREATE TABLE keyframes (
        id       INTEGER PRIMARY KEY AUTOINCREMENT,
        video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        t        REAL NOT NULL,
        width    INTEGER NOT NULL,
        height   INTEGER NOT NULL,
        UNIQUE (video_id, t)
      );
      CREATE TABLE tracks (
        id             INTEGER PRIMARY KEY,
        video_id       INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        first_t        REAL NOT NULL,
        last_t         REAL NOT NULL,
        keyframes      INTEGER NOT NULL DEFAULT 0,
        best_region_id INTEGER REFERENCES regions(id) ON DELETE SET NULL
      );
      CREATE INDEX tracks_video ON tracks(video_id);
      CREATE INDEX tracks_best_region ON tracks(best_region_id);
      CREATE TABLE regions (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        keyframe_id INTEGER NOT NULL REFERENCES keyframes(id) ON DELETE CASCADE,
        video_id    INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        track_id    INTEGER REFERENCES tracks(id) ON DELETE SET NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        score       REAL NOT NULL,
        feature     BLOB NOT NULL
      );
      CREATE INDEX regions_keyframe ON regions(keyframe_id);
      CREATE INDEX regions_video ON regions(video_id);
      CREATE INDEX regions_track ON regions(track_id);
      CREATE TABLE video_state (
        video_id      INTEGER PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
        tracker_state BLOB,
        updated_at    INTEGER NOT NULL
      );
    `);
  },
  // v2: recorded segments of live runs.
  (db) => {
    db.exec(`
      CREATE TABLE segments (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        video_id   INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        path       TEXT NOT NULL,
        t_start    REAL NOT NULL,
        t_end      REAL NOT NULL,
        bytes      INTEGER NOT NULL,
        created_at INTEGER NOT NULL,
        UNIQUE (video_id, path)
      );
      CREATE INDEX segments_video_time ON segments(video_id, t_start);
    `);
  },
  // v3: one image-level (shot) descriptor per keyframe, the VLAD of its regions under the codebook named in meta.
  (db) => {
    db.exec(`
      CREATE TABLE shot_vectors (
        keyframe_id INTEGER PRIMARY KEY REFERENCES keyframes(id) ON DELETE CASCADE,
        vector      BLOB NOT NULL
      );
    `);
  },
  // v4: the epoch of a video's writer; a commit made under an older one is refused (a superseded stream holder).
  (db) => {
    db.exec('ALTER TABLE videos ADD COLUMN writer_epoch INTEGER NOT NULL DEFAULT 0');
  },
  // v5: the time ranges of a file indexed in parts (one job each) that are finished.
  (db) => {
    db.exec(`
      CREATE TABLE finished_ranges (
        video_id    INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
        range_index INTEGER NOT NULL,
        PRIMARY KEY (video_id, range_index)
      );
    `);
  },
];

/** float32 little-endian bytes of a feature (a view, not a copy, on little-endian hosts). */
export function featureToBlob(feature: Float32Array): Buffer {
  return float32ToLEBytes(feature);
}

/** Decodes a float32 LE blob into `out` at element offset `at` (or into a new array). */
export function blobToFeature(blob: Uint8Array, out?: Float32Array, at = 0): Float32Array {
  if (blob.byteLength % 4 !== 0) throw new RangeError(`feature blob of ${blob.byteLength} bytes is not float32`);
  const n = blob.byteLength / 4;
  if (at + n > (out?.length ?? n)) throw new RangeError('feature blob does not fit the output');
  return float32FromLEBytes(blob, out, at);
}

/** `size:mtimeMs:sha256(first MiB)` — recognises the same file again without hashing all of it. */
export async function fileContentKey(path: string): Promise<string> {
  const info = await stat(path);
  const handle = await openFile(path, 'r');
  try {
    const head = Buffer.alloc(Math.min(info.size, 1 << 20));
    let off = 0;
    while (off < head.length) {
      const { bytesRead } = await handle.read(head, off, head.length - off, off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    const digest = createHash('sha256').update(head.subarray(0, off)).digest('hex');
    return `${info.size}:${Math.trunc(info.mtimeMs)}:${digest}`;
  } finally {
    await handle.close();
  }
}

export interface VideoRow {
  id: number;
  path: string;
  source_kind: SourceKind;
  content_key: string | null;
  width: number | null;
  height: number | null;
  duration: number | null;
  fps: number | null;
  status: VideoStatus;
  error: string | null;
  created_at: number;
  updated_at: number;
  last_committed_t: number | null;
  config_json: string | null;
  writer_epoch: number;
}

interface VideoSummaryRow extends VideoRow {
  keyframe_count: number;
  region_count: number;
  track_count: number;
}

export interface RegionRow {
  id: number;
  keyframe_id: number;
  video_id: number;
  track_id: number | null;
  t: number;
  x1: number;
  y1: number;
  x2: number;
  y2: number;
  score: number;
}

export interface TrackRow {
  id: number;
  video_id: number;
  first_t: number;
  last_t: number;
  keyframes: number;
  best_region_id: number | null;
}

export function videoFromRow(row: VideoRow): VideoRecord {
  return {
    id: row.id,
    path: row.path,
    sourceKind: row.source_kind,
    contentKey: row.content_key,
    width: row.width,
    height: row.height,
    duration: row.duration,
    fps: row.fps,
    status: row.status,
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastCommittedT: row.last_committed_t,
    config: row.config_json == null ? null : JSON.parse(row.config_json),
  };
}

export function regionFromRow(row: RegionRow): RegionRecord {
  return {
    id: row.id,
    keyframeId: row.keyframe_id,
    videoId: row.video_id,
    trackId: row.track_id,
    t: row.t,
    box: [row.x1, row.y1, row.x2, row.y2],
    score: row.score,
  };
}

export function trackFromRow(row: TrackRow): TrackRecord {
  return {
    id: row.id,
    videoId: row.video_id,
    firstT: row.first_t,
    lastT: row.last_t,
    keyframes: row.keyframes,
    bestRegionId: row.best_region_id,
  };
}

export function encodeTrackerState(state: TrackerState): Buffer | string {
  if (state instanceof Uint8Array) return Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  return JSON.stringify(state);
}

export function decodeTrackerState(value: unknown): TrackerState | undefined {
  if (value == null) return undefined;
  if (value instanceof Uint8Array) return new Uint8Array(value);
  return JSON.parse(String(value)) as TrackerState;
}

const finite = (x: number) => typeof x === 'number' && Number.isFinite(x);

/** Refuses a batch that no index engine can store: RangeError naming the keyframe and region at fault. */
export function assertKeyframeBatch(batch: readonly KeyframeInput[], dim: number): void {
  for (const [i, kf] of batch.entries()) {
    if (!finite(kf.t)) throw new RangeError(`keyframe ${i}: t must be finite`);
    for (const [j, r] of kf.regions.entries()) {
      if (!(r.feature instanceof Float32Array) || r.feature.length !== dim)
        throw new RangeError(`keyframe ${i} region ${j}: feature must be a Float32Array of length ${dim}`);
      if (r.box.length !== 4 || !r.box.every(finite)) throw new RangeError(`keyframe ${i} region ${j}: bad box`);
      if (!finite(r.score)) throw new RangeError(`keyframe ${i} region ${j}: score must be finite`);
      if (r.trackId != null && !Number.isSafeInteger(r.trackId))
        throw new RangeError(`keyframe ${i} region ${j}: trackId must be an integer`);
    }
  }
}

/** Where ingestion resumes after a committed batch: the given point, else its latest keyframe (null for none). */
export function resumePoint(batch: readonly KeyframeInput[], lastCommittedT: number | undefined): number | null {
  return lastCommittedT ?? (batch.length ? Math.max(...batch.map((kf) => kf.t)) : null);
}

/**
 * The region a track update names as its best: undefined when it names none (nothing to change), `id: null` to
 * clear it, a region of this batch (`regionIds` from the commit), or a region committed before (`committed`: its
 * owner is for the engine to check). RangeError for a batch position that does not exist.
 */
export function namedBestRegion(update: TrackUpdate, regionIds: readonly (readonly number[])[]): { id: number | null; committed: boolean } | undefined {
  const named = update.bestRegion;
  if (named === undefined) return undefined;
  if (named === null) return { id: null, committed: false };
  if ('regionId' in named) return { id: named.regionId, committed: true };
  const id = regionIds[named.keyframe]?.[named.region];
  if (id === undefined) throw new RangeError(`track ${update.id}: no region [${named.keyframe}][${named.region}] in batch`);
  return { id, committed: false };
}

/** Runs a statement over id lists in bounded chunks (json_each keeps the SQL fixed). */
const ID_CHUNK = 10_000;

export class IndexDatabase {
  readonly path: string;
  readonly dim: number;
  readonly db: SqliteDb;

  private constructor(db: SqliteDb, path: string, dim: number) {
    this.db = db;
    this.path = path;
    this.dim = dim;
  }

  /** Opens (creating if needed) `<dataDir>/index.db`, applying pending migrations. */
  static open(dataDir: string, options: OpenDatabaseOptions = {}): IndexDatabase {
    mkdirSync(dataDir, { recursive: true });
    const path = join(dataDir, DATABASE_FILE);
    const db = new Database(path);
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (String(mode).toLowerCase() !== 'wal') throw new Error(`could not enable WAL (journal_mode=${mode})`);
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      db.pragma('busy_timeout = 5000');
      migrate(db, options.migrations ?? MIGRATIONS);
      const dim = initMeta(db, options.dim, dataDir);
      return new IndexDatabase(db, path, dim);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** Prepared statement for `sql`, compiled once per connection. */
  private stmt(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  get schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  /** Random id given to this database at creation; names the HNSW cache file that belongs to it. */
  get uuid(): string {
    return this.getMeta('uuid')!;
  }

  getMeta(key: string): string | undefined {
    const row = this.stmt('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this
      .stmt('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value')
      .run(key, value);
  }

  // ---- videos ----

  addVideo(video: NewVideo): VideoRecord {
    const now = Date.now();
    const info = this
      .stmt(
        `INSERT INTO videos (path, source_kind, content_key, width, height, duration, fps, status, created_at, updated_at, config_json)
         VALUES (@path, @sourceKind, @contentKey, @width, @height, @duration, @fps, @status, @now, @now, @config)`,
      )
      .run({
        path: video.path,
        sourceKind: video.sourceKind,
        contentKey: video.contentKey ?? null,
        width: video.width ?? null,
        height: video.height ?? null,
        duration: video.duration ?? null,
        fps: video.fps ?? null,
        status: video.status ?? 'indexing',
        now,
        config: video.config === undefined ? null : JSON.stringify(video.config),
      });
    return this.getVideo(Number(info.lastInsertRowid))!;
  }

  /** See RegionStore.findOrAddVideo. */
  findOrAddVideo(video: NewVideo & { contentKey: string }): { video: VideoRecord; added: boolean } {
    return this.db.transaction(() => {
      const found = this.findVideoByContentKey(video.contentKey);
      return found ? { video: found, added: false } : { video: this.addVideo(video), added: true };
    }).immediate();
  }

  getVideo(id: number): VideoRecord | undefined {
    const row = this.stmt('SELECT * FROM videos WHERE id = ?').get(id) as VideoRow | undefined;
    return row && videoFromRow(row);
  }

  /** The most recent non-deleted video with this content key. */
  findVideoByContentKey(contentKey: string): VideoRecord | undefined {
    const row = this
      .stmt(`SELECT * FROM videos WHERE content_key = ? AND status <> 'deleted' ORDER BY id DESC LIMIT 1`)
      .get(contentKey) as VideoRow | undefined;
    return row && videoFromRow(row);
  }

  /** Videos with their counts, in id order; `id`: only that one (an empty list when it does not exist). */
  listVideos(options: { includeDeleted?: boolean; id?: number } = {}): VideoSummary[] {
    const where = [options.includeDeleted ? '' : `v.status <> 'deleted'`, options.id === undefined ? '' : 'v.id = @id'].filter(Boolean);
    const rows = this
      .stmt(
        `SELECT v.*,
           (SELECT count(*) FROM keyframes k WHERE k.video_id = v.id) AS keyframe_count,
           (SELECT count(*) FROM regions r WHERE r.video_id = v.id) AS region_count,
           (SELECT count(*) FROM tracks t WHERE t.video_id = v.id) AS track_count
         FROM videos v ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY v.id`,
      )
      .all(options.id === undefined ? {} : { id: options.id }) as VideoSummaryRow[];
    return rows.map((row) => ({
      ...videoFromRow(row),
      keyframeCount: row.keyframe_count,
      regionCount: row.region_count,
      trackCount: row.track_count,
    }));
  }

  /** Live videos still being indexed, oldest first. */
  liveVideosIndexing(): VideoRecord[] {
    const rows = this.stmt(`SELECT * FROM videos WHERE source_kind = 'live' AND status = 'indexing' ORDER BY id`).all() as VideoRow[];
    return rows.map(videoFromRow);
  }

  /** Frame sizes of the videos and streams not deleted (those whose size is known), one per video. */
  frameSizes(videoIds?: readonly number[]): { width: number; height: number }[] {
    const rows = this
      .stmt(`SELECT id, width, height FROM videos WHERE status <> 'deleted' AND width IS NOT NULL AND height IS NOT NULL`)
      .all() as { id: number; width: number; height: number }[];
    const wanted = videoIds ? new Set(videoIds) : null;
    return rows.filter((r) => !wanted || wanted.has(r.id)).map(({ width, height }) => ({ width, height }));
  }

  videoSettings(videoIds?: readonly number[]): VideoSettings[] {
    const rows = this.stmt(`SELECT id, config_json FROM videos WHERE status <> 'deleted' ORDER BY id`).all() as { id: number; config_json: string | null }[];
    const wanted = videoIds ? new Set(videoIds) : null;
    const counts = new Map<string | null, number>();
    for (const row of rows) if (!wanted || wanted.has(row.id)) counts.set(row.config_json, (counts.get(row.config_json) ?? 0) + 1);
    return [...counts].map(([json, videos]) => ({ config: json == null ? null : JSON.parse(json), videos }));
  }

  setVideoStatus(id: number, status: VideoStatus, error: string | null = null): void {
    const info = this
      .stmt('UPDATE videos SET status = ?, error = ?, updated_at = ? WHERE id = ?')
      .run(status, error, Date.now(), id);
    if (info.changes === 0) throw new Error(`no video ${id}`);
  }

  updateVideoInfo(id: number, update: VideoInfoUpdate): void {
    const sets: string[] = [];
    const params: Record<string, unknown> = { id, now: Date.now() };
    const columns: Record<keyof VideoInfoUpdate, string> = {
      path: 'path',
      contentKey: 'content_key',
      width: 'width',
      height: 'height',
      duration: 'duration',
      fps: 'fps',
      config: 'config_json',
    };
    for (const key of Object.keys(columns) as (keyof VideoInfoUpdate)[]) {
      if (update[key] === undefined) continue;
      sets.push(`${columns[key]} = @${key}`);
      params[key] = key === 'config' ? JSON.stringify(update.config) : update[key];
    }
    const info = this
      .stmt(`UPDATE videos SET ${[...sets, 'updated_at = @now'].join(', ')} WHERE id = @id`)
      .run(params);
    if (info.changes === 0) throw new Error(`no video ${id}`);
  }

  /**
   * Deletes the video and, by cascade, its keyframes, tracks, regions and tracker state. Returns the ids of the
   * regions that were removed (their vectors must leave the HNSW index too), or null when there was no such video.
   */
  deleteVideo(id: number): number[] | null {
    return this.db.transaction(() => {
      const regionIds = this.regionIdsOfVideo(id);
      const info = this.stmt('DELETE FROM videos WHERE id = ?').run(id);
      return info.changes === 0 ? null : regionIds;
    }).immediate();
  }

  // ---- recorded segments of live runs ----

  /** Records finished segments (RegionStore.addSegments: one recorded again keeps its start and takes the longer end). */
  addSegments(videoId: number, segments: readonly SegmentInput[]): void {
    const insert = this.stmt(
      `INSERT INTO segments (video_id, path, t_start, t_end, bytes, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (video_id, path) DO UPDATE SET t_end = max(t_end, excluded.t_end), bytes = max(bytes, excluded.bytes)`,
    );
    this.db.transaction(() => {
      for (const segment of segments) insert.run(videoId, segment.path, segment.tStart, segment.tEnd, segment.bytes, Date.now());
    }).immediate();
  }

  /** A run's segments overlapping [from, to] (all without bounds), in time order. */
  segmentsOfVideo(videoId: number, from = -Infinity, to = Infinity): SegmentRecord[] {
    const rows = this.stmt('SELECT * FROM segments WHERE video_id = ? AND t_end > ? AND t_start <= ? ORDER BY t_start').all(videoId, from, to) as SegmentRow[];
    return rows.map(segmentRecord);
  }

  /** All recorded segments together: their bytes and the oldest one's creation time (null without segments). */
  segmentTotals(): { bytes: number; oldestCreatedAt: number | null } {
    const row = this.stmt('SELECT coalesce(sum(bytes), 0) AS bytes, min(created_at) AS oldest FROM segments').get() as { bytes: number; oldest: number | null };
    return { bytes: row.bytes, oldestCreatedAt: row.oldest };
  }

  /** RegionStore.expiringSegments: one query, only the segments that go. */
  expiringSegments(limits: { maxAgeSeconds: number; maxBytes: number }, now: number): SegmentRecord[] {
    const rows = this.stmt(EXPIRING_SEGMENTS.replaceAll('$1', '?').replaceAll('$2', '?')).all(expiryCutoff(limits, now), limits.maxBytes) as SegmentRow[];
    return rows.map(segmentRecord);
  }

  /**
   * Forgets what a live run holds before `t`, in ONE transaction: its keyframes and their regions, the segments
   * that end by then, tracks left without regions; the others start at their first remaining keyframe and keep
   * a best region. Returns the removed regions (their vectors must go too) and segments (their files).
   */
  trimVideoBefore(videoId: number, t: number): { regionIds: number[]; segments: SegmentRecord[] } {
    return this.db.transaction(() => {
      const regionIds = this.stmt('SELECT r.id FROM regions r JOIN keyframes k ON k.id = r.keyframe_id WHERE k.video_id = ? AND k.t < ? ORDER BY r.id')
        .pluck()
        .all(videoId, t) as number[];
      const segments = (this.stmt('SELECT * FROM segments WHERE video_id = ? AND t_end <= ? ORDER BY t_start').all(videoId, t) as SegmentRow[]).map(segmentRecord);
      this.stmt('DELETE FROM keyframes WHERE video_id = ? AND t < ?').run(videoId, t);
      this.stmt('DELETE FROM segments WHERE video_id = ? AND t_end <= ?').run(videoId, t);
      this.stmt('DELETE FROM tracks WHERE video_id = ? AND NOT EXISTS (SELECT 1 FROM regions WHERE track_id = tracks.id)').run(videoId);
      this.stmt(
        `UPDATE tracks SET
           first_t = (SELECT min(k.t) FROM regions r JOIN keyframes k ON k.id = r.keyframe_id WHERE r.track_id = tracks.id),
           keyframes = (SELECT count(DISTINCT r.keyframe_id) FROM regions r WHERE r.track_id = tracks.id),
           best_region_id = coalesce(best_region_id, (SELECT id FROM regions WHERE track_id = tracks.id ORDER BY score DESC, id LIMIT 1))
         WHERE video_id = ? AND first_t < ?`,
      ).run(videoId, t);
      return { regionIds, segments };
    }).immediate();
  }

  // ---- ingestion ----

  /**
   * Commits a batch of keyframes with their regions, the tracks they extend, the tracker's state and the resume
   * point in ONE transaction: after a crash either all of it is there or none of it.
   */
  commitKeyframes(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates: readonly TrackUpdate[] = [],
    trackerState?: TrackerState,
    lastCommittedT?: number,
    writerEpoch?: number,
  ): CommitResult {
    assertKeyframeBatch(batch, this.dim);
    const resumeT = resumePoint(batch, lastCommittedT);

    const insertKeyframe = this.stmt('INSERT INTO keyframes (video_id, t, width, height) VALUES (?, ?, ?, ?)');
    const keyframeAt = this.stmt('SELECT id FROM keyframes WHERE video_id = ? AND t = ?').pluck();
    const regionsOfKeyframe = this.stmt('SELECT id FROM regions WHERE keyframe_id = ? ORDER BY id').pluck();
    const trackOwner = this.stmt('SELECT video_id FROM tracks WHERE id = ?').pluck();
    const upsertTrack = this.stmt(
      `INSERT INTO tracks (id, video_id, first_t, last_t, keyframes) VALUES (@id, @videoId, @t, @t, 1)
       ON CONFLICT(id) DO UPDATE SET first_t = min(first_t, excluded.first_t), last_t = max(last_t, excluded.last_t),
         keyframes = keyframes + 1`,
    );
    const insertRegion = this.stmt(
      `INSERT INTO regions (keyframe_id, video_id, track_id, x1, y1, x2, y2, score, feature)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const setBest = this.stmt('UPDATE tracks SET best_region_id = ? WHERE id = ? AND video_id = ?');
    const regionVideo = this.stmt('SELECT video_id FROM regions WHERE id = ?').pluck();
    const saveState = this.stmt(
      `INSERT INTO video_state (video_id, tracker_state, updated_at) VALUES (?, ?, ?)
       ON CONFLICT(video_id) DO UPDATE SET tracker_state = excluded.tracker_state, updated_at = excluded.updated_at`,
    );
    const touchVideo = this.stmt(
      'UPDATE videos SET last_committed_t = coalesce(?, last_committed_t), updated_at = ? WHERE id = ?',
    );
    const insertShot = this.stmt('INSERT INTO shot_vectors (keyframe_id, vector) VALUES (?, ?)');

    return this.db.transaction((): CommitResult => {
      const video = this.stmt('SELECT status, writer_epoch FROM videos WHERE id = ?').get(videoId) as
        | { status: VideoStatus; writer_epoch: number }
        | undefined;
      if (video === undefined) throw new Error(`no video ${videoId}`);
      if (video.status === 'deleted') throw new Error(`video ${videoId} is deleted`);
      assertWriterEpoch(videoId, video.writer_epoch, writerEpoch);

      const keyframeIds: number[] = [];
      const regionIds: number[][] = [];
      const checkedTracks = new Set<number>();
      const repeated: number[] = [];
      for (const [position, kf] of batch.entries()) {
        const existing = keyframeAt.get(videoId, kf.t) as number | undefined;
        if (existing !== undefined) {
          // Writes are idempotent: a keyframe committed before (a job redelivered after its commit) stays as it is.
          repeated.push(position);
          keyframeIds.push(existing);
          regionIds.push(regionsOfKeyframe.all(existing) as number[]);
          continue;
        }
        const keyframeId = Number(insertKeyframe.run(videoId, kf.t, kf.width, kf.height).lastInsertRowid);
        keyframeIds.push(keyframeId);
        if (kf.shotVector) insertShot.run(keyframeId, featureToBlob(kf.shotVector));
        const tracksHere = new Set<number>();
        for (const r of kf.regions) if (r.trackId != null) tracksHere.add(r.trackId);
        for (const trackId of tracksHere) {
          if (!checkedTracks.has(trackId)) {
            const owner = trackOwner.get(trackId) as number | undefined;
            if (owner !== undefined && owner !== videoId)
              throw new Error(`track ${trackId} belongs to video ${owner}, not ${videoId}`);
            checkedTracks.add(trackId);
          }
          upsertTrack.run({ id: trackId, videoId, t: kf.t });
        }
        const ids: number[] = [];
        for (const r of kf.regions) {
          const [x1, y1, x2, y2] = r.box;
          const info = insertRegion.run(keyframeId, videoId, r.trackId ?? null, x1, y1, x2, y2, r.score, featureToBlob(r.feature));
          ids.push(Number(info.lastInsertRowid));
        }
        regionIds.push(ids);
      }
      // A batch committed whole before changes nothing: not the tracks, nor the resume point, nor the tracker state.
      if (batch.length > 0 && repeated.length === batch.length) return { keyframeIds, regionIds, repeated };

      for (const update of trackUpdates) {
        const best = namedBestRegion(update, regionIds);
        if (best === undefined) continue;
        if (best.committed) {
          const owner = regionVideo.get(best.id) as number | undefined;
          // A live run's retention may have removed the tracker's best region: the track keeps the best it has.
          if (owner === undefined) continue;
          if (owner !== videoId) throw new Error(`region ${best.id} is not in video ${videoId}`);
        }
        if (setBest.run(best.id, update.id, videoId).changes === 0)
          throw new Error(`track ${update.id} does not exist in video ${videoId}`);
      }

      if (trackerState !== undefined) saveState.run(videoId, encodeTrackerState(trackerState), Date.now());
      touchVideo.run(resumeT, Date.now(), videoId);
      return { keyframeIds, regionIds, repeated };
    }).immediate();
  }

  /** See RegionStore.lastKeyframeTime. */
  lastKeyframeTime(videoId: number, range: TimeRange): number | null {
    const { low, high } = timeRangeBounds(range);
    const t = this.stmt('SELECT max(t) FROM keyframes WHERE video_id = ? AND t >= ? AND t < ?').pluck().get(videoId, low, high) as number | null;
    return t ?? null;
  }

  /** See RegionStore.finishRange. */
  finishRange(videoId: number, range: { index: number; count: number }): boolean {
    return this.db.transaction((): boolean => {
      const status = this.stmt('SELECT status FROM videos WHERE id = ?').pluck().get(videoId) as VideoStatus | undefined;
      if (status === undefined) throw new Error(`no video ${videoId}`);
      this.stmt('INSERT INTO finished_ranges (video_id, range_index) VALUES (?, ?) ON CONFLICT DO NOTHING').run(videoId, range.index);
      const finished = this.stmt('SELECT count(*) FROM finished_ranges WHERE video_id = ?').pluck().get(videoId) as number;
      if (finished < range.count || (status !== 'indexing' && status !== 'ready')) return false;
      if (status === 'indexing') this.stmt(`UPDATE videos SET status = 'ready', error = NULL, updated_at = ? WHERE id = ?`).run(Date.now(), videoId);
      return true;
    }).immediate();
  }

  /** See RegionStore.takeWriter. */
  takeWriter(videoId: number): number {
    const epoch = this.stmt('UPDATE videos SET writer_epoch = writer_epoch + 1 WHERE id = ? RETURNING writer_epoch').pluck().get(videoId) as number | undefined;
    if (epoch === undefined) throw new Error(`no video ${videoId}`);
    return epoch;
  }

  /** Resume point and tracker state of a video. */
  videoState(videoId: number): VideoState | undefined {
    const row = this
      .stmt(
        `SELECT v.id AS video_id, v.last_committed_t, s.tracker_state
         FROM videos v LEFT JOIN video_state s ON s.video_id = v.id WHERE v.id = ?`,
      )
      .get(videoId) as { video_id: number; last_committed_t: number | null; tracker_state: unknown } | undefined;
    if (!row) return undefined;
    return {
      videoId: row.video_id,
      lastCommittedT: row.last_committed_t,
      trackerState: decodeTrackerState(row.tracker_state),
    };
  }

  /** Videos and stream runs not deleted. */
  videoCount(): number {
    return this.stmt(`SELECT count(*) FROM videos WHERE status <> 'deleted'`).pluck().get() as number;
  }

  /** Largest track id in the data directory (tracker ids must stay unique across videos), 0 when none. */
  maxTrackId(): number {
    return (this.stmt('SELECT coalesce(max(id), 0) FROM tracks').pluck().get() as number) ?? 0;
  }

  // ---- reads ----

  keyframesOfVideo(videoId: number): KeyframeRecord[] {
    return (
      this
        .stmt('SELECT id, video_id, t, width, height FROM keyframes WHERE video_id = ? ORDER BY t')
        .all(videoId) as { id: number; video_id: number; t: number; width: number; height: number }[]
    ).map((r) => ({ id: r.id, videoId: r.video_id, t: r.t, width: r.width, height: r.height }));
  }

  tracksOfVideo(videoId: number): TrackRecord[] {
    return (this.stmt('SELECT * FROM tracks WHERE video_id = ? ORDER BY id').all(videoId) as TrackRow[]).map(
      trackFromRow,
    );
  }

  getTrack(id: number): TrackRecord | undefined {
    const row = this.stmt('SELECT * FROM tracks WHERE id = ?').get(id) as TrackRow | undefined;
    return row && trackFromRow(row);
  }

  regionsOfTrack(trackId: number): RegionRecord[] {
    return (
      this
        .stmt(
          `SELECT r.id, r.keyframe_id, r.video_id, r.track_id, k.t, r.x1, r.y1, r.x2, r.y2, r.score
           FROM regions r JOIN keyframes k ON k.id = r.keyframe_id WHERE r.track_id = ? ORDER BY k.t, r.id`,
        )
        .all(trackId) as RegionRow[]
    ).map(regionFromRow);
  }

  /**
   * The rows `sql` gives for `ids`, its one parameter bound to a JSON array of them (read with json_each), in
   * chunks of ID_CHUNK ids.
   */
  private rowsForIds<T>(sql: string, ids: readonly number[]): T[] {
    const stmt = this.stmt(sql);
    const rows: T[] = [];
    for (let i = 0; i < ids.length; i += ID_CHUNK) for (const row of stmt.all(JSON.stringify(ids.slice(i, i + ID_CHUNK))) as T[]) rows.push(row);
    return rows;
  }

  /**
   * Float32 blobs of `dim` values packed row-major into one Float32Array (ready to transfer to a vector worker);
   * `what(id)` names a row whose blob has another length in the error.
   */
  private packBlobs(rows: readonly { id: number; blob: Buffer }[], dim: number, what: (id: number) => string): { ids: number[]; vectors: Float32Array } {
    const vectors = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => {
      if (row.blob.byteLength !== dim * 4) throw new Error(`${what(row.id)} has ${row.blob.byteLength / 4} dims, expected ${dim}`);
      blobToFeature(row.blob, vectors, i * dim);
    });
    return { ids: rows.map((r) => r.id), vectors };
  }

  /** Regions by id, in the order asked; ids that do not exist are left out. */
  regionsByIds(ids: readonly number[]): RegionRecord[] {
    const rows = this.rowsForIds<RegionRow>(
      `SELECT r.id, r.keyframe_id, r.video_id, r.track_id, k.t, r.x1, r.y1, r.x2, r.y2, r.score
       FROM regions r JOIN keyframes k ON k.id = r.keyframe_id
       WHERE r.id IN (SELECT value FROM json_each(?))`,
      ids,
    );
    return inOrder(ids, rows.map(regionFromRow));
  }

  /** RegionStore.trackSamples */
  trackSamples(trackIds: readonly number[], perTrack: number): Map<number, Float32Array[]> {
    if (!(Number.isInteger(perTrack) && perTrack >= 1)) throw new RangeError(`perTrack must be a positive integer, got ${perTrack}`);
    // The window reads no descriptor: only the kept rows' are joined in.
    const stmt = this.stmt(
      `WITH ranked AS (
         SELECT r.id, r.track_id, ROW_NUMBER() OVER (PARTITION BY r.track_id ORDER BY k.t, r.id) - 1 AS i, COUNT(*) OVER (PARTITION BY r.track_id) AS n
         FROM regions r JOIN keyframes k ON k.id = r.keyframe_id WHERE r.track_id IN (SELECT value FROM json_each(@ids)))
       SELECT ranked.track_id, regions.feature FROM ranked JOIN regions ON regions.id = ranked.id
       WHERE ranked.i % ((ranked.n + CAST(@perTrack AS INTEGER) - 1) / CAST(@perTrack AS INTEGER)) = 0 ORDER BY ranked.track_id, ranked.i`,
    );
    const samples = new Map<number, Float32Array[]>();
    for (let i = 0; i < trackIds.length; i += ID_CHUNK) {
      for (const row of stmt.all({ ids: JSON.stringify(trackIds.slice(i, i + ID_CHUNK)), perTrack }) as { track_id: number; feature: Buffer }[]) {
        const list = samples.get(row.track_id);
        if (list) list.push(blobToFeature(row.feature));
        else samples.set(row.track_id, [blobToFeature(row.feature)]);
      }
    }
    return samples;
  }

  /** Features by region id; missing ids are absent from the map. */
  features(ids: readonly number[]): Map<number, Float32Array> {
    const rows = this.rowsForIds<{ id: number; feature: Buffer }>('SELECT id, feature FROM regions WHERE id IN (SELECT value FROM json_each(?))', ids);
    return new Map(rows.map((row) => [row.id, blobToFeature(row.feature)]));
  }

  /**
   * Features of the given ids packed row-major into one Float32Array (ready to transfer to the vector worker).
   * Ids that no longer exist are dropped; `ids` of the result lists the rows actually present.
   */
  packedFeatures(ids: readonly number[]): { ids: number[]; vectors: Float32Array } {
    const rows = this.rowsForIds<{ id: number; blob: Buffer }>('SELECT id, feature AS blob FROM regions WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id', ids);
    return this.packBlobs(rows, this.dim, (id) => `region ${id}: feature`);
  }

  /** Every region id, ascending. */
  regionIds(): number[] {
    return this.stmt('SELECT id FROM regions ORDER BY id').pluck().all() as number[];
  }

  regionCount(): number {
    return this.stmt('SELECT count(*) FROM regions').pluck().get() as number;
  }

  regionIdsOfVideo(videoId: number): number[] {
    return this.stmt('SELECT id FROM regions WHERE video_id = ? ORDER BY id').pluck().all(videoId) as number[];
  }

  /** Region ids passing a filter (for restricting a vector search). */
  regionIdsWhere(filter: RegionFilter): number[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.videoIds) {
      where.push('video_id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.videoIds));
    }
    if (filter.minRegionScore !== undefined) {
      where.push('score >= ?');
      params.push(filter.minRegionScore);
    }
    if (filter.from !== undefined || filter.to !== undefined) {
      where.push('keyframe_id IN (SELECT id FROM keyframes WHERE t BETWEEN ? AND ?)');
      params.push(filter.from ?? -Number.MAX_VALUE, filter.to ?? Number.MAX_VALUE);
    }
    const sql = `SELECT id FROM regions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id`;
    return this.stmt(sql).pluck().all(...params) as number[];
  }

  // ---- shot descriptors (one per keyframe) ----

  /** The shot codebook the stored shot vectors were made with (fingerprint and dimension), or null. */
  shotCodebook(): { fingerprint: string; dim: number } | null {
    const fingerprint = this.getMeta('shot_codebook');
    const dim = Number(this.getMeta('shot_dim'));
    return fingerprint && Number.isInteger(dim) && dim > 0 ? { fingerprint, dim } : null;
  }

  /** Forgets every shot vector and names the codebook the next ones will be made with, in one transaction. */
  resetShotVectors(codebook: { fingerprint: string; dim: number }): void {
    this.db.transaction(() => {
      this.stmt('DELETE FROM shot_vectors').run();
      this.setMeta('shot_codebook', codebook.fingerprint);
      this.setMeta('shot_dim', String(codebook.dim));
    }).immediate();
  }

  /** Stores shot vectors of keyframes that exist (a keyframe deleted meanwhile is skipped) in one transaction; the ids stored. */
  addShotVectors(entries: readonly { keyframeId: number; vector: Float32Array }[]): number[] {
    const insert = this.stmt('INSERT OR REPLACE INTO shot_vectors (keyframe_id, vector) SELECT id, ? FROM keyframes WHERE id = ?');
    return this.db
      .transaction(() => entries.filter((e) => insert.run(featureToBlob(e.vector), e.keyframeId).changes > 0).map((e) => e.keyframeId))
      .immediate();
  }

  /**
   * Keyframes with regions but no shot vector (made before the codebook, or cut off by a crash), ascending, after
   * keyframe `after`, at most `limit`.
   */
  keyframesWithoutShotVector(limit: number, after = 0): number[] {
    return this.stmt(`SELECT k.id FROM keyframes k WHERE k.id > ? AND ${WITHOUT_SHOT_VECTOR} ORDER BY k.id LIMIT ?`).pluck().all(after, limit) as number[];
  }

  keyframesWithoutShotVectorCount(): number {
    return this.stmt(`SELECT count(*) FROM keyframes k WHERE ${WITHOUT_SHOT_VECTOR}`).pluck().get() as number;
  }

  /** The region features of each keyframe asked for, grouped by keyframe. */
  regionFeaturesOfKeyframes(keyframeIds: readonly number[]): Map<number, Float32Array[]> {
    const out = new Map<number, Float32Array[]>(keyframeIds.map((id) => [id, []]));
    const rows = this.rowsForIds<{ keyframe_id: number; feature: Buffer }>('SELECT keyframe_id, feature FROM regions WHERE keyframe_id IN (SELECT value FROM json_each(?)) ORDER BY id', keyframeIds);
    for (const row of rows) out.get(row.keyframe_id)!.push(blobToFeature(row.feature));
    return out;
  }

  /** Every keyframe id that has regions, ascending (what a shot codebook can learn from). */
  keyframeIdsWithRegions(): number[] {
    return this.stmt('SELECT DISTINCT keyframe_id FROM regions ORDER BY keyframe_id').pluck().all() as number[];
  }

  /** Every keyframe id that has a shot vector, ascending. */
  shotIds(): number[] {
    return this.stmt('SELECT keyframe_id FROM shot_vectors ORDER BY keyframe_id').pluck().all() as number[];
  }

  shotCount(): number {
    return this.stmt('SELECT count(*) FROM shot_vectors').pluck().get() as number;
  }

  /** Shot vectors of the given keyframes packed row-major (`dim` each); ids without one are dropped. */
  packedShotVectors(ids: readonly number[], dim: number): { ids: number[]; vectors: Float32Array } {
    const rows = this.rowsForIds<{ id: number; blob: Buffer }>('SELECT keyframe_id AS id, vector AS blob FROM shot_vectors WHERE keyframe_id IN (SELECT value FROM json_each(?)) ORDER BY keyframe_id', ids);
    return this.packBlobs(rows, dim, (id) => `keyframe ${id}: shot vector`);
  }

  /**
   * Keyframes having a shot vector that pass a filter: of these videos, in [from, to] seconds, before a time (what
   * a trim removes).
   */
  shotIdsWhere(filter: { videoIds?: readonly number[]; from?: number; to?: number; before?: number }): number[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.videoIds) {
      where.push('k.video_id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(filter.videoIds));
    }
    if (filter.from !== undefined || filter.to !== undefined) {
      where.push('k.t BETWEEN ? AND ?');
      params.push(filter.from ?? -Number.MAX_VALUE, filter.to ?? Number.MAX_VALUE);
    }
    if (filter.before !== undefined) {
      where.push('k.t < ?');
      params.push(filter.before);
    }
    const sql = `SELECT s.keyframe_id FROM shot_vectors s JOIN keyframes k ON k.id = s.keyframe_id ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY s.keyframe_id`;
    return this.stmt(sql).pluck().all(...params) as number[];
  }

  /** Keyframes by id, in the order asked; ids that do not exist are left out. */
  keyframesByIds(ids: readonly number[]): KeyframeRecord[] {
    return inOrder(ids, this.rowsForIds<KeyframeRecord>('SELECT id, video_id AS videoId, t, width, height FROM keyframes WHERE id IN (SELECT value FROM json_each(?))', ids));
  }

  /** How many keyframes of a video lie strictly between two times. */
  keyframesBetween(videoId: number, after: number, before: number): number {
    return this.stmt('SELECT count(*) FROM keyframes WHERE video_id = ? AND t > ? AND t < ?').pluck().get(videoId, after, before) as number;
  }
}

/** `records` in the order of `ids`; ids without a record are left out. */
function inOrder<T extends { id: number }>(ids: readonly number[], records: readonly T[]): T[] {
  const byId = new Map(records.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** A keyframe `k` that has regions and no shot vector. */
const WITHOUT_SHOT_VECTOR = `NOT EXISTS (SELECT 1 FROM shot_vectors s WHERE s.keyframe_id = k.id) AND EXISTS (SELECT 1 FROM regions r WHERE r.keyframe_id = k.id)`;

function migrate(db: SqliteDb, migrations: readonly Migration[]): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > migrations.length)
      throw new Error(`database schema version ${version} is newer than this program supports (${migrations.length})`);
    for (let v = version; v < migrations.length; v++) migrations[v](db);
    if (version !== migrations.length) db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}

function initMeta(db: SqliteDb, dim: number | undefined, dataDir: string): number {
  if (dim !== undefined && !(Number.isInteger(dim) && dim > 0)) throw new RangeError(`bad dimension ${dim}`);
  return db.transaction(() => {
    const get = db.prepare('SELECT value FROM meta WHERE key = ?').pluck();
    const put = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
    if (get.get('uuid') === undefined) put.run('uuid', randomUUID());
    if (get.get('created_at') === undefined) put.run('created_at', String(Date.now()));
    const stored = get.get('dim') as string | undefined;
    if (stored === undefined) {
      const d = dim ?? DEFAULT_DIM;
      put.run('dim', String(d));
      return d;
    }
    const d = Number(stored);
    if (dim !== undefined && dim !== d) {
      // Typically descriptors of another whitening (`dasr whiten fit --dims`) than the directory was indexed with.
      throw new Error(
        `index dimension mismatch: ${dataDir} holds ${d}-d descriptors but ${dim}-d ones were requested ` +
          '(descriptors with another whitening output dimension, or none, need their own data directory)',
      );
    }
    return d;
  }).immediate();
}

export interface SegmentRow {
  id: number;
  video_id: number;
  path: string;
  t_start: number;
  t_end: number;
  bytes: number;
  created_at: number;
}

/**
 * The segments retention removes (RegionStore.expiringSegments), oldest first: those recorded before $1 (Unix ms), and
 * the oldest while they and every newer one hold more than $2 bytes — a prefix of the segments in creation order,
 * since both conditions only weaken towards the newest. Valid SQL for SQLite (≥ 3.25) and PostgreSQL.
 */
export const EXPIRING_SEGMENTS = `SELECT id, video_id, path, t_start, t_end, bytes, created_at FROM (
    SELECT s.*, sum(bytes) OVER (ORDER BY created_at DESC, id DESC) AS from_here_on FROM segments s
  ) AS ordered WHERE created_at < $1 OR from_here_on > $2 ORDER BY created_at, id`;

/**
 * EXPIRING_SEGMENTS' $1: a whole number of ms (created_at is an integer column, bigint in PostgreSQL, which refuses a
 * fraction such as --record-hours 0.1 gives) within the safe range; rounding up keeps `now − created_at > max age`.
 */
export function expiryCutoff(limits: { maxAgeSeconds: number }, now: number): number {
  return Math.max(Number.MIN_SAFE_INTEGER, Math.ceil(now - limits.maxAgeSeconds * 1000));
}

export function segmentRecord(row: SegmentRow): SegmentRecord {
  return { id: row.id, videoId: row.video_id, path: row.path, tStart: row.t_start, tEnd: row.t_end, bytes: row.bytes, createdAt: row.created_at };
}
