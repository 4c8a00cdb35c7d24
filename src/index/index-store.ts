/**
 * The durable index of one data directory: SQLite (source of truth, features included) + an HNSW graph in a
 * worker thread (derived cache, saved to `vectors-<db uuid>.hnsw`).
 *
 * Write order: SQLite commit first, then the vectors go to the graph; the graph is saved to disk only now and then
 * (saveVectors). So at any crash point the HNSW file is either missing, older than SQLite (lacks recent regions,
 * still has deleted ones), or — if the crash hit during a save — untouched (atomic rename). `open` reconciles:
 * it loads the file, compares its live ids with the region ids in SQLite, adds what is missing (features read
 * from SQLite), marks deleted what SQLite no longer has, spot-checks stored vectors against SQLite, and rebuilds
 * from SQLite when the file is missing, unreadable, for another dimension, or fails the spot check.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLogger, type Logger } from '../log.js';
import {
  IndexDatabase,
  type CommitResult,
  type KeyframeInput,
  type RegionRecord,
  type SegmentRecord,
  type TrackerState,
  type TrackUpdate,
} from './database.js';
import { VectorIndex, type HnswParams } from './vector-index.js';
import { WriterLock } from './writer-lock.js';
import { Supervisor, type SupervisedState } from '../util/supervisor.js';

export interface IndexStoreOptions extends Partial<HnswParams> {
  /** Feature dimension (fixed when the data directory is created; must match afterwards). Default 2048. */
  dim?: number;
  logger?: Logger;
  /** How many stored vectors to compare with SQLite on open ('all' for every one). Default 32. */
  verifySample?: number | 'all';
  /** Ids per batch when copying features from SQLite into the graph. Default 1024. */
  rebuildChunk?: number;
  /**
   * 'write' (default) takes the directory's one writer lock (WriterLock); 'read' searches beside a writer: it
   * writes nothing (no graph save, no cleanup) and refuses commits and deletes.
   */
  access?: 'write' | 'read';
  /** What the writer is, named to a second writer that is refused (e.g. "dasr serve"). */
  writer?: string;
}

export interface SearchFilters {
  /** Only regions of these videos. */
  videoIds?: readonly number[];
  /** Minimum similarity of a hit (inner product of unit vectors, in [-1, 1]). */
  minScore?: number;
  /** Minimum detection score of the region. */
  minRegionScore?: number;
  /** Only regions of keyframes whose time lies in [from, to] seconds. */
  from?: number;
  to?: number;
}

export interface SearchHit extends RegionRecord {
  similarity: number;
}

export interface ReconcileReport {
  /** 'file': the saved graph was used (and patched); 'rebuilt': rebuilt from SQLite; 'empty': nothing to do. */
  source: 'file' | 'rebuilt' | 'empty';
  /** Why the file was not used, when it was not. */
  reason?: string;
  /** Vectors added from SQLite. */
  added: number;
  /** Vectors marked deleted because SQLite no longer has their region. */
  removed: number;
  /** Region count in SQLite (= live vectors after reconciliation). */
  total: number;
  ms: number;
}

const FILE_PATTERN = /^vectors-(.+)\.hnsw(\.tmp-(\d+)-\d+)?$/;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return items.slice();
  const out: T[] = [];
  const step = items.length / n;
  for (let i = 0; i < n; i++) out.push(items[Math.floor(i * step + Math.random() * step)]);
  return out;
}

export class IndexStore {
  readonly dataDir: string;
  readonly db: IndexDatabase;
  /** the graph's worker; replaced when a dead one is restarted */
  private vectorIndex: VectorIndex;
  private readonly vectorSupervisor: Supervisor<VectorIndex>;
  readonly vectorFile: string;
  readonly logger: Logger;
  private nextTrackId = 1;
  /** What the last open found and did. */
  reconciliation!: ReconcileReport;
  private dirty = false;
  private closed = false;

