import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Region } from '../../src/detect/dasr.js';
import { IndexStore } from '../../src/index/index-store.js';
import { trackAndCommit } from '../../src/ingest/commit-keyframe.js';
import { createLogger } from '../../src/log.js';
import { Tracker } from '../../src/track/tracker.js';

const quiet = createLogger('error');
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const region = (feature: number[]): Region => ({ box: [10, 10, 50, 50], score: 1, peak: [30, 30], feature: Float32Array.from(feature) });

describe('descriptor dimension against the data directory', () => {
  it('refuses descriptors of another length (e.g. a reduced whitening) before the tracker moves on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-commit-dim-'));
    dirs.push(dir);
    const store = await IndexStore.open(dir, { dim: 4, logger: quiet });
    try {
      const videoId = store.db.addVideo({ path: 'x.mp4', sourceKind: 'file', contentKey: 'k', width: 64, height: 64, duration: 1, fps: 25, status: 'indexing', config: {} }).id;
      const tracker = new Tracker();
      await expect(trackAndCommit(store, videoId, tracker, { t: 0, width: 64, height: 64, regions: [region([1, 0, 0])] })).rejects.toThrow(
        /descriptors are 3-d but this data directory indexes 4-d ones/,
      );
      expect(tracker.activeTracks()).toHaveLength(0);
      const { committed } = await trackAndCommit(store, videoId, tracker, { t: 0, width: 64, height: 64, regions: [region([1, 0, 0, 0])] });
      expect(committed).toBeDefined();
      expect(store.db.regionCount()).toBe(1);
    } finally {
      await store.close();
    }
    await expect(IndexStore.open(dir, { dim: 3, logger: quiet })).rejects.toThrow(/index dimension mismatch: .* holds 4-d descriptors but 3-d ones were requested/);
    // Opening without a dimension (search, listing) takes the stored one.
    const again = await IndexStore.open(dir, { logger: quiet });
    expect(again.dim).toBe(4);
    await again.close();
  });
});
