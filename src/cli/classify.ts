import { decodeImage, resizeLongSide, assertMinimumSize } from '../image/load.js';
import { toCaffeTensor } from '../image/tensor.js';
import type { Backbone } from '../model/backbone.js';
import { imagenetLabels, topK, type ClassScore } from '../model/labels.js';

/** ResNet-50 was trained on 224×224 crops; long side 224 keeps the whole image at that scale. */
export const CLASSIFY_LONG_SIDE = 224;

/** The image is read and checked before the model loads (`loadBackbone`), so a bad path fails at once. */
export async function classifyImage(loadBackbone: () => Promise<Backbone>, path: string, count = 5, longSide = CLASSIFY_LONG_SIDE): Promise<ClassScore[]> {
  const image = resizeLongSide(await decodeImage(path), longSide);
  assertMinimumSize(image, 32, path);
  const backbone = await loadBackbone();
  try {
    const outputs = await backbone.forward(toCaffeTensor(image), image.height, image.width);
    return topK(outputs.probabilities, await imagenetLabels(), count);
  } finally {
    await backbone.release();
  }
}
