/**
 * The shared index of cluster mode: PostgreSQL with pgvector. Descriptors are `halfvec` (pgvector's HNSW indexes
 * `vector` up to 2 000 dimensions and `halfvec` up to 4 000; half precision changes a cosine by ~1e-3) under an HNSW
 * index on cosine distance. The SQL keeps to PostgreSQL ≥ 15 with pgvector ≥ 0.7.
 *
 * Every change is one transaction and idempotent where a redelivered job could repeat it: keyframes are unique by
 * (video, t) and regions by (keyframe, position), so a commit repeated by another worker adds nothing. Track ids
 * come from a sequence, so writers on different machines never collide.
 */
import pg from 'pg';
import { defaultLogger, type Logger } from '../log.js';
import {
  assertKeyframeBatch,
  DEFAULT_DIM,
  namedBestRegion,
  timeRangeBounds,
  resumePoint,
  decodeTrackerState,
  encodeTrackerState,
  regionFromRow,
  EXPIRING_SEGMENTS,
  expiryCutoff,
  segmentRecord,
  trackFromRow,
  videoFromRow,
  type CommitResult,
  type KeyframeInput,
  type NewVideo,
  type RegionRecord,
  type RegionRow,
  type SegmentInput,
  type SegmentRecord,
  type SegmentRow,
  type TimeRange,
  type TrackerState,
  type TrackRecord,
  type TrackRow,
  type TrackUpdate,
  type VideoRecord,
  type VideoSettings,
  type VideoRow,
  type VideoState,
  type VideoStatus,
  type VideoSummary,
} from './database.js';
import type { SearchFilters, SearchHit } from './index-store.js';
import { assertWriterEpoch, EXACT_SEARCH_MAX, type Claim, type RegionStore } from './region-store.js';

export interface PostgresStoreOptions {
  /** Feature dimension, recorded when the schema is created; must match afterwards. Default 2048. */
  dim?: number;
  /** Connections in this process's pool. Default 4. */
  connections?: number;
  /** Create the schema when the database has none (writers); a reader is refused instead. Default true. */
  create?: boolean;
  logger?: Logger;
}

/** The HNSW search list (pgvector's default, 40, would hold a search to 40 hits before iterative scans go on). */
const EF_SEARCH = 100;

/** The most index tuples one filtered search visits: a bound on its cost, at about a second on a large index. */
const MAX_SCAN_TUPLES = 1_000_000;

/** Serialises schema creation across processes that open a fresh database together. */
const SCHEMA_LOCK = 0x64617372; // "dasr"

const INT8_OID = 20;

