/**
 * Worker thread that owns the HNSW graph (hnswlib-node), so that insertion (~ms per 2048-d vector) and search
 * never run on the main event loop. Messages are handled strictly one at a time, in arrival order, which is what
 * makes "add, then markDelete, then save" from the main thread mean the same thing here.
 *
 * Started by VectorIndex (vector-index.ts); the protocol types are exported for it.
 */
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { serveRpc } from '../util/worker-rpc.js';
import type { HnswParams } from './vector-index.js';
import hnswlib from 'hnswlib-node';
import { EXACT_SEARCH_MAX } from './region-store.js';

const { HierarchicalNSW } = hnswlib;
type Hnsw = InstanceType<typeof HierarchicalNSW>;

export type VectorSpace = 'ip' | 'cosine';

/** What VectorIndex starts the worker with: the vector dimension and the HNSW parameters. */
export interface VectorWorkerConfig extends HnswParams {
  dim: number;
}

export type VectorRequest =
  | { op: 'reset' }
  | { op: 'load'; path: string }
  | { op: 'add'; ids: Float64Array; vectors: Float32Array }
  | { op: 'remove'; ids: Float64Array }
  | { op: 'search'; vector: Float32Array; k: number; allow?: Float64Array }
  | { op: 'save'; path: string }
  | { op: 'ids'; live: boolean }
  | { op: 'verify'; ids: Float64Array; vectors: Float32Array; tolerance: number }
  | { op: 'stats' }
  | { op: 'close' };

export interface VectorStats {
  /** Elements that search can return. */
  live: number;
  /** Slots in use, deleted ones included. */
  count: number;
  capacity: number;
  dim: number;
}

export interface SearchReply {
  ids: Float64Array;
  distances: Float32Array;
}


/**
 * Requests that only read the graph: they may run while another reads it, above all while a save writes it to
 * disk on libuv's threads (writeIndex is asynchronous), so searches do not wait for a save of the whole graph.
 */
const READERS = new Set<VectorRequest['op']>(['search', 'save', 'ids', 'verify', 'stats']);

/** Labels are uint32 in hnswlib-node. */
const MAX_LABEL = 0xffffffff;

class VectorService {
  private index!: Hnsw;
  /** Superset of the labels hnswlib knows (live or deleted); a label absent here is certainly new to the graph. */
  private known = new Set<number>();
  private live = 0;

  constructor(private readonly config: VectorWorkerConfig) {
    this.reset();
  }

  reset(): void {
    this.index = this.fresh(this.config.initialCapacity);
    this.known = new Set();
    this.live = 0;
  }

  private fresh(capacity: number): Hnsw {
    const index = new HierarchicalNSW(this.config.space, this.config.dim);
    index.initIndex({
      maxElements: Math.max(1, capacity),
      m: this.config.m,
      efConstruction: this.config.efConstruction,
      randomSeed: this.config.seed,
      allowReplaceDeleted: true,
    });
    index.setEf(this.config.efSearch);
    return index;
  }

  /** Replaces the graph with the file's; on any error the current graph is kept and the error thrown. */
  async load(path: string): Promise<VectorStats> {
    checkHeader(path, this.config.dim);
    const index = new HierarchicalNSW(this.config.space, this.config.dim);
    await index.readIndex(path, true);
    index.setEf(this.config.efSearch);
    this.index = index;
    const labels = index.getIdsList();
    this.known = new Set(labels);
    this.live = 0;
    for (const label of labels) if (this.isLive(label)) this.live++;
    return this.stats();
  }

  /**
   * Whether a label is present and not marked deleted. hnswlib-node has no direct query for the flag; markDelete
   * throws for a deleted (or unknown) label and succeeds for a live one, which is immediately restored (~1 µs).
   */
  private isLive(label: number): boolean {
    try {
      this.index.markDelete(label);
    } catch {
      return false;
    }
    this.index.unmarkDelete(label);
    return true;
  }

