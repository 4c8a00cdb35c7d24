import { Observable } from 'rxjs';

export interface LatestStats {
  processed: number;
  /** items replaced by a newer one while processing was busy */
  dropped: number;
}

/**
 * For live sources: processes items one at a time and, while busy, keeps only the newest waiting item,
 * so the pipeline never falls behind the stream by more than one item. Drops are counted in `stats`.
 */
export function processLatest<T, R>(process: (item: T) => Promise<R>, stats: LatestStats): (source: Observable<T>) => Observable<R> {
  return (source) =>
    new Observable<R>((subscriber) => {
      let busy = false;
      let waiting: { item: T } | null = null;
      let sourceDone = false;
      const next = (item: T): void => {
        busy = true;
        process(item).then(
          (result) => {
            stats.processed++;
            subscriber.next(result);
            const pending = waiting;
            waiting = null;
            if (pending) next(pending.item);
            else {
              busy = false;
              if (sourceDone) subscriber.complete();
            }
          },
          (error: unknown) => subscriber.error(error),
        );
      };
      const subscription = source.subscribe({
        next(item) {
          if (!busy) next(item);
          else {
            if (waiting) stats.dropped++;
            waiting = { item };
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete() {
          sourceDone = true;
          if (!busy) subscriber.complete();
        },
      });
      return () => subscription.unsubscribe();
    });
}
