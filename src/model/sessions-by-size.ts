/**
 * Sessions of one model, each kept for one input size. A GPU provider chooses every convolution's kernels for
 * the input shape it sees and chooses again whenever the shape changes: on the H200 the DASR model's first frame
 * at a new size took 0.8–2.6 s against 14 ms for the next ones, so one session serving keyframes of streams of
 * different sizes by turns would pay that on every frame. With a session per size each keeps its choices. Up to
 * `capacity` sessions are made; past that the least recently used one is handed the new size (it chooses again
 * once), so no session is released while a run may still use it.
 */
export class SessionsBySize<Session> {
  /** size key → its session, least recently used first (Map keeps insertion order) */
  private readonly bySize = new Map<string, Promise<Session>>();
  /** the session made at load until the first size takes it */
  private first: Promise<Session> | null;
  private capacity: number;

  /** `first`: a session made already (to settle the provider), handed to the first size asked for. */
  constructor(
    first: Session,
    private readonly create: () => Promise<Session>,
    capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.capacity = capacity;
    this.first = Promise.resolve(first);
  }

  /** The session for inputs of this height × width. */
  for(height: number, width: number): Promise<Session> {
    const key = `${height}x${width}`;
    const held = this.bySize.get(key);
    if (held) {
      this.bySize.delete(key);
      this.bySize.set(key, held);
      return held;
    }
    const session = this.first ?? (this.bySize.size < this.capacity ? this.fresh() : this.takeLeastRecent());
    this.first = null;
    this.bySize.set(key, session);
    return session;
  }

  /** Every session made so far, each once. */
  async all(): Promise<Session[]> {
    const settled = await Promise.allSettled([...this.bySize.values(), ...(this.first ? [this.first] : [])]);
    return [...new Set(settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])))];
  }

  private fresh(): Promise<Session> {
    const made = this.create();
    // A session that could not be made (a GPU out of memory, say) fails the requests waiting for it; the
    // sessions there are then all there will be, and later sizes take turns on them.
    made.catch(() => {
      for (const [key, value] of this.bySize) if (value === made) this.bySize.delete(key);
      this.capacity = Math.max(1, this.bySize.size);
    });
    return made;
  }

  private takeLeastRecent(): Promise<Session> {
    const [oldest, session] = this.bySize.entries().next().value as [string, Promise<Session>];
    this.bySize.delete(oldest);
    return session;
  }
}
