/**
 * `dasr eval tracks`: instance search on a tracks-dev style dataset (../shared/data/README.md), in two modes.
 * - image: every JPEG frame goes through the method (DASR, DASR*, the whole-frame baseline) once; results are
 *   kept in memory and, with a cache directory, on disk.
 * - video: `videos/<name>.mp4` is indexed through the real pipeline (ingestFile, every frame a keyframe) into an
 *   IndexStore; the database is the indexed regions (boxes and features read back from the store), and a keyframe
 *   at time t is frame round(t × fps) of its sequence.
 * In both modes the query is described from the JPEG query frame, by default as method.describe(image, box); the
 * query view (tracks-protocol.ts QueryView) can instead describe the box cut out as its own image (crop), or a box
 * of the object's size away from the object (background, a control for scene recognition). The protocol is
 * tracks-protocol.ts. A method's post-step (whitening) is applied after the cache to both sides (methodRegions,
 * methodVector), except to regions read back from a video index, which the pipeline stores final.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clipBox, boxArea, type Box } from '../detect/box.js';
import { DasrInputError } from '../detect/dasr.js';
import { ImageInputError } from '../image/errors.js';
import { cropImage, decodeImage } from '../image/load.js';
import { IndexStore } from '../index/index-store.js';
import { ingestFile } from '../ingest/ingest-file.js';
import { createLogger, type Logger } from '../log.js';
import { FeatureCache } from './feature-cache.js';
import { expandQuery } from '../search/query-expansion.js';
import { combineExamples } from '../search/examples.js';
import { applyFeedback } from '../search/feedback.js';
import { dot } from '../detect/vector.js';
import { applyWhitening, fitWhitening } from '../detect/whitening.js';
import { methodRegions, methodVector, type EvalMethod, type EvalRegion } from './methods.js';
import { countProgress } from './progress.js';
import { readTrackSequences, type TrackSequence } from './tracks-dataset.js';
import { trackEvidenceFrames } from './track-evidence.js';
import {
  backgroundBox,
  evaluateQuery,
  failedQuery,
  objectOverlap,
  summarise,
  trackQueries,
  multiExampleQueries,
  isQueryFrame,
  onObject,
  OBJECT_SIZES,
  type DatabaseFrame,
  type QueryResult,
  type QuerySet,
  type QueryView,
  type Scores,
  type TrackQuery,
} from './tracks-protocol.js';

export type EvalMode = 'image' | 'video';

export interface TracksEvalOptions {
  modes?: readonly EvalMode[];
  querySets?: readonly QuerySet[];
  /** how the query box becomes the query descriptor (QueryView); 'box' when omitted */
  queryView?: QueryView;
  /** per-image results; a FeatureCache without directory (memory only) when omitted */
  cache?: FeatureCache;
  /** where video-mode indexes are kept, one per method (reused by reruns); a temporary directory, removed, when null */
  videoIndexDir?: string | null;
  /** progress lines (stderr in the CLI) */
  progress?: (line: string) => void;
  /** logger for the ingestion pipeline */
  logger?: Logger;
  /** αQE before ranking: the query moved towards its `top` best frames' best regions (query-expansion.ts) */
  queryExpansion?: { top: number; alpha: number };
  /** examples of the object per query (1–3: the first, middle and last visible frames), first-frame set only */
  examples?: number;
  /**
   * One round of relevance feedback before ranking: the best region of each of the `top` best frames marked right
   * when it is on the object (its centre inside the truth), wrong otherwise, as a user would mark the top hits.
   */
  feedback?: number;
  /**
   * PCA-whitening learned from the collection itself, leave-sequences-out, for the region methods (not the
   * whole-frame baseline): the sequences fall in `folds` groups (sequence s in group s mod folds), and a query is
   * searched with the whitening learned from the database regions of the other groups' sequences, applied to the
   * database and the query alike — as a whitening fitted on a user's own index would be, without the query's
   * sequence ever training it. `dims` keeps that many principal directions (all when omitted).
   */
  whitenFolds?: { folds: number; dims?: number };
  /**
   * Track-level evidence as search weighs it (track-evidence.ts): each region scored (1 − w) × its own similarity +
   * w × its track's mean descriptor's, the query's own frames left out of the means (0 or omitted: off)
   */
  trackWeight?: number;
}

