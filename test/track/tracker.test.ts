import { describe, expect, it } from 'vitest';
import type { Box } from '../../src/detect/box.js';
import { iou } from '../../src/detect/box.js';
import { dot } from '../../src/detect/vector.js';
import { decodeTrackerState, encodeTrackerState } from '../../src/track/state.js';
import {
  DEFAULT_TRACKER_CONFIG,
  Tracker,
  resolveTrackerConfig,
  type Track,
  type TrackAssignment,
  type TrackInput,
  type TrackerConfig,
  type TrackerKeyframe,
  type TrackerState,
} from '../../src/track/tracker.js';
import { mulberry32, randomUnitVector, standardNormal } from '../support/random.js';

const DIM = 2048;

// ---------------------------------------------------------------------------------------------------------
// Generated data: seeded PRNG, random unit vectors, perturbations with an exact cosine.
// ---------------------------------------------------------------------------------------------------------

function normalize(v: Float64Array): Float32Array {
  let norm = 0;
  for (const x of v) norm += x * x;
  norm = Math.sqrt(norm);
  return Float32Array.from(v, (x) => x / norm);
}

/** A unit vector whose cosine to the unit vector v is `cos` (up to float32 rounding), in a random direction. */
function perturb(rand: () => number, v: Float32Array, cos: number): Float32Array {
  const noise = Float64Array.from({ length: v.length }, () => standardNormal(rand));
  let along = 0;
  for (let i = 0; i < v.length; i++) along += noise[i] * v[i];
  for (let i = 0; i < v.length; i++) noise[i] -= along * v[i];
  const orthogonal = normalize(noise);
  const sin = Math.sqrt(1 - cos * cos);
  return normalize(Float64Array.from(v, (x, i) => cos * x + sin * orthogonal[i]));
}

/** An object whose feature random-walks with cosine `step` between consecutive keyframes. */
function walker(rand: () => number, step: number): () => Float32Array {
  let current = randomUnitVector(rand, DIM);
  let first = true;
  return () => {
    if (!first) current = perturb(rand, current, step);
    first = false;
    return current;
  };
}

function region(box: Box, feature: Float32Array, score = 1): TrackInput {
  return { box, feature, score };
}

function idsOf(assignments: TrackAssignment[]): number[] {
  return assignments.map((a) => a.trackId);
}

/** Tracks with their vectors as hex strings of their bytes: exact, and far faster for toEqual than 2048 numbers. */
function canon(tracks: Track[]): unknown[] {
  const hex = (v: Float32Array): string => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex');
  return tracks.map((t) => ({ ...t, descriptor: hex(t.descriptor), best: { ...t.best, feature: hex(t.best.feature) } }));
}

function canonState(state: TrackerState): unknown {
  return { ...state, tracks: canon(state.tracks), ended: canon(state.ended) };
}

function run(tracker: Tracker, keyframes: TrackerKeyframe[]): { assignments: TrackAssignment[][]; ended: Track[][] } {
  const assignments: TrackAssignment[][] = [];
  const ended: Track[][] = [];
  for (const keyframe of keyframes) {
    assignments.push(tracker.update(keyframe));
    ended.push(tracker.ended(keyframe.t));
  }
  return { assignments, ended };
}

