/**
 * Network input: Keras `preprocess_input` in "caffe" mode, as used by keras.applications.ResNet50.
 */

import { assertDecodedImage, type DecodedImage } from './load.js';

/** ImageNet channel means subtracted in caffe mode, in the tensor's channel order (B, G, R). */
export const CAFFE_MEAN_BGR = [103.939, 116.779, 123.68] as const;

/**
 * NCHW float32 tensor of shape [1, 3, height, width]: channels in BGR order, each minus its ImageNet mean
 * ({@link CAFFE_MEAN_BGR}), no scaling. Element (c, y, x) is at `c * height * width + y * width + x`.
 */
export function toCaffeTensor(image: DecodedImage): Float32Array {
  assertDecodedImage(image);
  const { width, height, data } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const [meanB, meanG, meanR] = CAFFE_MEAN_BGR;
  for (let i = 0, p = 0; i < plane; i++, p += 3) {
    out[i] = data[p + 2] - meanB;
    out[plane + i] = data[p + 1] - meanG;
    out[2 * plane + i] = data[p] - meanR;
  }
  return out;
}
