import { describe, expect, it } from 'vitest';
import { OrderedPipeline } from '../../src/ingest/ordered-pipeline.js';
import { deferred } from '../support/deferred.js';

/** A promise settled from outside, to order events by hand instead of by timers. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('OrderedPipeline', () => {
  it('commits in submission order even when later work finishes first, and overlaps work with commits', async () => {
    const pipeline = new OrderedPipeline(2);
    const events: string[] = [];
    const work = [deferred<string>(), deferred<string>()];
    const commitGate = deferred<void>();
    await pipeline.submit(() => work[0]!.promise, async (v) => {
      events.push(`commit ${v} start`);
      await commitGate.promise;
      events.push(`commit ${v} end`);
    });
    await pipeline.submit(() => work[1]!.promise, async (v) => void events.push(`commit ${v}`));
    work[1]!.resolve('b'); // the second finishes first
    await settle();
    expect(events).toEqual([]);
    work[0]!.resolve('a');
    await settle();
    expect(events).toEqual(['commit a start']);
    commitGate.resolve();
    await pipeline.drain();
    expect(events).toEqual(['commit a start', 'commit a end', 'commit b']);
  });

  it('starts no more than depth items: submit waits for the oldest to commit', async () => {
    const pipeline = new OrderedPipeline(2);
    const started: number[] = [];
    const gates = [deferred<void>(), deferred<void>(), deferred<void>()];
    const submit = (i: number) => pipeline.submit(async () => void started.push(i), () => gates[i]!.promise);
    await submit(0);
    await submit(1);
    let thirdStarted = false;
    const third = submit(2).then(() => (thirdStarted = true));
    await settle();
    expect(started).toEqual([0, 1]);
    expect(thirdStarted).toBe(false);
    gates[0]!.resolve();
    await third;
    expect(started).toEqual([0, 1, 2]);
    gates[1]!.resolve();
    gates[2]!.resolve();
    await pipeline.drain();
  });

  it('a failure skips later commits, rejects drain and every later submit', async () => {
    const pipeline = new OrderedPipeline(3);
    const committed: string[] = [];
    const failing = deferred<string>();
    await pipeline.submit(async () => 'a', async (v) => void committed.push(v));
    await pipeline.submit(() => failing.promise, async (v) => void committed.push(v));
    await pipeline.submit(async () => 'c', async (v) => void committed.push(v));
    failing.reject(new Error('detector died'));
    await expect(pipeline.drain()).rejects.toThrow('detector died');
    expect(committed).toEqual(['a']);
    await expect(pipeline.submit(async () => 'd', async () => undefined)).rejects.toThrow('detector died');
  });

  it("a later item's failure does not stop an earlier item's commit", async () => {
    const pipeline = new OrderedPipeline(3);
    const committed: string[] = [];
    const first = deferred<string>();
    await pipeline.submit(() => first.promise, async (v) => void committed.push(v));
    await pipeline.submit(async () => {
      throw new Error('second failed');
    }, async () => void committed.push('never'));
    await settle();
    first.resolve('a'); // finishes after the second failed
    await expect(pipeline.drain()).rejects.toThrow('second failed');
    expect(committed).toEqual(['a']);
  });

  it('refuses a depth that is not a positive integer', () => {
    expect(() => new OrderedPipeline(0)).toThrow(RangeError);
    expect(() => new OrderedPipeline(1.5)).toThrow(RangeError);
  });
});