/** A random scene: objects that appear, move, vanish (some for short gaps), plus one-keyframe distractors. */
function randomScene(seed: number, count: number, dt = 1): TrackerKeyframe[] {
  const rand = mulberry32(seed);
  const objects = Array.from({ length: 6 }, () => ({
    next: walker(rand, 0.9),
    x: rand() * 1000,
    y: rand() * 600,
    w: 60 + rand() * 120,
    vx: (rand() - 0.5) * 80,
    start: Math.floor(rand() * count * 0.6),
    length: 3 + Math.floor(rand() * count * 0.5),
  }));
  const keyframes: TrackerKeyframe[] = [];
  for (let k = 0; k < count; k++) {
    const regions: TrackInput[] = [];
    for (const o of objects) {
      if (k < o.start || k >= o.start + o.length) continue;
      const feature = o.next();
      o.x += o.vx;
      if (rand() < 0.15) continue; // missed detection
      regions.push(region([o.x, o.y, o.x + o.w, o.y + o.w], feature, rand() * 10));
    }
    if (rand() < 0.3) regions.push(region([rand() * 900, rand() * 500, rand() * 900 + 100, rand() * 500 + 100], randomUnitVector(rand, DIM), rand() * 10));
    // shuffle the region order
    for (let i = regions.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [regions[i], regions[j]] = [regions[j], regions[i]];
    }
    keyframes.push({ t: 3.5 + k * dt, regions });
  }
  return keyframes;
}

// ---------------------------------------------------------------------------------------------------------

describe('resolveTrackerConfig', () => {
  it('fills in the documented defaults', () => {
    expect(resolveTrackerConfig()).toEqual({ minSimilarity: 0.6, minIou: 0.3, similarityWeight: 0.8, maxGapSeconds: 2, maxGapKeyframes: 2 });
    expect(resolveTrackerConfig({ minIou: 0.5, maxGapSeconds: undefined })).toEqual({ ...DEFAULT_TRACKER_CONFIG, minIou: 0.5 });
    expect(resolveTrackerConfig({ maxGapSeconds: Infinity, maxGapKeyframes: Infinity }).maxGapKeyframes).toBe(Infinity);
  });

  it.each<Partial<TrackerConfig>>([
    { minSimilarity: 1.5 },
    { minSimilarity: -0.1 },
    { minIou: NaN },
    { similarityWeight: 2 },
    { maxGapSeconds: -1 },
    { maxGapKeyframes: 1.5 },
    { maxGapKeyframes: -1 },
  ])('rejects %o', (partial) => {
    expect(() => resolveTrackerConfig(partial)).toThrow(RangeError);
    expect(() => new Tracker(partial)).toThrow(RangeError);
  });
});