export interface TracksRow extends Scores {
  mode: EvalMode;
  queries: QuerySet;
  view: QueryView;
  method: string;
  /** queries that could not be described (counted with AP 0) */
  failedQueries: number;
}

/** One query's result with where it was made: `queryBox` is the box described (the background box in that view). */
export type TracksQueryResult = QueryResult & { mode: EvalMode; queries: QuerySet; view: QueryView; method: string; queryBox: Box; objectOverlap?: number };

export interface TracksReport {
  dataset: string;
  sequences: number;
  frames: number;
  visibleFrames: number;
  queryView: QueryView;
  methods: { name: string; settings: Record<string, unknown> }[];
  rows: TracksRow[];
  notes: string[];
  perQuery: TracksQueryResult[];
}

export async function evaluateTracks(root: string, methods: readonly EvalMethod[], options: TracksEvalOptions = {}): Promise<TracksReport> {
  const sequences = readTrackSequences(root);
  const modes = options.modes ?? ['image'];
  const querySets = options.querySets ?? ['first', 'three'];
  const view = options.queryView ?? 'box';
  const cache = options.cache ?? new FeatureCache(null);
  const progress = options.progress ?? (() => undefined);
  const folds = options.whitenFolds?.folds;
  if (folds !== undefined && !(Number.isInteger(folds) && folds >= 2 && folds <= sequences.length)) {
    throw new RangeError(`whitening folds must be an integer from 2 to the ${sequences.length} sequences, got ${folds}`);
  }
  const report: TracksReport = {
    dataset: root,
    sequences: sequences.length,
    frames: sequences.reduce((n, s) => n + s.frames.length, 0),
    visibleFrames: sequences.reduce((n, s) => n + s.frames.filter((f) => f.box).length, 0),
    queryView: view,
    methods: methods.map((m) => ({
      name: m.name,
      settings: { ...m.settings, queryExpansion: options.queryExpansion ?? null, examples: options.examples ?? 1, feedback: options.feedback ?? 0, trackWeight: options.trackWeight ?? 0, ...(options.whitenFolds && m.id !== 'baseline' ? { whitenFolds: options.whitenFolds } : {}) },
    })),
    rows: [],
    notes: [],
    perQuery: [],
  };

  for (const mode of modes) {
    for (const method of methods) {
      let database: DatabaseFrame[];
      if (mode === 'image') {
        database = await imageDatabase(sequences, method, cache, progress);
      } else {
        if (!method.dasr) {
          report.notes.push(`${method.name} has no video mode: it is not a region index, so nothing goes through the ingestion pipeline`);
          continue;
        }
        const video = await videoDatabase(root, sequences, method, options.videoIndexDir ?? null, progress, options.logger ?? createLogger('warn'));
        database = video.database;
        report.notes.push(...video.notes);
      }
      const searched: (sequence: number) => SearchedDatabase = options.whitenFolds && method.id !== 'baseline'
        ? foldWhitenings(method, database, sequences.length, options.whitenFolds, report.notes)
        : () => ({ database, whiten: (v) => v });
      for (const set of querySets) {
        const results: QueryResult[] = [];
        const examples = options.examples ?? 1;
        for (const query of examples > 1 && set === 'first' ? multiExampleQueries(sequences, examples) : trackQueries(sequences, set)) {
          const sequence = sequences[query.sequence]!;
          const path = join(sequence.directory, sequence.frames[query.frame]!.file);
          const described = view === 'background' ? backgroundBox(query.box, sequence.width, sequence.height) : query.box;
          const { database: searchedFrames, whiten } = searched(query.sequence);
          const database = options.trackWeight ? withTrackEvidence(searchedFrames, sequences, query, options.trackWeight) : searchedFrames;
          let result: QueryResult;
          try {
            let feature = whiten(await queryVector(method, cache, path, query, view, described));
            if (query.moreExamples?.length) {
              const more = await Promise.all(
                query.moreExamples.map((example) => {
                  const examplePath = join(sequence.directory, sequence.frames[example.frame]!.file);
                  const exampleQuery = { ...query, frame: example.frame, box: example.box };
                  return queryVector(method, cache, examplePath, exampleQuery, view, view === 'background' ? backgroundBox(example.box, sequence.width, sequence.height) : example.box).then(whiten);
                }),
              );
              feature = combineExamples([feature, ...more]);
            }
            // As in search: the expansion and the feedback take the regions by their own similarity; only the ranking
            // weighs their tracks.
            if (options.queryExpansion) feature = expandQuery(feature, bestFrames(feature, searchedFrames, query, options.queryExpansion.top).map((b) => b.feature), options.queryExpansion.top, options.queryExpansion.alpha);
            if (options.feedback) {
              const marked = bestFrames(feature, searchedFrames, query, options.feedback).map((b) => ({ feature: b.feature, right: isOnObject(b, query, sequences) }));
              feature = applyFeedback(feature, marked.filter((m) => m.right).map((m) => m.feature), marked.filter((m) => !m.right).map((m) => m.feature));
            }
            result = evaluateQuery(query, feature, database, sequences);
          } catch (error) {
            // Only the alternative views may meet queries the method cannot describe (a flat crop or background
            // box); under the paper's protocol every query must work.
            const undescribable = (error instanceof ImageInputError && error.code === 'too-small') || error instanceof DasrInputError;
            if (view === 'box' || !undescribable) throw error;
            const reason = `${error.code}: ${error.message}`;
            result = failedQuery(query, database, sequences, reason);
            report.notes.push(`${mode} ${method.name} ${set}: ${view} query ${sequence.name}/${result.file} failed, counted as AP 0 (${reason})`);
          }
          results.push(result);
          const overlap = view === 'background' ? { objectOverlap: objectOverlap(described, clipBox(query.box, sequence.width, sequence.height)) } : {};
          report.perQuery.push({ ...result, mode, queries: set, view, method: method.name, queryBox: described, ...overlap });
        }
        report.rows.push({ mode, queries: set, view, method: method.name, ...summarise(results), failedQueries: results.filter((r) => r.failure !== undefined).length });
      }
    }
  }
  return report;
}

