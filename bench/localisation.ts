import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeFile, mkdir } from 'node:fs/promises';
import { Dasr } from '../src/detect/dasr.js';
import { iou } from '../src/detect/box.js';
import { decodeImage } from '../src/image/load.js';
import { drawDetections } from '../src/image/annotate.js';
import { Backbone } from '../src/model/backbone.js';
import { readTrackSequences } from '../src/eval/tracks-dataset.js';

const TRACKS = new URL('../../shared/data/tracks-dev/', import.meta.url).pathname;

/**
 * Localisation on real photos: for the first visible frame of each tracks-dev sequence, the IoU of the
 * best DASR box with the ground truth. `--out DIR` also writes annotated frames (ground truth in white).
 */
export async function run(args: string[]): Promise<void> {
  if (!existsSync(TRACKS)) {
    process.stdout.write(`skipped: ${TRACKS} is absent (the localisation benchmark needs ../shared/data)\n`);
    return;
  }
  const outIndex = args.indexOf('--out');
  const outDir = outIndex >= 0 ? args[outIndex + 1] : undefined;
  if (outDir) await mkdir(outDir, { recursive: true });
  const backbone = await Backbone.load();
  const sequences = readTrackSequences(TRACKS);
  for (const variant of ['dasr', 'dasr-star'] as const) {
    const dasr = new Dasr(backbone, { variant });
    const ious: number[] = [];
    for (const sequence of sequences) {
      const first = sequence.frames.find((f) => f.box);
      if (!first?.box) continue;
      const image = await decodeImage(join(sequence.directory, first.file));
      const detection = await dasr.detect(image);
      const best = detection.regions.reduce((m, r) => Math.max(m, iou(r.box, first.box!)), 0);
      ious.push(best);
      process.stdout.write(`${variant.padEnd(9)} ${sequence.name.padEnd(22)} ${String(detection.regions.length).padStart(3)} regions  best IoU ${best.toFixed(3)}\n`);
      if (outDir) {
        const picture = await drawDetections(image, [
          ...detection.regions.map((r) => ({ box: r.box, score: r.score, peak: r.peak })),
          { box: first.box, score: 0, label: 'ground truth' },
        ]);
        await writeFile(join(outDir, `${variant}-${sequence.name}.png`), picture);
      }
    }
    process.stdout.write(`${variant}: mean best-box IoU over ${ious.length} first frames = ${(ious.reduce((a, b) => a + b, 0) / ious.length).toFixed(3)}\n`);
  }
  await backbone.release();
}
