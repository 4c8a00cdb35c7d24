import { Observable, Subject, from, concatMap, takeWhile, map } from 'rxjs';

/**
 * A pull-driven Observable over an async iterator: it emits one item per `request()`, so a slow consumer
 * (inference) holds the producer (ffmpeg's pipe) back instead of letting items pile up in memory.
 * Subscribe before requesting: requests made while nobody listens are lost.
 */
export interface Pulled<T> {
  items$: Observable<T>;
  /** Ask for `count` more items. */
  request(count?: number): void;
}

export function pullFrom<T>(iterable: AsyncIterable<T>): Pulled<T> {
  const demand = new Subject<void>();
  const iterator = iterable[Symbol.asyncIterator]();
  const items$ = new Observable<T>((subscriber) => {
    const subscription = demand
      .pipe(
        concatMap(() => from(iterator.next())),
        takeWhile((result) => !result.done),
        map((result) => result.value as T),
      )
      .subscribe(subscriber);
    return () => {
      subscription.unsubscribe();
      // Ends the producer (for frames: kills ffmpeg) when the pipeline stops early.
      void iterator.return?.();
    };
  });
  return {
    items$,
    request(count = 1) {
      for (let i = 0; i < count; i++) demand.next();
    },
  };
}

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
