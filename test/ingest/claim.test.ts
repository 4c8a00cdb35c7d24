import { describe, expect, it } from 'vitest';
import type { Detector } from '../../src/detect/detector.js';
import type { RegionStore } from '../../src/index/region-store.js';
import { FileBusyError, ingestFile } from '../../src/ingest/ingest-file.js';
import { fixture } from '../video/fixtures.js';

describe('a file claimed by another writer', () => {
  it('is refused with FileBusyError before anything is read or written in the index', async () => {
    const calls: string[] = [];
    // Every method records its call; claim answers that another writer holds the file.
    const store = new Proxy({} as RegionStore, {
      get: (_target, name: string) => async (...args: unknown[]) => {
        calls.push(name);
        return name === 'claim' ? null : Promise.reject(new Error(`${name}(${args.length} args) must not be called`));
      },
    });
    const detector = {} as Detector; // never reached
    await expect(ingestFile(fixture('moving-object.mp4'), detector, store, { interval: 1 })).rejects.toBeInstanceOf(FileBusyError);
    expect(calls).toEqual(['claim']);
  });
});
