/**
 * `npm run bench -- matching [subscriptions…]`: one live keyframe (16 regions, 2048-d) against every subscription,
 * as the JavaScript loop did it and as the service does it now (OnnxMatchKernel, one thread): time per keyframe and
 * how long the event loop was held.
 */
import { performance } from 'node:perf_hooks';
import { OnnxMatchKernel } from '../src/live/match-kernel.js';
import { matchScores, packVectors } from '../src/live/match-scores.js';
import { mulberry32, randomUnitVector } from '../test/support/random.js';
import { median } from './stats.js';

const DIM = 2048;
const REGIONS = 16;
const ROUNDS = 7;

/** Runs `work` ROUNDS times; median time, and the longest the event loop waited for a 1 ms timer meanwhile. */
async function measure(work: () => Promise<unknown> | unknown): Promise<{ ms: number; loopHeldMs: number }> {
  const times: number[] = [];
  let held = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    held = Math.max(held, now - last);
    last = now;
  }, 1);
  for (let i = 0; i < ROUNDS; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    last = performance.now();
    const started = performance.now();
    await work();
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  clearInterval(timer);
  return { ms: median(times), loopHeldMs: held };
}

export async function run(args: string[]): Promise<void> {
  const counts = args.length > 0 ? args.map(Number) : [2000, 10000];
  const kernel = await OnnxMatchKernel.create();
  const random = mulberry32(1);
  const regions = packVectors(Array.from({ length: REGIONS }, () => randomUnitVector(random, DIM)), DIM);
  process.stdout.write(`one keyframe of ${REGIONS} regions, ${DIM}-d, median of ${ROUNDS}\n`);
  process.stdout.write(`${'subscriptions'.padStart(13)}  ${'JavaScript ms'.padStart(13)}  ${'loop held'.padStart(9)}  ${'ONNX ms'.padStart(8)}  ${'loop held'.padStart(9)}\n`);
  for (const count of counts) {
    const subscriptions = packVectors(Array.from({ length: count }, () => randomUnitVector(random, DIM)), DIM);
    await kernel.scores(subscriptions, regions, DIM);
    const js = await measure(() => matchScores(subscriptions, regions, DIM));
    const onnx = await measure(() => kernel.scores(subscriptions, regions, DIM));
    process.stdout.write(`${String(count).padStart(13)}  ${js.ms.toFixed(1).padStart(13)}  ${js.loopHeldMs.toFixed(0).padStart(9)}  ${onnx.ms.toFixed(1).padStart(8)}  ${onnx.loopHeldMs.toFixed(0).padStart(9)}\n`);
  }
  await kernel.release();
}
