import type { Box } from '../detect/box.js';
import { dot } from '../detect/vector.js';
import type { SearchFilters, SearchHit } from '../index/index-store.js';
import type { RegionStore } from '../index/region-store.js';
import { expandQuery } from './query-expansion.js';
import { applyFeedback } from './feedback.js';
import { combineExamples } from './examples.js';
import { TRACK_SAMPLE } from './track-sample.js';

export interface SearchOptions {
  /** how many tracks (appearances) to return */
  top?: number;
  /** only these videos */
  videoIds?: readonly number[];
  /** only regions whose keyframe time lies in [from, to] seconds */
  from?: number;
  to?: number;
  /** minimum cosine similarity of a region (to the query as searched) for it to be a hit's */
  minScore?: number;
  /** list every indexed keyframe of each hit track with its own similarity */
  keyframes?: boolean;
  /**
   * region candidates fetched from the vector index before grouping (default 20 × top, at least 200); widened ×4 while
   * they fall in fewer than `top` appearances and the index holds more (up to MAX_CANDIDATES)
   */
  candidates?: number;
  /**
   * αQE: the query is moved towards the best regions of its `top` best keyframes before the search that ranks
   * (query-expansion.ts); scores are then similarities to the expanded query. Default DEFAULT_EXPANSION; top 0: off.
   */
  expand?: { top: number; alpha: number };
  /**
   * Relevance feedback on earlier hits (region ids, as `best.regionId`): after the expansion the query moves towards
   * the right ones and away from the wrong ones (feedback.ts). One round on tracks-dev's top 10 (crop queries):
   * localised mAP 0.685 → 0.750.
   */
  feedback?: { right: readonly number[]; wrong: readonly number[] };
  /**
   * Track-level evidence: an appearance scores (1 − w) × its best region's similarity + w × its track's, the
   * similarity of the mean of the track's region descriptors (16 of them spread over the whole track, whatever from,
   * to and minScore keep: the track is the object's whole appearance). Default DEFAULT_TRACK_WEIGHT; 0: the best
   * region alone.
   */
  trackWeight?: number;
}

/**
 * A track's regions describe one object seen many times, so their mean is a steadier description of the appearance
 * than its best keyframe: a look-alike that matches in one keyframe ranks below the object that matches throughout.
 * On tracks-dev (first-frame / three-query sets) ½ raised localised All mAP 0.783 / 0.784 → 0.818 / 0.811 with box
 * queries and 0.721 / 0.719 → 0.743 / 0.737 with crops; 0.3 and 0.7 a little less.
 */
export const DEFAULT_TRACK_WEIGHT = 0.5;

/** The appearances whose tracks are read for track-level evidence: the best by region (or `top`, when more). */
const TRACK_RERANK = 60;

/**
 * On tracks-dev (DASR*, first-frame queries) αQE over 5 keyframes raised All mAP 0.863 → 0.890 and localised
 * 0.763 → 0.789 with box queries, 0.760 → 0.839 and 0.625 → 0.685 with crops; 10 keyframes gave about the same,
 * and 5 stays inside short appearances.
 */
export const DEFAULT_EXPANSION = Object.freeze({ top: 5, alpha: 3 });

/** The expansion over `top` keyframes (0: none), α as by default; the default when not given. */
export function expansion(top: number | undefined): { top: number; alpha: number } {
  return top === undefined ? DEFAULT_EXPANSION : { top, alpha: DEFAULT_EXPANSION.alpha };
}

export interface KeyframeHit {
  t: number;
  box: Box;
  score: number;
}

/** One appearance of the query: a track in a video, scored by its best-matching region and its whole track. */
export interface TrackHit {
  videoId: number;
  path: string;
  /** track id, or null for a region the tracker did not link (then the hit is that region alone) */
  track: number | null;
  /** the appearance's score: the best region's similarity blended with its track's (SearchOptions.trackWeight) */
  score: number;
  /** cosine similarity of the best-matching region */
  similarity: number;
  /** time span of the track, seconds */
  start: number;
  end: number;
  /** the best-matching region */
  best: { t: number; box: Box; regionId: number };
  keyframes?: KeyframeHit[];
}

