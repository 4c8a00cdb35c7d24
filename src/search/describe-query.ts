import type { Box } from '../detect/box.js';
import type { Detector } from '../detect/detector.js';
import type { DecodedImage } from '../image/load.js';
import type { RegionStore } from '../index/region-store.js';
import { combineExamples } from './examples.js';

export interface FrameSize {
  width: number;
  height: number;
}

/**
 * The frame size a query crop is described at: of the videos and streams searched (all when `videoIds` is
 * omitted), the frame size with the median long side; null when none has a known size yet.
 */
export async function typicalFrameSize(store: RegionStore, videoIds?: readonly number[]): Promise<FrameSize | null> {
  const sizes = (await store.frameSizes(videoIds)).sort((a, b) => Math.max(a.width, a.height) - Math.max(b.width, b.height));
  return sizes.length ? sizes[(sizes.length - 1) >> 1]! : null;
}

/**
 * A query's descriptor. With a box, the box pooled on the whole image (the object in its own scene). Without one
 * the image is the object, cut out: it is described at its scale in the indexed frames (Dasr.describeCrop), which
 * is what a crop matches there; a query as large as those frames is described as a whole image either way.
 */
export function describeQuery(detector: Detector, image: DecodedImage, box: Box | undefined, frames: FrameSize | null): Promise<Float32Array> {
  if (box || !frames) return detector.describe(image, box);
  return detector.describeCrop(image, frames);
}

/**
 * One query from several views of the object, each described as describeQuery does (with `boxes[i]`, or none for
 * all), then combined (examples.ts). One after another: the detector runs one image at a time anyway.
 */
export async function describeExamples(detector: Detector, images: readonly DecodedImage[], boxes: readonly Box[], frames: FrameSize | null): Promise<Float32Array> {
  if (boxes.length !== 0 && boxes.length !== images.length) throw new RangeError(`${boxes.length} boxes for ${images.length} images: give none, or one per image in the same order`);
  const descriptors: Float32Array[] = [];
  for (const [i, image] of images.entries()) descriptors.push(await describeQuery(detector, image, boxes[i], frames));
  return combineExamples(descriptors);
}
