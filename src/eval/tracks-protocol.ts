/**
 * The tracks-dev protocol (../shared/data/README.md, the one the DASR authors use on Instance-335), free of any
 * network or file access so that its mechanics can be tested on hand-made vectors:
 * - a query is the object's box in one frame of its sequence;
 * - the database is every frame of every sequence except the query frame;
 * - a frame's score is the best cosine between the query and the frame's regions, the localisation that region's
 *   box; only frames with score > 0 are ranked (ties: see rankByScore);
 * - relevant = the frames of the query's sequence where the ground-truth box is not null (query frame excluded);
 * - Top-50 / Top-100 / All AP as in metrics.ts, and the IoU (true union) of the returned box with the ground truth
 *   for every relevant frame ranked in the top 100;
 * - localised AP (what a user sees: is the returned box on the object?): regions, not frames, are ranked; a region
 *   is a hit only when its box is on the object of a relevant frame (its centre inside the ground-truth box, or,
 *   strictly, IoU ≥ 0.5); each frame counts once, at its first such region; every region ranked before it
 *   (background regions of the same frame, regions of other frames) is a miss. Regions of a frame already counted
 *   are left out of the ranking: the frame has been found, they neither add nor cost precision. Regions of one frame
 *   in one track of an index (video mode: a peak's levels) are one appearance there, which search returns once, at
 *   its best-matching region: only that region is ranked.
 */
import { boxArea, clipBox, intersectionArea, iou, type Box } from '../detect/box.js';
import { dot } from '../detect/vector.js';
import type { TrackSequence } from './tracks-dataset.js';
import type { EvalRegion } from './methods.js';
import { averagePrecisionAll, averagePrecisionAtK, meanAveragePrecision, rankByScore, rankOrder } from './metrics.js';

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
  /** further views of the object given with the query (several examples): left out of the database like its frame */
  moreExamples?: { frame: number; box: Box }[];
}

/** Whether a database frame is one the query was made from (never ranked, never counted relevant). */
export function isQueryFrame(query: TrackQuery, sequence: number, frame: number): boolean {
  return sequence === query.sequence && (frame === query.frame || (query.moreExamples?.some((e) => e.frame === frame) ?? false));
}

export interface RankedFrame {
  sequence: number;
  frame: number;
  score: number;
  /** the best region's box (the localisation) */
  box: Box;
  relevant: boolean;
}

/** When a returned box counts as on the object. */
export type OnObject = 'centre' | 'iou50';

/** Whether `box` is on the object `truth`: its centre inside the box, or IoU ≥ 0.5. */
export function onObject(box: Box, truth: Box, rule: OnObject): boolean {
  if (rule === 'iou50') return iou(box, truth) >= 0.5;
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  return cx >= truth[0] && cx <= truth[2] && cy >= truth[1] && cy <= truth[3];
}

/**
 * The region-level ranking of localised AP, as one boolean per rank (see the header). Regions with score ≤ 0 are
 * not ranked; ties are broken pessimistically as in rankByScore.
 */
export function localisedRelevance(
  query: TrackQuery,
  feature: Float32Array,
  database: readonly DatabaseFrame[],
  sequences: readonly Pick<TrackSequence, 'frames'>[],
  rule: OnObject,
): boolean[] {
  const items: { score: number; relevant: boolean; frame: number }[] = [];
  database.forEach((entry, frame) => {
    if (isQueryFrame(query, entry.sequence, entry.frame)) return;
    const truth = entry.sequence === query.sequence ? (sequences[entry.sequence]!.frames[entry.frame]?.box ?? null) : null;
    const bestOfTrack = new Map<number, { score: number; relevant: boolean; frame: number }>();
    for (const region of entry.regions) {
      const item = { score: dot(feature, region.feature), relevant: truth !== null && onObject(region.box, truth, rule), frame };
      const track = region.trackId;
      if (track === undefined || track === null) items.push(item);
      else {
        const held = bestOfTrack.get(track);
        // the region the ranking puts first, a tie going against the query
        if (!held || rankOrder(item, held) < 0) bestOfTrack.set(track, item);
      }
    }
    items.push(...bestOfTrack.values());
  });
  const found = new Set<number>();
  const relevance: boolean[] = [];
  for (const i of rankByScore(items)) {
    const item = items[i]!;
    if (found.has(item.frame)) continue;
    if (item.relevant) found.add(item.frame);
    relevance.push(item.relevant);
  }
  return relevance;
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
  /** localised AP (box centre on the object): Top-100 and All; All with IoU ≥ 0.5 instead of the centre */
  localisedTop100: number;
  localisedAll: number;
  localisedAllIoU50: number;
  /** side (√area, pixels) of the query's ground-truth box: COCO's size classes split at 32 and 96 */
  objectSide: number;
  /** why no descriptor could be made (the query then scores AP 0 and ranks nothing); absent for a normal query */
  failure?: string;
}

