import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { iou, type Box } from '../../src/detect/box.js';
import { FeatureCache } from '../../src/eval/feature-cache.js';
import { createEvalMethods, type EvalMethod } from '../../src/eval/methods.js';
import { readTrackSequences } from '../../src/eval/tracks-dataset.js';
import { evaluateTracks, formatTracksReport, type TracksReport } from '../../src/eval/tracks-eval.js';
import { trackQueries } from '../../src/eval/tracks-protocol.js';
import { evaluateUkbench, formatUkbenchReport, ukbenchImages } from '../../src/eval/ukbench-eval.js';
import { Backbone } from '../../src/model/backbone.js';
import { createLogger } from '../../src/log.js';

const quiet = createLogger('error');
const W = 240;
const H = 180;
const hasFfmpeg = spawnSync(process.env.FFMPEG_PATH ?? 'ffmpeg', ['-version']).status === 0;

/** A textured background with a coloured checkerboard object at `box` (or none). */
function frame(seed: number, colour: [number, number, number], box: Box | null): Buffer {
  const data = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const p = (y * W + x) * 3;
      const g = 90 + 30 * Math.sin((x + 7 * seed) / 23) * Math.cos(y / 31);
      data[p] = g;
      data[p + 1] = g + 10;
      data[p + 2] = g + 5;
      if (box && x >= box[0] && x < box[2] && y >= box[1] && y < box[3]) {
        const on = (Math.floor((x - box[0]) / 8) + Math.floor((y - box[1]) / 8)) % 2 === 0;
        data[p] = on ? colour[0] : 255 - colour[0];
        data[p + 1] = on ? colour[1] : 255 - colour[1];
        data[p + 2] = on ? colour[2] : 255 - colour[2];
      }
    }
  }
  return data;
}

interface SynthSequence {
  name: string;
  colour: [number, number, number];
  boxes: (Box | null)[];
}

const SEQUENCES: SynthSequence[] = [
  { name: 'red', colour: [220, 30, 30], boxes: [[20, 30, 100, 110], [40, 30, 120, 110], [60, 40, 140, 120], [80, 40, 160, 120]] },
  { name: 'blue', colour: [30, 60, 220], boxes: [[120, 60, 200, 150], [110, 60, 190, 150], [100, 50, 180, 140], [90, 50, 170, 140]] },
  // the object leaves the picture in frame 1 (null box): not relevant to its own queries
  { name: 'yellow', colour: [230, 210, 20], boxes: [[30, 80, 110, 160], null, [50, 70, 130, 150], [60, 70, 140, 150]] },
];

async function writeDataset(root: string): Promise<void> {
  for (const [s, seq] of SEQUENCES.entries()) {
    const dir = join(root, 'seqs', seq.name);
    mkdirSync(dir, { recursive: true });
    const frames = [];
    for (const [i, box] of seq.boxes.entries()) {
      const file = `${String(i + 1).padStart(6, '0')}.jpg`;
      await sharp(frame(s * 10 + i, seq.colour, box), { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 92 }).toFile(join(dir, file));
      frames.push({ file, orig_index: i + 1, box: box ? [box[0], box[1], box[2] - box[0], box[3] - box[1]] : null });
    }
    const gt = { name: seq.name, dataset: 'synthetic', object: seq.name, width: W, height: H, fps_assumed: 25, n_frames: frames.length, n_visible: frames.filter((f) => f.box).length, frames };
    writeFileSync(join(dir, 'gt.json'), JSON.stringify(gt));
    if (hasFfmpeg) {
      mkdirSync(join(root, 'videos'), { recursive: true });
      const run = spawnSync(process.env.FFMPEG_PATH ?? 'ffmpeg', [
        '-y', '-loglevel', 'error', '-framerate', '25', '-start_number', '1', '-i', join(dir, '%06d.jpg'),
        '-c:v', 'libx264', '-pix_fmt', 'yuv420p', join(root, 'videos', `${seq.name}.mp4`),
      ]);
      if (run.status !== 0) throw new Error(`ffmpeg failed: ${run.stderr.toString()}`);
    }
  }
}