describe('Tracker: one moving object', () => {
  it('keeps one track across 10 keyframes while the box shifts 30 % of its width and the feature drifts (cos 0.9)', () => {
    const rand = mulberry32(1);
    const next = walker(rand, 0.9);
    const tracker = new Tracker();
    const keyframes: TrackerKeyframe[] = [];
    for (let k = 0; k < 10; k++) {
      const x = 100 + 30 * k;
      keyframes.push({ t: 12.5 + k, regions: [region([x, 200, x + 100, 280], next(), k === 6 ? 9 : 1 + k / 10)] });
    }
    const { assignments, ended } = run(tracker, keyframes);
    expect(assignments.map((a) => a[0])).toEqual([{ trackId: 1, isNew: true }, ...Array.from({ length: 9 }, () => ({ trackId: 1, isNew: false }))]);
    expect(ended.flat()).toEqual([]);

    const [track] = tracker.finish();
    expect(track.id).toBe(1);
    expect(track.firstT).toBe(12.5);
    expect(track.lastT).toBe(21.5);
    expect(track.keyframes).toBe(10);
    expect(track.missed).toBe(0);
    expect(track.lastBox).toEqual([370, 200, 470, 280]);
    expect(track.best.t).toBe(18.5);
    expect(track.best.score).toBe(9);
    expect(track.best.box).toEqual([280, 200, 380, 280]);
    expect(dot(track.best.feature, keyframes[6].regions[0].feature)).toBeCloseTo(1, 5);
    expect(dot(track.descriptor, track.descriptor)).toBeCloseTo(1, 5);
    expect(tracker.finish()).toEqual([]);
  });

  it('keeps the earliest region as best when scores tie', () => {
    const rand = mulberry32(6);
    const next = walker(rand, 0.95);
    const tracker = new Tracker();
    for (const [t, score] of [[0, 1], [1, 3], [2, 3], [3, 2]]) tracker.update({ t, regions: [region([10 * t, 0, 10 * t + 50, 50], next(), score)] });
    expect(tracker.activeTracks()[0].best).toMatchObject({ t: 1, score: 3, box: [10, 0, 60, 50] });
  });

  it('links noisy crops of a steady appearance through the running descriptor, where the last feature alone would not', () => {
    // Each keyframe's feature has cosine 0.75 to the object's appearance, with independent noise, so two features
    // agree only to ≈ 0.56 < minSimilarity; the running average sits closer to the appearance (≈ 0.64 after two
    // keyframes, ≈ 0.67 later). Two still keyframes link through the IoU route, then the box jumps every keyframe.
    const rand = mulberry32(61);
    const appearance = randomUnitVector(rand, DIM);
    const features = Array.from({ length: 10 }, () => perturb(rand, appearance, 0.75));
    for (let k = 1; k < features.length; k++) expect(dot(features[k - 1], features[k])).toBeLessThan(0.6);
    const tracker = new Tracker();
    const ids = features.map((feature, k) => {
      const x = k < 2 ? 0 : (k % 2) * 600;
      return tracker.update({ t: k, regions: [region([x, 0, x + 100, 100], feature)] })[0].trackId;
    });
    expect(ids).toEqual(features.map(() => 1));
  });

  it('links on appearance alone when the box jumps far between keyframes (IoU 0)', () => {
    const rand = mulberry32(2);
    const next = walker(rand, 0.9);
    const tracker = new Tracker();
    const ids = Array.from({ length: 8 }, (_, k) => {
      const x = (k % 2) * 800; // left, right, left, ...
      return tracker.update({ t: k, regions: [region([x, 0, x + 100, 100], next())] })[0].trackId;
    });
    expect(new Set(ids).size).toBe(1);
  });

  it('links through appearance changes (cos 0.5 per keyframe) while the box stays in place, via the IoU route', () => {
    const rand = mulberry32(3);
    const next = walker(rand, 0.5);
    const tracker = new Tracker();
    const ids = Array.from({ length: 8 }, (_, k) => {
      const x = 100 + 5 * k;
      return tracker.update({ t: k, regions: [region([x, 100, x + 100, 200], next())] })[0].trackId;
    });
    expect(new Set(ids).size).toBe(1);
  });

  it('does not link a changed appearance (cos 0.5) without overlap, nor an unrelated one in the same place', () => {
    const rand = mulberry32(4);
    const a = randomUnitVector(rand, DIM);
    const tracker = new Tracker();
    expect(tracker.update({ t: 0, regions: [region([0, 0, 100, 100], a)] })).toEqual([{ trackId: 1, isNew: true }]);
    // moved away and looks different: neither route admits it
    expect(tracker.update({ t: 1, regions: [region([500, 0, 600, 100], perturb(rand, a, 0.5))] })).toEqual([{ trackId: 2, isNew: true }]);
    // a different object (cos ≈ 0) takes exactly the place of track 2: IoU 1 but below the appearance floor
    expect(tracker.update({ t: 2, regions: [region([500, 0, 600, 100], randomUnitVector(rand, DIM))] })).toEqual([{ trackId: 3, isNew: true }]);
  });
});

describe('Tracker: ids from an allocator', () => {
  it('takes every new track id from the allocator and keeps its snapshot counter above them', () => {
    const handedOut = [7, 42, 43];
    const tracker = new Tracker({}, {}, () => handedOut.shift()!);
    const rand = mulberry32(9);
    const ids = tracker.update({ t: 0, regions: [region([0, 0, 10, 10], randomUnitVector(rand, 8), 1), region([100, 100, 110, 110], randomUnitVector(rand, 8), 1)] });
    expect(ids.map((a) => a.trackId)).toEqual([7, 42]);
    expect(tracker.snapshot().nextTrackId).toBe(43);
    expect(new Tracker({}, tracker.snapshot()).activeTracks().map((t) => t.id)).toEqual([7, 42]);
  });

  it('refuses an id the allocator gives twice', () => {
    const tracker = new Tracker({}, {}, () => 5);
    const rand = mulberry32(10);
    expect(() => tracker.update({ t: 0, regions: [region([0, 0, 10, 10], randomUnitVector(rand, 8), 1), region([100, 100, 110, 110], randomUnitVector(rand, 8), 1)] })).toThrow(/allocator gave 5/);
  });
});

