import type { Detector } from '../detect/detector.js';
import { removeVideoFiles, thumbnailIdsOf } from '../serve/video-files.js';
import { IndexStore } from '../index/index-store.js';
import { ingestFile } from '../ingest/ingest-file.js';
import { LiveIngestion } from '../ingest/ingest-live.js';
import { interruptSignal } from './interrupt.js';
import { openExistingRegionStore } from '../index/open-store.js';
import { redactPassword } from '../index/postgres-store.js';
import { isPostgresLocation } from '../index/region-store.js';
import { probeVideo } from '../decode/probe.js';
import { parseSource } from '../source/source-spec.js';
import { progressPrinter } from '../ingest/progress.js';
import type { VideoSummary } from '../index/database.js';

/** The stable `dasr videos --json` shape. */
export function videoJson(v: VideoSummary): object {
  return { id: v.id, path: v.path, duration: v.duration, keyframes: v.keyframeCount, regions: v.regionCount, tracks: v.trackCount, status: v.status };
}

/** Every input is checked (a readable video file, or a live source the policy allows) before DASR starts (`startDasr`). */
export async function indexCommand(
  startDasr: () => Promise<Detector>,
  inputs: readonly string[],
  options: { data: string; interval: number; scene: number; still: number; force?: boolean },
): Promise<void> {
  for (const input of inputs) if (parseSource(input).kind === 'file') await probeVideo(input);
  const dasr = await startDasr();
  // A new data directory takes the detector's descriptor length; an existing one of another length is refused.
  const store = await IndexStore.open(options.data, { dim: dasr.featureDim, writer: 'dasr index' });
  const interrupt = interruptSignal();
  try {
    for (const input of inputs) {
      if (parseSource(input).kind !== 'file') {
        await indexLive(input, dasr, store, { interval: options.interval, stillThreshold: options.still }, interrupt.signal);
        continue;
      }
      const printer = progressPrinter();
      const result = await ingestFile(input, dasr, store, {
        interval: options.interval,
        sceneThreshold: options.scene,
        stillThreshold: options.still,
        force: options.force,
        signal: interrupt.signal,
        onProgress: (p) => printer.update(p),
      });
      if (result.status !== 'already-indexed') printer.done(result.progress);
      process.stdout.write(
        `${input}: video ${result.videoId} ${result.status}, ${result.keyframes} keyframes` +
          (result.carried ? ` (${result.carried} still: regions carried, no DASR pass)` : '') +
          `, ${result.regions} regions` +
          (result.elapsedMs ? ` in ${(result.elapsedMs / 1000).toFixed(1)} s` : '') +
          '\n',
      );
    }
  } finally {
    interrupt.release();
    await store.close();
  }
}

export async function videosCommand(options: { data: string; index?: string; json?: boolean }): Promise<void> {
  const location = options.index ?? options.data;
  const store = await openExistingRegionStore(location);
  try {
    const videos = await store.listVideos();
    if (options.json) {
      process.stdout.write(`${JSON.stringify(videos.map(videoJson))}\n`);
      return;
    }
    if (videos.length === 0) {
      process.stdout.write(`no videos indexed in ${redactPassword(location)}\n`);
      return;
    }
    process.stdout.write(`${'id'.padStart(4)}  ${'status'.padEnd(8)}  ${'duration'.padStart(8)}  ${'keyframes'.padStart(9)}  ${'regions'.padStart(7)}  ${'tracks'.padStart(6)}  path\n`);
    for (const v of videos) {
      process.stdout.write(
        `${String(v.id).padStart(4)}  ${v.status.padEnd(8)}  ${(v.duration ?? Number.NaN).toFixed(1).padStart(8)}  ${String(v.keyframeCount).padStart(9)}  ` +
          `${String(v.regionCount).padStart(7)}  ${String(v.trackCount).padStart(6)}  ${v.path}\n`,
      );
    }
  } finally {
    await store.close();
  }
}

/**
 * The data directory whose files of removed videos go with them: an index's own; for a cluster index only one given
 * explicitly (`dataGiven`), since its files are wherever its workers and replicas keep them: never guessed, so never a
 * default directory's.
 */
export function videoFilesDir(location: string, dataGiven: string | undefined): string | undefined {
  return isPostgresLocation(location) ? dataGiven : location;
}

/**
 * `filesDir`: the data directory whose files of the videos (recordings, cached clips and thumbnails, uploads) go with
 * them — the index's own, or for a cluster index the one its workers and replicas share, when given.
 */
export async function removeCommand(ids: readonly number[], options: { data: string; index?: string; filesDir?: string | undefined }): Promise<void> {
  const location = options.index ?? options.data;
  const where = redactPassword(location);
  const store = await openExistingRegionStore(location, { writer: 'dasr remove' });
  try {
    for (const id of ids) {
      const video = await store.getVideo(id);
      // A data directory has one writer, this command: nothing else is indexing it. A cluster's workers may be.
      if (video?.status === 'indexing' && isPostgresLocation(location)) {
        throw new Error(`video ${id} is being indexed: ${video.sourceKind === 'live' ? `stop the stream first (dasr stream stop ${id})` : 'remove it once its job has finished'}`);
      }
      const indexed = thumbnailIdsOf(store instanceof IndexStore ? store : undefined, id);
      if (!(await store.deleteVideo(id))) throw new Error(`no video ${id} in ${where}`);
      if (options.filesDir !== undefined && video) await removeVideoFiles(options.filesDir, video, indexed);
      process.stdout.write(`removed video ${id}\n`);
    }
  } finally {
    await store.close();
  }
}

/** Follows a live source until Ctrl-C, printing its state changes and, every 10 s, its counters. */
async function indexLive(url: string, dasr: Detector, store: IndexStore, options: { interval: number; stillThreshold: number }, signal: AbortSignal): Promise<void> {
  const live = (await LiveIngestion.open(url, dasr, store, options)).start();
  process.stderr.write(`${url}: live as video ${live.videoId}; Ctrl-C stops\n`);
  live.state$.subscribe((state) => process.stderr.write(`${url}: ${state}${live.counters.lastError && state === 'reconnecting' ? ` (${live.counters.lastError})` : ''}\n`));
  const report = setInterval(() => {
    const c = live.counters;
    process.stderr.write(`${url}: ${c.framesDecoded} frames, ${c.keyframes} keyframes, ${c.dropped} dropped, ${c.regions} regions, ${c.reconnects} reconnects\n`);
  }, 10_000);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    live.state$.subscribe({ next: (s) => s === 'failed' && resolve() });
  });
  clearInterval(report);
  const failed = live.state === 'failed';
  await live.stop();
  if (failed) throw new Error(`${url}: ${live.counters.lastError ?? 'failed'}`);
}
