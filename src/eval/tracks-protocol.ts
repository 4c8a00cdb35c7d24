/**
 * The tracks-dev protocol (../shared/data/README.md, the one the DASR authors use on Instance-335), free of any
 * network or file access so that its mechanics can be tested on hand-made vectors:
 * - a query is the object's box in one frame of its sequence;
 * - the database is every frame of every sequence except the query frame;
 * - a frame's score is the best cosine between the query and the frame's regions, the localisation that region's
 *   box; only frames with score > 0 are ranked (ties: see rankByScore);
 * - relevant = the frames of the query's sequence where the ground-truth box is not null (query frame excluded);
 * - Top-50 / Top-100 / All AP as in metrics.ts, and the IoU (true union) of the returned box with the ground truth
 *   for every relevant frame ranked in the top 100.
 */
import { iou, type Box } from '../detect/box.js';
import { dot } from '../detect/vector.js';
import type { TrackSequence } from './tracks-dataset.js';
import type { EvalRegion } from './methods.js';
import { averagePrecisionAll, averagePrecisionAtK, meanAveragePrecision, rankByScore } from './metrics.js';

/** The depth of the ranking over which localisation is measured. */
export const IOU_DEPTH = 100;

export type QuerySet = 'first' | 'three';

/** One database frame: sequence and frame indices into the dataset, and the frame's regions. */
export interface DatabaseFrame {
  sequence: number;
  frame: number;
  regions: EvalRegion[];
}

export interface TrackQuery {
  sequence: number;
  frame: number;
  /** the ground-truth box the query is described from */
  box: Box;
}

export interface RankedFrame {
  sequence: number;
  frame: number;
  score: number;
  /** the best region's box (the localisation) */
  box: Box;
  relevant: boolean;
}

export interface QueryResult {
  sequence: string;
  file: string;
  frame: number;
  /** relevant frames in the database (ground truth, whether or not the method ranked them) */
  relevant: number;
  /** frames in the database and frames ranked (score > 0) */
  database: number;
  ranked: number;
  top50: number;
  top100: number;
  all: number;
  /** IoU of each relevant frame ranked in the top 100, in rank order */
  ious: number[];
}

export interface Scores {
  queryCount: number;
  top50: number;
  top100: number;
  all: number;
  /** mean over all (query, relevant frame in its top 100) pairs; NaN when there is none */
  meanIoU: number;
  iouCount: number;
}

/**
 * The query frames of a sequence (frame indices): 'first' = the first frame with a box; 'three' = three visible
 * frames spread over the sequence — the first, the middle and the last visible one (fewer when the sequence has
 * fewer visible frames).
 */
export function queryFrames(sequence: Pick<TrackSequence, 'frames'>, set: QuerySet): number[] {
  const visible = sequence.frames.flatMap((f, i) => (f.box ? [i] : []));
  if (visible.length === 0) return [];
  if (set === 'first') return [visible[0]!];
  const positions = [0, Math.round((visible.length - 1) / 2), visible.length - 1];
  return [...new Set(positions)].map((p) => visible[p]!);
}

export function trackQueries(sequences: readonly Pick<TrackSequence, 'frames'>[], set: QuerySet): TrackQuery[] {
  return sequences.flatMap((sequence, s) => queryFrames(sequence, set).map((frame) => ({ sequence: s, frame, box: sequence.frames[frame]!.box! })));
}

/** Scores every database frame except the query frame and ranks those with score > 0, best first. */
export function rankDatabase(query: TrackQuery, feature: Float32Array, database: readonly DatabaseFrame[], sequences: readonly Pick<TrackSequence, 'frames'>[]): RankedFrame[] {
  const scored: RankedFrame[] = [];
  for (const entry of database) {
    if (entry.sequence === query.sequence && entry.frame === query.frame) continue;
    let score = Number.NEGATIVE_INFINITY;
    let box: Box | null = null;
    for (const region of entry.regions) {
      const s = dot(feature, region.feature);
      if (s > score) {
        score = s;
        box = region.box;
      }
    }
    const relevant = entry.sequence === query.sequence && sequences[entry.sequence]!.frames[entry.frame]?.box != null;
    scored.push({ sequence: entry.sequence, frame: entry.frame, score, box: box ?? [0, 0, 0, 0], relevant });
  }
  return rankByScore(scored).map((i) => scored[i]!);
}

/** Number of relevant database frames for a query: visible frames of its sequence other than the query frame. */
export function relevantCount(query: TrackQuery, sequences: readonly Pick<TrackSequence, 'frames'>[]): number {
  return sequences[query.sequence]!.frames.filter((f, i) => f.box !== null && i !== query.frame).length;
}

export function evaluateQuery(query: TrackQuery, feature: Float32Array, database: readonly DatabaseFrame[], sequences: readonly TrackSequence[]): QueryResult {
  const ranking = rankDatabase(query, feature, database, sequences);
  const relevance = ranking.map((r) => r.relevant);
  const relevant = relevantCount(query, sequences);
  const sequence = sequences[query.sequence]!;
  const ious = ranking.slice(0, IOU_DEPTH).flatMap((r) => (r.relevant ? [iou(r.box, sequences[r.sequence]!.frames[r.frame]!.box!)] : []));
  return {
    sequence: sequence.name,
    file: sequence.frames[query.frame]!.file,
    frame: query.frame,
    relevant,
    database: database.filter((d) => !(d.sequence === query.sequence && d.frame === query.frame)).length,
    ranked: ranking.length,
    top50: averagePrecisionAtK(relevance, relevant, 50),
    top100: averagePrecisionAtK(relevance, relevant, 100),
    all: averagePrecisionAll(relevance, relevant),
    ious,
  };
}

/** mAP over the queries, and the mean IoU pooled over every (query, relevant frame in its top 100) pair. */
export function summarise(results: readonly QueryResult[]): Scores {
  const ious = results.flatMap((r) => r.ious);
  return {
    queryCount: results.length,
    top50: meanAveragePrecision(results.map((r) => r.top50)),
    top100: meanAveragePrecision(results.map((r) => r.top100)),
    all: meanAveragePrecision(results.map((r) => r.all)),
    meanIoU: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : Number.NaN,
    iouCount: ious.length,
  };
}