describe('tracks evaluation end to end on a tiny synthetic dataset', () => {
  let root: string;
  let cacheDir: string;
  let methods: EvalMethod[];
  let report: TracksReport;
  let firstRun: FeatureCache;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'dasr-eval-tracks-'));
    cacheDir = join(root, 'cache');
    await writeDataset(root);
    methods = createEvalMethods(await Backbone.load({ logger: quiet }), { longSide: 192 });
    firstRun = new FeatureCache(cacheDir);
    report = await evaluateTracks(root, methods, { modes: ['image'], querySets: ['first', 'three'], cache: firstRun });
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('reports every method for both query sets', () => {
    expect(report.sequences).toBe(3);
    expect(report.frames).toBe(12);
    expect(report.visibleFrames).toBe(11);
    expect(report.rows.map((r) => `${r.mode}/${r.queries}/${r.method}`)).toEqual([
      'image/first/DASR', 'image/three/DASR',
      'image/first/DASR*', 'image/three/DASR*',
      'image/first/BASELINE', 'image/three/BASELINE',
    ]);
    for (const row of report.rows) {
      expect(row.queryCount).toBe(row.queries === 'first' ? 3 : 9);
      for (const v of [row.top50, row.top100, row.all]) {
        expect(v).toBeGreaterThanOrEqual(0);
        expect(v).toBeLessThanOrEqual(1);
      }
    }
  });

  it('leaves the query frame out of the database and counts relevance from the ground truth', () => {
    const sequences = readTrackSequences(root);
    for (const q of report.perQuery) {
      expect(q.database).toBe(11);
      const seq = sequences.find((s) => s.name === q.sequence)!;
      expect(q.relevant).toBe(seq.frames.filter((f, i) => f.box && i !== q.frame).length);
      expect(q.ranked).toBeLessThanOrEqual(11);
    }
    // first-frame queries are frame 0; the yellow sequence's "three" are its visible frames 0, 2, 3
    expect(report.perQuery.filter((q) => q.queries === 'three' && q.sequence === 'yellow' && q.method === 'DASR').map((q) => q.frame)).toEqual([0, 2, 3]);
  });

  it('the baseline returns the whole frame: its IoUs are those of the whole frame with each relevant truth', () => {
    const sequences = readTrackSequences(root);
    for (const q of report.perQuery.filter((p) => p.method === 'BASELINE')) {
      // features are ReLU averages, so every frame scores > 0 and is ranked; all relevant frames are in the top 100
      expect(q.ranked).toBe(11);
      const seq = sequences.find((s) => s.name === q.sequence)!;
      const expected = seq.frames.flatMap((f, i) => (f.box && i !== q.frame ? [iou([0, 0, W, H], f.box)] : [])).sort();
      expect([...q.ious].sort()).toEqual(expected);
    }
    for (const q of report.perQuery) for (const v of q.ious) expect(v).toBeGreaterThanOrEqual(0), expect(v).toBeLessThanOrEqual(1);
  });

  it('computes each frame once per method and serves a rerun from the disk cache', async () => {
    const uniqueQueries = new Set([...trackQueries(readTrackSequences(root), 'first'), ...trackQueries(readTrackSequences(root), 'three')].map((q) => `${q.sequence}/${q.frame}`)).size;
    expect(firstRun.misses).toBe(methods.length * (12 + uniqueQueries));
    const cache = new FeatureCache(cacheDir);
    const again = await evaluateTracks(root, methods, { modes: ['image'], querySets: ['first', 'three'], cache });
    expect(cache.misses).toBe(0);
    expect(again.rows).toEqual(report.rows);
  });

  it('prints one table per query set with a row per method', () => {
    const text = formatTracksReport(report);
    expect(text).toContain('image mode — first-frame queries, 3 queries');
    expect(text).toContain('image mode — mean over 3 query frames per sequence (first, middle, last visible), 9 queries');
    const headers = text.split('\n').filter((l) => /^method\s+Top-50\s+Top-100\s+All\s+loc\. Top-100\s+loc\. All\s+loc\. All IoU≥\.5\s+loc\. All S\/M\/L\s+mean IoU\s+IoU pairs$/.test(l));
    expect(headers).toHaveLength(2);
    for (const name of ['DASR ', 'DASR*', 'BASELINE']) expect(text.split('\n').filter((l) => l.startsWith(name))).toHaveLength(2);
  });

  it.skipIf(!hasFfmpeg)('video mode indexes the mp4 files through the real pipeline and maps keyframes to frames', async () => {
    const video = await evaluateTracks(root, methods, { modes: ['video'], querySets: ['first'], cache: new FeatureCache(cacheDir), logger: quiet });
    expect(video.rows.map((r) => `${r.mode}/${r.queries}/${r.method}`)).toEqual(['video/first/DASR', 'video/first/DASR*']);
    // every frame was indexed exactly once (no note about missing, extra or merged keyframes), only the baseline is noted
    expect(video.notes).toHaveLength(1);
    expect(video.notes[0]).toMatch(/BASELINE has no video mode/);
    for (const q of video.perQuery) {
      expect(q.database).toBe(11);
      for (const v of q.ious) expect(v).toBeGreaterThanOrEqual(0);
    }
    expect(formatTracksReport(video)).toContain('video mode — first-frame queries, 3 queries');
  });
});

describe('UKBench N-S evaluation on a tiny synthetic set', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dasr-eval-ukbench-'));
    const colours: [number, number, number][] = [[220, 30, 30], [30, 60, 220]];
    for (let k = 0; k < 8; k++) {
      const box: Box = [30 + 10 * (k % 4), 30, 150 + 10 * (k % 4), 150];
      await sharp(frame(k, colours[Math.floor(k / 4)]!, box), { raw: { width: W, height: H, channels: 3 } }).jpeg().toFile(join(dir, `ukbench${String(k).padStart(5, '0')}.jpg`));
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('groups by floor(k / 4) and scores the top 4, query included', async () => {
    expect(ukbenchImages(dir).map((i) => i.group)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    const methods = createEvalMethods(await Backbone.load({ logger: quiet }), { longSide: 192 }, null, ['baseline', 'dasr-star']);
    const report = await evaluateUkbench(dir, methods);
    expect(report.rows.map((r) => r.method)).toEqual(['BASELINE', 'DASR*']);
    for (const row of report.rows) {
      expect(row.ns).toBeGreaterThanOrEqual(0);
      expect(row.ns).toBeLessThanOrEqual(4);
      expect(row.perQuery).toHaveLength(8);
      expect(row.ns).toBeCloseTo(row.perQuery.reduce((n, q) => n + q.hits, 0) / 8, 12);
    }
    // the baseline's query is its own database vector (cosine 1): it always comes first
    for (const q of report.rows[0]!.perQuery) expect(q.top4[0]).toBe(q.file);
    expect(formatUkbenchReport(report)).toMatch(/BASELINE\s+\d\.\d{3}/);
  });
});
