import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backbone } from '../../src/model/backbone.js';
import { Dasr } from '../../src/detect/dasr.js';
import { IndexStore } from '../../src/index/index-store.js';
import { ingestFile } from '../../src/ingest/ingest-file.js';
import { searchByExample } from '../../src/search/search.js';
import { describeQuery, typicalFrameSize } from '../../src/search/describe-query.js';
import { parseBoxOption } from '../../src/cli/search-command.js';
import { searchJson } from '../../src/search/search-json.js';
import { decodeImage } from '../../src/image/load.js';
import { iou, type Box } from '../../src/detect/box.js';
import { fixture, manifest, movingObjectBoxAt } from '../video/fixtures.js';
import { createLogger } from '../../src/log.js';

const quiet = createLogger('error');
const MOVING = manifest.files['moving-object.mp4'];
const SCENE = manifest.files['moving-object-query-scene.png'];

describe('search by example', () => {
  let dasr: Dasr;
  let store: IndexStore;
  let dir: string;
  let videoId: number;
  beforeAll(async () => {
    // The default long side: at 384 px res5c is 12×7 cells and boxes of this 120 px object get coarse.
    dasr = new Dasr(await Backbone.load({ logger: quiet }));
    dir = mkdtempSync(join(tmpdir(), 'dasr-search-'));
    store = await IndexStore.open(dir, { logger: quiet });
    ({ videoId } = await ingestFile(fixture('moving-object.mp4'), dasr, store, { interval: 1, logger: quiet }));
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('returns the object\'s track first for a crop of it, with its time span and a box on it', async () => {
    // as search, the API and subscriptions describe a query without a box: a crop at the indexed frames' scale
    const query = await describeQuery(dasr, await decodeImage(fixture('moving-object-query.png')), undefined, await typicalFrameSize(store));
    const hits = await searchByExample(store, query, { top: 5, keyframes: true });
    expect(hits.length).toBeGreaterThanOrEqual(2);
    const first = hits[0]!;
    expect(first.videoId).toBe(videoId);
    expect(first.path).toBe(fixture('moving-object.mp4'));
    expect(first.start).toBeCloseTo(1, 6);
    expect(first.end).toBeCloseTo(5, 6);
    // on the object as the localised metric counts it (the box's centre inside the truth), and mostly covering it
    const truth = movingObjectBoxAt(first.best.t)!;
    const [x1, y1, x2, y2] = first.best.box;
    expect([(x1 + x2) / 2 > truth[0], (x1 + x2) / 2 < truth[2], (y1 + y2) / 2 > truth[1], (y1 + y2) / 2 < truth[3]]).toEqual([true, true, true, true]);
    expect(iou(first.best.box, truth)).toBeGreaterThanOrEqual(0.4);
    // Every keyframe of the track is listed with its own similarity; the best one is among them.
    expect(first.keyframes!.map((k) => k.t)).toEqual([...first.keyframes!.map((k) => k.t)].sort((a, b) => a - b));
    expect(Math.max(...first.keyframes!.map((k) => k.score))).toBeCloseTo(first.similarity, 5);
    // Each appearance is reported once, and everything else ranks below the object.
    expect(new Set(hits.map((h) => h.track)).size).toBe(hits.length);
    for (const other of hits.slice(1)) expect(other.score).toBeLessThan(first.score);
  });

  it('finds the object from a box drawn in a photo of another scene, ahead of the distractor', async () => {
    const scene = await decodeImage(fixture('moving-object-query-scene.png'));
    const box: Box = [SCENE.box.x, SCENE.box.y, SCENE.box.x + SCENE.box.w, SCENE.box.y + SCENE.box.h];
    const hits = await searchByExample(store, await dasr.describe(scene, box), { top: 10 });
    expect(hits[0]!.start).toBeCloseTo(1, 6);
    expect(hits[0]!.end).toBeCloseTo(5, 6);
    // The distractor (visible all the time) is found too, as a separate, lower-ranked hit.
    const d = MOVING.distractor.box;
    const distractor = hits.findIndex((h) => iou(h.best.box, [d.x, d.y, d.x + d.w, d.y + d.h]) > 0.2);
    expect(distractor).toBeGreaterThan(0);
  });

  it('applies time, video and score filters and keeps a stable order', async () => {
    const query = await dasr.describe(await decodeImage(fixture('moving-object-query.png')));
    const all = await searchByExample(store, query, { top: 10 });
    expect(await searchByExample(store, query, { top: 10 })).toEqual(all);
    const late = await searchByExample(store, query, { top: 10, from: 4.5 });
    expect(late.length).toBeGreaterThan(0);
    for (const hit of late) expect(hit.best.t).toBeGreaterThanOrEqual(4.5);
    expect(await searchByExample(store, query, { top: 10, videoIds: [videoId + 1] })).toEqual([]);
    // minScore bounds the regions' own similarity, not the appearance's blended score
    const closest = Math.max(...all.map((h) => h.similarity));
    const strong = await searchByExample(store, query, { top: 10, minScore: closest });
    expect(strong).toHaveLength(1);
    expect(strong[0]!.similarity).toBe(closest);
    expect(await searchByExample(store, query, { top: 1 })).toEqual(all.slice(0, 1));
  });

  it('prints the stable JSON shape', async () => {
    const query = await dasr.describe(await decodeImage(fixture('moving-object-query.png')));
    const [hit] = await searchByExample(store, query, { top: 1, keyframes: true });
    const json = searchJson([hit!]);
    expect(Object.keys(json.hits[0]!)).toEqual(['video', 'path', 'track', 'score', 'similarity', 'start', 'end', 'best', 'keyframes']);
    expect(Object.keys(json.hits[0]!.best as object)).toEqual(['t', 'box', 'region']);
    expect((json.hits[0]!.keyframes as unknown[]).length).toBe(hit!.keyframes!.length);
  });

  it('answers bad queries clearly', async () => {
    const image = await decodeImage(fixture('moving-object-query-scene.png'));
    await expect(dasr.describe(image, [5000, 5000, 5100, 5100])).rejects.toMatchObject({ code: 'box-outside-image' });
    await expect(dasr.describe(image, [10, 10, 14, 14])).rejects.toMatchObject({ code: 'box-too-small' });
    await expect(decodeImage(fixture('not-video.txt'))).rejects.toMatchObject({ code: 'not-image' });
    expect(() => parseBoxOption('1,2,3')).toThrow(/x,y,w,h/);
    expect(parseBoxOption('10,20,30,40')).toEqual([10, 20, 40, 60]);
    // A flat image has nothing for the network to respond to.
    const flat = { width: 200, height: 200, data: Buffer.alloc(200 * 200 * 3, 0) };
    await expect(dasr.describe(flat)).rejects.toMatchObject({ code: 'no-object' });
  });
});
