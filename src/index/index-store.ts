/**
 * The durable index of one data directory: SQLite (source of truth, features included) + HNSW graphs in worker
 * threads (derived caches, MirroredVectors): the regions' (`vectors-<db uuid>.hnsw`) and, once a shot codebook is
 * installed, the keyframes' shot vectors (`shots-<db uuid>.hnsw`).
 *
 * Write order: SQLite commit first, then the vectors go to the graph; the graph is saved to disk only now and then
 * (saveVectors). So at any crash point the HNSW file is either missing, older than SQLite (lacks recent regions,
 * still has deleted ones), or — if the crash hit during a save — untouched (atomic rename). `open` reconciles:
 * it loads the file, compares its live ids with the region ids in SQLite, adds what is missing (features read
 * from SQLite), marks deleted what SQLite no longer has, spot-checks stored vectors against SQLite, and rebuilds
 * from SQLite when the file is missing, unreadable, for another dimension, or fails the spot check.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { defaultLogger, type Logger } from '../log.js';
import {
  IndexDatabase,
  type CommitResult,
  type KeyframeInput,
  type KeyframeRecord,
  type NewVideo,
  type RegionRecord,
  type SegmentInput,
  type SegmentRecord,
  type TimeRange,
  type TrackerState,
  type TrackRecord,
  type TrackUpdate,
  type VideoRecord,
  type VideoSettings,
  type VideoState,
  type VideoStatus,
  type VideoSummary,
} from './database.js';
import type { Claim, RegionStore } from './region-store.js';
import { encodeVlad, parseVladCodebook, serializeVladCodebook, vladDim, type VladCodebook } from '../detect/vlad.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { MirroredVectors, type ReconcileReport, type VectorSource } from './mirrored-vectors.js';
import type { VectorIndex, HnswParams } from './vector-index.js';
import { WriterLock } from './writer-lock.js';
import type { SupervisedState } from '../util/supervisor.js';

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

export type { ReconcileReport } from './mirrored-vectors.js';

/**
 * The file of the shot codebook with this fingerprint, beside index.db. Named by its content, so that SQLite's record
 * of which codebook the shot vectors were made with switches in the same transaction that forgets the old vectors.
 */
export function shotCodebookFile(dataDir: string, fingerprint: string): string {
  return join(dataDir, `shot-codebook-${fingerprint}.vlad`);
}

const SHOT_CODEBOOK_PATTERN = /^shot-codebook-([0-9a-f]{16})\.vlad$/;

/** Graph files: `vectors-<db uuid>.hnsw` (regions), `shots-<db uuid>.hnsw` (keyframes), and their temporaries. */
const FILE_PATTERN = /^(?:vectors|shots)-(.+)\.hnsw(\.tmp-(\d+)-\d+)?$/;

/** Keyframes per transaction when shot vectors are made for keyframes already indexed. */
const SHOT_FILL_CHUNK = 256;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Content hash of a codebook file's bytes, as recorded with the shot vectors made from it. */
function fingerprintOf(bytes: Uint8Array): string {
  return createHash('sha1').update(bytes).digest('hex').slice(0, 16);
}

/** A keyframe found by shot search. */
export interface ShotSearchHit extends KeyframeRecord {
  similarity: number;
}

/** Shot search asked of an index that has no usable shot codebook. */
export class ShotSearchUnavailableError extends Error {
  override name = 'ShotSearchUnavailableError';
}

/** A shot codebook install asked for while another one runs. */
export class ShotCodebookBusyError extends Error {
  override name = 'ShotCodebookBusyError';
}

/** The embedded engine of RegionStore; `db` serves what the contract does not cover (clips, recordings, shots). */
export class IndexStore implements RegionStore {
  readonly dataDir: string;
  readonly db: IndexDatabase;
  readonly logger: Logger;
  /** the region graph's file */
  readonly vectorFile: string;
  /** the shot graph's file */
  readonly shotVectorFile: string;
  private nextTrackId = 1;
  private regionVectors!: MirroredVectors;
  /** the codebook new keyframes get shot vectors from (null: shot search is off) */
  private codebook: VladCodebook | null = null;
  /** the keyframes' shot vectors, when there is a codebook */
  private shotVectors: MirroredVectors | null = null;
  /** changes of the index (commits, deletes, trims, codebook installs) run one after another */
  private writes: Promise<unknown> = Promise.resolve();
  private installing = false;
  private closed = false;

