import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { LivePublisher } from '../test/support/live-publisher.js';
import { median, mib, quantile } from './stats.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'bench-token-0123456789abcdef';
const SAMPLE_MS = 10_000;

interface Tally {
  received: Record<string, number>;
  latencyMs: number[];
  frameToClientMs: number[];
  dropped: number;
  errors: string[];
}

/**
 * A camera's 40 s loop: a textured background, and the fixture object (its query crop) crossing it during the first
 * 8 s, then gone for 32 s — long enough for its track to end even when keyframes are seconds apart, so every
 * loop is a new appearance (a new match for every subscriber).
 */
function makeCameraLoop(path: string): void {
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'gradients=size=640x360:rate=25:c0=0x1b3a4bff:c1=0x8d6a3fff:x0=0:y0=0:x1=639:y1=359:speed=0.01,format=yuv420p,noise=alls=6:allf=t',
    '-loop', '1', '-framerate', '25', '-i', join(ROOT, 'fixtures/videos/moving-object-query.png'),
    '-filter_complex', "[0][1]overlay=x='40+50*t':y=120:enable='lt(t,8)'",
    '-t', '40', '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', path,
  ]);
}

/** The service as its own process (`dasr serve`), so that its memory is measured alone. */
async function startService(dataDir: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  // The cameras are on loopback: private hosts allowed, as for cameras on a LAN.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--long-side', '384', '--max-peaks', '6', 'serve', '--data', dataDir, '--port', '0', '--interval', '1', '--allow-private-hosts'], {
    cwd: ROOT,
    env: { ...process.env, DASR_API_TOKENS: TOKEN, DASR_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /at (http:\/\/[^\s]+)/.exec(log);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`dasr serve exited (${code}):\n${log}`)));
  });
  return {
    url,
    pid: child.pid!,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : Number.NaN;
}

