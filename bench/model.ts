import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import { decodeImage, resizeLongSide } from '../src/image/load.js';
import { toCaffeTensor } from '../src/image/tensor.js';
import { Backbone } from '../src/model/backbone.js';
import { ensureModels } from '../src/model/provision.js';
import { median, mib, peakRss } from './stats.js';

const RUNS = 7;

export async function run(): Promise<void> {
  await ensureModels();
  let t = performance.now();
  const backbone = await Backbone.load();
  const startupMs = performance.now() - t;
  const photo = await decodeImage(new URL('../fixtures/photos/chelsea.png', import.meta.url).pathname);

  process.stdout.write(`ResNet-50 forward on ${backbone.device} (${cpus().length} cores: ${cpus()[0]?.model ?? '?'})\n`);
  process.stdout.write(`session start-up (forward + top-down sessions, cache warm): ${startupMs.toFixed(0)} ms\n`);
  for (const longSide of [224, 512]) {
    const image = resizeLongSide(photo, longSide);
    const tensor = toCaffeTensor(image);
    await backbone.forward(tensor, image.height, image.width); // warm-up: first run allocates
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      t = performance.now();
      await backbone.forward(tensor, image.height, image.width);
      times.push(performance.now() - t);
    }
    process.stdout.write(
      `long side ${longSide} (${image.width}×${image.height}): median ${median(times).toFixed(1)} ms per image over ${RUNS} runs ` +
        `(min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)})\n`,
    );
  }
  process.stdout.write(`peak RSS: ${mib(peakRss())}\n`);
  await backbone.release();
}
