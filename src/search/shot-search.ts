/**
 * Shot search: a whole image as the query ("find shots like this one"), matched on the keyframes' shot vectors
 * (the VLAD of their DASR* regions, detect/vlad.ts) and answered as shots: runs of consecutive keyframes of one
 * video that all matched, each with its span and its best keyframe.
 */
import type { Box } from '../detect/box.js';
import { DasrInputError } from '../detect/dasr.js';
import type { Detector } from '../detect/detector.js';
import { dot } from '../detect/vector.js';
import { encodeVlad, vladDim } from '../detect/vlad.js';
import type { DecodedImage } from '../image/load.js';
import type { IndexStore, ShotSearchHit } from '../index/index-store.js';
import { ShotSearchUnavailableError } from '../index/index-store.js';

export interface ShotSearchOptions {
  /** how many shots to return (default 20) */
  top?: number;
  videoIds?: readonly number[];
  /** only keyframes whose time lies in [from, to] seconds */
  from?: number;
  to?: number;
  /** minimum cosine similarity of a keyframe */
  minScore?: number;
  /** keyframes fetched from the shot graph before grouping (default 20 × top, at least 200) */
  candidates?: number;
}

/**
 * Two neighbouring keyframes belong to one shot when their shot vectors have at least this cosine. On tracks-dev
 * (default codebook learned on it), 1.9 % of neighbouring frames of one sequence score below it, and 1.0 % of
 * "cuts" (the last frame of a sequence against the first of another) above it; at 0.5 the split was 6.4 % / 0 %.
 */
export const SHOT_CONTINUITY = 0.3;

/** One shot: consecutive matching keyframes of a video, scored by the best of them. */
export interface ShotHit {
  videoId: number;
  path: string;
  score: number;
  /** times of the shot's first and last matching keyframes, seconds */
  start: number;
  end: number;
  /** the best-matching keyframe; its box is the whole frame */
  best: { t: number; box: Box; keyframeId: number };
  /** how many matching keyframes the shot has */
  keyframeCount: number;
}

/** The query image's shot vector: its DASR regions, VLAD-aggregated with the index's codebook. */
export async function describeShotQuery(detector: Detector, store: IndexStore, image: DecodedImage): Promise<Float32Array> {
  const codebook = store.shotCodebook;
  if (!codebook) throw new ShotSearchUnavailableError(`${store.dataDir} has no shot codebook: run dasr shots learn`);
  const { regions } = await detector.detect(image);
  if (regions[0] && regions[0].feature.length !== codebook.dim) {
    throw new RangeError(`the query regions are ${regions[0].feature.length}-d but the shot codebook takes ${codebook.dim}-d ones: search with the --whitening the videos were indexed with`);
  }
  const vlad = encodeVlad(codebook, regions.map((r) => r.feature));
  if (!vlad) throw new DasrInputError('no-object', 'the query image has no salient region to describe the scene by');
  return vlad;
}

/** Shots whose keyframes are most like the query, best first (ties by video and time, so a query always gives one list). */
export async function searchShots(store: IndexStore, vlad: Float32Array, options: ShotSearchOptions = {}): Promise<ShotHit[]> {
  const top = options.top ?? 20;
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`top must be a positive integer, got ${top}`);
  const candidates = options.candidates ?? Math.max(200, 20 * top);
  const hits = await store.searchShots(vlad, candidates, { videoIds: options.videoIds, from: options.from, to: options.to, minScore: options.minScore });
  const dim = store.shotCodebook ? vladDim(store.shotCodebook) : vlad.length;
  const { ids, vectors } = store.db.packedShotVectors(hits.map((h) => h.id), dim);
  const vectorOf = new Map(ids.map((id, i) => [id, vectors.subarray(i * dim, (i + 1) * dim)]));
  const shots = groupIntoShots(
    hits,
    (videoId, after, before) => store.db.keyframesBetween(videoId, after, before) === 0,
    (a, b) => {
      const va = vectorOf.get(a.id);
      const vb = vectorOf.get(b.id);
      return va !== undefined && vb !== undefined && dot(va, vb) >= SHOT_CONTINUITY;
    },
  );
  const paths = new Map<number, string>();
  const results = shots.map((run): ShotHit => {
    const best = run.reduce((a, b) => (b.similarity > a.similarity ? b : a));
    const videoId = best.videoId;
    if (!paths.has(videoId)) paths.set(videoId, store.db.getVideo(videoId)?.path ?? '');
    return {
      videoId,
      path: paths.get(videoId)!,
      score: best.similarity,
      start: run[0]!.t,
      end: run.at(-1)!.t,
      best: { t: best.t, box: [0, 0, best.width, best.height], keyframeId: best.id },
      keyframeCount: run.length,
    };
  });
  results.sort((a, b) => b.score - a.score || a.videoId - b.videoId || a.start - b.start);
  return results.slice(0, top);
}

/**
 * Matching keyframes split into runs, each in time order: two hits of one video are in one run when they are
 * `adjacent` (no keyframe of the video lies between them, i.e. none that failed to match) and `alike` (their own
 * shot vectors are similar: a cut between two matching keyframes still ends a shot).
 */
export function groupIntoShots(
  hits: readonly ShotSearchHit[],
  adjacent: (videoId: number, after: number, before: number) => boolean,
  alike: (a: ShotSearchHit, b: ShotSearchHit) => boolean,
): ShotSearchHit[][] {
  const byVideo = new Map<number, ShotSearchHit[]>();
  for (const hit of hits) {
    const list = byVideo.get(hit.videoId);
    if (list) list.push(hit);
    else byVideo.set(hit.videoId, [hit]);
  }
  const runs: ShotSearchHit[][] = [];
  for (const [videoId, list] of byVideo) {
    list.sort((a, b) => a.t - b.t);
    let run: ShotSearchHit[] = [list[0]!];
    for (const hit of list.slice(1)) {
      const last = run.at(-1)!;
      if (adjacent(videoId, last.t, hit.t) && alike(last, hit)) {
        run.push(hit);
      } else {
        runs.push(run);
        run = [hit];
      }
    }
    runs.push(run);
  }
  return runs;
}