async function api(url: string, path: string, init: RequestInit = {}): Promise<unknown> {
  const response = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', ...(init.headers as Record<string, string> | undefined) } });
  if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

/** One search by example (the query crop) through the API; resolves with its latency in ms. */
async function timedSearch(url: string, query: Buffer): Promise<number> {
  const form = new FormData();
  form.append('image', new Blob([query]), 'query.png');
  form.append('top', '20');
  const started = performance.now();
  const response = await fetch(`${url}/v1/search`, { method: 'POST', body: form, headers: { authorization: `Bearer ${TOKEN}` } });
  if (!response.ok) throw new Error(`search: ${response.status} ${await response.text()}`);
  await response.json();
  return performance.now() - started;
}

/** Searches one after another until `stop` says so (a user at the UI, during ingestion); their latencies. */
async function searchLoop(url: string, query: Buffer, stop: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!stop()) {
    latencies.push(await timedSearch(url, query));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return latencies;
}

/** One subscriber: subscribes with the query crop and tallies what arrives. `slow` ones stop reading their socket. */
async function subscriber(url: string, image: string, index: number, tally: Tally, slow: boolean): Promise<WebSocket> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/live?token=${TOKEN}`);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const subscribed = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; processedAt?: string; frameTime?: string; count?: number; error?: { message: string } };
      tally.received[message.type] = (tally.received[message.type] ?? 0) + 1;
      if (message.type === 'subscribed') resolve();
      if (message.type === 'error') {
        tally.errors.push(`subscriber ${index}: ${message.error?.message}`);
        reject(new Error(`subscriber ${index} was refused: ${message.error?.message}`));
      }
      if (message.type === 'dropped') tally.dropped += message.count ?? 0;
      if ((message.type === 'match' || message.type === 'update') && message.processedAt && message.frameTime) {
        tally.latencyMs.push(Date.now() - Date.parse(message.processedAt));
        tally.frameToClientMs.push(Date.now() - Date.parse(message.frameTime));
      }
    });
  });
  ws.on('error', (error) => tally.errors.push(`subscriber ${index}: ${error.message}`));
  ws.on('close', (code) => {
    if (code !== 1000 && code !== 1001 && code !== 1005) tally.errors.push(`subscriber ${index} closed with ${code}`);
  });
  ws.send(JSON.stringify({ type: 'subscribe', image, threshold: 0.6, updates: index % 2 === 0, name: `bench ${index}` }));
  await subscribed;
  // A client that stops reading: the service must neither stall nor buffer without bound for it.
  if (slow) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  return ws;
}

/**
 * `npm run bench -- serve [minutes] [subscribers] [sources] [slow]`: the service (`dasr serve`, long side 384, 6
 * peaks) with `sources` live HTTP cameras (a 40 s loop in which the fixture object appears for 8 s, published in
 * real time) and
 * `subscribers` WebSocket clients all subscribed to that object (half with updates), `slow` of them not reading.
 * Prints the service's memory over time, push latency (keyframe processed → message received), message counts,
 * drops and errors, the streams' frame counters, and search latency (the API, query described by DASR included)
 * over an indexed file, quiet and then during the live ingestion (its vector saves included).
 */
export async function run(args: string[]): Promise<void> {
  const minutes = Number(args[0] ?? 5);
  const subscriberCount = Number(args[1] ?? 100);
  const sourceCount = Number(args[2] ?? 4);
  const slowCount = Number(args[3] ?? 5);
  const dataDir = mkdtempSync(join(tmpdir(), 'dasr-bench-serve-'));
  const service = await startService(dataDir);
  const camera = join(dataDir, 'camera-loop.mp4');
  makeCameraLoop(camera);
  const publishers = Array.from({ length: sourceCount }, () => new LivePublisher(camera));
  const tally: Tally = { received: {}, latencyMs: [], frameToClientMs: [], dropped: 0, errors: [] };
  const samples: { t: number; rss: number; received: number }[] = [];
  try {
    const query = readFileSync(join(ROOT, 'fixtures/videos/moving-object-query.png'));
    const image = query.toString('base64');
    const upload = new FormData();
    upload.append('file', new Blob([readFileSync(join(ROOT, 'fixtures/videos/moving-object.mp4'))]), 'moving-object.mp4');
    const accepted = await fetch(`${service.url}/v1/videos`, { method: 'POST', body: upload, headers: { authorization: `Bearer ${TOKEN}` } });
    if (accepted.status !== 202) throw new Error(`upload: ${accepted.status} ${await accepted.text()}`);
    while (((await api(service.url, '/v1/videos')) as { videos: { status: string }[] }).videos[0]?.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 500));
    const quietSearches: number[] = [];
    for (let i = 0; i < 20; i++) quietSearches.push(await timedSearch(service.url, query));
    const clients: WebSocket[] = [];
    for (let i = 0; i < subscriberCount; i++) clients.push(await subscriber(service.url, image, i, tally, i < slowCount));
    process.stdout.write(`${subscriberCount} subscribers (${slowCount} not reading) on ${service.url}; ${sourceCount} live sources; ${minutes} min\n`);
    for (const publisher of publishers) {
      await publisher.start();
      await api(service.url, '/v1/streams', { method: 'POST', body: JSON.stringify({ url: publisher.url, interval: 1 }) });
    }
    const started = Date.now();
    const searching = searchLoop(service.url, query, () => Date.now() - started >= minutes * 60_000);
    const total = (): number => Object.values(tally.received).reduce((a, b) => a + b, 0);
    while (Date.now() - started < minutes * 60_000) {
      await new Promise((resolve) => setTimeout(resolve, SAMPLE_MS));
      const sample = { t: (Date.now() - started) / 1000, rss: rssOf(service.pid), received: total() };
      samples.push(sample);
      process.stderr.write(`  t=${sample.t.toFixed(0)} s  service RSS ${mib(sample.rss)}  messages ${sample.received}\n`);
    }
    const busySearches = await searching;
    const streams = ((await api(service.url, '/v1/streams')) as { streams: { id: number; state: string; counters: { framesDecoded: number; processed: number; dropped: number; reconnects: number; lastError: string | null } }[] }).streams;
    const metrics = await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    const queueDepth = /^dasr_push_queue_depth (\d+)/m.exec(metrics)?.[1];
    for (const client of clients) client.terminate();

    const rss = samples.map((s) => s.rss);
    const firstHalf = rss.slice(0, Math.ceil(rss.length / 2));
    const secondHalf = rss.slice(Math.ceil(rss.length / 2));
    process.stdout.write(
      `messages received: ${JSON.stringify(tally.received)}\n` +
        `push latency (keyframe processed → client), ${tally.latencyMs.length} match/update messages: median ${median(tally.latencyMs).toFixed(1)} ms, p99 ${quantile(tally.latencyMs, 0.99).toFixed(1)} ms, max ${Math.max(...tally.latencyMs).toFixed(1)} ms\n` +
        `frame arrival → client: median ${median(tally.frameToClientMs).toFixed(0)} ms, p99 ${quantile(tally.frameToClientMs, 0.99).toFixed(0)} ms\n` +
        `service RSS: min ${mib(Math.min(...rss))}, max ${mib(Math.max(...rss))}; max first half ${mib(Math.max(...firstHalf))}, max second half ${mib(Math.max(...secondHalf))}\n` +
        `drops reported to clients: ${tally.dropped}; messages still queued for the ${slowCount} clients not reading: ${queueDepth}\n` +
        `streams: ${streams.map((s) => `#${s.id} ${s.state} decoded ${s.counters.framesDecoded} processed ${s.counters.processed} dropped ${s.counters.dropped} reconnects ${s.counters.reconnects}${s.counters.lastError ? ` (last error: ${s.counters.lastError})` : ''}`).join('; ')}\n` +
        `search (API, top 20, query described included) over an indexed file: quiet ${quietSearches.length} searches median ${median(quietSearches).toFixed(0)} ms, p99 ${quantile(quietSearches, 0.99).toFixed(0)} ms; ` +
        `during live ingestion ${busySearches.length} searches median ${median(busySearches).toFixed(0)} ms, p99 ${quantile(busySearches, 0.99).toFixed(0)} ms, max ${Math.max(...busySearches).toFixed(0)} ms\n` +
        `errors: ${tally.errors.length}${tally.errors.length ? `\n  ${tally.errors.slice(0, 10).join('\n  ')}` : ''}\n`,
    );
  } finally {
    for (const publisher of publishers) await publisher.stop();
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
