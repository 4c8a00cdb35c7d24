import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom, timer } from 'rxjs';
import { DetectorThread } from '../src/detect/detector-thread.js';
import { readFrames } from '../src/decode/frames.js';
import { IndexStore } from '../src/index/index-store.js';
import { ingestFile } from '../src/ingest/ingest-file.js';
import { LiveIngestion } from '../src/ingest/ingest-live.js';
import { createLogger } from '../src/log.js';
import { DEFAULT_TOPDOWN_LEVEL, type TopDownLevel } from '../src/model/provision.js';
import { LivePublisher } from '../test/support/live-publisher.js';
import { median, mib, peakRss, quantile } from './stats.js';

const quiet = createLogger('warn');

/** A 1-minute 1280×720 H.264 file: ffmpeg's mandelbrot zoom with a moving testsrc2 patch over it. */
function makeVideo(path: string, seconds: number): void {
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `mandelbrot=size=1280x720:rate=25`,
    '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=25`,
    '-filter_complex', '[0][1]overlay=x=mod(t*120\\,960):y=240+100*sin(t)',
    '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', path,
  ]);
}

export async function run(args: string[]): Promise<void> {
  const seconds = Number(args[0] ?? 60);
  const liveSeconds = Number(args[1] ?? 40);
  const topDown = (args[2] ?? DEFAULT_TOPDOWN_LEVEL) as TopDownLevel;
  const work = mkdtempSync(join(tmpdir(), 'dasr-bench-ingest-'));
  try {
    const video = join(work, 'bench-720p.mp4');
    if (!existsSync(video)) makeVideo(video, seconds);
    const dasr = await DetectorThread.start({ backbone: { topDown }, config: {}, logLevel: 'warn' });

    let t = performance.now();
    let frames = 0;
    for await (const _frame of readFrames(video, { longSide: dasr.config.longSide })) frames++;
    const decodeMs = performance.now() - t;
    process.stdout.write(`decode only: ${frames} frames of ${seconds} s 720p to ${dasr.config.longSide} px in ${(decodeMs / 1000).toFixed(1)} s = ${(frames / (decodeMs / 1000)).toFixed(0)} frames/s\n`);

    const store = await IndexStore.open(join(work, 'data'), { logger: quiet });
    const result = await ingestFile(video, dasr, store, { interval: 1, logger: quiet });
    await store.close();
    process.stdout.write(
      `file, 1 keyframe/s (${dasr.config.variant}, top-down to ${topDown}, long side ${dasr.config.longSide}, ${dasr.config.maxPeaks} peaks max): ${result.keyframes} keyframes, ${result.regions} regions\n` +
        `  DASR ${(result.detectMs / 1000).toFixed(1)} s (${(result.detectMs / result.keyframes).toFixed(0)} ms per keyframe); ` +
        `index insert ${(result.regions / (result.commitMs / 1000)).toFixed(0)} regions/s; ` +
        `end-to-end ${(result.elapsedMs / 1000).toFixed(1)} s = ${(seconds / (result.elapsedMs / 1000)).toFixed(2)}× real time; peak RSS ${mib(peakRss())}\n` +
        `  stages one after another would take decode ${(decodeMs / 1000).toFixed(1)} + DASR ${(result.detectMs / 1000).toFixed(1)} + commit ${(result.commitMs / 1000).toFixed(1)} = ` +
        `${((decodeMs + result.detectMs + result.commitMs) / 1000).toFixed(1)} s; overlapped: wall ${(result.elapsedMs / 1000).toFixed(1)} s\n`,
    );

    // Live: the same file published in real time at 25 fps, every frame offered as a keyframe, so inference
    // (seconds per frame) is far slower than the stream and the pipeline must drop to the latest frame.
    const publisher = new LivePublisher(video);
    await publisher.start();
    const liveStore = await IndexStore.open(join(work, 'live'), { logger: quiet });
    const live = (await LiveIngestion.open(publisher.url, dasr, liveStore, { interval: 0, logger: quiet })).start();
    const latencies: number[] = [];
    const rss: number[] = [];
    live.keyframes$.subscribe((k) => latencies.push(k.processedAt - k.receivedAt));
    await firstValueFrom(live.state$.pipe(filter((s) => s === 'live')));
    t = performance.now();
    const sampler = setInterval(() => rss.push(process.memoryUsage().rss), 1000);
    await firstValueFrom(timer(liveSeconds * 1000));
    clearInterval(sampler);
    await live.stop();
    await publisher.stop();
    await liveStore.close();
    const c = live.counters;
    process.stdout.write(
      `live, ${liveSeconds} s of a 25 fps stream, every frame a keyframe candidate: ${c.framesDecoded} frames decoded, ${c.processed} processed, ${c.dropped} dropped (${((100 * c.dropped) / Math.max(1, c.framesDecoded)).toFixed(1)} %)\n` +
        `  latency frame arrival → processed: median ${median(latencies).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms, max ${Math.max(...latencies).toFixed(0)} ms; ` +
        `RSS ${mib(Math.min(...rss))} … ${mib(Math.max(...rss))}\n`,
    );
    await dasr.close();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