  add(ids: Float64Array, vectors: Float32Array): number {
    const dim = this.config.dim;
    if (vectors.length !== ids.length * dim)
      throw new RangeError(`add: ${ids.length} ids but ${vectors.length / dim} vectors of dimension ${dim}`);
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id > MAX_LABEL) throw new RangeError(`add: id ${id} is not a uint32`);
    }
    const needed = this.index.getCurrentCount() + ids.length;
    const capacity = this.index.getMaxElements();
    if (needed > capacity) this.index.resizeIndex(Math.max(needed, Math.ceil(capacity * 1.5), 1024));
    let added = 0;
    for (let i = 0; i < ids.length; i++) {
      const label = ids[i];
      const point = Array.from(vectors.subarray(i * dim, (i + 1) * dim));
      if (this.known.has(label)) {
        // Present before (live: update in place; deleted: revive) or replaced away since (then it is new).
        let state: 'live' | 'revived' | 'gone';
        try {
          this.index.unmarkDelete(label);
          state = 'revived';
        } catch (err) {
          state = /not found/i.test(String((err as Error).message)) ? 'gone' : 'live';
        }
        if (state !== 'gone') {
          this.index.addPoint(point, label, false);
          if (state === 'revived') this.live++;
          added++;
          continue;
        }
      }
      // A label hnswlib has never seen: it may take the slot of a deleted element.
      this.index.addPoint(point, label, true);
      this.known.add(label);
      this.live++;
      added++;
    }
    return added;
  }

  /** Marks labels deleted; unknown or already deleted ones are skipped. Returns how many were live. */
  remove(ids: Float64Array): number {
    let removed = 0;
    for (const label of ids) {
      if (!this.known.has(label)) continue;
      try {
        this.index.markDelete(label);
        removed++;
      } catch {
        // already deleted, or its slot was reused by another label
      }
    }
    this.live -= removed;
    return removed;
  }

  search(vector: Float32Array, k: number, allow?: Float64Array): SearchReply {
    if (vector.length !== this.config.dim)
      throw new RangeError(`search: vector has ${vector.length} dims, expected ${this.config.dim}`);
    const limit = Math.min(Math.floor(k), this.live, allow ? allow.length : Infinity);
    if (!(limit > 0)) return { ids: new Float64Array(0), distances: new Float32Array(0) };
    if (allow && allow.length <= EXACT_SEARCH_MAX) return this.exactSearch(vector, limit, allow);
    this.index.setEf(Math.max(this.config.efSearch, limit));
    let filter: ((label: number) => boolean) | undefined;
    if (allow) {
      const allowed = new Set(allow);
      filter = (label) => allowed.has(label);
    }
    const result = this.index.searchKnn(Array.from(vector), limit, filter);
    return { ids: Float64Array.from(result.neighbors), distances: Float32Array.from(result.distances) };
  }

  /**
   * The graph search under a narrow filter: HNSW stops once its `ef` best allowed candidates look final, and
   * the allowed points may sit where the walk never goes; comparing with each of them is exact and, for a few
   * thousand, cheaper than the walk. Distances as hnswlib gives them (1 − inner product; cosine normalises).
   */
  private exactSearch(vector: Float32Array, limit: number, allow: Float64Array): SearchReply {
    let query: Float32Array | number[] = vector;
    if (this.config.space === 'cosine') {
      const norm = Math.hypot(...vector) || 1;
      query = Array.from(vector, (x) => x / norm);
    }
    const scored: { id: number; distance: number }[] = [];
    for (const label of allow) {
      let point: number[];
      try {
        point = this.index.getPoint(label); // throws for a deleted or unknown label
      } catch {
        continue;
      }
      let dot = 0;
      for (let j = 0; j < point.length; j++) dot += point[j]! * query[j]!;
      scored.push({ id: label, distance: 1 - dot });
    }
    scored.sort((a, b) => a.distance - b.distance || a.id - b.id);
    const best = scored.slice(0, limit);
    return { ids: Float64Array.from(best, (h) => h.id), distances: Float32Array.from(best, (h) => h.distance) };
  }

  /** Saves run one at a time (they may overlap with searches, not with each other). */
  private saving: Promise<unknown> = Promise.resolve();

  save(path: string): Promise<VectorStats> {
    const run = this.saving.then(() => this.saveNow(path));
    this.saving = run.catch(() => undefined);
    return run;
  }

  /** Atomic save: write a temporary file, fsync it, rename it over the target, fsync the directory. */
  private async saveNow(path: string): Promise<VectorStats> {
    const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
    try {
      await this.index.writeIndex(tmp);
      await fsyncFile(tmp);
      renameSync(tmp, path);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    try {
      fsyncPath(dirname(path));
    } catch {
      // directories cannot be fsynced on every platform; the rename itself is already atomic
    }
    return this.stats();
  }

  ids(live: boolean): Float64Array {
    const labels = this.index.getIdsList();
    return Float64Array.from(live ? labels.filter((label) => this.isLive(label)) : labels);
  }

  /** Ids whose stored vector is absent, deleted or differs from the given one (max abs difference > tolerance). */
  verify(ids: Float64Array, vectors: Float32Array, tolerance: number): number[] {
    const dim = this.config.dim;
    const bad: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      let stored: number[];
      try {
        stored = this.index.getPoint(ids[i]);
      } catch {
        bad.push(ids[i]);
        continue;
      }
      const expected = vectors.subarray(i * dim, (i + 1) * dim);
      let norm = 1;
      if (this.config.space === 'cosine') {
        let s = 0;
        for (const x of expected) s += x * x;
        norm = Math.sqrt(s) || 1;
      }
      let ok = stored.length === dim;
      for (let j = 0; ok && j < dim; j++) ok = Math.abs(stored[j] - expected[j] / norm) <= tolerance;
      if (!ok) bad.push(ids[i]);
    }
    return bad;
  }

  stats(): VectorStats {
    return {
      live: this.live,
      count: this.index.getCurrentCount(),
      capacity: this.index.getMaxElements(),
      dim: this.config.dim,
    };
  }
}