/**
 * The query's descriptor under `view` (post-step applied). `described` is the box the view describes: the
 * ground-truth box, or for 'background' the background box (computed from the sequence's size, checked against the
 * decoded frame). Non-box views are part of the vector cache key, so box queries keep their cached vectors.
 */
async function queryVector(method: EvalMethod, cache: FeatureCache, path: string, query: TrackQuery, view: QueryView, described: Box): Promise<Float32Array> {
  return methodVector(method, cache, path, described, async () => {
    const image = await decodeImage(path);
    const box = queryBox(described, image.width, image.height, path);
    if (view === 'box') return method.describe(image, box);
    if (view === 'background') {
      const expected = backgroundBox(query.box, image.width, image.height);
      if (expected.some((v, i) => v !== described[i])) throw new Error(`${path}: the frame's size ${image.width}×${image.height} differs from gt.json's`);
      return method.describe(image, box);
    }
    // The crop is searched among frames of its own sequence's size: it is described at that scale.
    return method.describeCrop(cropImage(image, box), { width: image.width, height: image.height });
  }, view === 'box' ? undefined : view === 'crop' ? 'crop-at-frame-scale' : view);
}

/** The database a query is ranked against, and what its descriptor goes through first. */
interface SearchedDatabase {
  database: DatabaseFrame[];
  whiten: (v: Float32Array) => Float32Array;
}

/**
 * For each query sequence, the database and the query post-step under the whitening learned from the other folds'
 * database regions (options.whitenFolds). Each fold's whitening and whitened database are made once, when a query of
 * the fold first needs them.
 */
