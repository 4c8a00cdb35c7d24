/**
 * A bounded first-in first-out queue of outgoing messages for one consumer: a ring buffer of `capacity` slots.
 * When full, the oldest message is dropped and counted: a slow consumer loses old news, never the newest, and
 * memory stays bounded by the capacity. The count of drops since the consumer was last told is handed out once
 * with `takeDropped` so it can be reported in-band.
 */
export class Outbox<T> {
  private readonly slots: (T | undefined)[];
  private head = 0;
  private count = 0;
  private droppedSinceNotice = 0;
  droppedTotal = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
    this.slots = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.count;
  }

  /** Adds an item; returns the oldest one when it was dropped to make room. */
  push(item: T): T | undefined {
    let dropped: T | undefined;
    if (this.count === this.capacity) {
      dropped = this.slots[this.head];
      this.head = (this.head + 1) % this.capacity;
      this.count--;
      this.droppedSinceNotice++;
      this.droppedTotal++;
    }
    this.slots[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return dropped;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  /** Drops since the last call (and resets that count). */
  takeDropped(): number {
    const dropped = this.droppedSinceNotice;
    this.droppedSinceNotice = 0;
    return dropped;
  }
}
