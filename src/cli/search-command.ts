import { InvalidArgumentError } from 'commander';
import type { Box } from '../detect/box.js';
import type { Detector } from '../detect/detector.js';
import { decodeImage, type DecodedImage } from '../image/load.js';
import { combineExamples } from '../search/examples.js';
import { describeShotQuery, searchShots, type ShotHit } from '../search/shot-search.js';
import { describeExamples, typicalFrameSize } from '../search/describe-query.js';
import { descriptorSettingMismatches } from '../search/index-settings.js';
import { IndexStore } from '../index/index-store.js';
import { redactPassword } from '../index/postgres-store.js';
import { openExistingRegionStore } from '../index/open-store.js';
import { isPostgresLocation } from '../index/region-store.js';
import { expansion, searchByExample, type TrackHit } from '../search/search.js';
import { formatClock } from '../ingest/progress.js';
import { contactSheet, type ThumbnailHit } from '../clip/thumbnail.js';
import { parseBoxText, searchJson, shotSearchJson } from '../search/search-json.js';
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

export interface SearchCommandOptions {
  data: string;
  /** the index instead of --data: a data directory or a cluster's postgres:// URL */
  index?: string;
  /** one per image, in order (or none) */
  box?: Box[];
  top: number;
  keyframes?: boolean;
  json?: boolean;
  video?: number[];
  from?: number;
  to?: number;
  minScore?: number;
  sheet?: string;
  /** αQE over this many best keyframes (0: off) */
  expand?: number;
  /** track-level evidence weight (0: off) */
  trackWeight?: number;
  /** relevance feedback: region ids of earlier hits (best.region) that are, and are not, the object */
  right?: number[];
  wrong?: number[];
  /** shot search: the images are whole scenes, matched on the keyframes' shot vectors */
  shot?: boolean;
}

