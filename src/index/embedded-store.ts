import type { CommitResult, KeyframeInput, NewVideo, RegionRecord, TrackerState, TrackRecord, TrackUpdate, VideoRecord, VideoState, VideoStatus } from './database.js';
import { IndexStore, type IndexStoreOptions, type SearchFilters, type SearchHit } from './index-store.js';
import type { RegionStore } from './region-store.js';

/** The embedded index (one data directory: SQLite + the HNSW graph in a worker) behind the RegionStore contract. */
export class EmbeddedRegionStore implements RegionStore {
  private constructor(readonly store: IndexStore) {}

  static async open(dataDir: string, options: IndexStoreOptions = {}): Promise<EmbeddedRegionStore> {
    return new EmbeddedRegionStore(await IndexStore.open(dataDir, options));
  }

  get dim(): number {
    return this.store.dim;
  }

  async addVideo(video: NewVideo): Promise<VideoRecord> {
    return this.store.db.addVideo(video);
  }

  async getVideo(id: number): Promise<VideoRecord | undefined> {
    return this.store.db.getVideo(id);
  }

  async setVideoStatus(id: number, status: VideoStatus, error: string | null = null): Promise<void> {
    this.store.db.setVideoStatus(id, status, error);
  }

  async videoState(id: number): Promise<VideoState | undefined> {
    return this.store.db.videoState(id);
  }

  commit(videoId: number, batch: readonly KeyframeInput[], trackUpdates?: readonly TrackUpdate[], trackerState?: TrackerState, lastCommittedT?: number): Promise<CommitResult> {
    return this.store.commit(videoId, batch, trackUpdates, trackerState, lastCommittedT);
  }

  async allocateTrackId(): Promise<number> {
    return this.store.allocateTrackId();
  }

  async getTrack(id: number): Promise<TrackRecord | undefined> {
    return this.store.db.getTrack(id);
  }

  async regionsByIds(ids: readonly number[]): Promise<RegionRecord[]> {
    return this.store.db.regionsByIds(ids);
  }

  search(feature: Float32Array, k: number, filters?: SearchFilters): Promise<SearchHit[]> {
    return this.store.search(feature, k, filters);
  }

  deleteVideo(id: number): Promise<boolean> {
    return this.store.deleteVideo(id);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}