describe('Tracker: several objects', () => {
  it('keeps two crossing objects apart: boxes overlap mid-way, features distinct, never swapped', () => {
    for (const seed of [10, 11, 12, 13, 14]) {
      const rand = mulberry32(seed);
      const nextA = walker(rand, 0.9);
      const nextB = walker(rand, 0.9);
      const tracker = new Tracker();
      const idsA: number[] = [];
      const idsB: number[] = [];
      for (let k = 0; k <= 10; k++) {
        const xa = 100 + 60 * k; // A moves right, B moves left; they coincide at k = 5
        const xb = 700 - 60 * k;
        const a = region([xa, 300, xa + 120, 420], nextA());
        const b = region([xb, 310, xb + 120, 430], nextB());
        const swap = rand() < 0.5;
        const out = tracker.update({ t: k, regions: swap ? [b, a] : [a, b] });
        idsA.push(out[swap ? 1 : 0].trackId);
        idsB.push(out[swap ? 0 : 1].trackId);
      }
      expect(iou([400, 300, 520, 420], [400, 310, 520, 430])).toBeGreaterThan(0.8);
      expect(new Set(idsA)).toEqual(new Set([idsA[0]]));
      expect(new Set(idsB)).toEqual(new Set([idsB[0]]));
      expect(idsA[0]).not.toBe(idsB[0]);
      expect(tracker.finish()).toHaveLength(2);
    }
  });

  it('takes the assignment with the best total score, not the greedy one', () => {
    // Descriptors a, b with a·b = 0.8; region r1 scores 0.9 with a and 0.85 with b, r2 scores 0.8 with a and 0.62
    // with b. Greedy (best pair first) gives a–r1, b–r2 = 1.52; the optimum is a–r2, b–r1 = 1.65.
    const rand = mulberry32(5);
    const e1 = randomUnitVector(rand, DIM);
    const e2 = perturb(rand, e1, 0); // orthogonal to e1
    const basis3 = orthogonalTo(rand, [e1, e2]);
    const combo = (x: number, y: number): Float32Array => {
      const z = Math.sqrt(1 - x * x - y * y);
      return normalize(Float64Array.from(e1, (_, i) => x * e1[i] + y * e2[i] + z * basis3[i]));
    };
    const a = e1;
    const b = normalize(Float64Array.from(e1, (_, i) => 0.8 * e1[i] + 0.6 * e2[i]));
    const r1 = combo(0.9, (0.85 - 0.72) / 0.6);
    const r2 = combo(0.8, (0.62 - 0.64) / 0.6);
    expect(dot(r1, a)).toBeCloseTo(0.9, 5);
    expect(dot(r1, b)).toBeCloseTo(0.85, 5);
    expect(dot(r2, a)).toBeCloseTo(0.8, 5);
    expect(dot(r2, b)).toBeCloseTo(0.62, 5);

    const tracker = new Tracker({ similarityWeight: 1 });
    const [trackA, trackB] = idsOf(tracker.update({ t: 0, regions: [region([0, 0, 10, 10], a), region([500, 500, 510, 510], b)] }));
    const out = tracker.update({ t: 1, regions: [region([900, 0, 910, 10], r1), region([0, 900, 10, 910], r2)] });
    expect(out).toEqual([
      { trackId: trackB, isNew: false },
      { trackId: trackA, isNew: false },
    ]);
  });

  it('follows each object of random scenes with one track, and never gives one track to two objects', () => {
    for (const seed of [21, 22, 23]) {
      const rand = mulberry32(seed);
      const objects = Array.from({ length: 5 }, (_, o) => ({ next: walker(rand, 0.85), x: o * 200, y: rand() * 500, vx: (rand() - 0.5) * 100 }));
      const tracker = new Tracker();
      const trackOf = new Map<number, Set<number>>();
      for (let k = 0; k < 20; k++) {
        const present = objects.map((o, index) => ({ o, index, feature: o.next() })).filter(() => rand() > 0.2);
        for (const { o } of present) o.x += o.vx;
        const out = tracker.update({ t: k, regions: present.map(({ o, feature }) => region([o.x, o.y, o.x + 100, o.y + 100], feature)) });
        out.forEach((a, i) => {
          const set = trackOf.get(present[i].index) ?? new Set<number>();
          set.add(a.trackId);
          trackOf.set(present[i].index, set);
        });
      }
      const all = [...trackOf.values()].flatMap((s) => [...s]);
      expect(new Set(all).size).toBe(all.length); // no id shared by two objects
      // The walks drift (cos 0.85 per step) and objects skip keyframes, but each stays one track unless it was
      // missing for more than the allowed gap — which a 20 % miss rate over 20 keyframes can produce, so count.
      expect(all.length).toBeLessThanOrEqual(objects.length + 2);
    }
  });
});

