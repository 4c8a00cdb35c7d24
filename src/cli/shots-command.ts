import type { Detector } from '../detect/detector.js';
import { vladDim } from '../detect/vlad.js';
import { IndexStore } from '../index/index-store.js';
import { fitVladCodebookOffThread, indexTrainingSet, vladOptionsFor, type ShotLearnSettings } from '../search/shot-codebook.js';
import { collectImages, regionsOfImages } from './whiten.js';

export interface ShotsLearnOptions extends ShotLearnSettings {
  data: string;
  /** learn from these images (files or folders) instead of the index's own keyframes */
  images?: string[];
  /** keyframes of the index learned from at most (evenly spread) */
  sample: number;
}

/**
 * `dasr shots learn`: learns a VLAD codebook from region descriptors (the index's own keyframes, or a folder of
 * images run through DASR) and installs it: every indexed keyframe gets its shot vector from its stored regions,
 * and new keyframes get theirs when they are indexed. Takes the index's writer lock.
 */
export async function shotsLearnCommand(startDasr: () => Promise<Detector>, options: ShotsLearnOptions, log: (line: string) => void): Promise<void> {
  const imagePaths = options.images?.length ? collectImages(options.images) : null;
  if (imagePaths?.length === 0) throw new Error(`no images found in ${options.images!.join(', ')}`);
  const store = await IndexStore.open(options.data, { writer: 'dasr shots learn' });
  try {
    let sets: Float32Array[][];
    if (imagePaths) {
      sets = await regionsOfImages(await startDasr(), imagePaths, log);
      const dim = sets.find((set) => set.length > 0)?.[0]?.length ?? store.dim;
      if (dim !== store.dim) throw new Error(`the detector gives ${dim}-d regions but the index holds ${store.dim}-d ones: use the --whitening the videos were indexed with`);
    } else {
      const training = indexTrainingSet(store, options.sample);
      sets = training.sets;
      log(`learning from ${sets.length} of the index's ${training.keyframes} keyframes with regions`);
    }
    const vlad = vladOptionsFor(sets, options);
    const regions = sets.reduce((n, set) => n + set.length, 0);
    log(`learning a VLAD codebook from ${regions} regions of ${sets.length} images: ${vlad.k} codewords × ${vlad.localDims} dimensions${vlad.outputDims ? `, whitened to ${vlad.outputDims}` : ''}…`);
    const codebook = await fitVladCodebookOffThread(sets, vlad);
    let reported = 0;
    await store.installShotCodebook(codebook, (done, total) => {
      if (done === total || done - reported >= 2000) {
        reported = done;
        log(`shot vectors: ${done}/${total} keyframes`);
      }
    });
    log(`installed: ${store.db.shotCount()} keyframes have ${vladDim(codebook)}-d shot vectors; search them with dasr search --shot`);
  } finally {
    await store.close();
  }
}