/** `--box x,y,w,h` (pixels of the query image) → [x1, y1, x2, y2]. */
export function parseBoxOption(value: string): Box {
  try {
    return parseBoxText(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/**
 * Searches with one or more views of the object (several images are combined: examples.ts), or with --shot for
 * shots like the images. The images and the index are opened before DASR starts (`startDasr`), so bad input fails
 * at once.
 */
export async function searchCommand(startDasr: () => Promise<Detector>, imagePaths: readonly string[], options: SearchCommandOptions): Promise<TrackHit[] | ShotHit[]> {
  const images = await Promise.all(imagePaths.map((path) => decodeImage(path)));
  const location = options.index ?? options.data;
  const shared = isPostgresLocation(location);
  if (shared && options.shot) throw new Error('shot search needs the embedded index (--data): the cluster index has no shot vectors');
  const where = shared ? redactPassword(location) : location;
  const store = await openExistingRegionStore(location);
  try {
    if (options.shot) return await shotSearchCommand(store as IndexStore, startDasr, images, imagePaths, options);
    const detector = await startDasr();
    for (const line of descriptorSettingMismatches(detector.config, await store.videoSettings(options.video))) process.stderr.write(`warning: ${line}\n`);
    const query = await describeExamples(detector, images, options.box ?? [], await typicalFrameSize(store, options.video));
    if (query.length !== store.dim) {
      throw new Error(
        `the query descriptor is ${query.length}-d but ${where} indexes ${store.dim}-d descriptors: ` +
          'search with the --whitening (or none) the videos were indexed with',
      );
    }
    const hits = await searchByExample(store, query, {
      top: options.top,
      keyframes: options.keyframes,
      videoIds: options.video,
      from: options.from,
      to: options.to,
      minScore: options.minScore,
      expand: expansion(options.expand),
      trackWeight: options.trackWeight,
      feedback: options.right?.length || options.wrong?.length ? { right: options.right ?? [], wrong: options.wrong ?? [] } : undefined,
    });
    if (options.json) {
      process.stdout.write(`${JSON.stringify(searchJson(hits))}\n`);
    } else if (hits.length === 0) {
      process.stdout.write(`no match in ${where}${(await store.regionCount()) === 0 ? ' (the index is empty: run dasr index first)' : ''}\n`);
    } else {
      process.stdout.write(`${'#'.padStart(3)}  ${'score'.padStart(6)}  ${'video'.padStart(5)}  ${'track'.padStart(5)}  ${'span'.padEnd(13)}  ${'best'.padStart(7)}  ${'region'.padStart(6)}  box (x1,y1,x2,y2)  path\n`);
      hits.forEach((h, i) => {
        const box = h.best.box.map((v) => v.toFixed(0)).join(',');
        process.stdout.write(
          `${String(i + 1).padStart(3)}  ${h.score.toFixed(3).padStart(6)}  ${String(h.videoId).padStart(5)}  ${String(h.track ?? '-').padStart(5)}  ` +
            `${`${formatClock(h.start)}–${formatClock(h.end)}`.padEnd(13)}  ${`${h.best.t.toFixed(2)}s`.padStart(7)}  ${String(h.best.regionId).padStart(6)}  ${box.padEnd(17)}  ${h.path}\n`,
        );
        for (const k of h.keyframes ?? []) process.stdout.write(`${''.padStart(24)}${k.t.toFixed(2).padStart(8)}s  ${k.score.toFixed(3)}  [${k.box.map((v) => v.toFixed(0)).join(',')}]\n`);
      });
    }
    await writeSheet(hits, imagePaths, options);
    return hits;
  } finally {
    await store.close();
  }
}

async function writeSheet(hits: readonly ThumbnailHit[], imagePaths: readonly string[], options: SearchCommandOptions): Promise<void> {
  if (!options.sheet) return;
  const format = /\.png$/i.test(options.sheet) ? 'png' : 'jpeg';
  await writeFile(options.sheet, await contactSheet(hits, { title: `${hits.length} hits for ${imagePaths.map((path) => basename(path)).join(' + ')}`, format }));
  if (!options.json) process.stdout.write(`contact sheet: ${options.sheet}\n`);
}

/** Shots like the query images (several are combined as views of one scene). */
async function shotSearchCommand(store: IndexStore, startDasr: () => Promise<Detector>, images: readonly DecodedImage[], imagePaths: readonly string[], options: SearchCommandOptions): Promise<ShotHit[]> {
  if (!store.shotCodebook) throw new Error(`${options.data} has no shot codebook: run dasr shots learn --data ${options.data} first`);
  const detector = await startDasr();
  const vlads: Float32Array[] = [];
  for (const image of images) vlads.push(await describeShotQuery(detector, store, image));
  const hits = await searchShots(store, combineExamples(vlads), { top: options.top, videoIds: options.video, from: options.from, to: options.to, minScore: options.minScore });
  if (options.json) {
    process.stdout.write(`${JSON.stringify(shotSearchJson(hits))}\n`);
  } else if (hits.length === 0) {
    process.stdout.write(`no matching shot in ${options.data}${store.db.shotCount() === 0 ? ' (no keyframe has a shot vector: index videos first)' : ''}\n`);
  } else {
    process.stdout.write(`${'#'.padStart(3)}  ${'score'.padStart(6)}  ${'video'.padStart(5)}  ${'span'.padEnd(13)}  ${'best'.padStart(7)}  ${'frames'.padStart(6)}  path\n`);
    hits.forEach((h, i) => {
      process.stdout.write(
        `${String(i + 1).padStart(3)}  ${h.score.toFixed(3).padStart(6)}  ${String(h.videoId).padStart(5)}  ${`${formatClock(h.start)}–${formatClock(h.end)}`.padEnd(13)}  ` +
          `${`${h.best.t.toFixed(2)}s`.padStart(7)}  ${String(h.keyframeCount).padStart(6)}  ${h.path}\n`,
      );
    });
  }
  await writeSheet(hits, imagePaths, options);
  return hits;
}
