/**
 * `dasr eval shots <dir>`: shot search as scene retrieval, against the whole-frame baseline descriptor.
 * - a tracks-dev style dataset (`<dir>/seqs`): every frame is a query, the relevant answers are the other frames of
 *   its sequence; mean average precision over all of them (All mAP).
 * - a UKBench folder: every image is a query over all images (itself included), N-S score (same-group images in
 *   the top 4).
 * DASR*'s regions of every image are aggregated with a codebook learned on the collection itself, as
 * `dasr shots learn` learns it from an index; the baseline is global average pooling of res5c over the frame.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dot } from '../detect/vector.js';
import { encodeVlad, fitVladCodebook, vladDim } from '../detect/vlad.js';
import { vladOptionsFor, type ShotLearnSettings } from '../search/shot-codebook.js';
import { FeatureCache } from './feature-cache.js';
import { averagePrecisionAll, nsScore, rankByScore } from './metrics.js';
import { methodRegions, type EvalMethod } from './methods.js';
import { countProgress } from './progress.js';
import { readTrackSequences } from './tracks-dataset.js';
import { formatTable } from './tracks-eval.js';
import { ukbenchImages } from './ukbench-eval.js';

export interface ShotEvalRow {
  method: string;
  /** descriptor length */
  dim: number;
  /** tracks: All mAP of scene retrieval; ukbench: N-S score */
  score: number;
}

export interface ShotEvalReport {
  dataset: string;
  kind: 'tracks' | 'ukbench';
  images: number;
  groups: number;
  /** the codebook's settings */
  codebook: { k: number; localDims: number; aggregate: string; whitened: boolean; regions: number };
  rows: ShotEvalRow[];
}

interface Collection {
  kind: 'tracks' | 'ukbench';
  paths: string[];
  groups: number[];
}

function collection(dir: string): Collection {
  if (existsSync(join(dir, 'seqs'))) {
    const paths: string[] = [];
    const groups: number[] = [];
    readTrackSequences(dir).forEach((sequence, group) => {
      for (const frame of sequence.frames) {
        paths.push(join(sequence.directory, frame.file));
        groups.push(group);
      }
    });
    return { kind: 'tracks', paths, groups };
  }
  const images = ukbenchImages(dir);
  return { kind: 'ukbench', paths: images.map((i) => join(dir, i.file)), groups: images.map((i) => i.group) };
}

/** The collection's score with one descriptor per image (null: an image without one, ranked last for every query). */
function score(kind: Collection['kind'], vectors: readonly (Float32Array | null)[], groups: readonly number[]): number {
  const rankings = vectors.map((query, q) => {
    const scored = vectors.flatMap((vector, i) => (kind === 'tracks' && i === q ? [] : [{ score: query && vector ? dot(query, vector) : -2, relevant: groups[i] === groups[q] }]));
    return rankByScore(scored).map((i) => scored[i]!.relevant);
  });
  if (kind === 'ukbench') return nsScore(rankings);
  const relevantCount = (q: number) => groups.filter((g, i) => g === groups[q] && i !== q).length;
  return rankings.reduce((sum, ranking, q) => sum + averagePrecisionAll(ranking, relevantCount(q)), 0) / rankings.length;
}

/** `dasr` is the DASR* method (its regions are aggregated), `baseline` the whole-frame one. */
export async function evaluateShots(dir: string, dasr: EvalMethod, baseline: EvalMethod, settings: ShotLearnSettings, options: { cache?: FeatureCache; progress?: (line: string) => void } = {}): Promise<ShotEvalReport> {
  const { kind, paths, groups } = collection(dir);
  const cache = options.cache ?? new FeatureCache(null);
  const write = options.progress ?? (() => undefined);
  const regionsOf = async (method: EvalMethod): Promise<Float32Array[][]> => {
    const progress = countProgress(`[shots ${method.name}]`, paths.length, write, 'images');
    const sets: Float32Array[][] = [];
    for (const path of paths) {
      sets.push((await methodRegions(method, cache, path)).map((r) => r.feature));
      progress.update(sets.length);
    }
    progress.done();
    return sets;
  };
  const sets = await regionsOf(dasr);
  const codebook = fitVladCodebook(sets, vladOptionsFor(sets, settings));
  const shotVectors = sets.map((regions) => encodeVlad(codebook, regions));
  const wholeFrames = (await regionsOf(baseline)).map((regions) => regions[0] ?? null);
  return {
    dataset: dir,
    kind,
    images: paths.length,
    groups: new Set(groups).size,
    codebook: { k: codebook.k, localDims: codebook.local.outputDim, aggregate: codebook.aggregate, whitened: settings.whitenRegions ?? false, regions: codebook.regions },
    rows: [
      { method: `${dasr.name} regions, aggregated`, dim: vladDim(codebook), score: score(kind, shotVectors, groups) },
      { method: `${baseline.name} (whole frame)`, dim: wholeFrames.find((v) => v)?.length ?? 0, score: score(kind, wholeFrames, groups) },
    ],
  };
}

export function formatShotReport(report: ShotEvalReport): string {
  const { k, localDims, aggregate, whitened, regions } = report.codebook;
  const metric = report.kind === 'tracks' ? 'scene All mAP' : 'N-S (max 4.00)';
  return [
    `${report.dataset}: ${report.images} images in ${report.groups} ${report.kind === 'tracks' ? 'sequences (relevant: the other frames of the query\'s sequence)' : 'groups of 4'}`,
    `codebook learned on the collection: ${k} codewords × ${localDims} dimensions${whitened ? ' (regions PCA-whitened)' : ''}, ${aggregate}, from ${regions} regions`,
    '',
    formatTable(['method', 'dims', metric], report.rows.map((r) => [r.method, String(r.dim), r.score.toFixed(3)])),
  ].join('\n');
}

export async function shotEvalCommand(dasr: EvalMethod, baseline: EvalMethod, dir: string, options: ShotLearnSettings & { cache?: string; json?: boolean }): Promise<ShotEvalReport> {
  const report = await evaluateShots(dir, dasr, baseline, options, { cache: new FeatureCache(options.cache ?? null), progress: (line) => process.stderr.write(`${line}\n`) });
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${formatShotReport(report)}\n`);
  return report;
}