function schema(dim: number): string {
  return `
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE IF NOT EXISTS dasr_meta (key text PRIMARY KEY, value text NOT NULL);
    INSERT INTO dasr_meta (key, value) VALUES ('dim', '${dim}') ON CONFLICT (key) DO NOTHING;
    CREATE SEQUENCE IF NOT EXISTS dasr_track_ids;
    CREATE TABLE IF NOT EXISTS videos (
      id               bigserial PRIMARY KEY,
      path             text NOT NULL,
      source_kind      text NOT NULL CHECK (source_kind IN ('file', 'live')),
      content_key      text,
      width            integer,
      height           integer,
      duration         double precision,
      fps              double precision,
      status           text NOT NULL DEFAULT 'indexing' CHECK (status IN ('indexing', 'ready', 'failed', 'deleted')),
      error            text,
      created_at       bigint NOT NULL,
      updated_at       bigint NOT NULL,
      last_committed_t double precision,
      config_json      text
    );
    ALTER TABLE videos ADD COLUMN IF NOT EXISTS writer_epoch bigint NOT NULL DEFAULT 0;
    CREATE TABLE IF NOT EXISTS finished_ranges (
      video_id    bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      range_index integer NOT NULL,
      PRIMARY KEY (video_id, range_index)
    );
    CREATE TABLE IF NOT EXISTS video_state (
      video_id           bigint PRIMARY KEY REFERENCES videos(id) ON DELETE CASCADE,
      tracker_state      bytea,
      tracker_state_json text,
      updated_at         bigint NOT NULL
    );
    CREATE TABLE IF NOT EXISTS keyframes (
      id       bigserial PRIMARY KEY,
      video_id bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      t        double precision NOT NULL,
      width    integer NOT NULL,
      height   integer NOT NULL,
      UNIQUE (video_id, t)
    );
    CREATE TABLE IF NOT EXISTS tracks (
      id             bigint PRIMARY KEY,
      video_id       bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      first_t        double precision NOT NULL,
      last_t         double precision NOT NULL,
      keyframes      integer NOT NULL DEFAULT 0,
      best_region_id bigint
    );
    CREATE INDEX IF NOT EXISTS tracks_video ON tracks(video_id);
    CREATE TABLE IF NOT EXISTS regions (
      id          bigserial PRIMARY KEY,
      keyframe_id bigint NOT NULL REFERENCES keyframes(id) ON DELETE CASCADE,
      position    integer NOT NULL,
      video_id    bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      track_id    bigint,
      t           double precision NOT NULL,
      x1 real NOT NULL, y1 real NOT NULL, x2 real NOT NULL, y2 real NOT NULL,
      score       real NOT NULL,
      feature     halfvec(${dim}) NOT NULL,
      UNIQUE (keyframe_id, position)
    );
    CREATE INDEX IF NOT EXISTS regions_video ON regions(video_id, t);
    CREATE INDEX IF NOT EXISTS regions_track ON regions(track_id);
    CREATE INDEX IF NOT EXISTS regions_feature ON regions USING hnsw (feature halfvec_cosine_ops);
    CREATE TABLE IF NOT EXISTS segments (
      id         bigserial PRIMARY KEY,
      video_id   bigint NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
      path       text NOT NULL,
      t_start    double precision NOT NULL,
      t_end      double precision NOT NULL,
      bytes      bigint NOT NULL,
      created_at bigint NOT NULL,
      UNIQUE (video_id, path)
    );
    CREATE INDEX IF NOT EXISTS segments_video_time ON segments(video_id, t_start);
    CREATE INDEX IF NOT EXISTS segments_created ON segments(created_at, id);
  `;
}

/** First key of the transaction locks that make findOrAddVideo atomic ("dasv"). */
const FIND_OR_ADD_LOCK = 0x64617376;

/** The most recent video not deleted with a content key (findVideoByContentKey, findOrAddVideo). */
const NEWEST_BY_CONTENT_KEY = `SELECT * FROM videos WHERE content_key = $1 AND status <> 'deleted' ORDER BY id DESC LIMIT 1`;

const INSERT_VIDEO = `INSERT INTO videos (path, source_kind, content_key, width, height, duration, fps, status, created_at, updated_at, config_json)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING *`;

function insertVideoParams(video: NewVideo): unknown[] {
  const config = video.config === undefined ? null : JSON.stringify(video.config);
  return [video.path, video.sourceKind, video.contentKey ?? null, video.width ?? null, video.height ?? null, video.duration ?? null, video.fps ?? null, video.status ?? 'indexing', Date.now(), config];
}

const REGION_COLUMNS = 'id, keyframe_id, video_id, track_id, t, x1, y1, x2, y2, score';

