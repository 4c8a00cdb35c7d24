import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';

/** The service's bounded work: one clip at a time here, one waiting, a tiny clip cache, one stream. */
describe('bounded media work and streams', () => {
  const work = mkdtempSync(join(tmpdir(), 'dasr-media-'));
  const video = join(work, 'long-720p.mp4');
  let server: TestServer;
  let videoId: number;
  beforeAll(async () => {
    execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25', '-t', '60', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', video]);
    server = await startTestServer({ mediaConcurrency: 1, mediaQueue: 1, clipCacheBytes: 1, maxStreams: 1 });
    // a file video as indexing leaves it (clips need its row, not its regions)
    videoId = server.service.embedded!.db.addVideo({ path: video, sourceKind: 'file', contentKey: 'long-720p', width: 1280, height: 720, duration: 60, fps: 25, status: 'ready' }).id;
  }, 120_000);
  afterAll(async () => {
    await server.stop();
    rmSync(work, { recursive: true, force: true });
  });
  const clipsDir = (): string[] => (existsSync(join(server.dataDir, 'clips')) ? readdirSync(join(server.dataDir, 'clips')) : []);

  it('cuts one clip at a time, queues one, refuses more with 429, and stops the work of a client that left', async () => {
    const media = server.service.media;
    const first = new AbortController();
    const firstRequest = server.api(`/v1/videos/${videoId}/clip?start=0&end=60`, { signal: first.signal }).catch((e: unknown) => e);
    await waitFor(() => (media.active === 1 ? true : undefined), 10_000, 'the first clip to start');
    const second = new AbortController();
    const secondRequest = server.api(`/v1/videos/${videoId}/clip?start=1&end=60`, { signal: second.signal }).catch((e: unknown) => e);
    await waitFor(() => (media.queued === 1 ? true : undefined), 10_000, 'the second clip to wait');

    const refused = await server.api(`/v1/videos/${videoId}/clip?start=2&end=60`);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('too-many-requests');

    second.abort();
    await secondRequest;
    await waitFor(() => (media.queued === 0 ? true : undefined), 5_000, 'the waiting clip to leave the queue');
    expect(media.active).toBe(1);
    first.abort();
    await firstRequest;
    // ffmpeg is stopped long before a minute of 720p is encoded, and leaves nothing behind
    await waitFor(() => (media.active === 0 ? true : undefined), 5_000, 'the running clip to stop');
    await waitFor(() => (clipsDir().length === 0 ? true : undefined), 5_000, 'the partial clip to be removed');
  }, 60_000);

  it('keeps the clip cache under its size, the least recently served clip going first', async () => {
    const clip = async (start: number): Promise<void> => {
      const response = await server.api(`/v1/videos/${videoId}/clip?start=${start}&end=${start + 0.5}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(1000);
    };
    await clip(0);
    const firstFiles = clipsDir();
    expect(firstFiles.filter((f) => f.endsWith('.mp4'))).toHaveLength(1);
    await clip(1);
    // a 1-byte cache keeps only the clip just made (and its poster frame)
    const secondFiles = clipsDir();
    expect(secondFiles.filter((f) => f.endsWith('.mp4'))).toHaveLength(1);
    expect(secondFiles).not.toContain(firstFiles.find((f) => f.endsWith('.mp4')));
    await clip(0);
    expect(clipsDir().filter((f) => f.endsWith('.mp4'))).toEqual(firstFiles.filter((f) => f.endsWith('.mp4')));
  }, 60_000);

  it('follows at most the configured number of streams', async () => {
    const add = (url: string) => server.api('/v1/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });
    const accepted = await add('rtsp://127.0.0.1:1/first');
    expect(accepted.status).toBe(201);
    const refused = await add('rtsp://127.0.0.1:1/second');
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/1 live streams are followed already/);
    const { id } = (await accepted.json()) as { id: number };
    expect((await server.api(`/v1/streams/${id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await add('rtsp://127.0.0.1:1/second')).status).toBe(201);
  }, 60_000);
});
