/**
 * At most `concurrency` jobs at once, at most `queue` more waiting; a job whose caller goes away (its signal
 * aborts) leaves the queue, or is told to stop through the signal it runs with.
 */
export class WorkLimiterFullError extends Error {
  override name = 'WorkLimiterFullError';
}

export class WorkLimiter {
  private running = 0;
  private readonly waiting: { start: () => void; signal?: AbortSignal }[] = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {
    if (!(Number.isInteger(concurrency) && concurrency >= 1)) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
    if (!(Number.isInteger(queue) && queue >= 0)) throw new RangeError(`queue must be a non-negative integer, got ${queue}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `job` when a slot is free; rejects at once with WorkLimiterFullError when the queue is full. */
  async run<T>(job: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    signal?.throwIfAborted();
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) throw new WorkLimiterFullError(`${this.running} jobs running and ${this.waiting.length} waiting`);
      await new Promise<void>((resolve, reject) => {
        const entry = { start: resolve, signal };
        this.waiting.push(entry);
        signal?.addEventListener(
          'abort',
          () => {
            const at = this.waiting.indexOf(entry);
            if (at >= 0) this.waiting.splice(at, 1);
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
    this.running++;
    const own = new AbortController();
    const forward = (): void => own.abort(signal?.reason);
    signal?.addEventListener('abort', forward, { once: true });
    try {
      return await job(own.signal);
    } finally {
      signal?.removeEventListener('abort', forward);
      this.running--;
      this.waiting.shift()?.start();
    }
  }
}
