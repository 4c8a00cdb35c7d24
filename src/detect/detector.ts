import type { DecodedImage } from '../image/load.js';
import type { Box } from './box.js';
import type { DasrConfig } from './config.js';
import type { Detection } from './dasr.js';

/** What the pipelines need from DASR: the in-process `Dasr` and the `DetectorThread` both provide it. */
export interface Detector {
  readonly config: DasrConfig;
  detect(image: DecodedImage): Promise<Detection>;
  describe(image: DecodedImage, box?: Box): Promise<Float32Array>;
}
