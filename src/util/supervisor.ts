import type { Logger } from '../log.js';

/** What a supervisor keeps alive: a worker that reports its own death. */
export interface Supervisable {
  onFailure(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

export interface SupervisorOptions {
  name: string;
  logger: Logger;
  /** delay before the first restart attempt, doubled after each failed attempt up to maxMs */
  backoff?: { initialMs: number; maxMs: number };
  /** after each successful restart */
  onRestarted?: (restarts: number) => void;
}

export type SupervisedState = 'running' | 'restarting' | 'closed';

/**
 * Keeps one worker alive: when it dies it is started again, after a delay that doubles with each failed start
 * (0.5 s up to 30 s by default), for as long as the supervisor is open. Callers take the worker from `current()`,
 * which waits while a restart is under way; calls that were in flight when it died fail with its error.
 */
export class Supervisor<T extends Supervisable> {
  private worker: Promise<T>;
  private status: SupervisedState = 'running';
  private restartCount = 0;
  private closing = false;

  private constructor(
    first: T,
    private readonly start: () => Promise<T>,
    private readonly options: SupervisorOptions,
  ) {
    this.worker = Promise.resolve(first);
    this.watch(first);
  }

  static async start<T extends Supervisable>(start: () => Promise<T>, options: SupervisorOptions): Promise<Supervisor<T>> {
    return new Supervisor(await start(), start, options);
  }

  /** Watches a worker already started; `restart` replaces it when it dies. */
  static adopt<T extends Supervisable>(first: T, restart: () => Promise<T>, options: SupervisorOptions): Supervisor<T> {
    return new Supervisor(first, restart, options);
  }

  get state(): SupervisedState {
    return this.status;
  }

  get restarts(): number {
    return this.restartCount;
  }

  current(): Promise<T> {
    if (this.closing) return Promise.reject(new Error(`${this.options.name} is closed`));
    return this.worker;
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.status = 'closed';
    await (await this.worker.catch(() => undefined))?.close();
  }

  private watch(worker: T): void {
    worker.onFailure((error) => {
      if (this.closing) return;
      this.options.logger.error(`${this.options.name} died (${error.message}); restarting`);
      this.status = 'restarting';
      this.worker = this.restart();
      // the promise is awaited by callers; a rejection can only come from close() meanwhile
      this.worker.catch(() => undefined);
    });
  }

  private async restart(): Promise<T> {
    const { initialMs, maxMs } = this.options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    for (let attempt = 0; ; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(maxMs, initialMs * 2 ** attempt)));
      if (this.closing) throw new Error(`${this.options.name} is closed`);
      try {
        const worker = await this.start();
        if (this.closing) {
          await worker.close();
          throw new Error(`${this.options.name} is closed`);
        }
        this.restartCount++;
        this.status = 'running';
        this.watch(worker);
        this.options.logger.info(`${this.options.name} restarted (restart ${this.restartCount})`);
        this.options.onRestarted?.(this.restartCount);
        return worker;
      } catch (error) {
        if (this.closing) throw error;
        this.options.logger.error(`${this.options.name} could not be restarted: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}
