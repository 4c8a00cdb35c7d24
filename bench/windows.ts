import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { decodeImage, resizeLongSide } from '../src/image/load.js';
import { toCaffeTensor } from '../src/image/tensor.js';
import { Backbone } from '../src/model/backbone.js';
import { DEFAULT_TOPDOWN_LEVEL, RESNET_LAYERS, resnetModelJsonPath, TOPDOWN_LEVELS, TOPDOWN_STOPS, type TopDownLevel } from '../src/model/provision.js';
import { createSession } from '../src/model/session.js';
import { readTfjsLayersModel } from '../src/model/tfjs-layers.js';
import { buildTopDownModel } from '../src/model/topdown-graph.js';
import { benchImages } from './images.js';
import { median } from './stats.js';

const LONG_SIDE = 512;

/**
 * `npm run bench -- windows [level…]`: the top-down pass on whole maps against the product's pass on windows
 * around each peak, on the same images and peaks (DASR*, up to 16, found by the product's model), each model
 * computing its own forward: time per image, as a multiple of a plain forward timed just before, and the largest
 * difference between the two saliency maps relative to the map's maximum (the rewrite is exact).
 */
export async function run(args: string[]): Promise<void> {
  const levels = args.filter((a): a is TopDownLevel => (TOPDOWN_LEVELS as string[]).includes(a));
  const graph = await readTfjsLayersModel(resnetModelJsonPath());
  const images = await Promise.all(benchImages().map(async (path) => resizeLongSide(await decodeImage(path), LONG_SIDE)));
  for (const level of levels.length ? levels : [DEFAULT_TOPDOWN_LEVEL]) {
    const backbone = await Backbone.load({ topDown: level });
    const { stop } = TOPDOWN_STOPS[level];
    const passes = {
      whole: (await createSession(buildTopDownModel(graph, RESNET_LAYERS.res5c, stop, false))).session,
      windows: (await createSession(buildTopDownModel(graph, RESNET_LAYERS.res5c, stop, true))).session,
    };
    const times = { forward: [] as number[], whole: [] as number[], windows: [] as number[] };
    let worst = 0;
    let peaks = 0;
    for (const [i, image] of images.entries()) {
      const tensor = toCaffeTensor(image);
      const detection = await backbone.detect(tensor, image.height, image.width, { maxPeaks: 16, aboveMean: false });
      if (detection.peaks.length === 0) continue;
      peaks += detection.peaks.length;
      const { width, height } = detection.res5c;
      const seeds = new Float32Array(detection.peaks.length * width * height);
      detection.peaks.forEach((p, k) => (seeds[(k * height + p.y) * width + p.x] = 1));
      const feeds = { image: new ort.Tensor('float32', tensor, [1, 3, image.height, image.width]), seeds: new ort.Tensor('float32', seeds, [detection.peaks.length, 1, height, width]) };
      if (i === 0) for (const session of Object.values(passes)) await session.run(feeds); // warm-up
      let t = performance.now();
      await backbone.forward(tensor, image.height, image.width);
      times.forward.push(performance.now() - t);
      const maps: Float32Array[] = [];
      for (const [name, session] of Object.entries(passes) as [keyof typeof passes, ort.InferenceSession][]) {
        t = performance.now();
        maps.push((await session.run(feeds)).saliency!.data as Float32Array);
        times[name].push(performance.now() - t);
      }
      const [whole, windows] = maps as [Float32Array, Float32Array];
      const scale = whole.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (let j = 0; j < whole.length; j++) worst = Math.max(worst, Math.abs(windows[j]! - whole[j]!) / scale);
    }
    const ratio = (name: 'whole' | 'windows') => median(times[name].map((ms, i) => ms / times.forward[i]!));
    process.stdout.write(
      `top-down to ${level}, long side ${LONG_SIDE}, ${times.forward.length} images, ${peaks} peaks (medians): plain forward ${median(times.forward).toFixed(0)} ms; ` +
        `whole maps ${median(times.whole).toFixed(0)} ms = ${ratio('whole').toFixed(2)}×; windows ${median(times.windows).toFixed(0)} ms = ${ratio('windows').toFixed(2)}×; ` +
        `largest difference ${worst.toExponential(1)} of the map's maximum\n`,
    );
    await Promise.all([backbone.release(), passes.whole.release(), passes.windows.release()]);
  }
}
