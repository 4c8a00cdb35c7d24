/**
 * Main-thread handle on the HNSW index that lives in a worker thread (vector-worker.ts). Every method posts one
 * message and resolves with the worker's reply; the worker handles messages in order, so calls take effect in
 * the order they were made. Vectors travel in ArrayBuffers that are transferred to the worker (moved, not
 * structured-cloned); callers' arrays are first packed into fresh buffers unless `transfer: true` hands them over.
 */
import { RpcClient, startWorker } from '../util/worker-rpc.js';
import type {
  SearchReply,
  VectorRequest,
  VectorSpace,
  VectorStats,
  VectorWorkerConfig,
} from './vector-worker.js';

export type { VectorSpace, VectorStats } from './vector-worker.js';

export interface HnswParams {
  /** 'ip' on L2-normalised vectors is cosine similarity without renormalising (default). */
  space: VectorSpace;
  /** Graph degree (default 16). */
  m: number;
  /** Build-time beam width (default 128). */
  efConstruction: number;
  /** Search beam width; raised to k when k is larger (default 64). */
  efSearch: number;
  /** Slots allocated up front; the index grows by 1.5× when full (default 1024). */
  initialCapacity: number;
  /** hnswlib level-generator seed (default 100). */
  seed: number;
}

export interface VectorIndexOptions extends Partial<HnswParams> {
  dim: number;
}

export const DEFAULT_HNSW_PARAMS: HnswParams = {
  space: 'ip',
  m: 16,
  efConstruction: 128,
  efSearch: 64,
  initialCapacity: 1024,
  seed: 100,
};

export interface VectorHit {
  id: number;
  /** Inner product (= cosine for unit vectors); 1 for an identical vector. */
  similarity: number;
}

export interface VectorFilter {
  /** Only these ids may be returned. */
  allowIds: ArrayLike<number> | Iterable<number>;
}

function toFloat64(ids: ArrayLike<number> | Iterable<number>): Float64Array {
  return Float64Array.from(ids as ArrayLike<number>);
}

export class VectorIndex {
  readonly dim: number;
  readonly params: HnswParams;
  private readonly rpc: RpcClient<VectorRequest>;

  private constructor(options: VectorIndexOptions) {
    if (!(Number.isInteger(options.dim) && options.dim > 0)) throw new RangeError(`bad dimension ${options.dim}`);
    this.dim = options.dim;
    this.params = { ...DEFAULT_HNSW_PARAMS };
    for (const [key, value] of Object.entries(options)) {
      if (key !== 'dim' && value !== undefined) (this.params as unknown as Record<string, unknown>)[key] = value;
    }
    const config: VectorWorkerConfig = { dim: this.dim, ...this.params };
    this.rpc = new RpcClient(startWorker(import.meta.url, 'vector-worker', config), 'vector index');
  }

  /** Starts a worker holding an empty index. */
  static async create(options: VectorIndexOptions): Promise<VectorIndex> {
    const index = new VectorIndex(options);
    try {
      await index.stats(); // the worker is up and the native module loaded
    } catch (err) {
      await index.close().catch(() => undefined);
      throw err;
    }
    return index;
  }

  /** Replaces the contents with an index file; throws (keeping the current contents) if it cannot be read. */
  async load(path: string): Promise<VectorStats> {
    return (await this.call({ op: 'load', path })) as VectorStats;
  }

  /** Drops everything: an empty index. */
  async reset(): Promise<void> {
    await this.call({ op: 'reset' });
  }