function foldWhitenings(
  method: EvalMethod,
  database: readonly DatabaseFrame[],
  sequenceCount: number,
  { folds, dims }: { folds: number; dims?: number },
  notes: string[],
): (sequence: number) => SearchedDatabase {
  if (method.postprocess) throw new Error(`${method.name} already whitens its descriptors; learning another whitening per fold would apply two`);
  const made = new Map<number, SearchedDatabase>();
  return (sequence) => {
    const fold = sequence % folds;
    let entry = made.get(fold);
    if (!entry) {
      const training = database.filter((f) => f.sequence % folds !== fold).flatMap((f) => f.regions.map((r) => r.feature));
      const whitening = fitWhitening(training, { dims });
      const whiten = (v: Float32Array): Float32Array => applyWhitening(whitening, v);
      entry = { database: database.map((f) => ({ ...f, regions: f.regions.map((r) => ({ ...r, feature: whiten(r.feature) })) })), whiten };
      made.set(fold, entry);
      notes.push(`${method.name}: whitening for the queries of sequences ${Array.from({ length: sequenceCount }, (_, s) => s).filter((s) => s % folds === fold).join(', ')} learned on ${training.length} regions of the other ${folds - 1} fold(s), ${whitening.dim} → ${whitening.outputDim} dimensions`);
    }
    return entry;
  };
}

const trackEvidenceMemo = new WeakMap<readonly DatabaseFrame[], Map<string, DatabaseFrame[]>>();

/**
 * The database with track-level evidence: every sequence's frames tracked as its keyframes would be, the query's
 * own frames left out of its sequence's tracks (memoised per database for the sequences the query is not from).
 */
function withTrackEvidence(database: readonly DatabaseFrame[], sequences: readonly TrackSequence[], query: TrackQuery, weight: number): DatabaseFrame[] {
  let memo = trackEvidenceMemo.get(database);
  if (!memo) trackEvidenceMemo.set(database, (memo = new Map()));
  const out: DatabaseFrame[] = [];
  sequences.forEach((sequence, s) => {
    const frames = database.filter((f) => f.sequence === s);
    const times = frames.map((f) => f.frame / sequence.fps);
    if (s === query.sequence) {
      out.push(...trackEvidenceFrames(frames, times, weight, (f) => isQueryFrame(query, f.sequence, f.frame)));
      return;
    }
    const key = `${s}:${weight}`;
    let tracked = memo.get(key);
    if (!tracked) memo.set(key, (tracked = trackEvidenceFrames(frames, times, weight, () => false)));
    out.push(...tracked);
  });
  return out;
}

/** The ground-truth box clipped to the image (1-based boxes may overhang by a pixel). */
interface BestRegion {
  sequence: number;
  frame: number;
  score: number;
  feature: Float32Array;
  box: Box;
}

/** The best region of each of the `top` frames that match `feature` best, the query's own frames left out. */
function bestFrames(feature: Float32Array, database: readonly DatabaseFrame[], query: TrackQuery, top: number): BestRegion[] {
  const scored: BestRegion[] = [];
  for (const frame of database) {
    if (isQueryFrame(query, frame.sequence, frame.frame)) continue;
    let best: BestRegion | undefined;
    for (const region of frame.regions) {
      const score = dot(feature, region.feature);
      if (!best || score > best.score) best = { sequence: frame.sequence, frame: frame.frame, score, feature: region.feature, box: region.box };
    }
    if (best) scored.push(best);
  }
  return scored.sort((a, b) => b.score - a.score).slice(0, top);
}

/** Whether a hit's box is on the query's object, as the localised metric counts it. */
function isOnObject(hit: BestRegion, query: TrackQuery, sequences: readonly TrackSequence[]): boolean {
  const truth = hit.sequence === query.sequence ? sequences[hit.sequence]!.frames[hit.frame]?.box : null;
  return truth != null && onObject(hit.box, truth, 'centre');
}

function queryBox(box: Box, width: number, height: number, path: string): Box {
  const clipped = clipBox(box, width, height);
  if (boxArea(clipped) <= 0) throw new Error(`${path}: the query box [${box.join(', ')}] does not overlap the ${width}×${height} image`);
  return clipped;
}

