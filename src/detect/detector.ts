import type { DecodedImage } from '../image/load.js';
import type { Box } from './box.js';
import type { DasrConfig } from './config.js';
import type { Detection } from './dasr.js';
import type { TopDownLevel } from '../model/provision.js';

/** What the pipelines need from DASR: the in-process `Dasr` and the `DetectorThread` both provide it. */
export interface Detector {
  readonly config: DasrConfig;
  /**
   * Length of the descriptors it outputs (2048, or fewer with a dimension-reducing whitening); data directories
   * are created with it. Absent: unknown to the wrapper, taken as the index default (2048).
   */
  readonly featureDim?: number;
  /** where its top-down pass stops; part of what an index depends on. Absent: unknown to the wrapper. */
  readonly topDown?: TopDownLevel;
  detect(image: DecodedImage): Promise<Detection>;
  describe(image: DecodedImage, box?: Box): Promise<Float32Array>;
  /** a cut-out crop described at its scale in frames of `frame`'s size (Dasr.describeCrop) */
  describeCrop(crop: DecodedImage, frame: { width: number; height: number }): Promise<Float32Array>;
}
