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
import { boxArea, clipBox, intersectionArea, iou, type Box } from '../detect/box.js';
import { dot } from '../detect/vector.js';
import type { TrackSequence } from './tracks-dataset.js';
import type { EvalRegion } from './methods.js';
import { averagePrecisionAll, averagePrecisionAtK, meanAveragePrecision, rankByScore } from './metrics.js';

/** The depth of the ranking over which localisation is measured. */
export const IOU_DEPTH = 100;

export type QuerySet = 'first' | 'three';

/**
 * How a query's ground-truth box becomes the query descriptor:
 * - box: method.describe(frame, box) — the box pooled on the whole frame's feature map (the protocol of the paper);
 * - crop: the box cut out of the frame and described as an image of its own (method.describe(crop)), which is what
 *   a user who uploads a crop of the object gives: no scene context around the object;
 * - background: a control, method.describe(frame, backgroundBox(box)) — a box of the object's size where it overlaps
 *   the object least. When it still retrieves the sequence, the benchmark rewards recognising the scene.
 */
export type QueryView = 'box' | 'crop' | 'background';
export const QUERY_VIEWS: readonly QueryView[] = ['box', 'crop', 'background'];

/**
 * A box of the object's size (after clipping to the image) placed where it overlaps the object least. Candidates,
 * all inside the image: the object mirrored left-right, top-bottom and through the centre, and the four corners.
 * The least intersection area wins; ties go to the candidate whose centre is farthest from the object's (res5 cells
 * see far beyond their box, so distance matters even without overlap), then to the first in the order above.
 */
export function backgroundBox(objectBox: Box, width: number, height: number): Box {
  if (!(width > 0 && height > 0)) throw new RangeError(`backgroundBox: image size must be positive, got ${width}×${height}`);
  const o = clipBox(objectBox, width, height);
  const w = Math.max(0, o[2] - o[0]);
  const h = Math.max(0, o[3] - o[1]);
  const candidates: Box[] = [
    [width - o[2], o[1], width - o[0], o[3]],
    [o[0], height - o[3], o[2], height - o[1]],
    [width - o[2], height - o[3], width - o[0], height - o[1]],
    [0, 0, w, h],
    [width - w, 0, width, h],
    [0, height - h, w, height],
    [width - w, height - h, width, height],
  ];
  const overlap = (b: Box): number => intersectionArea(b, o);
  const centre = (b: Box): [number, number] => [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2];
  const [ocx, ocy] = centre(o);
  const distance = (b: Box): number => {
    const [cx, cy] = centre(b);
    return Math.hypot(cx - ocx, cy - ocy);
  };
  let best = candidates[0]!;
  for (const candidate of candidates.slice(1)) {
    const a = overlap(candidate);
    const bestOverlap = overlap(best);
    if (a < bestOverlap || (a === bestOverlap && distance(candidate) > distance(best))) best = candidate;
  }
  return best;
}

/** Intersection of `box` with `objectBox`, as a fraction of the object's area (0 when the object has none). */
export function objectOverlap(box: Box, objectBox: Box): number {
  const area = boxArea(objectBox);
  return area > 0 ? intersectionArea(box, objectBox) / area : 0;
}

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
  /** why no descriptor could be made (the query then scores AP 0 and ranks nothing); absent for a normal query */
  failure?: string;
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

/** A query that could not be described (e.g. a crop too small for the network): AP 0, nothing ranked. */
export function failedQuery(query: TrackQuery, database: readonly DatabaseFrame[], sequences: readonly TrackSequence[], failure: string): QueryResult {
  const sequence = sequences[query.sequence]!;
  return {
    sequence: sequence.name,
    file: sequence.frames[query.frame]!.file,
    frame: query.frame,
    relevant: relevantCount(query, sequences),
    database: database.filter((d) => !(d.sequence === query.sequence && d.frame === query.frame)).length,
    ranked: 0,
    top50: 0,
    top100: 0,
    all: 0,
    ious: [],
    failure,
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
