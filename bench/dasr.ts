import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Dasr } from '../src/detect/dasr.js';
import { decodeImage } from '../src/image/load.js';
import { Backbone } from '../src/model/backbone.js';
import { median, mib, peakRss } from './stats.js';

const SHARED_SEQUENCES = new URL('../../shared/data/tracks-dev/seqs/', import.meta.url).pathname;

/** The shipped photos plus, when ../shared is present, the first frame of each tracking sequence. */
function benchImages(): string[] {
  const images = ['chelsea.png', 'coffee.png'].map((f) => new URL(`../fixtures/photos/${f}`, import.meta.url).pathname);
  if (existsSync(SHARED_SEQUENCES)) {
    for (const sequence of readdirSync(SHARED_SEQUENCES).sort()) {
      const first = readdirSync(join(SHARED_SEQUENCES, sequence)).filter((f) => f.endsWith('.jpg')).sort()[0];
      if (first) images.push(join(SHARED_SEQUENCES, sequence, first));
    }
  } else {
    process.stdout.write(`(${SHARED_SEQUENCES} not found: benchmarking the shipped photos only)\n`);
  }
  return images;
}

export async function run(args: string[]): Promise<void> {
  const variants = args.length ? (args as ('dasr' | 'dasr-star')[]) : (['dasr-star', 'dasr'] as const);
  const backbone = await Backbone.load();
  const images = benchImages();
  for (const variant of variants) {
    const dasr = new Dasr(backbone, { variant, longSide: 512 });
    await dasr.detect(await decodeImage(images[0]!)); // warm-up
    const rows: { forward: number; topDown: number; pooling: number; total: number; peaks: number; regions: number }[] = [];
    for (const path of images) {
      const image = await decodeImage(path);
      const t = performance.now();
      const detection = await dasr.detect(image);
      const total = performance.now() - t;
      rows.push({ forward: detection.timings.forwardMs, topDown: detection.timings.topDownMs, pooling: detection.timings.poolingMs + detection.timings.boxesMs, total, peaks: detection.peaks, regions: detection.regions.length });
    }
    const col = (key: keyof (typeof rows)[number]) => median(rows.map((r) => r[key]));
    process.stdout.write(
      `${variant} at long side 512, ${images.length} images on ${backbone.device} (medians): forward ${col('forward').toFixed(0)} ms, ` +
        `top-down ${col('topDown').toFixed(0)} ms, boxes+pooling ${col('pooling').toFixed(1)} ms, total ${col('total').toFixed(0)} ms; ` +
        `peaks/image ${col('peaks')} (mean ${(rows.reduce((s, r) => s + r.peaks, 0) / rows.length).toFixed(1)}), regions/image ${col('regions')}; ` +
        `top-down per peak ${(rows.reduce((s, r) => s + r.topDown, 0) / Math.max(1, rows.reduce((s, r) => s + r.peaks, 0))).toFixed(0)} ms\n`,
    );
  }
  process.stdout.write(`peak RSS: ${mib(peakRss())}\n`);
  await backbone.release();
}