  private constructor(
    dataDir: string,
    db: IndexDatabase,
    vectors: VectorIndex,
    logger: Logger,
    private readonly lock: WriterLock | undefined,
    private readonly hnsw: Partial<HnswParams>,
  ) {
    this.dataDir = dataDir;
    this.db = db;
    this.vectorIndex = vectors;
    // A vector worker that dies is replaced: a new one loads the last saved graph and takes what SQLite holds
    // beyond it, as an open after a crash does (reconcile). Until then searches and commits wait.
    this.vectorSupervisor = Supervisor.adopt(vectors, () => this.replaceVectors(), { name: 'vector worker', logger });
    this.logger = logger;
    this.vectorFile = join(dataDir, `vectors-${db.uuid}.hnsw`);
  }

  static async open(dataDir: string, options: IndexStoreOptions = {}): Promise<IndexStore> {
    const logger = options.logger ?? defaultLogger;
    const writing = (options.access ?? 'write') === 'write';
    mkdirSync(dataDir, { recursive: true });
    const lock = writing ? WriterLock.acquire(dataDir, options.writer ?? 'a dasr process') : undefined;
    let db: IndexDatabase;
    let vectors: VectorIndex;
    const { dim: _dim, logger: _logger, verifySample: _v, rebuildChunk: _c, access: _a, writer: _w, ...hnsw } = options;
    try {
      db = IndexDatabase.open(dataDir, { dim: options.dim });
    } catch (err) {
      lock?.release();
      throw err;
    }
    try {
      vectors = await VectorIndex.create({ ...hnsw, dim: db.dim });
    } catch (err) {
      db.close();
      lock?.release();
      throw err;
    }
    const store = new IndexStore(dataDir, db, vectors, logger, lock, hnsw);
    try {
      if (writing) {
        store.removeStaleFiles();
        store.closeInterruptedLiveRuns();
      }
      store.reconciliation = await store.reconcile(options.verifySample ?? 32, options.rebuildChunk ?? 1024);
    } catch (err) {
      await store.close({ saveVectors: false });
      throw err;
    }
    return store;
  }

  get dim(): number {
    return this.db.dim;
  }

  /**
   * Live runs still marked indexing when a writer opens the folder were cut by a crash (the lock says no other
   * writer runs, and a stopped run marks itself ready): what they indexed stays searchable, so they are ready.
   */
  private closeInterruptedLiveRuns(): void {
    for (const video of this.db.listVideos()) {
      if (video.sourceKind !== 'live' || video.status !== 'indexing') continue;
      this.logger.info(`live run ${video.id} (${video.path}) was cut by a crash: its ${video.keyframeCount} keyframes stay searchable`);
      this.db.setVideoStatus(video.id, 'ready');
    }
  }

  /** The vector graph's worker (the current one: a dead worker is replaced). */
  get vectors(): VectorIndex {
    return this.vectorIndex;
  }

  /** Whether the vector worker runs, and how often it was restarted. */
  get vectorWorker(): { state: SupervisedState; restarts: number } {
    return { state: this.vectorSupervisor.state, restarts: this.vectorSupervisor.restarts };
  }

  /** A new vector worker holding the graph as SQLite has it. */
  private async replaceVectors(): Promise<VectorIndex> {
    const index = await VectorIndex.create({ ...this.hnsw, dim: this.db.dim });
    this.vectorIndex = index;
    try {
      this.reconciliation = await this.reconcile(32, 1024);
    } catch (error) {
      await index.close();
      throw error;
    }
    return index;
  }

  private get recovering(): boolean {
    return this.vectorSupervisor.state === 'restarting';
  }

  /** Waits while the vector worker is being replaced. */
  private async vectorsRunning(): Promise<void> {
    await this.vectorSupervisor.current();
  }

  /**
   * Applies a change already made in SQLite to the graph. If the worker dies meanwhile, the restart's
   * reconciliation takes the change from SQLite: waiting for it is enough.
   */
  private async followSqlite(change: (index: VectorIndex) => Promise<unknown>): Promise<void> {
    try {
      await change(this.vectorIndex);
    } catch (error) {
      if (!this.recovering) throw error;
      await this.vectorsRunning();
    }
  }