export class PostgresRegionStore implements RegionStore {
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    readonly dim: number,
    private readonly logger: Logger,
  ) {}

  /** Connects, creating the schema when the database has none; a database made for another dimension is refused. */
  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresRegionStore> {
    const logger = options.logger ?? defaultLogger;
    const pool = openPool(url, options.connections ?? 4, logger);
    try {
      const dim = await transaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        if (options.create === false) {
          const exists = (await client.query<{ found: string | null }>(`SELECT to_regclass('dasr_meta')::text AS found`)).rows[0]!.found;
          if (!exists) throw new Error(`${redactPassword(url)} holds no DASR index yet: index videos into it first (dasr worker)`);
        } else {
          await client.query(schema(options.dim ?? DEFAULT_DIM));
        }
        const stored = Number((await client.query<{ value: string }>(`SELECT value FROM dasr_meta WHERE key = 'dim'`)).rows[0]!.value);
        if (options.dim !== undefined && options.dim !== stored) throw new Error(`the index at ${redactPassword(url)} holds ${stored}-d features, not ${options.dim}-d`);
        return stored;
      });
      return new PostgresRegionStore(pool, dim, logger);
    } catch (err) {
      await pool.end();
      throw err;
    }
  }

  async addVideo(video: NewVideo): Promise<VideoRecord> {
    const { rows } = await this.query<VideoRow>(INSERT_VIDEO, insertVideoParams(video));
    return videoFromRow(rows[0]!);
  }

  async findOrAddVideo(video: NewVideo & { contentKey: string }): Promise<{ video: VideoRecord; added: boolean }> {
    this.assertOpen();
    return transaction(this.pool, async (client) => {
      // Two-key advisory locks are apart from the one-key ones of claims, which the caller may hold on another connection.
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [FIND_OR_ADD_LOCK, video.contentKey]);
      const found = (await client.query<VideoRow>(NEWEST_BY_CONTENT_KEY, [video.contentKey])).rows[0];
      if (found) return { video: videoFromRow(found), added: false };
      return { video: videoFromRow((await client.query<VideoRow>(INSERT_VIDEO, insertVideoParams(video))).rows[0]!), added: true };
    });
  }

  async getVideo(id: number): Promise<VideoRecord | undefined> {
    const { rows } = await this.query<VideoRow>('SELECT * FROM videos WHERE id = $1', [id]);
    return rows[0] && videoFromRow(rows[0]);
  }

  async videoSummary(id: number): Promise<VideoSummary | undefined> {
    return (await this.videoSummaries('v.id = $1', [id]))[0];
  }

  async listVideos(): Promise<VideoSummary[]> {
    return this.videoSummaries(`v.status <> 'deleted'`, []);
  }

  private async videoSummaries(where: string, params: unknown[]): Promise<VideoSummary[]> {
    const { rows } = await this.query<VideoRow & { keyframe_count: number; region_count: number; track_count: number }>(
      `SELECT v.*,
         (SELECT count(*) FROM keyframes k WHERE k.video_id = v.id) AS keyframe_count,
         (SELECT count(*) FROM regions r WHERE r.video_id = v.id) AS region_count,
         (SELECT count(*) FROM tracks t WHERE t.video_id = v.id) AS track_count
       FROM videos v WHERE ${where} ORDER BY v.id`,
      params,
    );
    return rows.map((row) => ({ ...videoFromRow(row), keyframeCount: row.keyframe_count, regionCount: row.region_count, trackCount: row.track_count }));
  }

  async findVideoByContentKey(contentKey: string): Promise<VideoRecord | undefined> {
    const { rows } = await this.query<VideoRow>(NEWEST_BY_CONTENT_KEY, [contentKey]);
    return rows[0] && videoFromRow(rows[0]);
  }

  async setVideoStatus(id: number, status: VideoStatus, error: string | null = null): Promise<void> {
    const { rowCount } = await this.query('UPDATE videos SET status = $1, error = $2, updated_at = $3 WHERE id = $4', [status, error, Date.now(), id]);
    if (rowCount === 0) throw new Error(`no video ${id}`);
  }

  async setVideoSize(id: number, size: { width: number; height: number }): Promise<void> {
    const { rowCount } = await this.query('UPDATE videos SET width = $1, height = $2, updated_at = $3 WHERE id = $4', [size.width, size.height, Date.now(), id]);
    if (rowCount === 0) throw new Error(`no video ${id}`);
  }

  async liveVideosIndexing(): Promise<VideoRecord[]> {
    const { rows } = await this.query<VideoRow>(`SELECT * FROM videos WHERE source_kind = 'live' AND status = 'indexing' ORDER BY id`);
    return rows.map(videoFromRow);
  }

  async videoState(id: number): Promise<VideoState | undefined> {
    const { rows } = await this.query<{ last_committed_t: number | null; tracker_state: Buffer | null; tracker_state_json: string | null }>(
      'SELECT v.last_committed_t, s.tracker_state, s.tracker_state_json FROM videos v LEFT JOIN video_state s ON s.video_id = v.id WHERE v.id = $1',
      [id],
    );
    const row = rows[0];
    if (!row) return undefined;
    return { videoId: id, lastCommittedT: row.last_committed_t, trackerState: decodeTrackerState(row.tracker_state ?? row.tracker_state_json) };
  }

  async commit(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates: readonly TrackUpdate[] = [],
    trackerState?: TrackerState,
    lastCommittedT?: number,
    writerEpoch?: number,
  ): Promise<CommitResult> {
    this.assertOpen();
    assertKeyframeBatch(batch, this.dim);
    return transaction(this.pool, async (client) => {
      // The row lock orders the commits of one video, whichever worker sends them, and takeWriter after them.
      const video = (await client.query<{ status: VideoStatus; writer_epoch: number }>('SELECT status, writer_epoch FROM videos WHERE id = $1 FOR UPDATE', [videoId])).rows[0];
      if (!video) throw new Error(`no video ${videoId}`);
      if (video.status === 'deleted') throw new Error(`video ${videoId} is deleted`);
      assertWriterEpoch(videoId, video.writer_epoch, writerEpoch);

      const keyframeIds: number[] = [];
      const regionIds: number[][] = [];
      const repeated: number[] = [];
      const owners = new Map<number, number>();
      for (const [position, kf] of batch.entries()) {
        const inserted = await client.query<{ id: number }>(
          'INSERT INTO keyframes (video_id, t, width, height) VALUES ($1, $2, $3, $4) ON CONFLICT (video_id, t) DO NOTHING RETURNING id',
          [videoId, kf.t, kf.width, kf.height],
        );
        if (inserted.rows.length === 0) {
          const existing = (await client.query<{ id: number }>('SELECT id FROM keyframes WHERE video_id = $1 AND t = $2', [videoId, kf.t])).rows[0]!.id;
          repeated.push(position);
          keyframeIds.push(existing);
          regionIds.push((await client.query<{ id: number }>('SELECT id FROM regions WHERE keyframe_id = $1 ORDER BY position', [existing])).rows.map((r) => r.id));
          continue;
        }
        const keyframeId = inserted.rows[0]!.id;
        keyframeIds.push(keyframeId);
        for (const trackId of new Set(kf.regions.flatMap((r) => (r.trackId == null ? [] : [r.trackId])))) {
          if (!owners.has(trackId)) {
            const owner = (await client.query<{ video_id: number }>('SELECT video_id FROM tracks WHERE id = $1', [trackId])).rows[0]?.video_id;
            if (owner !== undefined && owner !== videoId) throw new Error(`track ${trackId} belongs to video ${owner}, not ${videoId}`);
            owners.set(trackId, videoId);
          }
          await client.query(
            `INSERT INTO tracks (id, video_id, first_t, last_t, keyframes) VALUES ($1, $2, $3, $3, 1)
             ON CONFLICT (id) DO UPDATE SET first_t = least(tracks.first_t, excluded.first_t), last_t = greatest(tracks.last_t, excluded.last_t),
               keyframes = tracks.keyframes + 1`,
            [trackId, videoId, kf.t],
          );
        }
        regionIds.push(await insertRegions(client, videoId, keyframeId, kf));
      }
      if (batch.length > 0 && repeated.length === batch.length) return { keyframeIds, regionIds, repeated };

      for (const update of trackUpdates) {
        const best = namedBestRegion(update, regionIds);
        if (best === undefined) continue;
        if (best.committed) {
          const owner = (await client.query<{ video_id: number }>('SELECT video_id FROM regions WHERE id = $1', [best.id])).rows[0]?.video_id;
          if (owner === undefined) continue;
          if (owner !== videoId) throw new Error(`region ${best.id} is not in video ${videoId}`);
        }
        const { rowCount } = await client.query('UPDATE tracks SET best_region_id = $1 WHERE id = $2 AND video_id = $3', [best.id, update.id, videoId]);
        if (rowCount === 0) throw new Error(`track ${update.id} does not exist in video ${videoId}`);
      }

      const now = Date.now();
      if (trackerState !== undefined) {
        const encoded = encodeTrackerState(trackerState);
        await client.query(
          `INSERT INTO video_state (video_id, tracker_state, tracker_state_json, updated_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (video_id) DO UPDATE SET tracker_state = excluded.tracker_state, tracker_state_json = excluded.tracker_state_json, updated_at = excluded.updated_at`,
          [videoId, typeof encoded === 'string' ? null : encoded, typeof encoded === 'string' ? encoded : null, now],
        );
      }
      await client.query('UPDATE videos SET last_committed_t = coalesce($1, last_committed_t), updated_at = $2 WHERE id = $3', [resumePoint(batch, lastCommittedT), now, videoId]);
      return { keyframeIds, regionIds, repeated };
    });
  }

  async lastKeyframeTime(videoId: number, range: TimeRange): Promise<number | null> {
    const { low, high } = timeRangeBounds(range);
    const { rows } = await this.query<{ t: number | null }>('SELECT max(t) AS t FROM keyframes WHERE video_id = $1 AND t >= $2 AND t < $3', [videoId, low, high]);
    return rows[0]?.t ?? null;
  }

  async finishRange(videoId: number, range: { index: number; count: number }): Promise<boolean> {
    this.assertOpen();
    return transaction(this.pool, async (client) => {
      // The row lock serialises the finishers: each counts the ranges the ones before it recorded.
      const video = (await client.query<{ status: VideoStatus }>('SELECT status FROM videos WHERE id = $1 FOR UPDATE', [videoId])).rows[0];
      if (!video) throw new Error(`no video ${videoId}`);
      await client.query('INSERT INTO finished_ranges (video_id, range_index) VALUES ($1, $2) ON CONFLICT DO NOTHING', [videoId, range.index]);
      const finished = Number((await client.query<{ n: number }>('SELECT count(*) AS n FROM finished_ranges WHERE video_id = $1', [videoId])).rows[0]!.n);
      if (finished < range.count || (video.status !== 'indexing' && video.status !== 'ready')) return false;
      if (video.status === 'indexing') await client.query(`UPDATE videos SET status = 'ready', error = NULL, updated_at = $1 WHERE id = $2`, [Date.now(), videoId]);
      return true;
    });
  }

  async takeWriter(videoId: number): Promise<number> {
    this.assertOpen();
    const { rows } = await this.query<{ writer_epoch: number }>('UPDATE videos SET writer_epoch = writer_epoch + 1 WHERE id = $1 RETURNING writer_epoch', [videoId]);
    if (!rows[0]) throw new Error(`no video ${videoId}`);
    return rows[0].writer_epoch;
  }

  async allocateTrackIds(count: number): Promise<number[]> {
    this.assertOpen();
    const { rows } = await this.query<{ id: number }>(`SELECT nextval('dasr_track_ids') AS id FROM generate_series(1, $1)`, [count]);
    return rows.map((r) => r.id);
  }

  async getTrack(id: number): Promise<TrackRecord | undefined> {
    const { rows } = await this.query<TrackRow>('SELECT * FROM tracks WHERE id = $1', [id]);
    return rows[0] && trackFromRow(rows[0]);
  }

  async regionsByIds(ids: readonly number[]): Promise<RegionRecord[]> {
    const { rows } = await this.query<RegionRow>(`SELECT ${REGION_COLUMNS} FROM regions WHERE id = ANY($1::bigint[])`, [ids]);
    const byId = new Map(rows.map((row) => [row.id, regionFromRow(row)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async regionsOfTrack(trackId: number): Promise<RegionRecord[]> {
    const { rows } = await this.query<RegionRow>(`SELECT ${REGION_COLUMNS} FROM regions WHERE track_id = $1 ORDER BY t, id`, [trackId]);
    return rows.map(regionFromRow);
  }

  async trackSamples(trackIds: readonly number[], perTrack: number): Promise<Map<number, Float32Array[]>> {
    if (!(Number.isInteger(perTrack) && perTrack >= 1)) throw new RangeError(`perTrack must be a positive integer, got ${perTrack}`);
    const { rows } = await this.query<{ track_id: number; feature: string }>(
      `SELECT track_id, feature::text AS feature FROM (
         SELECT track_id, feature, row_number() OVER (PARTITION BY track_id ORDER BY t, id) - 1 AS i, count(*) OVER (PARTITION BY track_id) AS n
         FROM regions WHERE track_id = ANY($1::bigint[])) ranked
       WHERE i % ((n + $2::bigint - 1) / $2::bigint) = 0 ORDER BY track_id, i`,
      [trackIds, perTrack],
    );
    const samples = new Map<number, Float32Array[]>();
    for (const row of rows) {
      const list = samples.get(row.track_id);
      if (list) list.push(parseVectorText(row.feature));
      else samples.set(row.track_id, [parseVectorText(row.feature)]);
    }
    return samples;
  }

  async features(ids: readonly number[]): Promise<Map<number, Float32Array>> {
    const { rows } = await this.query<{ id: number; feature: string }>('SELECT id, feature::text AS feature FROM regions WHERE id = ANY($1::bigint[])', [ids]);
    return new Map(rows.map((row) => [row.id, parseVectorText(row.feature)]));
  }

  async regionCount(): Promise<number> {
    return (await this.query<{ n: number }>('SELECT count(*) AS n FROM regions')).rows[0]!.n;
  }

  async videoCount(): Promise<number> {
    return (await this.query<{ n: number }>(`SELECT count(*) AS n FROM videos WHERE status <> 'deleted'`)).rows[0]!.n;
  }

  async frameSizes(videoIds?: readonly number[]): Promise<{ width: number; height: number }[]> {
    const { rows } = await this.query<{ width: number; height: number }>(
      `SELECT width, height FROM videos WHERE status <> 'deleted' AND width IS NOT NULL AND height IS NOT NULL AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) ORDER BY id`,
      [videoIds ?? null],
    );
    return rows;
  }

  async videoSettings(videoIds?: readonly number[]): Promise<VideoSettings[]> {
    const { rows } = await this.query<{ config_json: string | null; videos: number }>(
      `SELECT config_json, count(*)::int AS videos FROM videos WHERE status <> 'deleted' AND ($1::bigint[] IS NULL OR id = ANY($1::bigint[])) GROUP BY config_json ORDER BY min(id)`,
      [videoIds ?? null],
    );
    return rows.map((row) => ({ config: row.config_json == null ? null : JSON.parse(row.config_json), videos: row.videos }));
  }

  async search(feature: Float32Array, k: number, filters: SearchFilters = {}): Promise<SearchHit[]> {
    this.assertOpen();
    if (feature.length !== this.dim) throw new RangeError(`query has ${feature.length} dims, expected ${this.dim}`);
    if (k <= 0) return [];
    const counted = regionFilter(filters, 1);
    const ranked = regionFilter(filters, 3);
    const params = [halfvecText(feature), k, ...ranked.params];
    const rows = await transaction(this.pool, async (client) => {
      let exact = false;
      if (counted.condition) {
        const allowed = (await client.query<{ n: number }>(`SELECT count(*) AS n FROM (SELECT 1 FROM regions ${counted.condition} LIMIT ${EXACT_SEARCH_MAX + 1}) AS r`, counted.params)).rows[0]!.n;
        if (allowed === 0) return [];
        exact = allowed <= EXACT_SEARCH_MAX;
      }
      // Iterative scans (pgvector ≥ 0.8) go on past the search list, in distance order, until k rows pass the filter
      // or MAX_SCAN_TUPLES index tuples were visited (pgvector's default, 20 000, would starve a filter keeping a
      // small share of a large index).
      await client.query(`SET LOCAL hnsw.ef_search = ${EF_SEARCH}`);
      await client.query(`SET LOCAL hnsw.iterative_scan = strict_order`);
      await client.query(`SET LOCAL hnsw.max_scan_tuples = ${MAX_SCAN_TUPLES}`);
      // A materialised CTE cannot use the HNSW index: a narrow filter is ranked exactly.
      const sql = exact
        ? `WITH allowed AS MATERIALIZED (SELECT ${REGION_COLUMNS}, feature FROM regions ${ranked.condition})
           SELECT ${REGION_COLUMNS}, 1 - (feature <=> $1::halfvec) AS similarity FROM allowed ORDER BY feature <=> $1::halfvec LIMIT $2`
        : `SELECT ${REGION_COLUMNS}, 1 - (feature <=> $1::halfvec) AS similarity FROM regions ${ranked.condition} ORDER BY feature <=> $1::halfvec LIMIT $2`;
      return (await client.query<RegionRow & { similarity: number }>(sql, params)).rows;
    });
    const { minScore } = filters;
    return rows.filter((row) => minScore === undefined || row.similarity >= minScore).map((row) => ({ ...regionFromRow(row), similarity: row.similarity }));
  }

  async addSegments(videoId: number, segments: readonly SegmentInput[]): Promise<void> {
    this.assertOpen();
    if (segments.length === 0) return;
    const params: unknown[] = [videoId, Date.now()];
    const rows = segments.map((segment) => {
      const first = params.push(segment.path, segment.tStart, segment.tEnd, segment.bytes) - 3;
      return `($1, $${first}, $${first + 1}, $${first + 2}, $${first + 3}, $2)`;
    });
    await this.query(`INSERT INTO segments (video_id, path, t_start, t_end, bytes, created_at) VALUES ${rows.join(', ')} ON CONFLICT (video_id, path) DO UPDATE
       SET t_end = greatest(segments.t_end, excluded.t_end), bytes = greatest(segments.bytes, excluded.bytes)`, params);
  }

  async segmentsOfVideo(videoId: number, from = -Infinity, to = Infinity): Promise<SegmentRecord[]> {
    this.assertOpen();
    const { rows } = await this.query<SegmentRow>('SELECT * FROM segments WHERE video_id = $1 AND t_end > $2 AND t_start <= $3 ORDER BY t_start', [videoId, from, to]);
    return rows.map(segmentRecord);
  }

  async segmentTotals(): Promise<{ bytes: number; oldestCreatedAt: number | null }> {
    this.assertOpen();
    const { rows } = await this.query<{ bytes: number; oldest: number | null }>('SELECT coalesce(sum(bytes), 0)::bigint AS bytes, min(created_at) AS oldest FROM segments');
    return { bytes: rows[0]!.bytes, oldestCreatedAt: rows[0]!.oldest };
  }

  async expiringSegments(limits: { maxAgeSeconds: number; maxBytes: number }, now: number): Promise<SegmentRecord[]> {
    this.assertOpen();
    return (await this.query<SegmentRow>(EXPIRING_SEGMENTS, [expiryCutoff(limits, now), limits.maxBytes])).rows.map(segmentRecord);
  }

  async trimVideoBefore(videoId: number, t: number): Promise<SegmentRecord[]> {
    this.assertOpen();
    return transaction(this.pool, async (client) => {
      // The video's row lock orders this with its commits.
      if ((await client.query('SELECT 1 FROM videos WHERE id = $1 FOR UPDATE', [videoId])).rowCount === 0) return [];
      await client.query('DELETE FROM keyframes WHERE video_id = $1 AND t < $2', [videoId, t]);
      const { rows } = await client.query<SegmentRow>('DELETE FROM segments WHERE video_id = $1 AND t_end <= $2 RETURNING *', [videoId, t]);
      await client.query('DELETE FROM tracks WHERE video_id = $1 AND NOT EXISTS (SELECT 1 FROM regions WHERE track_id = tracks.id)', [videoId]);
      // best_region_id has no foreign key here: a best region that went is replaced by the track's best remaining one.
      await client.query(
        `UPDATE tracks SET
           first_t = (SELECT min(r.t) FROM regions r WHERE r.track_id = tracks.id),
           keyframes = (SELECT count(DISTINCT r.keyframe_id) FROM regions r WHERE r.track_id = tracks.id),
           best_region_id = CASE WHEN EXISTS (SELECT 1 FROM regions WHERE id = tracks.best_region_id) THEN best_region_id
             ELSE (SELECT id FROM regions WHERE track_id = tracks.id ORDER BY score DESC, id LIMIT 1) END
         WHERE video_id = $1 AND first_t < $2`,
        [videoId, t],
      );
      return rows.map(segmentRecord).sort((a, b) => a.tStart - b.tStart);
    });
  }

  async deleteVideo(id: number): Promise<boolean> {
    this.assertOpen();
    const { rowCount } = await this.query('DELETE FROM videos WHERE id = $1', [id]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * A session-level advisory lock on the key's hash, held on a connection of its own for the claim's life (it
   * outlives the transaction that takes it, which keeps the statement's messages together as every other one's).
   */
  async claim(contentKey: string): Promise<Claim | null> {
    this.assertOpen();
    const client = await this.pool.connect();
    // The pool stops listening to a connection it lends out: a server that drops this one (a restart) must not end
    // the process. The lock went with it; the connection is discarded at release.
    let lost: Error | undefined;
    const onError = (err: Error): void => {
      lost = err;
      this.logger.warn(`index: the connection holding a claim on ${contentKey} was lost (${err.message})`);
    };
    client.on('error', onError);
    const done = (err?: Error): void => {
      client.off('error', onError);
      client.release(err ?? lost);
    };
    const locking = async (sql: string): Promise<boolean> => {
      await client.query('BEGIN');
      const result = (await client.query<{ done: boolean }>(sql, [contentKey])).rows[0]!.done;
      await client.query('COMMIT');
      return result;
    };
    try {
      if (!(await locking('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS done'))) {
        done();
        return null;
      }
    } catch (err) {
      done(err as Error);
      throw err;
    }
    return {
      release: async () => {
        try {
          if (!lost) await locking('SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS done');
          done();
        } catch (err) {
          done(err as Error); // the lock goes with the connection
        }
      },
    };
  }

  /** Nothing to do: PostgreSQL's commits are durable and its HNSW index is kept by the server. */
  async checkpoint(): Promise<void> {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /**
   * One statement in its own transaction. On a real server this costs a BEGIN and a COMMIT; it also keeps every
   * statement's messages together where connections share one backend session (PGlite's socket server, which the
   * tests use, serves one transaction at a time but interleaves connections' statements outside transactions).
   */
  private query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
    this.assertOpen();
    return transaction(this.pool, (client) => client.query<T>(sql, params));
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('index store is closed');
  }
}

/** The WHERE clause of a region filter, its parameters numbered from `$first`; empty without a filter. */
function regionFilter(filters: SearchFilters, first: number): { condition: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  const parameter = (value: unknown) => `$${first + params.push(value) - 1}`;
  if (filters.videoIds !== undefined) where.push(`video_id = ANY(${parameter(filters.videoIds)}::bigint[])`);
  if (filters.minRegionScore !== undefined) where.push(`score >= ${parameter(filters.minRegionScore)}`);
  if (filters.from !== undefined) where.push(`t >= ${parameter(filters.from)}`);
  if (filters.to !== undefined) where.push(`t <= ${parameter(filters.to)}`);
  return { condition: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', params };
}

/**
 * A pool on the cluster's database: bigint ids and counts read as numbers (ids stay far below 2^53), and an idle
 * connection the server drops (a restart) replaced on next use instead of ending the process.
 */
export function openPool(url: string, connections: number, logger: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: connections,
    // A server that cannot be reached, or stops answering, fails the query instead of holding it (and whoever waits
    // on it: a replica's polling, its shutdown) for ever: 10 s to connect, 2 min for an answer (a search scans at
    // most a million index entries, about a second), TCP keepalive for a peer that vanished.
    connectionTimeoutMillis: 10_000,
    query_timeout: 120_000,
    keepAlive: true,
    types: { getTypeParser: ((oid: number, format?: string) => (oid === INT8_OID ? Number : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser },
  });
  pool.on('error', (err) => logger.warn(`PostgreSQL connection lost (${err.message}); reconnecting on next use`));
  return pool;
}

/** Runs `work` in one transaction on one pooled connection; rolled back if it throws. */
export async function transaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that cannot even roll back is broken: it leaves the pool instead of going back to it.
    await client.query('ROLLBACK').catch((rollback: Error) => (broken = rollback));
    throw err;
  } finally {
    client.release(broken);
  }
}

/** A keyframe's regions in one INSERT, their ids in the batch's order. */
async function insertRegions(client: pg.PoolClient, videoId: number, keyframeId: number, kf: KeyframeInput): Promise<number[]> {
  if (kf.regions.length === 0) return [];
  const params: unknown[] = [];
  const rows = kf.regions.map((r, position) => {
    const [x1, y1, x2, y2] = r.box;
    const first = params.length + 1;
    params.push(keyframeId, position, videoId, r.trackId ?? null, kf.t, x1, y1, x2, y2, r.score, halfvecText(r.feature));
    return `(${Array.from({ length: 10 }, (_, i) => `$${first + i}`).join(', ')}, $${first + 10}::halfvec)`;
  });
  const { rows: inserted } = await client.query<{ id: number; position: number }>(
    `INSERT INTO regions (keyframe_id, position, video_id, track_id, t, x1, y1, x2, y2, score, feature) VALUES ${rows.join(', ')} RETURNING id, position`,
    params,
  );
  return inserted.sort((a, b) => a.position - b.position).map((r) => r.id);
}

/** pgvector's text form of a vector. */
export function halfvecText(vector: Float32Array): string {
  return `[${vector.join(',')}]`;
}

/** A vector back from pgvector's text form. */
function parseVectorText(text: string): Float32Array {
  return Float32Array.from(text.slice(1, -1).split(','), Number);
}

/** A connection URL without its password, for messages. */
export function redactPassword(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
