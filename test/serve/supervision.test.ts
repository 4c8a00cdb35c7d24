import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fixture } from '../video/fixtures.js';
import { startTestServer, uploadAndIndex, type TestServer } from '../support/serve.js';

interface Ready {
  ready: boolean;
  workers: { worker: string; state: string; restarts: number }[];
}

/** Worker threads that die are restarted, and the service says so while it happens. */
describe('supervised workers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await uploadAndIndex(server, 'moving-object.mp4');
  }, 120_000);
  afterAll(() => server.stop());

  const ready = async (): Promise<{ status: number; body: Ready }> => {
    const response = await server.api('/ready');
    return { status: response.status, body: (await response.json()) as Ready };
  };
  const search = async (): Promise<unknown[]> => {
    const form = new FormData();
    form.set('image', new Blob([readFileSync(fixture('moving-object-query.png'))]), 'query.png');
    const response = await server.api('/v1/search', { method: 'POST', body: form });
    expect(response.status).toBe(200);
    return ((await response.json()) as { hits: unknown[] }).hits;
  };

  it('restarts a terminated DASR thread and vector worker, reports it in /ready and /metrics, and answers as before', async () => {
    expect(await ready()).toMatchObject({ status: 200, body: { ready: true } });
    const before = await search();
    expect(before.length).toBeGreaterThan(0);

    await (await server.service.queryDetector.supervisor.current()).terminate();
    const during = await ready();
    expect(during.status).toBe(503);
    expect(during.body.workers).toContainEqual({ worker: 'query-dasr', state: 'restarting', restarts: 0 });
    // a search waits for the new thread
    expect(await search()).toEqual(before);
    expect((await ready()).body.workers).toContainEqual({ worker: 'query-dasr', state: 'running', restarts: 1 });

    await server.service.embedded!.vectors.terminate();
    expect((await ready()).body.workers).toContainEqual({ worker: 'vectors', state: 'restarting', restarts: 0 });
    expect(await search()).toEqual(before);
    const after = await ready();
    expect(after).toMatchObject({ status: 200, body: { ready: true } });
    expect(after.body.workers).toEqual([
      { worker: 'ingest-dasr', state: 'running', restarts: 0 },
      { worker: 'query-dasr', state: 'running', restarts: 1 },
      { worker: 'vectors', state: 'running', restarts: 1 },
    ]);
    const metrics = await (await server.api('/metrics')).text();
    expect(metrics).toContain('dasr_worker_restarts_total{worker="query-dasr"} 1');
    expect(metrics).toContain('dasr_worker_restarts_total{worker="vectors"} 1');
    expect(metrics).toContain('dasr_worker_up{worker="ingest-dasr"} 1');
  }, 120_000);
});