/** fsync off the worker's thread: searches go on meanwhile. */
async function fsyncFile(path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    await file.sync();
  } finally {
    await file.close();
  }
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * hnswlib does not record the dimension in its file and happily loads a file written for another one. Its header
 * does hold offsetData_ (byte 40) and label_offset_ (byte 32), whose difference is the vector size in bytes.
 */
function checkHeader(path: string, dim: number): void {
  const header = Buffer.alloc(48);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, header.length, 0) !== header.length) throw new Error('file too short for an HNSW header');
  } finally {
    closeSync(fd);
  }
  const vectorBytes = header.readBigUInt64LE(32) - header.readBigUInt64LE(40);
  if (vectorBytes !== BigInt(dim * 4))
    throw new Error(`file holds vectors of ${Number(vectorBytes) / 4} dims (header), expected ${dim}`);
}

if (parentPort) {
  const service = new VectorService(workerData as VectorWorkerConfig);
  serveRpc<VectorRequest>((req) => {
    switch (req.op) {
      case 'reset':
        service.reset();
        return service.stats();
      case 'load':
        return service.load(req.path);
      case 'add':
        return service.add(req.ids, req.vectors);
      case 'remove':
        return service.remove(req.ids);
      case 'search':
        return service.search(req.vector, req.k, req.allow);
      case 'save':
        return service.save(req.path);
      case 'ids':
        return service.ids(req.live);
      case 'verify':
        return service.verify(req.ids, req.vectors, req.tolerance);
      case 'stats':
        return service.stats();
      case 'close':
        return null;
    }
  }, (req) => req.op === 'close', (req) => READERS.has(req.op));
}
