import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Detector } from '../detect/detector.js';
import { fitWhitening, saveWhitening, whiteningWarning } from '../detect/whitening.js';
import { decodeImage } from '../image/load.js';
import { ImageInputError } from '../image/errors.js';

const IMAGE_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png', '.webp']);

/** Image files named directly or found (recursively) in named directories, in a stable order. */
export function collectImages(inputs: readonly string[]): string[] {
  const found: string[] = [];
  const visit = (path: string): void => {
    if (!existsSync(path)) throw new Error(`no such file or directory: ${path}`);
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
 * The region descriptors DASR finds in each image (in order); an image that cannot be read is skipped, said in the
 * log, which hears a line per image.
 */
export async function regionsOfImages(detector: Detector, paths: readonly string[], log: (line: string) => void): Promise<Float32Array[][]> {
  const sets: Float32Array[][] = [];
  let total = 0;
  for (const [i, path] of paths.entries()) {
    try {
      const { regions } = await detector.detect(await decodeImage(path));
      sets.push(regions.map((r) => r.feature));
      total += regions.length;
      log(`[${i + 1}/${paths.length}] ${path}: ${regions.length} regions (${total} so far)`);
    } catch (error) {
      if (!(error instanceof ImageInputError)) throw error;
      log(`[${i + 1}/${paths.length}] ${path}: skipped (${error.message})`);
    }
  }
  return sets;
}

export interface WhitenFitOptions {
  /** principal directions to keep (the descriptors' dimension afterwards); default: all */
  dims?: number;
}

/**
 * Learns PCA-whitening from the region features of a collection (which should differ from the one that
 * will be searched) and saves it. The detector given must not whiten already. Warns (through `log`) when it
 * keeps more directions than the training vectors span.
 */
export async function whitenFitCommand(
  startDasr: () => Promise<Detector>,
  inputs: readonly string[],
  out: string,
  log: (line: string) => void,
  options: WhitenFitOptions = {},
): Promise<void> {
  const images = collectImages(inputs);
  if (images.length === 0) throw new Error(`no images (${[...IMAGE_EXTENSIONS].join(', ')}) found in ${inputs.join(', ')}`);
  const dasr = await startDasr();
  const features = (await regionsOfImages(dasr, images, log)).flat();
  if (features.length < 2) throw new Error(`only ${features.length} region features were found; whitening needs at least 2`);
  const dim = features[0]!.length;
  if (options.dims !== undefined && !(Number.isInteger(options.dims) && options.dims >= 1 && options.dims <= dim)) {
    throw new RangeError(`--dims must be an integer from 1 to ${dim}, got ${options.dims}`);
  }
  log(`fitting ${dim}-d whitening${options.dims !== undefined ? ` reduced to ${options.dims} dimensions` : ''} on ${features.length} region features…`);
  const whitening = fitWhitening(features, { layer: dasr.config.poolingLayer, dims: options.dims });
  const warning = whiteningWarning(whitening);
  if (warning) log(`warning: ${warning}`);
  saveWhitening(whitening, out);
  log(`saved ${out} (${whitening.dim} → ${whitening.outputDim} dimensions)`);
}