async function imageDatabase(sequences: readonly TrackSequence[], method: EvalMethod, cache: FeatureCache, write: (line: string) => void): Promise<DatabaseFrame[]> {
  const total = sequences.reduce((n, s) => n + s.frames.length, 0);
  const progress = countProgress(`[image ${method.name}]`, total, write);
  const database: DatabaseFrame[] = [];
  for (const [s, sequence] of sequences.entries()) {
    for (const [f, frame] of sequence.frames.entries()) {
      const path = join(sequence.directory, frame.file);
      const regions = await methodRegions(method, cache, path);
      database.push({ sequence: s, frame: f, regions });
      progress.update(database.length);
    }
  }
  progress.done();
  return database;
}

/** Indexes every sequence's video (every frame a keyframe) and reads the regions back as database frames. */
async function videoDatabase(
  root: string,
  sequences: readonly TrackSequence[],
  method: EvalMethod,
  indexRoot: string | null,
  write: (line: string) => void,
  logger: Logger,
): Promise<{ database: DatabaseFrame[]; notes: string[] }> {
  const dasr = method.dasr!;
  // Keyed by the final descriptors: the pipeline's detector applies the post-step itself.
  const dir = indexRoot ? join(indexRoot, method.key) : mkdtempSync(join(tmpdir(), 'dasr-eval-video-'));
  mkdirSync(dir, { recursive: true });
  const store = await IndexStore.open(dir, { logger, dim: dasr.featureDim });
  const total = sequences.reduce((n, s) => n + s.frames.length, 0);
  const progress = countProgress(`[video ${method.name}]`, total, write);
  const database: DatabaseFrame[] = [];
  const notes: string[] = [];
  let before = 0;
  try {
    for (const [s, sequence] of sequences.entries()) {
      const path = videoPath(root, sequence);
      const result = await ingestFile(path, dasr, store, {
        interval: 0,
        sceneThreshold: 0,
        logger,
        onProgress: (p) => progress.update(before + Math.min(p.keyframes, sequence.frames.length)),
      });
      before += sequence.frames.length;
      progress.update(before);

      const frames = new Map<number, EvalRegion[]>();
      let outside = 0;
      let merged = 0;
      const keyframeFrame = new Map<number, number>();
      for (const keyframe of store.db.keyframesOfVideo(result.videoId)) {
        const frame = Math.round(keyframe.t * sequence.fps);
        if (frame < 0 || frame >= sequence.frames.length) {
          outside++;
          continue;
        }
        if (frames.has(frame)) merged++;
        else frames.set(frame, []);
        keyframeFrame.set(keyframe.id, frame);
      }
      const ids = store.db.regionIdsOfVideo(result.videoId);
      const features = store.db.features(ids);
      for (const region of store.db.regionsByIds(ids)) {
        const frame = keyframeFrame.get(region.keyframeId);
        if (frame !== undefined) frames.get(frame)!.push({ box: region.box, feature: features.get(region.id)!, trackId: region.trackId });
      }
      for (const [frame, regions] of [...frames.entries()].sort((a, b) => a[0] - b[0])) database.push({ sequence: s, frame, regions });
      const missing = sequence.frames.length - frames.size;
      if (outside || merged || missing) {
        notes.push(`${method.name} video ${sequence.name}: ${frames.size}/${sequence.frames.length} frames indexed` + (outside ? `, ${outside} keyframes past the last frame` : '') + (merged ? `, ${merged} keyframes on an already-matched frame (regions merged)` : ''));
      }
    }
    progress.done();
  } finally {
    await store.close();
    if (!indexRoot) rmSync(dir, { recursive: true, force: true });
  }
  return { database, notes };
}

function videoPath(root: string, sequence: TrackSequence): string {
  const candidates = [join(root, 'videos', `${sequence.name}.mp4`), join(root, 'videos', `${sequence.directory.split(/[\\/]/).pop()}.mp4`)];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error(`video mode needs ${candidates[0]}, which does not exist`);
  return found;
}

const fmt = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '-');

