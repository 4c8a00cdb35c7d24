/**
 * A bounded first-in first-out queue of outgoing messages for one consumer. When full, the oldest message is
 * dropped and counted: a slow consumer loses old news, never the newest, and memory stays bounded. The count of
 * drops since the consumer was last told is handed out once with `takeDropped` so it can be reported in-band.
 */
export class Outbox<T> {
  private readonly items: T[] = [];
  private head = 0;
  private droppedSinceNotice = 0;
  droppedTotal = 0;

  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity > 0)) throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.length === this.capacity) {
      this.head++;
      this.droppedSinceNotice++;
      this.droppedTotal++;
    }
    this.items.push(item);
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const item = this.items[this.head]!;
    this.head++;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return item;
  }

  /** Drops since the last call (and resets that count). */
  takeDropped(): number {
    const dropped = this.droppedSinceNotice;
    this.droppedSinceNotice = 0;
    return dropped;
  }
}
