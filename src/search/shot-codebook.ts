/**
 * Learning the shot codebook of an index (dasr shots learn, POST /v1/shots/learn): the training set (the index's
 * own keyframes, evenly spread, or region sets given), the VLAD settings its size allows, and the fit in a worker
 * thread so that a serving process keeps answering while k-means and the PCA run.
 */
import { DEFAULT_VLAD_K, DEFAULT_VLAD_LOCAL_DIMS, type VladAggregate, type VladCodebook, type VladOptions } from '../detect/vlad.js';
import type { IndexStore } from '../index/index-store.js';
import { RpcClient, startWorker } from '../util/worker-rpc.js';
import type { CodebookRequest } from './codebook-worker.js';

export interface ShotLearnSettings {
  /** codewords; default DEFAULT_VLAD_K, fewer when there are few regions */
  k?: number;
  /** region dimensions after the local PCA; default DEFAULT_VLAD_LOCAL_DIMS, fewer when there are few regions */
  localDims?: number;
  /** shot vector dimensions after the global PCA-whitening (default: none, k × local dims) */
  dims?: number;
  /** default 'sum' (vlad.ts says why) */
  aggregate?: VladAggregate;
  /** PCA-whiten the regions rather than only project them (default false: vlad.ts says why) */
  whitenRegions?: boolean;
}

/** Keyframes of an index learned from at most, by default. */
export const DEFAULT_SHOT_SAMPLE = 5000;

/** The region sets of up to `sample` keyframes of the index, evenly spread over it. */
export function indexTrainingSet(store: IndexStore, sample = DEFAULT_SHOT_SAMPLE): { sets: Float32Array[][]; keyframes: number } {
  const ids = store.db.keyframeIdsWithRegions();
  const step = Math.max(1, ids.length / sample);
  const chosen: number[] = [];
  for (let i = 0; i < ids.length && chosen.length < sample; i += step) chosen.push(ids[Math.floor(i)]!);
  return { sets: [...store.db.regionFeaturesOfKeyframes(chosen).values()], keyframes: ids.length };
}

/** The VLAD options for a training set: the settings given, the defaults for the others, shrunk to what it can support. */
export function vladOptionsFor(sets: readonly (readonly Float32Array[])[], settings: ShotLearnSettings): VladOptions {
  const regions = sets.reduce((n, set) => n + set.length, 0);
  if (regions < 2) throw new RangeError(`only ${regions} regions to learn a shot codebook from: index videos first`);
  const dim = sets.find((set) => set.length > 0)![0]!.length;
  return {
    k: settings.k ?? Math.min(DEFAULT_VLAD_K, Math.max(1, Math.floor(regions / 8))),
    // a projection is learned reliably from several regions per direction
    localDims: settings.localDims ?? Math.max(1, Math.min(DEFAULT_VLAD_LOCAL_DIMS, dim, Math.floor(regions / 4))),
    outputDims: settings.dims ?? null,
    aggregate: settings.aggregate,
    whitenRegions: settings.whitenRegions,
  };
}

/** fitVladCodebook in a worker thread of its own (started for this fit and stopped after it). */
export async function fitVladCodebookOffThread(sets: readonly (readonly Float32Array[])[], options: VladOptions): Promise<VladCodebook> {
  const client = new RpcClient<CodebookRequest>(startWorker(import.meta.url, 'codebook-worker', null), 'shot codebook');
  try {
    return await client.call<VladCodebook>({ sets: sets.map((set) => [...set]), options });
  } finally {
    await client.close();
  }
}