/**
 * Searches the index with a query descriptor and groups region hits by video and track: each appearance
 * is reported once, with its score (its best region's similarity blended with its track's: trackWeight), its span
 * and its best frame. Ordered by score, ties by video, time, track and region so the same query always gives the
 * same list.
 */
export async function searchByExample(store: RegionStore, example: Float32Array, options: SearchOptions = {}): Promise<TrackHit[]> {
  const top = options.top ?? 20;
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`top must be a positive integer, got ${top}`);
  const trackWeight = options.trackWeight ?? DEFAULT_TRACK_WEIGHT;
  if (!(trackWeight >= 0 && trackWeight <= 1)) throw new RangeError(`track weight must be in [0, 1], got ${trackWeight}`);
  const candidates = options.candidates ?? Math.max(200, 20 * top);
  if (!Number.isInteger(candidates) || candidates < 1) throw new RangeError(`candidates must be a positive integer, got ${candidates}`);
  const filters = { videoIds: options.videoIds, from: options.from, to: options.to };
  const { top: expandTop, alpha } = options.expand ?? DEFAULT_EXPANSION;
  const expanded = expandTop > 0 ? expandQuery(example, await bestKeyframeFeatures(store, await store.search(example, candidates, filters), expandTop), expandTop, alpha) : example;
  const query = options.feedback ? applyFeedback(expanded, await featuresOf(store, options.feedback.right), await featuresOf(store, options.feedback.wrong)) : expanded;
  const hits = await nearestAppearances(store, query, top, candidates, { ...filters, minScore: options.minScore });

  const groups = new Map<string, SearchHit[]>();
  for (const hit of hits) {
    const key = appearanceKey(hit);
    const group = groups.get(key);
    if (group) group.push(hit);
    else groups.set(key, [hit]);
  }
  const paths = new Map<number, string>();
  for (const videoId of new Set(hits.map((h) => h.videoId))) paths.set(videoId, (await store.getVideo(videoId))?.path ?? '');

  const appearances = [...groups.values()].map((group) => group.reduce((a, b) => (b.similarity > a.similarity || (b.similarity === a.similarity && b.t < a.t) ? b : a)));
  const scores = await appearanceScores(store, query, appearances, top, trackWeight);
  const results = await Promise.all(
    [...scores].map(async ([best, score]): Promise<TrackHit> => {
      const track = best.trackId === null ? undefined : await store.getTrack(best.trackId);
      const hit: TrackHit = {
        videoId: best.videoId,
        path: paths.get(best.videoId)!,
        track: best.trackId,
        score,
        similarity: best.similarity,
        start: track?.firstT ?? best.t,
        end: track?.lastT ?? best.t,
        best: { t: best.t, box: best.box, regionId: best.id },
      };
      if (options.keyframes) hit.keyframes = await keyframeHits(store, query, best);
      return hit;
    }),
  );
  results.sort((a, b) => b.score - a.score || a.videoId - b.videoId || a.best.t - b.best.t || (a.track ?? 0) - (b.track ?? 0) || a.best.regionId - b.best.regionId);
  return results.slice(0, top);
}

/**
 * The most region candidates a search widens to (200 × 4²): a long appearance can fill the first pools alone. An index
 * holding fewer appearances than asked for pays the widest search; this keeps it a few milliseconds of graph search.
 */
export const MAX_CANDIDATES = 3_200;

/** A hit's appearance: its track, or the region alone when the tracker linked it to none. */
function appearanceKey(hit: SearchHit): string {
  return hit.trackId === null ? `region:${hit.id}` : `track:${hit.trackId}`;
}

/**
 * The nearest regions, `candidates` of them or more: an index of every frame holds hundreds of regions of one
 * appearance, which can take the whole pool and leave fewer than `top` appearances to return. The pool grows
 * fourfold while that is so and the index has more regions to give, up to MAX_CANDIDATES.
 */
