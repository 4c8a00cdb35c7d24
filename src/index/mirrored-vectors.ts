/**
 * An HNSW graph (VectorIndex, in a worker thread) that mirrors vectors whose source of truth is SQLite: region
 * descriptors, or keyframe (shot) descriptors. SQLite commits first and the graph follows; the graph is saved to
 * its file only now and then. `open` reconciles the file with SQLite (adds what it lacks, removes what SQLite no
 * longer has, spot-checks stored vectors, rebuilds when the file is missing, unreadable or wrong), and a worker that
 * dies is replaced by one reconciled the same way.
 */
import { existsSync } from 'node:fs';
import type { Logger } from '../log.js';
import { Supervisor, type SupervisedState } from '../util/supervisor.js';
import { VectorIndex, type HnswParams, type VectorHit } from './vector-index.js';

/** Where the vectors come from: SQLite. */
export interface VectorSource {
  /** what one vector is, in log lines: 'region', 'shot' */
  noun: string;
  /** every id SQLite holds, ascending */
  ids(): number[];
  /** the vectors of these ids (those that still exist), packed row-major */
  packed(ids: readonly number[]): { ids: number[]; vectors: Float32Array };
}

export interface ReconcileReport {
  /** 'file': the saved graph was used (and patched); 'rebuilt': rebuilt from SQLite; 'empty': nothing to do. */
  source: 'file' | 'rebuilt' | 'empty';
  /** Why the file was not used, when it was not. */
  reason?: string;
  /** Vectors added from SQLite. */
  added: number;
  /** Vectors marked deleted because SQLite no longer has them. */
  removed: number;
  /** Vector count in SQLite (= live vectors after reconciliation). */
  total: number;
  ms: number;
}

export interface MirrorOptions {
  dim: number;
  hnsw: Partial<HnswParams>;
  /** the graph's file */
  file: string;
  source: VectorSource;
  logger: Logger;
  /** whether this process may save the graph (the writer); a reader's graph is never saved */
  writable: boolean;
  /** how many stored vectors to compare with SQLite on open ('all' for every one) */
  verifySample: number | 'all';
  /** ids per batch when copying vectors from SQLite into the graph */
  chunk: number;
}

function sample<T>(items: readonly T[], n: number): T[] {
  if (items.length <= n) return items.slice();
  const out: T[] = [];
  const step = items.length / n;
  for (let i = 0; i < n; i++) out.push(items[Math.floor(i * step + Math.random() * step)]);
  return out;
}

export class MirroredVectors {
  /** the graph's worker; replaced when a dead one is restarted */
  private index: VectorIndex;
  private readonly supervisor: Supervisor<VectorIndex>;
  /** What the last reconciliation found and did. */
  reconciliation!: ReconcileReport;
  private dirty = false;

  private constructor(
    index: VectorIndex,
    private readonly options: MirrorOptions,
  ) {
    this.index = index;
    // Until a dead worker's replacement has caught up with SQLite, searches and changes wait.
    this.supervisor = Supervisor.adopt(index, () => this.replace(), { name: `${options.source.noun} vector worker`, logger: options.logger });
  }

  /** A graph holding what SQLite holds, from its file where that can be trusted. */
  static async open(options: MirrorOptions): Promise<MirroredVectors> {
    const mirror = new MirroredVectors(await VectorIndex.create({ ...options.hnsw, dim: options.dim }), options);
    try {
      mirror.reconciliation = await mirror.reconcile(options.verifySample);
    } catch (error) {
      await mirror.close({ save: false });
      throw error;
    }
    return mirror;
  }

  get file(): string {
    return this.options.file;
  }

  /** The graph's worker (the current one: a dead worker is replaced). */
  get vectors(): VectorIndex {
    return this.index;
  }

  /** Whether the worker runs, and how often it was restarted. */
  get worker(): { state: SupervisedState; restarts: number } {
    return { state: this.supervisor.state, restarts: this.supervisor.restarts };
  }

  private async replace(): Promise<VectorIndex> {
    const index = await VectorIndex.create({ ...this.options.hnsw, dim: this.options.dim });
    this.index = index;
    try {
      this.reconciliation = await this.reconcile(32);
    } catch (error) {
      await index.close();
      throw error;
    }
    return index;
  }

  private get recovering(): boolean {
    return this.supervisor.state === 'restarting';
  }

  /** Waits while the worker is being replaced. */
  async running(): Promise<void> {
    await this.supervisor.current();
  }

