import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Detector } from '../detect/detector.js';
import { fitWhitening, saveWhitening } from '../detect/whitening.js';
import { decodeImage } from '../image/load.js';
import { ImageInputError } from '../image/errors.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Image files named directly or found (recursively) in named directories, in a stable order. */
export function collectImages(inputs: readonly string[]): string[] {
  const found: string[] = [];
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) visit(join(path, entry));
    } else if (IMAGE_EXTENSIONS.has(extname(path).toLowerCase())) {
      found.push(path);
    }
  };
  for (const input of inputs) visit(input);
  return found;
}

/**
 * Learns PCA-whitening from the region features of a collection (which should differ from the one that
 * will be searched) and saves it. The detector given must not whiten already.
 */
export async function whitenFitCommand(dasr: Detector, inputs: readonly string[], out: string, log: (line: string) => void): Promise<void> {
  const images = collectImages(inputs);
  if (images.length === 0) throw new Error(`no images (${[...IMAGE_EXTENSIONS].join(', ')}) found in ${inputs.join(', ')}`);
  const features: Float32Array[] = [];
  for (const [i, path] of images.entries()) {
    try {
      const detection = await dasr.detect(await decodeImage(path));
      for (const region of detection.regions) features.push(region.feature);
      log(`[${i + 1}/${images.length}] ${path}: ${detection.regions.length} regions (${features.length} so far)`);
    } catch (error) {
      if (!(error instanceof ImageInputError)) throw error;
      log(`[${i + 1}/${images.length}] ${path}: skipped (${error.message})`);
    }
  }
  if (features.length < 2) throw new Error(`only ${features.length} region features were found; whitening needs at least 2`);
  log(`fitting ${features[0]!.length}-d whitening on ${features.length} region features…`);
  const whitening = fitWhitening(features, { layer: dasr.config.poolingLayer });
  saveWhitening(whitening, out);
  log(`saved ${out}`);
}