  /** Leftover temporary files of interrupted saves, and graphs of a database that no longer exists. */
  private removeStaleFiles(): void {
    for (const name of readdirSync(this.dataDir)) {
      const m = FILE_PATTERN.exec(name);
      if (!m) continue;
      const [, uuid, tmp, pid] = m;
      if (tmp) {
        if (Number(pid) === process.pid || !pidAlive(Number(pid))) rmSync(join(this.dataDir, name), { force: true });
      } else if (uuid !== this.db.uuid) {
        this.logger.info(`index: removing ${name}, the vector cache of another database`);
        rmSync(join(this.dataDir, name), { force: true });
      }
    }
  }

  private async reconcile(verifySample: number | 'all', chunk: number): Promise<ReconcileReport> {
    const started = performance.now();
    const sqlIds = this.db.regionIds();
    let source: ReconcileReport['source'] = 'file';
    let reason: string | undefined;
    let removed = 0;
    let missing: number[];

    let live: number[] | null = null;
    if (existsSync(this.vectorFile)) {
      try {
        await this.vectors.load(this.vectorFile);
        live = await this.vectors.ids({ live: true });
      } catch (err) {
        reason = `vector index ${this.vectorFile} is unreadable (${(err as Error).message})`;
      }
    } else if (sqlIds.length > 0) {
      reason = `vector index ${this.vectorFile} is missing`;
    }

    if (live) {
      const inSql = new Set(sqlIds);
      const both = live.filter((id) => inSql.has(id));
      const checkIds = verifySample === 'all' ? both : sample(both, verifySample);
      let bad = 0;
      for (let i = 0; i < checkIds.length; i += chunk) {
        const { ids, vectors } = this.db.packedFeatures(checkIds.slice(i, i + chunk));
        bad += (await this.vectors.verify(ids, vectors)).length;
      }
      if (bad > 0) {
        reason = `vector index ${this.vectorFile} disagrees with SQLite on ${bad} of ${checkIds.length} checked vectors`;
        live = null;
      }
    }

    if (live) {
      const inSql = new Set(sqlIds);
      const inGraph = new Set(live);
      const extra = live.filter((id) => !inSql.has(id));
      missing = sqlIds.filter((id) => !inGraph.has(id));
      removed = await this.vectors.remove(extra);
      if (extra.length || missing.length)
        this.logger.info(
          `index: vector cache behind SQLite: adding ${missing.length}, removing ${extra.length} of ${sqlIds.length}`,
        );
    } else {
      await this.vectors.reset();
      missing = sqlIds;
      if (reason) {
        source = 'rebuilt';
        this.logger.warn(`index: ${reason}; rebuilding it from SQLite (${sqlIds.length} vectors)`);
      } else {
        source = 'empty';
      }
    }

    let added = 0;
    for (let i = 0; i < missing.length; i += chunk) {
      const { ids, vectors } = this.db.packedFeatures(missing.slice(i, i + chunk));
      added += await this.vectors.add(ids, vectors, { transfer: true });
    }
    if (this.lock && (added > 0 || removed > 0 || source === 'rebuilt')) await this.vectors.save(this.vectorFile);

    return { source, reason, added, removed, total: sqlIds.length, ms: performance.now() - started };
  }

  /**
   * Commits a keyframe batch (see IndexDatabase.commitKeyframes) and then adds its vectors to the graph. The
   * SQLite transaction is the durable point; the graph catches up on the next open if the process dies between.
   */
  async commit(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates: readonly TrackUpdate[] = [],
    trackerState?: TrackerState,
    lastCommittedT?: number,
  ): Promise<CommitResult> {
    this.assertWritable();
    await this.vectorsRunning();
    const result = this.db.commitKeyframes(videoId, batch, trackUpdates, trackerState, lastCommittedT);
    const dim = this.dim;
    const ids: number[] = [];
    for (const row of result.regionIds) ids.push(...row);
    if (ids.length > 0) {
      const packed = new Float32Array(ids.length * dim);
      let n = 0;
      batch.forEach((kf) => kf.regions.forEach((r) => packed.set(r.feature, n++ * dim)));
      this.dirty = true;
      await this.followSqlite((index) => index.add(ids, packed, { transfer: true }));
    }
    return result;
  }