  private constructor(
    dataDir: string,
    db: IndexDatabase,
    logger: Logger,
    private readonly lock: WriterLock | undefined,
    private readonly mirrorSettings: { hnsw: Partial<HnswParams>; verifySample: number | 'all'; chunk: number },
  ) {
    this.dataDir = dataDir;
    this.db = db;
    this.logger = logger;
    this.vectorFile = join(dataDir, `vectors-${db.uuid}.hnsw`);
    this.shotVectorFile = join(dataDir, `shots-${db.uuid}.hnsw`);
  }

  static async open(dataDir: string, options: IndexStoreOptions = {}): Promise<IndexStore> {
    const logger = options.logger ?? defaultLogger;
    const writing = (options.access ?? 'write') === 'write';
    mkdirSync(dataDir, { recursive: true });
    const lock = writing ? WriterLock.acquire(dataDir, options.writer ?? 'a dasr process') : undefined;
    let db: IndexDatabase;
    const { dim: _dim, logger: _logger, verifySample, rebuildChunk, access: _a, writer: _w, ...hnsw } = options;
    try {
      db = IndexDatabase.open(dataDir, { dim: options.dim });
    } catch (err) {
      lock?.release();
      throw err;
    }
    const store = new IndexStore(dataDir, db, logger, lock, { hnsw, verifySample: verifySample ?? 32, chunk: rebuildChunk ?? 1024 });
    try {
      if (writing) {
        store.removeStaleFiles();
        store.closeInterruptedLiveRuns();
      }
      store.regionVectors = await store.openMirror('region', store.vectorFile, db.dim, {
        ids: () => db.regionIds(),
        packed: (ids) => db.packedFeatures(ids),
      });
      await store.openShotSearch();
    } catch (err) {
      await store.close({ saveVectors: false });
      throw err;
    }
    return store;
  }

  private openMirror(noun: string, file: string, dim: number, source: Omit<VectorSource, 'noun'>): Promise<MirroredVectors> {
    const { hnsw, verifySample, chunk } = this.mirrorSettings;
    return MirroredVectors.open({ dim, hnsw, file, source: { noun, ...source }, logger: this.logger, writable: this.lock !== undefined, verifySample, chunk });
  }

  get dim(): number {
    return this.db.dim;
  }


  /** What the last open (or worker restart) found and did with the region graph. */
  get reconciliation(): ReconcileReport {
    return this.regionVectors.reconciliation;
  }

  /** The region graph's worker (the current one: a dead worker is replaced). */
  get vectors(): VectorIndex {
    return this.regionVectors.vectors;
  }

  /** Whether the region vector worker runs, and how often it was restarted. */
  get vectorWorker(): { state: SupervisedState; restarts: number } {
    return this.regionVectors.worker;
  }

  /** The installed shot codebook, or null when shot search is off. */
  get shotCodebook(): VladCodebook | null {
    return this.codebook;
  }

  /** The shot graph's worker (null without shot search). */
  get shotVectorIndex(): VectorIndex | null {
    return this.shotVectors?.vectors ?? null;
  }

