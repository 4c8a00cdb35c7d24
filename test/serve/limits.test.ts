import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, utimesSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkLimiter, WorkLimiterFullError } from '../../src/util/work-limiter.js';
import { FileCache } from '../../src/util/file-cache.js';
import { deferred } from '../support/deferred.js';

describe('work limiter', () => {
  it('runs at most `concurrency` jobs, queues `queue` more in order, refuses beyond', async () => {
    const limiter = new WorkLimiter(2, 1);
    const gates = [deferred(), deferred(), deferred()];
    const started: number[] = [];
    const jobs = gates.map((gate, i) => limiter.run(async () => (started.push(i), await gate.promise, i)));
    await Promise.resolve();
    expect(started).toEqual([0, 1]);
    expect([limiter.active, limiter.queued]).toEqual([2, 1]);
    await expect(limiter.run(async () => 9)).rejects.toBeInstanceOf(WorkLimiterFullError);
    gates[1]!.resolve();
    await jobs[1];
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual([0, 1, 2]);
    gates[0]!.resolve();
    gates[2]!.resolve();
    expect(await Promise.all(jobs)).toEqual([0, 1, 2]);
    expect([limiter.active, limiter.queued]).toEqual([0, 0]);
  });

  it('drops a waiting job whose caller left, and tells a running one to stop', async () => {
    const limiter = new WorkLimiter(1, 4);
    const leaving = new AbortController();
    let runningSignal: AbortSignal | undefined;
    const gate = deferred();
    const first = limiter.run(async (signal) => ((runningSignal = signal), await gate.promise, 'first'), leaving.signal);
    const waiter = new AbortController();
    let secondRan = false;
    const second = limiter.run(async () => ((secondRan = true), 'second'), waiter.signal);
    await Promise.resolve();
    waiter.abort(new Error('client went away'));
    await expect(second).rejects.toThrow('client went away');
    expect(limiter.queued).toBe(0);
    leaving.abort();
    expect(runningSignal!.aborted).toBe(true);
    gate.resolve();
    await first;
    expect(secondRan).toBe(false);
    expect(limiter.active).toBe(0);
  });
});

describe('file cache', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-cache-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps the directory under its size by removing the least recently used files', () => {
    const cache = new FileCache(dir, 2500);
    const files = ['a', 'b', 'c', 'd'].map((name, i) => {
      const path = join(dir, name);
      writeFileSync(path, Buffer.alloc(1000));
      utimesSync(path, 1000 + i, 1000 + i); // a oldest … d newest
      return path;
    });
    cache.touch(files[0]!); // a used just now: b is the oldest, then c, d
    // 4000 bytes for 2500: two go, the oldest ones but b, which is being written
    expect(cache.evict([files[1]!])).toEqual([files[2]!, files[3]!]);
    expect(files.map((f) => existsSync(f))).toEqual([true, true, false, false]);
    expect(cache.evict()).toEqual([]);
    expect(new FileCache(dir, 1500).evict()).toEqual([files[1]!]);
    expect(files.map((f) => existsSync(f))).toEqual([true, false, false, false]);
  });
});