async function nearestAppearances(store: RegionStore, query: Float32Array, top: number, candidates: number, filters: SearchFilters): Promise<SearchHit[]> {
  for (let k = candidates; ; k = Math.min(MAX_CANDIDATES, 4 * k)) {
    const hits = await store.search(query, k, filters);
    if (hits.length < k || k >= MAX_CANDIDATES || new Set(hits.map(appearanceKey)).size >= top) return hits;
  }
}

/**
 * Each appearance's score, given its best region: with track-level evidence, the TRACK_RERANK best by region (or
 * `top`, when more) blended with their tracks' mean descriptors, the rest left out; without, the best region's
 * similarity. The window does not depend on `top` below TRACK_RERANK, so from the same candidates a shorter list is a
 * prefix of a longer one (a longer list may widen the candidates, nearestAppearances, and find appearances that rank
 * higher on their tracks).
 */
async function appearanceScores(store: RegionStore, query: Float32Array, appearances: SearchHit[], top: number, weight: number): Promise<Map<SearchHit, number>> {
  if (weight === 0) return new Map(appearances.map((best) => [best, best.similarity]));
  const reranked = [...appearances].sort((a, b) => b.similarity - a.similarity || a.id - b.id).slice(0, Math.max(TRACK_RERANK, top));
  // One appearance per track (the groups above), so the ids are distinct.
  const samples = await store.trackSamples(reranked.flatMap((best) => (best.trackId === null ? [] : [best.trackId])), TRACK_SAMPLE);
  return new Map(
    reranked.map((best) => {
      // A region the tracker did not link is its whole appearance, and a track whose regions are gone (its video
      // deleted since the search) has only the region in hand: their track's similarity is the region's own.
      const sampled = best.trackId === null ? undefined : samples.get(best.trackId);
      const trackSimilarity = sampled ? dot(query, combineExamples(sampled)) : best.similarity;
      return [best, (1 - weight) * best.similarity + weight * trackSimilarity];
    }),
  );
}

/** The features of these regions; RangeError naming an id the index does not hold. */
async function featuresOf(store: RegionStore, regionIds: readonly number[]): Promise<Float32Array[]> {
  const features = await store.features(regionIds);
  return regionIds.map((id) => {
    const feature = features.get(id);
    if (!feature) throw new RangeError(`no region ${id} in the index (feedback names regions of earlier hits: best.region)`);
    return feature;
  });
}

/** The features of the best region of each of the `top` best keyframes among `hits` (most similar first). */
async function bestKeyframeFeatures(store: RegionStore, hits: readonly SearchHit[], top: number): Promise<Float32Array[]> {
  const best: SearchHit[] = [];
  const seen = new Set<number>();
  for (const hit of hits) {
    if (seen.has(hit.keyframeId)) continue;
    seen.add(hit.keyframeId);
    best.push(hit);
    if (best.length === top) break;
  }
  const features = await store.features(best.map((h) => h.id));
  return best.flatMap((h) => features.get(h.id) ?? []);
}

/** Every indexed keyframe of the hit's track, each with its own similarity to the query. */
async function keyframeHits(store: RegionStore, query: Float32Array, best: SearchHit): Promise<KeyframeHit[]> {
  const regions = best.trackId === null ? await store.regionsByIds([best.id]) : await store.regionsOfTrack(best.trackId);
  const features = await store.features(regions.map((r) => r.id));
  // A keyframe can hold a peak's region and its wider extents, one track: it is listed once, at its best level.
  const atBestLevel = new Map<number, KeyframeHit>();
  for (const r of regions) {
    const hit = { t: r.t, box: r.box, score: dot(query, features.get(r.id)!) };
    const seen = atBestLevel.get(r.t);
    if (!seen || hit.score > seen.score) atBestLevel.set(r.t, hit);
  }
  return [...atBestLevel.values()].sort((a, b) => a.t - b.t);
}