  /**
   * Adds (or replaces) vectors. `vectors` is either one row-major Float32Array of ids.length × dim or one array
   * per id. They are packed into a fresh buffer that is transferred to the worker; with `transfer: true` a packed
   * Float32Array that spans its whole ArrayBuffer is handed over as is (and is detached here).
   */
  async add(
    ids: ArrayLike<number> | Iterable<number>,
    vectors: Float32Array | readonly Float32Array[],
    options: { transfer?: boolean } = {},
  ): Promise<number> {
    const idArray = toFloat64(ids);
    let packed: Float32Array;
    if (vectors instanceof Float32Array) {
      const whole = vectors.byteOffset === 0 && vectors.byteLength === vectors.buffer.byteLength;
      packed = options.transfer && whole && vectors.buffer instanceof ArrayBuffer ? vectors : vectors.slice();
    } else {
      packed = new Float32Array(vectors.length * this.dim);
      vectors.forEach((v, i) => {
        if (v.length !== this.dim) throw new RangeError(`vector ${i} has ${v.length} dims, expected ${this.dim}`);
        packed.set(v, i * this.dim);
      });
    }
    if (packed.length !== idArray.length * this.dim)
      throw new RangeError(`${idArray.length} ids but ${packed.length / this.dim} vectors`);
    if (idArray.length === 0) return 0;
    return (await this.call({ op: 'add', ids: idArray, vectors: packed }, [
      idArray.buffer as ArrayBuffer,
      packed.buffer as ArrayBuffer,
    ])) as number;
  }

  /** Marks ids deleted (they never come back from search). Returns how many were live. */
  async remove(ids: ArrayLike<number> | Iterable<number>): Promise<number> {
    const idArray = toFloat64(ids);
    if (idArray.length === 0) return 0;
    return (await this.call({ op: 'remove', ids: idArray }, [idArray.buffer as ArrayBuffer])) as number;
  }

  /** k nearest live vectors, most similar first; with a filter only allowed ids are considered. */
  async search(vector: Float32Array, k: number, filter?: VectorFilter): Promise<VectorHit[]> {
    if (vector.length !== this.dim) throw new RangeError(`query has ${vector.length} dims, expected ${this.dim}`);
    const query = vector.slice();
    const allow = filter ? toFloat64(filter.allowIds) : undefined;
    if (allow && allow.length === 0) return [];
    const transfer = [query.buffer as ArrayBuffer];
    if (allow) transfer.push(allow.buffer as ArrayBuffer);
    const reply = (await this.call({ op: 'search', vector: query, k, allow }, transfer)) as SearchReply;
    const hits: VectorHit[] = [];
    for (let i = 0; i < reply.ids.length; i++) hits.push({ id: reply.ids[i], similarity: 1 - reply.distances[i] });
    return hits;
  }

  /** Writes the index to `path` atomically (temporary file + fsync + rename). */
  async save(path: string): Promise<VectorStats> {
    return (await this.call({ op: 'save', path })) as VectorStats;
  }

  /** Number of live (searchable) vectors. */
  async size(): Promise<number> {
    return (await this.stats()).live;
  }

  async stats(): Promise<VectorStats> {
    return (await this.call({ op: 'stats' })) as VectorStats;
  }

  /** Ids held by the graph: only live ones (default), or every label including deleted ones. */
  async ids(options: { live?: boolean } = {}): Promise<number[]> {
    return Array.from((await this.call({ op: 'ids', live: options.live ?? true })) as Float64Array);
  }

  /** Ids whose stored vector is missing, deleted or differs from the given row-major vectors. */
  async verify(ids: readonly number[], vectors: Float32Array, tolerance = 1e-4): Promise<number[]> {
    const idArray = Float64Array.from(ids);
    const packed = vectors.slice();
    return (await this.call({ op: 'verify', ids: idArray, vectors: packed, tolerance }, [
      idArray.buffer as ArrayBuffer,
      packed.buffer,
    ])) as number[];
  }

  /** See RpcClient.onFailure. */
  onFailure(listener: (error: Error) => void): void {
    this.rpc.onFailure(listener);
  }

  /** Ends the worker at once, as a crash would. */
  terminate(): Promise<void> {
    return this.rpc.terminate();
  }

  /** Stops the worker. Unsaved changes are dropped (SQLite stays the source of truth). */
  async close(): Promise<void> {
    await this.rpc.close({ op: 'close' });
  }

  private call(req: VectorRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    return this.rpc.call(req, transfer);
  }
}