describe('Tracker: gaps and ended tracks', () => {
  /** One object on the same spot for `count` keyframes dt apart, absent from the keyframes listed. */
  function appearances(absent: number[], dt = 1, config: Partial<TrackerConfig> = {}, count = 12): { ids: number[]; ended: Track[][] } {
    const rand = mulberry32(7);
    const next = walker(rand, 0.9);
    const tracker = new Tracker(config);
    const ids: number[] = [];
    const ended: Track[][] = [];
    for (let k = 0; k < count; k++) {
      const feature = next();
      const t = k * dt;
      const regions = absent.includes(k) ? [] : [region([100, 100, 200, 200], feature)];
      ids.push(...idsOf(tracker.update({ t, regions })));
      ended.push(tracker.ended(t));
    }
    return { ids, ended };
  }

  it('keeps the track over a gap within the limits (2 keyframes missed at 1 kf/s: 3 s between matches)', () => {
    const { ids, ended } = appearances([4, 5]);
    expect(new Set(ids)).toEqual(new Set([1]));
    expect(ended.flat()).toEqual([]);
  });

  it('starts a new track when the object was gone longer than both limits, and ends the old one then', () => {
    const { ids, ended } = appearances([4, 5, 6]);
    expect(ids).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 2]);
    // Track 1 was last seen at t = 3; after the keyframe at t = 6 it has missed 3 > 2 keyframes and 3 s > 2 s.
    expect(ended.map((e) => e.map((t) => t.id))).toEqual([[], [], [], [], [], [], [1], [], [], [], [], []]);
    expect(ended[6][0]).toMatchObject({ id: 1, firstT: 0, lastT: 3, keyframes: 4, missed: 3 });
  });

  it('needs both limits exceeded: dense keyframes fall back on seconds, sparse ones on keyframe counts', () => {
    // every frame at 25 fps, 10 frames (0.4 s) missing: far more than 2 keyframes but within 2 s
    const absent = Array.from({ length: 10 }, (_, i) => 2 + i);
    expect(new Set(appearances(absent, 0.04, {}, 14).ids)).toEqual(new Set([1]));
    // ... but beyond 2 s (60 frames missing) the object comes back as a new track
    const longAbsent = Array.from({ length: 60 }, (_, i) => 2 + i);
    expect(new Set(appearances(longAbsent, 0.04, {}, 64).ids)).toEqual(new Set([1, 2]));
    // one keyframe every 5 s, one missing: 10 s between matches but only 1 keyframe missed
    expect(new Set(appearances([4], 5).ids).size).toBe(1);
    // one keyframe every 5 s, three missing: a new track
    expect(new Set(appearances([4, 5, 6], 5).ids).size).toBe(2);
    // maxGapKeyframes 0 and maxGapSeconds 0: any missed keyframe ends the track
    expect(new Set(appearances([4], 1, { maxGapKeyframes: 0, maxGapSeconds: 0 }).ids).size).toBe(2);
  });

  it('gives a one-keyframe distractor its own track and ends it once the gap has passed', () => {
    const rand = mulberry32(8);
    const next = walker(rand, 0.9);
    const distractor = randomUnitVector(rand, DIM);
    const tracker = new Tracker({}, { nextTrackId: 40 });
    const ids: number[][] = [];
    const ended: Track[][] = [];
    for (let k = 0; k < 8; k++) {
      const regions = [region([100 + 10 * k, 100, 200 + 10 * k, 200], next(), 2)];
      if (k === 2) regions.push(region([120, 110, 220, 210], distractor, 5)); // overlaps the object, looks different
      const out = tracker.update({ t: k, regions });
      if (k === 2) expect(out[1]).toEqual({ trackId: 41, isNew: true });
      ids.push(idsOf(out));
      ended.push(tracker.ended(k));
    }
    expect(ids.map((a) => a[0])).toEqual([40, 40, 40, 40, 40, 40, 40, 40]);
    expect(ended.map((e) => e.map((t) => t.id))).toEqual([[], [], [], [], [], [41], [], []]);
    expect(ended[5][0]).toMatchObject({ id: 41, firstT: 2, lastT: 2, keyframes: 1, best: { t: 2, score: 5, box: [120, 110, 220, 210] } });
    expect(tracker.finish().map((t) => t.id)).toEqual([40]);
    expect(tracker.peekNextTrackId()).toBe(42);
  });

  it('ended(t) ends by time only tracks that already missed more than maxGapKeyframes keyframes', () => {
    const rand = mulberry32(9);
    const tracker = new Tracker();
    tracker.update({ t: 0, regions: [region([0, 0, 10, 10], randomUnitVector(rand, DIM))] });
    expect(tracker.ended(100)).toEqual([]); // no keyframe has gone by without it yet
    for (const t of [1, 2, 3]) tracker.update({ t, regions: [] });
    expect(tracker.ended(3)).toHaveLength(1);
    expect(tracker.ended(3)).toEqual([]); // handed out once
  });

  it('update() ends expired tracks itself; they wait for ended() or finish()', () => {
    const rand = mulberry32(10);
    const tracker = new Tracker();
    tracker.update({ t: 0, regions: [region([0, 0, 10, 10], randomUnitVector(rand, DIM))] });
    for (const t of [1, 2, 3, 4]) tracker.update({ t, regions: [] });
    expect(tracker.activeTracks()).toEqual([]);
    expect(tracker.snapshot().ended.map((t) => t.id)).toEqual([1]);
    expect(tracker.finish().map((t) => t.id)).toEqual([1]);
  });
});