  /**
   * Applies a change already made in SQLite to the graph. If the worker dies meanwhile, the restart's
   * reconciliation takes the change from SQLite: waiting for it is enough.
   */
  private async follow(change: (index: VectorIndex) => Promise<unknown>): Promise<void> {
    await this.running();
    this.dirty = true;
    try {
      await change(this.index);
    } catch (error) {
      if (!this.recovering) throw error;
      await this.running();
    }
  }

  /** Adds vectors SQLite has just committed; `packed` is handed over (transferred). */
  add(ids: readonly number[], packed: Float32Array): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.follow((index) => index.add(ids, packed, { transfer: true }));
  }

  /** Removes vectors SQLite has just deleted. */
  remove(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.follow((index) => index.remove(ids));
  }

  /** Copies these ids' vectors from SQLite into the graph, chunk by chunk; how many were added. */
  private async fill(ids: readonly number[]): Promise<number> {
    const { source, chunk } = this.options;
    let added = 0;
    for (let i = 0; i < ids.length; i += chunk) {
      const { ids: present, vectors } = source.packed(ids.slice(i, i + chunk));
      added += await this.index.add(present, vectors, { transfer: true });
    }
    return added;
  }

  /** The k nearest ids (ids SQLite no longer has may still be among them: join with SQLite). */
  async search(query: Float32Array, k: number, allowIds?: readonly number[]): Promise<VectorHit[]> {
    const run = (index: VectorIndex) => index.search(query, k, allowIds ? { allowIds } : undefined);
    await this.running();
    try {
      return await run(this.index);
    } catch (error) {
      // the worker died under this search: once more on its replacement
      if (!this.recovering) throw error;
      await this.running();
      return run(this.index);
    }
  }

  /** Persists the graph (atomically) if it changed since the last save and this process is the writer. */
  async save(): Promise<void> {
    if (!this.dirty || !this.options.writable) return;
    await this.running();
    this.dirty = false;
    try {
      await this.index.save(this.options.file);
    } catch (error) {
      this.dirty = true;
      throw error;
    }
  }

  async close(options: { save: boolean }): Promise<void> {
    try {
      if (options.save) await this.save();
    } finally {
      await this.supervisor.close();
    }
  }

  private async reconcile(verifySample: number | 'all'): Promise<ReconcileReport> {
    const { file, source: sql, logger, chunk } = this.options;
    const started = performance.now();
    const sqlIds = sql.ids();
    let source: ReconcileReport['source'] = 'file';
    let reason: string | undefined;
    let removed = 0;
    let missing: number[];
    const index = this.index;

    let live: number[] | null = null;
    if (existsSync(file)) {
      try {
        await index.load(file);
        live = await index.ids({ live: true });
      } catch (err) {
        reason = `vector index ${file} is unreadable (${(err as Error).message})`;
      }
    } else if (sqlIds.length > 0) {
      reason = `vector index ${file} is missing`;
    }

    if (live) {
      const inSql = new Set(sqlIds);
      const both = live.filter((id) => inSql.has(id));
      const checkIds = verifySample === 'all' ? both : sample(both, verifySample);
      let bad = 0;
      for (let i = 0; i < checkIds.length; i += chunk) {
        const { ids, vectors } = sql.packed(checkIds.slice(i, i + chunk));
        bad += (await index.verify(ids, vectors)).length;
      }
      if (bad > 0) {
        reason = `vector index ${file} disagrees with SQLite on ${bad} of ${checkIds.length} checked vectors`;
        live = null;
      }
    }

    if (live) {
      const inSql = new Set(sqlIds);
      const inGraph = new Set(live);
      const extra = live.filter((id) => !inSql.has(id));
      missing = sqlIds.filter((id) => !inGraph.has(id));
      removed = await index.remove(extra);
      if (extra.length || missing.length)
        logger.info(`index: ${sql.noun} vector cache behind SQLite: adding ${missing.length}, removing ${extra.length} of ${sqlIds.length}`);
    } else {
      await index.reset();
      missing = sqlIds;
      if (reason) {
        source = 'rebuilt';
        logger.warn(`index: ${reason}; rebuilding it from SQLite (${sqlIds.length} ${sql.noun} vectors)`);
      } else {
        source = 'empty';
      }
    }

    const added = await this.fill(missing);
    if (this.options.writable && (added > 0 || removed > 0 || source === 'rebuilt')) {
      await index.save(file);
      this.dirty = false;
    }
    return { source, reason, added, removed, total: sqlIds.length, ms: performance.now() - started };
  }
}
