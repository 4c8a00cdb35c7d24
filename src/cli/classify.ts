import { decodeImage, resizeLongSide, assertMinimumSize } from '../image/load.js';
import { toCaffeTensor } from '../image/tensor.js';
import type { Backbone } from '../model/backbone.js';
import { imagenetLabels, topK, type ClassScore } from '../model/labels.js';

/** ResNet-50 was trained on 224×224 crops; long side 224 keeps the whole image at that scale. */
export const CLASSIFY_LONG_SIDE = 224;

export async function classifyImage(backbone: Backbone, path: string, count = 5, longSide = CLASSIFY_LONG_SIDE): Promise<ClassScore[]> {
  const image = resizeLongSide(await decodeImage(path), longSide);
  assertMinimumSize(image, 32, path);
  const outputs = await backbone.forward(toCaffeTensor(image), image.height, image.width);
  return topK(outputs.probabilities, await imagenetLabels(), count);
}