describe('Tracker: snapshot and resume', () => {
  it('continues from a snapshot exactly as an uninterrupted run, whichever keyframe it was taken after', () => {
    for (const seed of [31, 32]) {
      const keyframes = randomScene(seed, 30);
      const config: Partial<TrackerConfig> = { maxGapKeyframes: 1 };
      const uninterrupted = new Tracker(config);
      const full = run(uninterrupted, keyframes);
      const fullEnded = full.ended.map(canon);
      const finalTracks = canon(uninterrupted.finish());
      expect(new Set(full.assignments.flat().map((a) => a.trackId)).size).toBeGreaterThan(4);
      expect(full.ended.flat().length).toBeGreaterThan(2);

      for (let cut = 0; cut <= keyframes.length; cut++) {
        const first = new Tracker(config, { nextTrackId: 1 });
        const before = run(first, keyframes.slice(0, cut));
        const snapshot = first.snapshot();
        const viaJson = decodeTrackerState(encodeTrackerState(snapshot));
        const snapshotCanon = canonState(snapshot);
        expect(canonState(viaJson)).toEqual(snapshotCanon);
        // the snapshot is a copy: the first tracker going on does not change it
        run(first, keyframes.slice(cut, cut + 3));
        expect(canonState(snapshot)).toEqual(snapshotCanon);

        const resumed = new Tracker(config, cut % 2 === 0 ? structuredClone(snapshot) : viaJson);
        const after = run(resumed, keyframes.slice(cut));
        expect([...before.assignments, ...after.assignments]).toEqual(full.assignments);
        expect([...before.ended, ...after.ended].map(canon)).toEqual(fullEnded);
        expect(canon(resumed.finish())).toEqual(finalTracks);
      }
    }
  });

  it('keeps pending ended tracks in the snapshot', () => {
    const rand = mulberry32(33);
    const tracker = new Tracker();
    tracker.update({ t: 0, regions: [region([0, 0, 10, 10], randomUnitVector(rand, DIM))] });
    for (const t of [1, 2, 3, 4]) tracker.update({ t, regions: [] }); // track 1 ended inside update(), not handed out
    const resumed = new Tracker({}, decodeTrackerState(encodeTrackerState(tracker.snapshot())));
    expect(resumed.ended(4).map((t) => t.id)).toEqual([1]);
    expect(resumed.update({ t: 5, regions: [region([0, 0, 10, 10], randomUnitVector(rand, DIM))] })).toEqual([{ trackId: 2, isNew: true }]);
  });

  it('seeds the id counter and refuses inconsistent states', () => {
    const rand = mulberry32(34);
    expect(new Tracker({}, { nextTrackId: 1000 }).update({ t: 0, regions: [region([0, 0, 1, 1], randomUnitVector(rand, DIM))] })).toEqual([
      { trackId: 1000, isNew: true },
    ]);
    const tracker = new Tracker();
    tracker.update({ t: 0, regions: [region([0, 0, 1, 1], randomUnitVector(rand, DIM)), region([5, 5, 6, 6], randomUnitVector(rand, DIM))] });
    const state = tracker.snapshot();
    expect(state.nextTrackId).toBe(3);
    expect(() => new Tracker({}, { ...state, nextTrackId: 2 })).toThrow(RangeError);
    expect(() => new Tracker({}, { ...state, tracks: [state.tracks[0], state.tracks[0]] })).toThrow(RangeError);
    expect(() => new Tracker({}, { ...state, lastT: null })).toThrow(RangeError);
    expect(() => new Tracker({}, JSON.parse(JSON.stringify(state)) as typeof state)).toThrow(/Float32Array/);
    expect(() => new Tracker({}, { ...state, version: 2 as 1 })).toThrow(RangeError);
    // without nextTrackId, the counter continues after the highest id in the state
    expect(new Tracker({}, { ...state, nextTrackId: undefined }).peekNextTrackId()).toBe(3);
  });
});

