/**
 * Two-stage work where the first stage of item n+1 may run while item n is still in its second stage, and the
 * second stage runs strictly in submission order. Ingestion uses it so that decoding the next keyframe, DASR on
 * this one and the index commit of the previous one overlap, while commits (and so the tracker and the resume
 * point) stay in video order. At most `depth` items are in flight: `submit` waits for room, which holds back the
 * decoder instead of queueing decoded frames without bound.
 */
export class OrderedPipeline {
  private readonly inFlight: Promise<void>[] = [];
  /** the last submitted item: settles after its commit, rejects when it or any earlier item failed */
  private lastItem: Promise<void> = Promise.resolve();
  private failure: { error: unknown } | null = null;

  constructor(private readonly depth: number) {
    if (!Number.isInteger(depth) || depth < 1) throw new RangeError(`depth must be a positive integer, got ${depth}`);
  }

  /**
   * Starts `work` once fewer than `depth` items are in flight, then `commit` of its result after every earlier
   * commit. An item commits unless it or an earlier item failed (a later item's failure does not stop it).
   * Resolves when the item has started; rejects, once any item failed, with that failure: nothing new starts.
   */
  async submit<T>(work: () => Promise<T>, commit: (result: T) => Promise<void>): Promise<void> {
    while (this.inFlight.length >= this.depth) await this.inFlight[0]!.catch(() => undefined);
    this.throwIfFailed();
    const result = work();
    const previous = this.lastItem;
    const item = (async () => {
      const value = await result;
      await previous;
      await commit(value);
    })();
    this.lastItem = item;
    const tracked: Promise<void> = item.then(
      (): void => this.settle(tracked),
      (error: unknown): void => {
        this.failure ??= { error };
        this.settle(tracked);
      },
    );
    this.inFlight.push(tracked);
  }

  /** Waits for every submitted item; rejects with the first failure. */
  async drain(): Promise<void> {
    await Promise.all([...this.inFlight]);
    this.throwIfFailed();
  }

  private settle(item: Promise<void>): void {
    this.inFlight.splice(this.inFlight.indexOf(item), 1);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}