  /** What the last open found and did with the shot graph (null without shot search). */
  get shotReconciliation(): ReconcileReport | null {
    return this.shotVectors?.reconciliation ?? null;
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

  /**
   * Shot search, when SQLite names a codebook and its file is there unchanged: a writer first gives the keyframes
   * that lack a shot vector one (those indexed while the codebook was being installed, or cut off by a crash).
   */
  private async openShotSearch(): Promise<void> {
    const installed = this.db.shotCodebook();
    // a codebook written by an install that a crash cut before SQLite named it
    if (this.lock) this.removeOtherCodebooks(installed?.fingerprint ?? null);
    if (!installed) return;
    const path = shotCodebookFile(this.dataDir, installed.fingerprint);
    let codebook: VladCodebook;
    try {
      const bytes = readFileSync(path);
      if (fingerprintOf(bytes) !== installed.fingerprint) throw new Error('it is not the codebook the shot vectors were made with');
      codebook = parseVladCodebook(bytes, path);
      if (codebook.dim !== this.dim || vladDim(codebook) !== installed.dim) throw new Error('its dimensions do not match the index');
    } catch (error) {
      this.logger.warn(`index: shot search is off: ${path} cannot be used (${(error as Error).message}); run dasr shots learn`);
      return;
    }
    this.codebook = codebook;
    if (this.lock) await this.fillShotVectors(codebook);
    this.shotVectors = await this.openShotMirror(installed.dim);
  }

  private openShotMirror(dim: number): Promise<MirroredVectors> {
    return this.openMirror('shot', this.shotVectorFile, dim, {
      ids: () => this.db.shotIds(),
      packed: (ids) => this.db.packedShotVectors(ids, dim),
    });
  }

  /** Gives every keyframe that has regions but no shot vector one; `progress` hears the count done and the total. */
  private async fillShotVectors(codebook: VladCodebook, progress?: (done: number) => void): Promise<number> {
    let done = 0;
    for (let after = 0; ; ) {
      const ids = this.db.keyframesWithoutShotVector(SHOT_FILL_CHUNK, after);
      if (ids.length === 0) return done;
      after = ids.at(-1)!;
      const features = this.db.regionFeaturesOfKeyframes(ids);
      const entries = ids.map((keyframeId) => ({ keyframeId, vector: encodeVlad(codebook, features.get(keyframeId)!)! }));
      const stored = new Set(this.db.addShotVectors(entries));
      const added = entries.filter((e) => stored.has(e.keyframeId));
      await this.shotVectors?.add(added.map((e) => e.keyframeId), packRows(added.map((e) => e.vector)));
      done += added.length;
      progress?.(done);
    }
  }

  /** Runs `change` after every change asked for before it (and before those asked for after). */
  private serially<T>(change: () => Promise<T>): Promise<T> {
    const result = this.writes.then(change);
    this.writes = result.catch(() => undefined);
    return result;
  }

  /**
   * Makes `codebook` the index's shot codebook: its file goes beside index.db, every keyframe's shot vector is
   * made again from its stored regions (no video is decoded), and the shot graph is rebuilt. A crash part-way leaves
   * the new codebook named in SQLite with some keyframes still to do: the next writer to open finishes them.
   */
  async installShotCodebook(codebook: VladCodebook, progress?: (done: number, total: number) => void): Promise<void> {
    this.assertWritable();
    if (codebook.dim !== this.dim) throw new RangeError(`the codebook takes ${codebook.dim}-d regions but this index holds ${this.dim}-d ones`);
    if (this.installing) throw new ShotCodebookBusyError('a shot codebook is being installed already');
    this.installing = true;
    try {
      await this.serially(async () => {
        const bytes = serializeVladCodebook(codebook);
        const fingerprint = fingerprintOf(bytes);
        await writeFileAtomic(shotCodebookFile(this.dataDir, fingerprint), bytes);
        const dim = vladDim(codebook);
        this.db.resetShotVectors({ fingerprint, dim });
        this.codebook = codebook;
        this.removeOtherCodebooks(fingerprint);
        const old = this.shotVectors;
        this.shotVectors = null;
        await old?.close({ save: false });
        rmSync(this.shotVectorFile, { force: true });
        this.shotVectors = await this.openShotMirror(dim); // empty, as SQLite now is
        const total = this.db.keyframesWithoutShotVectorCount();
        await this.fillShotVectors(codebook, progress && ((done) => progress(done, total)));
        await this.shotVectors.save();
      });
    } finally {
      this.installing = false;
    }
  }

  /** Codebook files other than the installed one (replaced ones, or one a crash left unnamed). */
  private removeOtherCodebooks(fingerprint: string | null): void {
    for (const name of readdirSync(this.dataDir)) {
      const match = SHOT_CODEBOOK_PATTERN.exec(name);
      if (match && match[1] !== fingerprint) rmSync(join(this.dataDir, name), { force: true });
    }
  }

  /**
   * Commits a keyframe batch (see IndexDatabase.commitKeyframes), each keyframe with its shot vector when there is
   * a codebook, and then adds the vectors to the graphs. The SQLite transaction is the durable point; the graphs
   * catch up on the next open if the process dies between.
   */
  async commit(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates: readonly TrackUpdate[] = [],
    trackerState?: TrackerState,
    lastCommittedT?: number,
    writerEpoch?: number,
  ): Promise<CommitResult> {
    this.assertWritable();
    return this.serially(() => this.commitNow(videoId, batch, trackUpdates, trackerState, lastCommittedT, writerEpoch));
  }

  async lastKeyframeTime(videoId: number, range: TimeRange): Promise<number | null> {
    return this.db.lastKeyframeTime(videoId, range);
  }

  async finishRange(videoId: number, range: { index: number; count: number }): Promise<boolean> {
    this.assertWritable();
    return this.serially(async () => this.db.finishRange(videoId, range));
  }

  async takeWriter(videoId: number): Promise<number> {
    this.assertWritable();
    return this.serially(async () => this.db.takeWriter(videoId));
  }

  private async commitNow(
    videoId: number,
    batch: readonly KeyframeInput[],
    trackUpdates: readonly TrackUpdate[],
    trackerState: TrackerState | undefined,
    lastCommittedT: number | undefined,
    writerEpoch: number | undefined,
  ): Promise<CommitResult> {
    await this.regionVectors.running();
    const codebook = this.codebook;
    const withShots = codebook
      ? batch.map((kf) => (kf.regions.length > 0 ? { ...kf, shotVector: encodeVlad(codebook, kf.regions.map((r) => r.feature))! } : kf))
      : batch;
    const result = this.db.commitKeyframes(videoId, withShots, trackUpdates, trackerState, lastCommittedT, writerEpoch);
    const repeated = new Set(result.repeated);
    const added = batch.flatMap((kf, i) => (repeated.has(i) ? [] : kf.regions.map((r, j) => ({ id: result.regionIds[i]![j]!, feature: r.feature }))));
    await this.regionVectors.add(added.map((r) => r.id), packRows(added.map((r) => r.feature)));
    if (this.shotVectors) {
      const shots = withShots.flatMap((kf, i) => (kf.shotVector && !repeated.has(i) ? [{ id: result.keyframeIds[i]!, vector: kf.shotVector }] : []));
      await this.shotVectors.add(shots.map((s) => s.id), packRows(shots.map((s) => s.vector)));
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

  async allocateTrackIds(count: number): Promise<number[]> {
    return Array.from({ length: count }, () => this.allocateTrackId());
  }

  async addVideo(video: NewVideo): Promise<VideoRecord> {
    this.assertWritable();
    return this.db.addVideo(video);
  }

  async findOrAddVideo(video: NewVideo & { contentKey: string }): Promise<{ video: VideoRecord; added: boolean }> {
    this.assertWritable();
    return this.db.findOrAddVideo(video);
  }

  async getVideo(id: number): Promise<VideoRecord | undefined> {
    return this.db.getVideo(id);
  }

  async videoSummary(id: number): Promise<VideoSummary | undefined> {
    return this.db.listVideos({ id, includeDeleted: true })[0];
  }

  async listVideos(): Promise<VideoSummary[]> {
    return this.db.listVideos();
  }

  async findVideoByContentKey(contentKey: string): Promise<VideoRecord | undefined> {
    return this.db.findVideoByContentKey(contentKey);
  }

  async setVideoStatus(id: number, status: VideoStatus, error: string | null = null): Promise<void> {
    this.assertWritable();
    this.db.setVideoStatus(id, status, error);
  }

  async setVideoSize(id: number, size: { width: number; height: number }): Promise<void> {
    this.assertWritable();
    this.db.updateVideoInfo(id, size);
  }

  async liveVideosIndexing(): Promise<VideoRecord[]> {
    return this.db.liveVideosIndexing();
  }

  async videoState(id: number): Promise<VideoState | undefined> {
    return this.db.videoState(id);
  }

  async getTrack(id: number): Promise<TrackRecord | undefined> {
    return this.db.getTrack(id);
  }

  async regionsByIds(ids: readonly number[]): Promise<RegionRecord[]> {
    return this.db.regionsByIds(ids);
  }

  async regionsOfTrack(trackId: number): Promise<RegionRecord[]> {
    return this.db.regionsOfTrack(trackId);
  }

  async trackSamples(trackIds: readonly number[], perTrack: number): Promise<Map<number, Float32Array[]>> {
    return this.db.trackSamples(trackIds, perTrack);
  }

  async features(ids: readonly number[]): Promise<Map<number, Float32Array>> {
    return this.db.features(ids);
  }

  async regionCount(): Promise<number> {
    return this.db.regionCount();
  }

  async videoCount(): Promise<number> {
    return this.db.videoCount();
  }

  async frameSizes(videoIds?: readonly number[]): Promise<{ width: number; height: number }[]> {
    return this.db.frameSizes(videoIds);
  }

  async videoSettings(videoIds?: readonly number[]): Promise<VideoSettings[]> {
    return this.db.videoSettings(videoIds);
  }

  /** A data directory has one writer process (WriterLock), which ingests a file once at a time: nothing to hold. */
  async claim(): Promise<Claim> {
    this.assertWritable();
    return { release: async () => undefined };
  }

  checkpoint(): Promise<void> {
    return this.saveVectors();
  }

  /** Persists the graphs (atomically) that changed since the last save; a reader's graphs are never saved. */
  async saveVectors(): Promise<void> {
    this.assertOpen();
    await this.regionVectors.save();
    await this.shotVectors?.save();
  }

  /** Deletes a video with everything it owns; its vectors leave the search at once. False if there was none. */
  async deleteVideo(videoId: number): Promise<boolean> {
    this.assertWritable();
    return this.serially(async () => {
      await this.regionVectors.running();
      const shotIds = this.shotVectors ? this.db.shotIdsWhere({ videoIds: [videoId] }) : [];
      const regionIds = this.db.deleteVideo(videoId);
      if (regionIds === null) return false;
      await this.regionVectors.remove(regionIds);
      await this.shotVectors?.remove(shotIds);
      return true;
    });
  }

  async addSegments(videoId: number, segments: readonly SegmentInput[]): Promise<void> {
    this.assertWritable();
    this.db.addSegments(videoId, segments);
  }

  async segmentsOfVideo(videoId: number, from?: number, to?: number): Promise<SegmentRecord[]> {
    return this.db.segmentsOfVideo(videoId, from, to);
  }

  async segmentTotals(): Promise<{ bytes: number; oldestCreatedAt: number | null }> {
    return this.db.segmentTotals();
  }

  async expiringSegments(limits: { maxAgeSeconds: number; maxBytes: number }, now: number): Promise<SegmentRecord[]> {
    return this.db.expiringSegments(limits, now);
  }

  /** IndexDatabase.trimVideoBefore, the removed regions' vectors (and shot vectors) leaving the graphs too. */
  async trimVideoBefore(videoId: number, t: number): Promise<SegmentRecord[]> {
    this.assertWritable();
    return this.serially(async () => {
      await this.regionVectors.running();
      const shotIds = this.shotVectors ? this.db.shotIdsWhere({ videoIds: [videoId], before: t }) : [];
      const { regionIds, segments } = this.db.trimVideoBefore(videoId, t);
      await this.regionVectors.remove(regionIds);
      await this.shotVectors?.remove(shotIds);
      return segments;
    });
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
    const similarity = await nearest(this.regionVectors, feature, k, allowIds, filters.minScore);
    return this.db.regionsByIds([...similarity.keys()]).map((r) => ({ ...r, similarity: similarity.get(r.id)! }));
  }

  /**
   * The k keyframes whose shot vectors are most similar to `vlad` (encodeVlad with this index's codebook), most
   * similar first, joined with SQLite; the video and time filters restrict the search itself.
   */
  async searchShots(vlad: Float32Array, k: number, filters: Omit<SearchFilters, 'minRegionScore'> = {}): Promise<ShotSearchHit[]> {
    this.assertOpen();
    if (!this.shotVectors) throw new ShotSearchUnavailableError(`${this.dataDir} has no shot codebook: run dasr shots learn`);
    let allowIds: number[] | undefined;
    const { videoIds, from, to } = filters;
    if (videoIds !== undefined || from !== undefined || to !== undefined) {
      allowIds = this.db.shotIdsWhere({ videoIds, from, to });
      if (allowIds.length === 0) return [];
    }
    const similarity = await nearest(this.shotVectors, vlad, k, allowIds, filters.minScore);
    return this.db.keyframesByIds([...similarity.keys()]).map((kf) => ({ ...kf, similarity: similarity.get(kf.id)! }));
  }

  /** Closes the workers and the database, saving the graphs first unless `saveVectors: false`. */
  async close(options: { saveVectors?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const save = (options.saveVectors ?? true) && this.lock !== undefined;
    try {
      try {
        await this.regionVectors?.close({ save });
      } finally {
        await this.shotVectors?.close({ save });
      }
    } finally {
      this.closed = true;
      this.db.close();
      this.lock?.release();
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

/** The k ids of `mirror` nearest `query` (among `allowIds`), with their similarities, most similar first, those under `minScore` left out. */
async function nearest(mirror: MirroredVectors, query: Float32Array, k: number, allowIds: readonly number[] | undefined, minScore: number | undefined): Promise<Map<number, number>> {
  const hits = await mirror.search(query, k, allowIds);
  return new Map(hits.filter((h) => minScore === undefined || h.similarity >= minScore).map((h) => [h.id, h.similarity]));
}

/** Vectors of one length packed row-major into one fresh array (to transfer to a vector worker). */
function packRows(rows: readonly Float32Array[]): Float32Array {
  const dim = rows[0]?.length ?? 0;
  const packed = new Float32Array(rows.length * dim);
  rows.forEach((row, i) => packed.set(row, i * dim));
  return packed;
}
