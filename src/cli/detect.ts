import { writeFile } from 'node:fs/promises';
import { drawDetections } from '../image/annotate.js';
import { decodeImage } from '../image/load.js';
import type { Detection } from '../detect/dasr.js';
import type { Detector } from '../detect/detector.js';

/** The stable --json shape: boxes in original image pixels. Scripts rely on it. */
export function detectionJson(detection: Detection): object {
  return {
    image: detection.image,
    regions: detection.regions.map((r) => ({ box: r.box.map(round2), score: round6(r.score), peak: r.peak.map(round2) })),
  };
}

/** The image is read before DASR starts (`startDasr`), so a bad path fails at once. */
export async function detectCommand(startDasr: () => Promise<Detector>, path: string, options: { out?: string; json?: boolean }): Promise<void> {
  const image = await decodeImage(path);
  const detection = await (await startDasr()).detect(image);
  if (options.out) {
    const picture = await drawDetections(
      image,
      detection.regions.map((r) => ({ box: r.box, score: r.score, peak: r.peak })),
      { format: options.out.toLowerCase().endsWith('.jpg') || options.out.toLowerCase().endsWith('.jpeg') ? 'jpeg' : 'png' },
    );
    await writeFile(options.out, picture);
  }
  if (options.json) {
    process.stdout.write(`${JSON.stringify(detectionJson(detection))}\n`);
    return;
  }
  const t = detection.timings;
  process.stdout.write(
    `${path}: ${detection.image.width}×${detection.image.height}, network input ${detection.input.width}×${detection.input.height}, ` +
      `${detection.peaks} peaks → ${detection.regions.length} regions ` +
      `(network ${t.networkMs.toFixed(0)} ms, boxes ${t.boxesMs.toFixed(0)} ms, pooling ${t.poolingMs.toFixed(0)} ms)\n`,
  );
  if (detection.regions.length === 0) process.stdout.write('no salient region found (the response map has no qualifying peak)\n');
  detection.regions.forEach((r, i) => {
    const [x1, y1, x2, y2] = r.box.map((v) => v.toFixed(0));
    process.stdout.write(`  #${i + 1}  score ${r.score.toFixed(4)}  box [${x1}, ${y1}, ${x2}, ${y2}]\n`);
  });
  if (options.out) process.stdout.write(`annotated image: ${options.out}\n`);
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const round6 = (v: number): number => Math.round(v * 1e6) / 1e6;
