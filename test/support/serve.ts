import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { expect } from 'vitest';
import { fixture } from '../video/fixtures.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { SERVE_DEFAULTS, type ServeConfig } from '../../src/serve/config.js';
import { startServer, type RunningServer } from '../../src/serve/server.js';

export const TEST_TOKEN = 'test-token-0123456789abcdef';

export interface TestServer extends RunningServer {
  token: string;
  dataDir: string;
  /** fetch with the token */
  api(path: string, init?: RequestInit): Promise<Response>;
  /** closes the server and removes its data directory (unless keepData) */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * The real service on a free loopback port, with a small DASR configuration (long side 256, 4 peaks) so that
 * tests stay quick. `overrides` replace any setting; `dataDir` reuses a directory (restart tests).
 */
export async function startTestServer(overrides: Partial<ServeConfig> = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? mkdtempSync(join(tmpdir(), 'dasr-serve-'));
  const config: ServeConfig = {
    host: '127.0.0.1',
    port: 0,
    dataDir,
    tokens: [TEST_TOKEN],
    pathRoots: [],
    allowedProtocols: [...SERVE_DEFAULTS.allowedProtocols],
    // the test publishers stream from this machine
    hostPolicy: { allowPrivateHosts: true, allowListeners: false },
    maxUploadBytes: 20 * 2 ** 20,
    maxImageBytes: 5 * 2 ** 20,
    maxImagePixels: 4_000_000,
    interval: 1,
    sceneThreshold: 0,
    queueCapacity: 64,
    mediaConcurrency: SERVE_DEFAULTS.mediaConcurrency,
    mediaQueue: SERVE_DEFAULTS.mediaQueue,
    clipCacheBytes: SERVE_DEFAULTS.clipCacheBytes,
    maxStreams: SERVE_DEFAULTS.maxStreams,
    record: { ...SERVE_DEFAULTS.record, segmentSeconds: 2 },
    detector: { backbone: {}, config: { longSide: 256, maxPeaks: 4 }, logLevel: 'error' },
    streamIoTimeoutMs: 3000,
    streamBackoff: { initialMs: 200, maxMs: 1000 },
    ...overrides,
  };
  const server = await startServer(config, createLogger('error'));
  return {
    ...server,
    token: TEST_TOKEN,
    dataDir,
    api: (path, init = {}) => fetch(`${server.url}${path}`, { ...init, headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(init.headers as Record<string, string> | undefined) } }),
    async stop(options = {}) {
      await server.close();
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Uploads a fixture video and waits until it is indexed; returns its video id. */
export async function uploadAndIndex(server: TestServer, name: string): Promise<number> {
  const form = new FormData();
  form.append('file', new Blob([readFileSync(fixture(name))]), name);
  const response = await server.api('/v1/videos', { method: 'POST', body: form });
  expect(response.status).toBe(202);
  const { job } = (await response.json()) as { job: { id: number; state: string } };
  expect(job.state === 'queued' || job.state === 'indexing').toBe(true);
  return waitFor(
    async () => {
      const list = (await (await server.api('/v1/videos')).json()) as { jobs: { id: number; state: string; videoId: number; error: string | null }[]; videos: { id: number; status: string }[] };
      const current = list.jobs.find((j) => j.id === job.id)!;
      if (current.state === 'failed') throw new Error(`indexing failed: ${current.error}`);
      return current.state === 'done' && list.videos.find((v) => v.id === current.videoId)?.status === 'ready' ? current.videoId : undefined;
    },
    180_000,
    `${name} to be indexed`,
  );
}
