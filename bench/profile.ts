import * as ort from 'onnxruntime-node';
import { dasrFeeds } from '../src/model/backbone.js';
import { profileRuns, type OperatorTime } from '../src/model/ort-profile.js';
import { DEFAULT_TOPDOWN_LEVEL, ensureModels, TOPDOWN_LEVELS, type TopDownLevel } from '../src/model/provision.js';
import { sessionOptionsFor } from '../src/model/session.js';

function printTable(title: string, rows: OperatorTime[], wallMs: number): void {
  const total = rows.reduce((s, r) => s + r.msPerRun, 0);
  process.stdout.write(`\n${title}: wall ${wallMs.toFixed(0)} ms, operators ${total.toFixed(0)} ms\n| op type | ms | share |\n|---|---|---|\n`);
  for (const r of rows.filter((r) => r.msPerRun / total >= 0.005)) process.stdout.write(`| ${r.op} | ${r.msPerRun.toFixed(1)} | ${((100 * r.msPerRun) / total).toFixed(1)} % |\n`);
}

/**
 * `npm run bench -- profile [level] [peaks…]`: where the time goes, per ONNX operator type, for the plain forward
 * and the DASR model of a top-down level (default: the product's) at 512×341 and 512×288 with 1, 4 and 8 peaks.
 * The image is a deterministic texture whose response map has more than 8 peaks, so max_peaks sets K. Times are
 * of runs after a first one (ort-profile.ts).
 */
export async function run(args: string[]): Promise<void> {
  const level = (TOPDOWN_LEVELS as string[]).includes(args[0] ?? '') ? (args.shift() as TopDownLevel) : DEFAULT_TOPDOWN_LEVEL;
  const peakCounts = args.length ? args.map(Number) : [1, 4, 8];
  const paths = await ensureModels({ topDown: level });
  for (const [width, height] of [[512, 341], [512, 288]] as const) {
    const pixels = Float32Array.from({ length: 3 * width * height }, (_, i) => ((i * 7919) % 255) - 120);
    const forward = await profileRuns(paths.backbone, sessionOptionsFor('cpu'), [{ image: new ort.Tensor('float32', pixels, [1, 3, height, width]) }], 2);
    printTable(`forward ${width}×${height}`, forward.operators, forward.wallMsPerRun!);
    for (const k of peakCounts) {
      const dasr = await profileRuns(paths.dasr, sessionOptionsFor('cpu'), [dasrFeeds(pixels, height, width, { maxPeaks: k, aboveMean: false }, false)], 1);
      printTable(`DASR model (top-down to ${level}) ${width}×${height}, max ${k} peaks`, dasr.operators, dasr.wallMsPerRun!);
    }
  }
}
