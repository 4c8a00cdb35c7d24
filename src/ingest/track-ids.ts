import type { RegionStore } from '../index/region-store.js';

/**
 * Track ids reserved ahead from the store, for the tracker's synchronous allocator: a store shared by several
 * workers hands ids out in a database round trip, which the tracker cannot wait for mid-update. Ids reserved but
 * never used (the run stopped) are skipped, as the store allows.
 */
export class TrackIdReserve {
  private readonly ids: number[] = [];

  constructor(private readonly store: Pick<RegionStore, 'allocateTrackIds'>) {}

  /** Tops the reserve up to `count` ids: before a keyframe, one per region, each of which may start a track. */
  async ensure(count: number): Promise<void> {
    if (this.ids.length < count) this.ids.push(...(await this.store.allocateTrackIds(count - this.ids.length)));
  }

  /** The next reserved id (the tracker's allocator); ensure() must have reserved it. */
  readonly take = (): number => {
    const id = this.ids.shift();
    if (id === undefined) throw new Error('no track id reserved: call ensure() before the tracker updates');
    return id;
  };
}
