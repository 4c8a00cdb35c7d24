import { describe, expect, it } from 'vitest';
import { RpcClient, startWorker } from '../../src/util/worker-rpc.js';

describe('workers started by startWorker', () => {
  it("share the process's environment: a variable a worker sets is the process's (what native libraries read)", async () => {
    const name = `DASR_WORKER_ENV_TEST_${process.pid}`;
    delete process.env[name];
    const client = new RpcClient<{ name: string; value: string }>(startWorker(new URL('../support/env-worker.ts', import.meta.url).href, 'env-worker', null), 'env test');
    try {
      expect(await client.call<boolean>({ name, value: 'set in the worker' })).toBe(true);
      // The main thread's process.env is the real environment; a private copy in the worker would leave it unset.
      expect(process.env[name]).toBe('set in the worker');
    } finally {
      await client.terminate();
      delete process.env[name];
    }
  });
});
