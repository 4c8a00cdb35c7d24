import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/detect/box.js';
import type { TrackSequence } from '../../src/eval/tracks-dataset.js';
import { evaluateQuery, localisedRelevance, objectSize, onObject, queryFrames, rankDatabase, relevantCount, summarise, trackQueries, type DatabaseFrame } from '../../src/eval/tracks-protocol.js';

/** Unit vectors along axes, and a mix. */
const e = (i: number, dim = 4): Float32Array => Float32Array.from({ length: dim }, (_, k) => (k === i ? 1 : 0));
const mix = (a: number, b: number): Float32Array => {
  const v = new Float32Array(4);
  v[0] = a;
  v[1] = b;
  const n = Math.hypot(a, b);
  return v.map((x) => x / n);
};

function sequence(name: string, boxes: (Box | null)[]): TrackSequence {
  return { name, object: name, width: 100, height: 100, fps: 25, directory: `/nowhere/${name}`, frames: boxes.map((box, i) => ({ file: `${String(i).padStart(6, '0')}.jpg`, box })) };
}

const GT: Box = [0, 0, 10, 10];
// Sequence A: object absent in frame 2. Sequence B: another object.
const sequences = [sequence('A', [GT, GT, null, GT]), sequence('B', [GT, GT, GT])];
// Query: A, frame 0, feature e0.
const database: DatabaseFrame[] = [
  // the query frame itself, a perfect match that must never be returned
  { sequence: 0, frame: 0, regions: [{ box: GT, feature: e(0) }] },
  // A1: two regions; the best one (cos 0.8) gives the box, half-overlapping the truth → IoU 50 / 150
  { sequence: 0, frame: 1, regions: [{ box: [0, 0, 100, 100], feature: mix(0.6, 0.8) }, { box: [5, 0, 15, 10], feature: mix(0.8, 0.6) }] },
  // A2: object absent, scores high: a non-relevant frame of the right sequence
  { sequence: 0, frame: 2, regions: [{ box: [0, 0, 10, 10], feature: mix(0.9, Math.sqrt(1 - 0.81)) }] },
  // A3: no region at all: never ranked
  { sequence: 0, frame: 3, regions: [] },
  // B0: scores 0.7; B1: orthogonal (score 0, not ranked); B2: negative
  { sequence: 1, frame: 0, regions: [{ box: GT, feature: mix(0.7, Math.sqrt(1 - 0.49)) }] },
  { sequence: 1, frame: 1, regions: [{ box: GT, feature: e(2) }] },
  { sequence: 1, frame: 2, regions: [{ box: GT, feature: e(0).map((x) => -x) }] },
];
const query = { sequence: 0, frame: 0, box: GT };