describe('Tracker: degenerate inputs', () => {
  it('handles no keyframes and empty keyframes', () => {
    expect(new Tracker().finish()).toEqual([]);
    const tracker = new Tracker();
    expect(tracker.update({ t: 0, regions: [] })).toEqual([]);
    expect(tracker.update({ t: 1, regions: [] })).toEqual([]);
    expect(tracker.ended(1)).toEqual([]);
    expect(tracker.snapshot()).toEqual({ version: 1, nextTrackId: 1, lastT: 1, tracks: [], ended: [] });
  });

  it('stays NaN-free with zero vectors, and a zero-vector track never links on appearance', () => {
    const zero = new Float32Array(DIM);
    const tracker = new Tracker();
    // two zero-feature regions on the same spot: cosine 0 is below the IoU route's appearance floor
    expect(tracker.update({ t: 0, regions: [region([0, 0, 100, 100], zero)] })).toEqual([{ trackId: 1, isNew: true }]);
    expect(tracker.update({ t: 1, regions: [region([0, 0, 100, 100], zero)] })).toEqual([{ trackId: 2, isNew: true }]);
    const nan = new Float32Array(DIM).fill(NaN);
    expect(tracker.update({ t: 2, regions: [region([0, 0, 100, 100], nan)] })).toEqual([{ trackId: 3, isNew: true }]);
    for (const track of tracker.activeTracks()) {
      expect(track.descriptor.every((x) => x === 0)).toBe(true);
      expect(track.best.feature.every((x) => x === 0)).toBe(true);
    }

    // a track whose first feature was zero picks up the next feature's direction
    const rand = mulberry32(41);
    const f = randomUnitVector(rand, DIM);
    const t2 = new Tracker({ minSimilarity: 0 });
    t2.update({ t: 0, regions: [region([0, 0, 100, 100], zero)] });
    expect(t2.update({ t: 1, regions: [region([0, 0, 100, 100], f)] })).toEqual([{ trackId: 1, isNew: false }]);
    const [track] = t2.activeTracks();
    expect(track.descriptor.every(Number.isFinite)).toBe(true);
    expect(dot(track.descriptor, f)).toBeCloseTo(1, 5);
  });

  it('handles zero-area boxes without NaN', () => {
    const rand = mulberry32(42);
    const f = randomUnitVector(rand, DIM);
    const tracker = new Tracker();
    tracker.update({ t: 0, regions: [region([5, 5, 5, 5], f)] });
    expect(tracker.update({ t: 1, regions: [region([5, 5, 5, 5], perturb(rand, f, 0.95))] })).toEqual([{ trackId: 1, isNew: false }]);
  });

  it('gives regions of one keyframe distinct tracks even when they are identical', () => {
    const rand = mulberry32(43);
    const f = randomUnitVector(rand, DIM);
    const tracker = new Tracker();
    expect(idsOf(tracker.update({ t: 0, regions: [region([0, 0, 9, 9], f), region([0, 0, 9, 9], f)] }))).toEqual([1, 2]);
    const next = idsOf(tracker.update({ t: 1, regions: [region([0, 0, 9, 9], f), region([0, 0, 9, 9], f), region([0, 0, 9, 9], f)] }));
    expect([...next].sort()).toEqual([1, 2, 3]);
  });

  it('rejects bad input before changing any state', () => {
    const rand = mulberry32(44);
    const tracker = new Tracker();
    tracker.update({ t: 5, regions: [region([0, 0, 10, 10], randomUnitVector(rand, DIM))] });
    const before = tracker.snapshot();
    const ok = region([0, 0, 10, 10], randomUnitVector(rand, DIM));
    expect(() => tracker.update({ t: 4, regions: [ok] })).toThrow(/time order/);
    expect(() => tracker.update({ t: NaN, regions: [ok] })).toThrow(RangeError);
    expect(() => tracker.update({ t: 6, regions: [ok, region([0, 0, 10, 10], new Float32Array(16))] })).toThrow(/dimensions/);
    expect(() => tracker.update({ t: 6, regions: [ok, region([0, 0, NaN, 10], randomUnitVector(rand, DIM))] })).toThrow(/box/);
    expect(() => tracker.update({ t: 6, regions: [ok, { ...ok, score: NaN }] })).toThrow(/score/);
    expect(() => tracker.ended(NaN)).toThrow(RangeError);
    expect(tracker.snapshot()).toEqual(before);
    // equal t is accepted
    expect(tracker.update({ t: 5, regions: [] })).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------

/** A random unit vector orthogonal to the given (orthonormal) vectors. */
function orthogonalTo(rand: () => number, basis: Float32Array[]): Float32Array {
  const v = Float64Array.from(randomUnitVector(rand, DIM));
  for (const b of basis) {
    let along = 0;
    for (let i = 0; i < v.length; i++) along += v[i] * b[i];
    for (let i = 0; i < v.length; i++) v[i] -= along * b[i];
  }
  return normalize(v);
}
