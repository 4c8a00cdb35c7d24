import type { RegionStore } from '../index/region-store.js';

/**
 * Track ids reserved ahead from the store, for the tracker's synchronous allocator: a store shared by several
 * workers hands ids out in a database round trip, which the tracker cannot wait for mid-update. Ids reserved but
 * never used (the run stopped) are skipped, as the store allows.
 */
export class TrackIdReserve {
  private readonly ids: number[] = [];

  /**
   * A store that can also allocate synchronously (the embedded one) is asked for each id as the tracker needs it:
   * no id is reserved and left unused, so a resumed run numbers its tracks as an uninterrupted one would.
   */
  constructor(private readonly store: Pick<RegionStore, 'allocateTrackIds'> & { allocateTrackId?: () => number }) {}

  /** Tops the reserve up to `count` ids: before a keyframe, one per followed region, each of which may start a track. */
  async ensure(count: number): Promise<void> {
    if (this.store.allocateTrackId) return;
    if (this.ids.length < count) this.ids.push(...(await this.store.allocateTrackIds(count - this.ids.length)));
  }

  /** The next id (the tracker's allocator); ensure() must have reserved it unless the store allocates synchronously. */
  readonly take = (): number => {
    if (this.store.allocateTrackId) return this.store.allocateTrackId();
    const id = this.ids.shift();
    if (id === undefined) throw new Error('no track id reserved: call ensure() before the tracker updates');
    return id;
  };
}
