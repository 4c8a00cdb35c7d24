/**
 * Network and live sources against local servers only (127.0.0.1): an HLS stream served over HTTP, a playlist that
 * tries to read a local file, and "dead" servers that accept connections and never answer, which must produce
 * errors through the protocol-specific timeouts or the stall watchdog instead of hanging.
 */
import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DecodeError } from '../../src/decode/errors.js';
import { readFrames, type DecodedFrame } from '../../src/decode/frames.js';
import { probeVideo, type VideoInfo } from '../../src/decode/probe.js';

let hlsDir: string;
let http: HttpServer;
let httpPort: number;
let silent: Server;
let silentPort: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  hlsDir = mkdtempSync(join(tmpdir(), 'hls-'));
  const made = spawnSync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=10:duration=2',
    '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-g', '10',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', '0', '-hls_segment_filename', join(hlsDir, 'seg%d.ts'),
    join(hlsDir, 'live.m3u8'),
  ]);
  if (made.status !== 0) throw new Error(`could not make the HLS test stream: ${made.stderr}`);

  http = createHttpServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0]!.slice(1);
    if (name === 'evil.m3u8') {
      res.setHeader('content-type', 'application/vnd.apple.mpegurl');
      // A valid local segment with an allowed extension: only the protocol whitelist stands in the way.
      res.end(`#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nfile://${join(hlsDir, 'seg0.ts')}\n#EXT-X-ENDLIST\n`);
      return;
    }
    if (!/^[a-z0-9]+\.(m3u8|ts)$/.test(name)) {
      res.statusCode = 404;
      res.end();
      return;
    }
    try {
      res.end(readFileSync(join(hlsDir, name)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  httpPort = (http.address() as AddressInfo).port;

  // Accepts connections, reads everything, never answers: a dead camera / stuck server.
  silent = createServer((socket) => {
    sockets.add(socket);
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  silentPort = (silent.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all([new Promise((r) => http?.close(r)), new Promise((r) => silent?.close(r))]);
  rmSync(hlsDir, { recursive: true, force: true });
});

async function errorOf(promise: Promise<unknown>): Promise<DecodeError> {
  const error = await promise.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DecodeError);
  return error as DecodeError;
}

async function collect(source: string, options: Parameters<typeof readFrames>[1]): Promise<DecodedFrame[]> {
  const frames: DecodedFrame[] = [];
  for await (const frame of readFrames(source, options)) frames.push(frame);
  return frames;
}

describe('HLS over HTTP (live kind)', () => {
  it('decodes every frame with exact pts and a wall-clock arrival time', async () => {
    const url = `http://127.0.0.1:${httpPort}/live.m3u8`;
    const before = Date.now();
    const frames = await collect(url, { longSide: 80, ioTimeoutMs: 5000 });
    expect(frames).toHaveLength(20);
    frames.forEach((f, k) => {
      expect([f.width, f.height, f.data.length]).toEqual([80, 60, 80 * 60 * 3]);
      expect(Math.abs(f.pts - frames[0]!.pts - k / 10)).toBeLessThan(1e-6);
      expect(f.receivedAt).toBeGreaterThanOrEqual(before);
      if (k > 0) expect(f.receivedAt).toBeGreaterThanOrEqual(frames[k - 1]!.receivedAt);
    });
  });

  it('a remote playlist cannot make ffmpeg read local files', async () => {
    const url = `http://127.0.0.1:${httpPort}/evil.m3u8`;
    const error = await errorOf(probeVideo(url, { ioTimeoutMs: 2000 }));
    expect(error.code).toBe('source-unavailable');
    expect(error.stderr).toMatch(/Protocol 'file' not on whitelist 'http,https,tls,tcp,crypto'/);
    // Even when the probe is skipped, the decoder refuses the file: segments.
    const info = { width: 16, height: 16, displayWidth: 16, displayHeight: 16, streamIndex: 0 } as VideoInfo;
    const decode = await collect(url, { longSide: 16, info, ioTimeoutMs: 2000 }).then(
      (frames) => frames,
      (e: unknown) => e,
    );
    if (Array.isArray(decode)) expect(decode).toHaveLength(0);
    else expect(decode).toBeInstanceOf(DecodeError);
  });
});

describe('dead sources fail instead of hanging', () => {
  it.each(['http://HOST/live.m3u8', 'https://HOST/video.mp4', 'rtsp://HOST/cam1', 'rtmp://HOST/live/key'])(
    'probe of %s → source-unavailable via the I/O timeout',
    async (template) => {
      const url = template.replace('HOST', `127.0.0.1:${silentPort}`);
      const error = await errorOf(probeVideo(url, { ioTimeoutMs: 500 }));
      expect(error.code).toBe('source-unavailable');
      expect(error.message).toContain(url);
    },
  );

  it('decoding a dead HTTP source: ffmpeg gives up after -rw_timeout (non-zero exit)', async () => {
    const info = { width: 16, height: 16, displayWidth: 16, displayHeight: 16, streamIndex: 0 } as VideoInfo;
    const error = await errorOf(collect(`http://127.0.0.1:${silentPort}/live.m3u8`, { longSide: 16, info, ioTimeoutMs: 500 }));
    expect(error.code).toBe('ffmpeg-failed');
    expect(error.message).toMatch(/timed out/i);
  });

  it('the stall watchdog kills ffmpeg when a live source sends nothing (ffmpeg timeouts off)', async () => {
    const info = { width: 16, height: 16, displayWidth: 16, displayHeight: 16, streamIndex: 0 } as VideoInfo;
    let child: ChildProcess | undefined;
    const error = await errorOf(
      collect(`rtsp://127.0.0.1:${silentPort}/cam1`, {
        longSide: 16,
        info,
        ioTimeoutMs: 0,
        stallTimeoutMs: 500,
        onSpawn: (c) => (child = c),
      }),
    );
    expect(error.code).toBe('timeout');
    expect(child!.signalCode).toBe('SIGKILL');
  });
});