  /**
   * A track id no tracker has used in this index: every ingestion writing into this store (files, live streams)
   * allocates here, so concurrent ones never collide. Ids given out but never committed (a crash) are skipped.
   */
  allocateTrackId(): number {
    this.assertWritable();
    this.nextTrackId = Math.max(this.nextTrackId, this.db.maxTrackId() + 1);
    return this.nextTrackId++;
  }

  /** Persists the graph (atomically) if it changed since the last save; a reader's graph is never saved. */
  async saveVectors(): Promise<void> {
    this.assertOpen();
    if (!this.dirty || !this.lock) return;
    await this.vectorsRunning();
    this.dirty = false;
    try {
      await this.vectors.save(this.vectorFile);
    } catch (err) {
      this.dirty = true;
      throw err;
    }
  }

  /** Deletes a video with everything it owns; its vectors leave the search at once. False if there was none. */
  async deleteVideo(videoId: number): Promise<boolean> {
    this.assertWritable();
    await this.vectorsRunning();
    const regionIds = this.db.deleteVideo(videoId);
    if (regionIds === null) return false;
    if (regionIds.length > 0) {
      this.dirty = true;
      await this.followSqlite((index) => index.remove(regionIds));
    }
    return true;
  }

  /**
   * Forgets what a live run holds before `t` (regions, keyframes, segments: IndexDatabase.trimVideoBefore), its
   * vectors included. Returns the removed segments, whose files the caller deletes after this returns, so that no
   * region ever points at a missing file.
   */
  async trimVideoBefore(videoId: number, t: number): Promise<SegmentRecord[]> {
    this.assertWritable();
    await this.vectorsRunning();
    const { regionIds, segments } = this.db.trimVideoBefore(videoId, t);
    if (regionIds.length > 0) {
      this.dirty = true;
      await this.followSqlite((index) => index.remove(regionIds));
    }
    return segments;
  }

  /**
   * The k regions most similar to `feature`, most similar first, joined with their SQLite rows (so a region
   * deleted meanwhile can never be returned). Filters on the region (video, time, detection score) restrict the
   * nearest-neighbour search itself, so a narrow filter still finds its best matches.
   */
  async search(feature: Float32Array, k: number, filters: SearchFilters = {}): Promise<SearchHit[]> {
    this.assertOpen();
    let allowIds: number[] | undefined;
    const { videoIds, minRegionScore, from, to } = filters;
    if (videoIds !== undefined || minRegionScore !== undefined || from !== undefined || to !== undefined) {
      allowIds = this.db.regionIdsWhere({ videoIds, minRegionScore, from, to });
      if (allowIds.length === 0) return [];
    }
    const query = (index: VectorIndex) => index.search(feature, k, allowIds ? { allowIds } : undefined);
    await this.vectorsRunning();
    let hits;
    try {
      hits = await query(this.vectorIndex);
    } catch (error) {
      // the worker died under this search: once more on its replacement
      if (!this.recovering) throw error;
      await this.vectorsRunning();
      hits = await query(this.vectorIndex);
    }
    const kept = filters.minScore === undefined ? hits : hits.filter((h) => h.similarity >= filters.minScore!);
    const similarity = new Map(kept.map((h) => [h.id, h.similarity]));
    return this.db.regionsByIds(kept.map((h) => h.id)).map((r) => ({ ...r, similarity: similarity.get(r.id)! }));
  }

  /** Closes the worker and the database, saving the graph first unless `saveVectors: false`. */
  async close(options: { saveVectors?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    try {
      if (options.saveVectors ?? true) await this.saveVectors();
    } finally {
      this.closed = true;
      try {
        await this.vectorSupervisor.close();
      } finally {
        this.db.close();
        this.lock?.release();
      }
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('index store is closed');
  }

  private assertWritable(): void {
    this.assertOpen();
    if (!this.lock) throw new Error(`index store of ${this.dataDir} was opened for reading`);
  }
}
