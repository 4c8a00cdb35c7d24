import { performance } from 'node:perf_hooks';
import { Dasr } from '../src/detect/dasr.js';
import { DEFAULT_DASR_CONFIG, type DasrConfig } from '../src/detect/config.js';
import { decodeImage, resizeLongSide } from '../src/image/load.js';
import { toCaffeTensor } from '../src/image/tensor.js';
import { Backbone } from '../src/model/backbone.js';
import { DEFAULT_TOPDOWN_LEVEL, TOPDOWN_LEVELS, type TopDownLevel } from '../src/model/provision.js';
import { benchImages } from './images.js';
import { median, mib, peakRss } from './stats.js';

/**
 * `npm run bench -- dasr [level…] [dasr|dasr-star] [--long-side px] [--pool-long-side px] [--pooling-cells rule,…]`: time per
 * image (long side 512 unless given) of a whole detection, per top-down level (default: the product's and the full
 * pass) and pooling rule (default: the product's), and the same image's plain backbone forward timed right before it,
 * so the ratio does not depend on how busy the machine is.
 */
export async function run(args: string[]): Promise<void> {
  const poolAt = args.indexOf('--pool-long-side');
  const poolLongSide = poolAt >= 0 ? Number(args.splice(poolAt, 2)[1]) : undefined;
  const cellsAt = args.indexOf('--pooling-cells');
  const cellRules = cellsAt >= 0 ? (args.splice(cellsAt, 2)[1]!.split(',') as DasrConfig['poolingCells'][]) : [DEFAULT_DASR_CONFIG.poolingCells];
  const longAt = args.indexOf('--long-side');
  const longSide = longAt >= 0 ? Number(args.splice(longAt, 2)[1]) : 512;
  const levels = args.filter((a): a is TopDownLevel => (TOPDOWN_LEVELS as string[]).includes(a));
  const variants = args.filter((a): a is 'dasr' | 'dasr-star' => a === 'dasr' || a === 'dasr-star');
  const images = await Promise.all(benchImages().map((path) => decodeImage(path)));
  for (const level of levels.length ? levels : [...new Set([DEFAULT_TOPDOWN_LEVEL, 'full' as const])]) {
    const backbone = await Backbone.load({ topDown: level });
    for (const [variant, poolingCells] of (variants.length ? variants : ['dasr-star' as const]).flatMap((v) => cellRules.map((rule) => [v, rule] as const))) {
      const dasr = new Dasr(backbone, { variant, longSide, poolLongSide, poolingCells });
      await dasr.detect(images[0]!); // warm-up
      const rows: { forward: number; network: number; boxes: number; pooling: number; total: number; ratio: number; peaks: number; regions: number }[] = [];
      for (const image of images) {
        const resized = resizeLongSide(image, longSide);
        const tensor = toCaffeTensor(resized);
        let t = performance.now();
        await backbone.forward(tensor, resized.height, resized.width);
        const forward = performance.now() - t;
        t = performance.now();
        const detection = await dasr.detect(image);
        const total = performance.now() - t;
        const { networkMs, boxesMs, poolingMs } = detection.timings;
        rows.push({ forward, network: networkMs, boxes: boxesMs, pooling: poolingMs, total, ratio: total / forward, peaks: detection.peaks, regions: detection.regions.length });
      }
      const col = (key: keyof (typeof rows)[number]) => median(rows.map((r) => r[key]));
      process.stdout.write(
        `${variant}, top-down to ${level}, long side ${longSide}${poolLongSide ? `, pooled at ${poolLongSide}` : ''}, cells by ${dasr.config.poolingCells}, ${images.length} images on ${backbone.device} (medians): ` +
          `total ${col('total').toFixed(0)} ms = network ${col('network').toFixed(0)} + boxes ${col('boxes').toFixed(1)} + pooling ${col('pooling').toFixed(1)} ms; ` +
          `plain forward ${col('forward').toFixed(0)} ms; total / forward ${col('ratio').toFixed(2)}×; ` +
          `peaks/image ${col('peaks')} (mean ${(rows.reduce((s, r) => s + r.peaks, 0) / rows.length).toFixed(1)}), regions/image ${col('regions')}\n`,
      );
    }
    await backbone.release();
  }
  process.stdout.write(`peak RSS: ${mib(peakRss())}\n`);
}
