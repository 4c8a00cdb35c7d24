import { performance } from 'node:perf_hooks';
import { boxArea, iou, type Box } from '../src/detect/box.js';
import { cellBoxToPixels } from '../src/detect/dasr.js';
import { boxFromSaliency, SALIENT_PERCENTILE } from '../src/detect/region-box.js';
import { decodeImage, resizeLongSide } from '../src/image/load.js';
import { toCaffeTensor } from '../src/image/tensor.js';
import { Backbone, type DasrOutputs } from '../src/model/backbone.js';
import { TOPDOWN_LEVELS, TOPDOWN_STOPS, type TopDownLevel } from '../src/model/provision.js';
import { benchImages } from './images.js';
import { median } from './stats.js';

const LONG_SIDE = 512;

interface LevelRun {
  outputs: DasrOutputs[];
  sizes: { width: number; height: number }[];
  networkMs: number[];
  forwardMs: number[];
}

/** Every peak's box (input pixels; null where the map gives none) at `percentile`. */
function peakBoxes(run: LevelRun, percentile: number): (Box | null)[][] {
  return run.outputs.map((o, i) => {
    const plane = o.saliencyWidth * o.saliencyHeight;
    return o.peaks.map((_, k) => {
      const box = boxFromSaliency(o.saliency.subarray(k * plane, (k + 1) * plane), o.saliencyWidth, o.saliencyHeight, percentile);
      return box ? cellBoxToPixels(box, o.saliencyStride, run.sizes[i]!.width, run.sizes[i]!.height) : null;
    });
  });
}

/** Mean IoU with the full pass's boxes, peak by peak, and the mean ratio of their areas. */
function compare(boxes: (Box | null)[][], full: (Box | null)[][]): { iou: number; areaRatio: number; pairs: number } {
  const ious: number[] = [];
  const ratios: number[] = [];
  boxes.forEach((image, i) =>
    image.forEach((box, k) => {
      const reference = full[i]![k];
      if (!box || !reference) return;
      ious.push(iou(box, reference));
      ratios.push(boxArea(box) / boxArea(reference));
    }),
  );
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  return { iou: mean(ious), areaRatio: mean(ratios), pairs: ious.length };
}

/**
 * `npm run bench -- topdown [level…]`: each top-down level against the full pass on the same peaks — time of the
 * whole DASR model run per image (and as a multiple of the plain forward timed just before it), and the boxes'
 * IoU and area ratio with the full pass's at the 95th percentile and at the level's percentile (TOPDOWN_STOPS),
 * with the percentile whose boxes have the full pass's mean area: how those percentiles were chosen.
 */
export async function run(args: string[]): Promise<void> {
  const levels = args.length ? (args as TopDownLevel[]) : TOPDOWN_LEVELS;
  const images = await Promise.all(benchImages({ perSequence: 2 }).map(async (path) => resizeLongSide(await decodeImage(path), LONG_SIDE)));
  const runs = new Map<TopDownLevel, LevelRun>();
  for (const level of new Set<TopDownLevel>(['full', ...levels])) {
    const backbone = await Backbone.load({ topDown: level });
    const rule = { maxPeaks: 16, aboveMean: false };
    const run: LevelRun = { outputs: [], sizes: [], networkMs: [], forwardMs: [] };
    const warm = toCaffeTensor(images[0]!);
    await backbone.detect(warm, images[0]!.height, images[0]!.width, rule);
    for (const image of images) {
      const tensor = toCaffeTensor(image);
      let t = performance.now();
      await backbone.forward(tensor, image.height, image.width);
      run.forwardMs.push(performance.now() - t);
      t = performance.now();
      run.outputs.push(await backbone.detect(tensor, image.height, image.width, rule));
      run.networkMs.push(performance.now() - t);
      run.sizes.push({ width: image.width, height: image.height });
    }
    runs.set(level, run);
    await backbone.release();
  }
  const full = peakBoxes(runs.get('full')!, SALIENT_PERCENTILE);
  process.stdout.write(`${images.length} images at long side ${LONG_SIDE}, ${runs.get('full')!.outputs.reduce((n, o) => n + o.peaks.length, 0)} peaks\n`);
  process.stdout.write('| level | map stride | network ms (median) | × forward | box IoU with full | box area / full |\n|---|---|---|---|---|---|\n');
  for (const level of levels) {
    const run = runs.get(level)!;
    const ratio = median(run.networkMs.map((ms, i) => ms / run.forwardMs[i]!));
    const boxes = compare(peakBoxes(run, SALIENT_PERCENTILE), full);
    process.stdout.write(
      `| ${level} | ${TOPDOWN_STOPS[level].stride} | ${median(run.networkMs).toFixed(0)} | ${ratio.toFixed(2)} | ${boxes.iou.toFixed(3)} | ${boxes.areaRatio.toFixed(2)} |\n`,
    );
  }
  process.stdout.write('\nbox area / full, and IoU with full, if the box percentile were lowered to restore the full pass\'s box size:\n');
  for (const level of levels.filter((l) => l !== 'full')) {
    const cells = [95, 94, 93, 92, 91, 90].map((p) => {
      const c = compare(peakBoxes(runs.get(level)!, p), full);
      return `${p}: ${c.areaRatio.toFixed(2)} / ${c.iou.toFixed(3)}`;
    });
    process.stdout.write(`  ${level}  ${cells.join('  ')}\n`);
  }
}