const QUERY_TITLES: Record<QuerySet, string> = { first: 'first-frame queries', three: 'mean over 3 query frames per sequence (first, middle, last visible)' };

const VIEW_TITLES: Record<QueryView, string> = {
  box: 'box (pooled on the whole frame)',
  crop: 'crop (the box cut out, described alone)',
  background: 'background (a box of the object\'s size away from the object)',
};

/** The report as text: one table (method × Top-50, Top-100, All, mean IoU) per mode and query set. */
export function formatTracksReport(report: TracksReport): string {
  const lines: string[] = [];
  lines.push(`${report.dataset}: ${report.sequences} sequences, ${report.frames} frames (${report.visibleFrames} with the object)`);
  for (const m of report.methods) lines.push(`  ${m.name}: ${JSON.stringify(m.settings)}`);
  const groups = new Map<string, TracksRow[]>();
  for (const row of report.rows) {
    const key = `${row.mode}/${row.queries}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  for (const rows of groups.values()) {
    const { mode, queries, queryCount, view } = rows[0]!;
    const failed = Math.max(...rows.map((r) => r.failedQueries));
    const viewTitle = view === 'box' ? '' : ` — query view: ${VIEW_TITLES[view]}${failed ? ` (${failed} failed, AP 0)` : ''}`;
    const sizes = OBJECT_SIZES.map((size) => `${rows[0]!.localisedAllBySize[size].queries} ${size}`).join(', ');
    lines.push('', `${mode} mode — ${QUERY_TITLES[queries]}, ${queryCount} queries (objects: ${sizes})${viewTitle}`);
    lines.push(formatTable(
      ['method', 'Top-50', 'Top-100', 'All', 'loc. Top-100', 'loc. All', 'loc. All IoU≥.5', 'loc. All S/M/L', 'mean IoU', 'IoU pairs'],
      rows.map((r) => [
        r.method,
        fmt(r.top50),
        fmt(r.top100),
        fmt(r.all),
        fmt(r.localisedTop100),
        fmt(r.localisedAll),
        fmt(r.localisedAllIoU50),
        OBJECT_SIZES.map((size) => fmt(r.localisedAllBySize[size].mAP)).join(' / '),
        fmt(r.meanIoU),
        String(r.iouCount),
      ]),
    ));
  }
  if (report.notes.length) lines.push('', 'notes:', ...report.notes.map((n) => `  ${n}`));
  return lines.join('\n');
}

/** Left-aligned first column, right-aligned others. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export interface TracksCommandOptions {
  mode: EvalMode | 'both';
  queries: QuerySet | 'both';
  queryView?: QueryView;
  cache?: string;
  json?: boolean;
  /** αQE over this many best frames (0: none) */
  expand?: number;
  expandAlpha?: number;
  examples?: number;
  feedback?: number;
  /** leave-sequences-out whitening over this many folds (0 or omitted: none) */
  whitenFolds?: number;
  whitenDims?: number;
  trackWeight?: number;
}

/** `dasr eval tracks <dir>`: runs the evaluation and prints the tables (or the JSON report) on stdout. */
export async function tracksEvalCommand(methods: readonly EvalMethod[], dir: string, options: TracksCommandOptions): Promise<TracksReport> {
  const report = await evaluateTracks(dir, methods, {
    modes: options.mode === 'both' ? ['image', 'video'] : [options.mode],
    querySets: options.queries === 'both' ? ['first', 'three'] : [options.queries],
    queryView: options.queryView ?? 'box',
    cache: new FeatureCache(options.cache ?? null),
    videoIndexDir: options.cache ? join(options.cache, 'video-index') : null,
    progress: (line) => process.stderr.write(`${line}\n`),
    queryExpansion: options.expand ? { top: options.expand, alpha: options.expandAlpha ?? 3 } : undefined,
    examples: options.examples,
    feedback: options.feedback,
    whitenFolds: options.whitenFolds ? { folds: options.whitenFolds, dims: options.whitenDims } : undefined,
    trackWeight: options.trackWeight,
  });
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${formatTracksReport(report)}\n`);
  return report;
}
