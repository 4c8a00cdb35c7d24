import { describe, expect, it } from 'vitest';
import { Subject, lastValueFrom, toArray } from 'rxjs';
import { processLatest, type LatestStats } from '../../src/ingest/flow.js';
import { deferred, type Deferred } from '../support/deferred.js';

describe('processLatest', () => {
  it('keeps only the newest waiting item while busy and counts the rest as dropped', async () => {
    const source = new Subject<number>();
    const gates = new Map<number, Deferred<void>>();
    const started: number[] = [];
    const stats: LatestStats = { processed: 0, dropped: 0 };
    const results = lastValueFrom(
      source.pipe(
        processLatest(async (n: number) => {
          started.push(n);
          const gate = deferred();
          gates.set(n, gate);
          await gate.promise;
          return n * 10;
        }, stats),
        toArray(),
      ),
    );
    source.next(1); // starts at once
    source.next(2); // waits
    source.next(3); // replaces 2
    source.next(4); // replaces 3
    expect(started).toEqual([1]);
    gates.get(1)!.resolve();
    await new Promise((r) => setTimeout(r, 0));
    expect(started).toEqual([1, 4]);
    source.complete();
    gates.get(4)!.resolve();
    expect(await results).toEqual([10, 40]);
    expect(stats).toEqual({ processed: 2, dropped: 2 });
  });

  it('drops nothing when processing keeps up', async () => {
    const source = new Subject<number>();
    const stats: LatestStats = { processed: 0, dropped: 0 };
    const results = lastValueFrom(source.pipe(processLatest(async (n: number) => n + 1, stats), toArray()));
    for (let i = 0; i < 5; i++) {
      source.next(i);
      await new Promise((r) => setTimeout(r, 0));
    }
    source.complete();
    expect(await results).toEqual([1, 2, 3, 4, 5]);
    expect(stats.dropped).toBe(0);
  });

  it('passes a processing error on', async () => {
    const source = new Subject<number>();
    const stats: LatestStats = { processed: 0, dropped: 0 };
    const result = lastValueFrom(source.pipe(processLatest(async () => Promise.reject(new Error('inference failed')), stats)));
    source.next(1);
    await expect(result).rejects.toThrow('inference failed');
  });
});
