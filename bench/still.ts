/**
 * `npm run bench -- still [videos…]`: how many DASR passes the still gate saves at 1 keyframe/s, and what it costs.
 * Without arguments: a generated static-camera minute (a photo under temporal sensor noise, H.264, a 16-px red
 * square crossing from 30 s to 40 s) and, when ../shared is present, the tracks-dev videos (hand-held and moving
 * cameras: little to save). The gate runs on the frames as decoded for DASR (long side 512).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, basename, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFrames } from '../src/decode/frames.js';
import { KeyframeSelector } from '../src/decode/keyframes.js';
import { DEFAULT_DASR_CONFIG } from '../src/detect/config.js';
import { DEFAULT_STILL_THRESHOLD, StillGate } from '../src/ingest/still-gate.js';

const ROOT = resolve(import.meta.dirname, '..');
const TRACKS_VIDEOS = resolve(ROOT, '../shared/data/tracks-dev/videos');

function staticCamera(path: string): void {
  execFileSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-loop', '1', '-i', join(ROOT, 'fixtures/photos/coffee.png'),
    '-f', 'lavfi', '-i', 'color=c=red:s=16x16:r=25',
    '-filter_complex', "[0]scale=1280:720,noise=alls=8:allf=t[bg];[bg][1]overlay=x='if(between(t,30,40),100+(t-30)*100,-100)':y=500,format=yuv420p[v]",
    '-map', '[v]', '-t', '60', '-r', '25', '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '23', path,
  ]);
}

export async function run(args: string[]): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'dasr-bench-still-'));
  try {
    let videos = args;
    if (videos.length === 0) {
      const generated = join(work, 'static-camera-720p.mp4');
      staticCamera(generated);
      videos = [generated];
      if (existsSync(TRACKS_VIDEOS)) videos.push(...readdirSync(TRACKS_VIDEOS).sort().map((n) => join(TRACKS_VIDEOS, n)));
      else process.stdout.write(`(${TRACKS_VIDEOS} is absent: the generated clip only)\n`);
    }
    process.stdout.write(`still threshold ${DEFAULT_STILL_THRESHOLD} levels, 1 keyframe/s, long side ${DEFAULT_DASR_CONFIG.longSide}\n`);
    process.stdout.write(`${'video'.padEnd(28)} keyframes  analysed  saved  gate ms/keyframe\n`);
    let [allKeyframes, allAnalysed] = [0, 0];
    for (const video of videos) {
      const selector = new KeyframeSelector({ interval: 1 });
      const gate = new StillGate({ threshold: DEFAULT_STILL_THRESHOLD });
      let [keyframes, analysed, gateMs] = [0, 0, 0];
      for await (const frame of readFrames(video, { longSide: DEFAULT_DASR_CONFIG.longSide })) {
        if (!selector.offer(frame).keep) continue;
        keyframes++;
        const t = performance.now();
        if (gate.needsAnalysis(frame)) analysed++;
        gateMs += performance.now() - t;
      }
      allKeyframes += keyframes;
      allAnalysed += analysed;
      process.stdout.write(`${basename(video).padEnd(28)} ${String(keyframes).padStart(9)}  ${String(analysed).padStart(8)}  ${`${Math.round((100 * (keyframes - analysed)) / keyframes)}%`.padStart(5)}  ${(gateMs / keyframes).toFixed(2).padStart(16)}\n`);
    }
    if (videos.length > 1) process.stdout.write(`${'all'.padEnd(28)} ${String(allKeyframes).padStart(9)}  ${String(allAnalysed).padStart(8)}  ${`${Math.round((100 * (allKeyframes - allAnalysed)) / allKeyframes)}%`.padStart(5)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