export interface Scores {
  queryCount: number;
  top50: number;
  top100: number;
  all: number;
  localisedTop100: number;
  localisedAll: number;
  localisedAllIoU50: number;
  /** localised All mAP of the queries whose object is small (< 32 px), medium (32–96) or large (> 96), and how many */
  localisedAllBySize: Record<ObjectSize, { queries: number; mAP: number }>;
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

/**
 * First-frame queries given `count` examples of the object: the first, middle and last visible frames (as the
 * 'three' set picks them), the first `count` of them, one query per sequence.
 */
export function multiExampleQueries(sequences: readonly Pick<TrackSequence, 'frames'>[], count: number): TrackQuery[] {
  if (!(Number.isInteger(count) && count >= 1 && count <= 3)) throw new RangeError(`examples must be 1, 2 or 3, got ${count}`);
  return sequences.flatMap((sequence, s) => {
    const [first, ...more] = queryFrames(sequence, 'three').slice(0, count);
    if (first === undefined) return [];
    return [{ sequence: s, frame: first, box: sequence.frames[first]!.box!, moreExamples: more.map((frame) => ({ frame, box: sequence.frames[frame]!.box! })) }];
  });
}

/** Scores every database frame except the query frame and ranks those with score > 0, best first. */
export function rankDatabase(query: TrackQuery, feature: Float32Array, database: readonly DatabaseFrame[], sequences: readonly Pick<TrackSequence, 'frames'>[]): RankedFrame[] {
  const scored: RankedFrame[] = [];
  for (const entry of database) {
    if (isQueryFrame(query, entry.sequence, entry.frame)) continue;
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
  return sequences[query.sequence]!.frames.filter((f, i) => f.box !== null && !isQueryFrame(query, query.sequence, i)).length;
}

export type ObjectSize = 'small' | 'medium' | 'large';
export const OBJECT_SIZES: readonly ObjectSize[] = ['small', 'medium', 'large'];

export function objectSize(side: number): ObjectSize {
  return side < 32 ? 'small' : side <= 96 ? 'medium' : 'large';
}

const sideOf = (box: Box): number => Math.sqrt(boxArea(box));

export function evaluateQuery(query: TrackQuery, feature: Float32Array, database: readonly DatabaseFrame[], sequences: readonly TrackSequence[]): QueryResult {
  const ranking = rankDatabase(query, feature, database, sequences);
  const localised = localisedRelevance(query, feature, database, sequences, 'centre');
  const localisedStrict = localisedRelevance(query, feature, database, sequences, 'iou50');
  const relevance = ranking.map((r) => r.relevant);
  const relevant = relevantCount(query, sequences);
  const sequence = sequences[query.sequence]!;
  const ious = ranking.slice(0, IOU_DEPTH).flatMap((r) => (r.relevant ? [iou(r.box, sequences[r.sequence]!.frames[r.frame]!.box!)] : []));
  return {
    sequence: sequence.name,
    file: sequence.frames[query.frame]!.file,
    frame: query.frame,
    relevant,
    database: database.filter((d) => !isQueryFrame(query, d.sequence, d.frame)).length,
    ranked: ranking.length,
    top50: averagePrecisionAtK(relevance, relevant, 50),
    top100: averagePrecisionAtK(relevance, relevant, 100),
    all: averagePrecisionAll(relevance, relevant),
    ious,
    localisedTop100: averagePrecisionAtK(localised, relevant, 100),
    localisedAll: averagePrecisionAll(localised, relevant),
    localisedAllIoU50: averagePrecisionAll(localisedStrict, relevant),
    objectSide: sideOf(query.box),
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
    database: database.filter((d) => !isQueryFrame(query, d.sequence, d.frame)).length,
    ranked: 0,
    top50: 0,
    top100: 0,
    all: 0,
    ious: [],
    localisedTop100: 0,
    localisedAll: 0,
    localisedAllIoU50: 0,
    objectSide: sideOf(query.box),
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
    localisedTop100: meanAveragePrecision(results.map((r) => r.localisedTop100)),
    localisedAll: meanAveragePrecision(results.map((r) => r.localisedAll)),
    localisedAllIoU50: meanAveragePrecision(results.map((r) => r.localisedAllIoU50)),
    localisedAllBySize: Object.fromEntries(
      OBJECT_SIZES.map((size) => {
        const group = results.filter((r) => objectSize(r.objectSide) === size);
        return [size, { queries: group.length, mAP: meanAveragePrecision(group.map((r) => r.localisedAll)) }];
      }),
    ) as Scores['localisedAllBySize'],
    meanIoU: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : Number.NaN,
    iouCount: ious.length,
  };
}