describe('tracks protocol mechanics', () => {
  it('picks the first visible frame, or first / middle / last visible', () => {
    const s = sequence('S', [null, GT, GT, null, GT, GT, GT]);
    expect(queryFrames(s, 'first')).toEqual([1]);
    // visible = [1, 2, 4, 5, 6]: positions 0, 2, 4
    expect(queryFrames(s, 'three')).toEqual([1, 4, 6]);
    expect(queryFrames(sequence('two', [GT, null, GT]), 'three')).toEqual([0, 2]);
    expect(queryFrames(sequence('none', [null, null]), 'first')).toEqual([]);
    expect(trackQueries(sequences, 'first')).toEqual([{ sequence: 0, frame: 0, box: GT }, { sequence: 1, frame: 0, box: GT }]);
  });

  it('excludes the query frame, scores a frame by its best region and ranks only scores > 0', () => {
    const ranking = rankDatabase(query, e(0), database, sequences);
    expect(ranking.map((r) => [r.sequence, r.frame])).toEqual([[0, 2], [0, 1], [1, 0]]);
    expect(ranking[0]!.score).toBeCloseTo(0.9, 6);
    expect(ranking[1]!.score).toBeCloseTo(0.8, 6);
    expect(ranking[1]!.box).toEqual([5, 0, 15, 10]);
    expect(ranking.map((r) => r.relevant)).toEqual([false, true, false]);
  });

  it('counts relevant frames from the ground truth: visible frames of the sequence but the query frame', () => {
    expect(relevantCount(query, sequences)).toBe(2); // A1 and A3 (A3 is never ranked: it counts as a miss)
    expect(relevantCount({ sequence: 0, frame: 2, box: GT }, sequences)).toBe(3);
    expect(relevantCount({ sequence: 1, frame: 1, box: GT }, sequences)).toBe(2);
  });

  it('computes AP and the true-union IoU of the returned box for relevant frames in the top 100', () => {
    const result = evaluateQuery(query, e(0), database, sequences);
    expect(result).toMatchObject({ sequence: 'A', frame: 0, file: '000000.jpg', relevant: 2, database: 6, ranked: 3 });
    // ranking: [A2 ✗, A1 ✓, B0 ✗]; |relevant| = 2 → n = 2 for both K; hit at rank 2, precision 1/2
    expect(result.top50).toBeCloseTo(0.25, 12);
    expect(result.top100).toBeCloseTo(0.25, 12);
    expect(result.all).toBeCloseTo(0.25, 12);
    // [5,0,15,10] vs [0,0,10,10]: intersection 50, union 150 (the enclosing rectangle would give 100 → 0.5)
    expect(result.ious).toHaveLength(1);
    expect(result.ious[0]).toBeCloseTo(1 / 3, 12);
  });

  it('summarises mAP over queries and pools IoU over (query, frame) pairs', () => {
    const a = evaluateQuery(query, e(0), database, sequences);
    const b = { ...a, top50: 1, top100: 0.5, all: 0.75, ious: [1, 0] };
    const scores = summarise([a, b]);
    expect(scores.queryCount).toBe(2);
    expect(scores.top50).toBeCloseTo((0.25 + 1) / 2, 12);
    expect(scores.top100).toBeCloseTo((0.25 + 0.5) / 2, 12);
    expect(scores.all).toBeCloseTo((0.25 + 0.75) / 2, 12);
    expect(scores.meanIoU).toBeCloseTo((1 / 3 + 1 + 0) / 3, 12);
    expect(scores.iouCount).toBe(3);
    expect(summarise([{ ...a, ious: [] }]).meanIoU).toBeNaN();
  });

  it('measures IoU only down to rank 100', () => {
    // 150 frames of sequence A, all relevant, scores decreasing; the query is frame 0.
    const long = sequence('L', Array.from({ length: 151 }, () => GT));
    const db: DatabaseFrame[] = long.frames.map((_, f) => ({ sequence: 0, frame: f, regions: [{ box: GT, feature: mix(1, f / 10) }] }));
    const result = evaluateQuery({ sequence: 0, frame: 0, box: GT }, e(0), db, [long]);
    expect(result.ranked).toBe(150);
    expect(result.ious).toHaveLength(100);
    expect(result.top50).toBe(1);
    expect(result.top100).toBe(1);
    expect(result.all).toBe(1);
  });

  describe('localised AP: regions ranked, a hit only when the box is on the object', () => {
    const scored = (score: number): Float32Array => mix(score, Math.sqrt(1 - score * score));
    const seqs = [sequence('A', [GT, GT, GT]), sequence('B', [GT])];
    const db: DatabaseFrame[] = [
      { sequence: 0, frame: 0, regions: [{ box: GT, feature: e(0) }] }, // the query frame
      {
        sequence: 0,
        frame: 1,
        regions: [
          { box: [50, 50, 60, 60], feature: scored(0.95) }, // off the object
          { box: [2, 2, 8, 8], feature: scored(0.9) }, // centre on it, IoU 0.36
          { box: [1, 1, 10, 10], feature: scored(0.6) }, // IoU 0.81
        ],
      },
      { sequence: 0, frame: 2, regions: [{ box: [0, 0, 10, 10], feature: scored(0.5) }] },
      { sequence: 1, frame: 0, regions: [{ box: GT, feature: scored(0.7) }] },
    ];
    const q = { sequence: 0, frame: 0, box: GT };

    it('counts a frame once, at its first region on the object; regions before it are misses, later ones of a found frame drop out', () => {
      // ranked: A1 off ✗, A1 centre ✓ (A1 found), B0 ✗, A1 IoU .81 (dropped: A1 found), A2 ✓
      expect(localisedRelevance(q, e(0), db, seqs, 'centre')).toEqual([false, true, false, true]);
      // strictly: A1's centre-only region is a miss, its IoU .81 region the hit
      expect(localisedRelevance(q, e(0), db, seqs, 'iou50')).toEqual([false, false, false, true, true]);
      const result = evaluateQuery(q, e(0), db, seqs);
      expect(result.localisedAll).toBeCloseTo((1 / 2 + 2 / 4) / 2, 12);
      expect(result.localisedTop100).toBeCloseTo(1 / 2 / 2, 12); // n = 2: only the first two ranks count
      expect(result.localisedAllIoU50).toBeCloseTo((1 / 4 + 2 / 5) / 2, 12);
      // frame level the same query is perfect but for B0: [A1 ✓, B0 ✗, A2 ✓]
      expect(result.all).toBeCloseTo((1 + 2 / 3) / 2, 12);
    });

    it("ranks an index track's regions in a frame once, at the best-matching one, as search returns them", () => {
      const tracked: DatabaseFrame[] = [
        {
          sequence: 0,
          frame: 1,
          regions: [
            { box: [50, 50, 60, 60], feature: scored(0.95), trackId: 7 }, // a background peak…
            { box: [40, 40, 70, 70], feature: scored(0.92), trackId: 7 }, // …and its wider level: one appearance
            { box: [2, 2, 8, 8], feature: scored(0.9), trackId: 8 },
            { box: [60, 60, 70, 70], feature: scored(0.93), trackId: null }, // left alone by the tracker: its own…
            { box: [70, 70, 80, 80], feature: scored(0.91), trackId: null }, // …as is this one
          ],
        },
        {
          sequence: 0,
          frame: 2,
          regions: [
            { box: [30, 30, 50, 50], feature: scored(0.85), trackId: 8 }, // the object's track here off it, its better level…
            { box: [0, 0, 10, 10], feature: scored(0.6), trackId: 8 }, // …hides the level on it
          ],
        },
      ];
      // A1 track 7 ✗ (its 0.92 level not ranked), A1 untracked 0.93 ✗ and 0.91 ✗, A1 track 8 ✓, A2 track 8 ✗ (its 0.6
      // level not ranked)
      expect(localisedRelevance(q, e(0), tracked, seqs, 'centre')).toEqual([false, false, false, true, false]);
      // without tracks every region is ranked: A1 ✗ ✗ ✗ ✗ ✓, A2 ✗ ✓
      const untracked = tracked.map((f) => ({ ...f, regions: f.regions.map(({ box, feature }) => ({ box, feature })) }));
      expect(localisedRelevance(q, e(0), untracked, seqs, 'centre')).toEqual([false, false, false, false, true, false, true]);
      // two levels of one track scoring alike: the tie goes against the query, as rankByScore breaks ties
      const tie: DatabaseFrame[] = [{ sequence: 0, frame: 1, regions: [{ box: [2, 2, 8, 8], feature: scored(0.9), trackId: 3 }, { box: [50, 50, 60, 60], feature: scored(0.9), trackId: 3 }] }];
      expect(localisedRelevance(q, e(0), tie, seqs, 'centre')).toEqual([false]);
    });

    it('judges a box by its centre (edges included) or by IoU ≥ 0.5, and sizes objects as COCO does', () => {
      expect(onObject([5, 0, 15, 10], GT, 'centre')).toBe(true); // centre (10, 5) on the edge
      expect(onObject([0, 0, 100, 100], GT, 'centre')).toBe(false); // a whole-frame box: centre (50, 50)
      expect(onObject([0, 0, 10, 20], GT, 'iou50')).toBe(true);
      expect(onObject([0, 0, 10, 21], GT, 'iou50')).toBe(false);
      expect([objectSize(31.9), objectSize(32), objectSize(96), objectSize(96.1)]).toEqual(['small', 'medium', 'medium', 'large']);
    });

    it('summarises localised mAP overall and by object size', () => {
      const small = { ...evaluateQuery(q, e(0), db, seqs), objectSide: 10 };
      const large = { ...small, objectSide: 200, localisedAll: 1 };
      const scores = summarise([small, large]);
      expect(scores.localisedAll).toBeCloseTo((0.5 + 1) / 2, 12);
      expect(scores.localisedAllBySize.small).toEqual({ queries: 1, mAP: 0.5 });
      expect(scores.localisedAllBySize.large).toEqual({ queries: 1, mAP: 1 });
      expect(scores.localisedAllBySize.medium.queries).toBe(0);
      expect(scores.localisedAllBySize.medium.mAP).toBeNaN();
    });
  });
});
