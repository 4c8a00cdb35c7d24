/**
 * Writes the small, deterministic video fixtures used by test/video into fixtures/videos/, plus manifest.json with
 * their ground truth. Run with `npx tsx scripts/make-fixtures.ts`. Idempotent: every file is rebuilt from lavfi
 * sources with fixed seeds, written under a temporary name and renamed into place. Single-threaded libx264 and
 * bit-exact muxing make the output byte-identical on the same ffmpeg/x264 build (another build may encode
 * differently; the manifest's ground truth is re-measured with ffprobe each time, so it stays consistent with the
 * files).
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mulberry32 } from '../src/util/random.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'fixtures', 'videos');
const FFMPEG = process.env['FFMPEG_PATH'] ?? 'ffmpeg';
const FFPROBE = process.env['FFPROBE_PATH'] ?? 'ffprobe';

/** Flags that make the encoded files reproducible: no metadata, no encoder version strings, one thread. */
const X264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-threads', '1'];
const BITEXACT = ['-map_metadata', '-1', '-fflags', '+bitexact', '-flags:v', '+bitexact', '-flags:a', '+bitexact'];

function run(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')}\nexited with ${result.status}:\n${result.stderr}`);
  }
  return result.stdout;
}

function ffmpeg(args: string[]): void {
  run(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args]);
}

/** Encodes into a temporary file next to the target, then renames (never leaves a half-written fixture). */
function encode(name: string, args: string[]): string {
  const target = join(OUT, name);
  const temp = join(OUT, `.tmp-${name}`); // same extension: ffmpeg picks the muxer from it
  ffmpeg([...args, temp]);
  renameSync(temp, target);
  return target;
}

function writeAtomic(name: string, data: Buffer | string): string {
  const target = join(OUT, name);
  const temp = join(OUT, `.tmp-${name}`);
  writeFileSync(temp, data);
  renameSync(temp, target);
  return target;
}

interface ProbedFrame {
  pts: number;
  keyFrame: boolean;
}

/** Presentation timestamps (seconds) of every decoded video frame, in presentation order, from ffprobe. */
function probeFrames(path: string): ProbedFrame[] {
  const json = run(FFPROBE, [
    '-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pts,best_effort_timestamp,key_frame',
    '-show_entries', 'stream=time_base', '-of', 'json', path,
  ]);
  const parsed = JSON.parse(json) as {
    frames: Array<{ pts?: number; best_effort_timestamp?: number; key_frame: number }>;
    streams: Array<{ time_base: string }>;
  };
  const [num, den] = parsed.streams[0]!.time_base.split('/').map(Number) as [number, number];
  const frames = parsed.frames.map((f) => ({ pts: ((f.pts ?? f.best_effort_timestamp)! * num) / den, keyFrame: f.key_frame === 1 }));
  return frames.sort((a, b) => a.pts - b.pts);
}

function probeSummary(path: string): Record<string, unknown> {
  const json = run(FFPROBE, ['-v', 'error', '-print_format', 'json', '-show_streams', '-show_format', path]);
  const parsed = JSON.parse(json) as {
    streams: Array<Record<string, string | number>>;
    format: Record<string, string>;
  };
  const video = parsed.streams.find((s) => s['codec_type'] === 'video');
  return {
    width: video?.['width'],
    height: video?.['height'],
    codec: video?.['codec_name'],
    timeBase: video?.['time_base'],
    avgFrameRate: video?.['avg_frame_rate'],
    duration: Number(video?.['duration'] ?? parsed.format['duration']),
    hasAudio: parsed.streams.some((s) => s['codec_type'] === 'audio'),
  };
}

function probeFails(path: string): string {
  const result = spawnSync(FFPROBE, ['-v', 'error', '-show_streams', '-show_format', path], { encoding: 'utf8' });
  if (result.status === 0) throw new Error(`expected ffprobe to reject ${path}, it accepted it`);
  return result.stderr.trim();
}

const round6 = (x: number): number => Math.round(x * 1e6) / 1e6;

function main(): void {
  mkdirSync(OUT, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'make-fixtures-'));
  const manifest: Record<string, unknown> = {};
  try {
    // ---------------------------------------------------------------- cfr-testsrc.mp4
    // 25 fps constant frame rate, 4 s = 100 frames, GOP 25 (a keyframe every second), B-frames on (so decode order
    // differs from presentation order, as in real files). No +faststart: the moov atom is at the end of the file.
    const cfr = encode('cfr-testsrc.mp4', [
      '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=25:duration=4',
      ...X264, '-g', '25', '-keyint_min', '25', '-sc_threshold', '0', ...BITEXACT,
    ]);
    const cfrFrames = probeFrames(cfr);
    if (cfrFrames.length !== 100) throw new Error(`cfr-testsrc.mp4: expected 100 frames, got ${cfrFrames.length}`);
    manifest['cfr-testsrc.mp4'] = {
      description: 'testsrc2 320x240, 25 fps CFR, 4 s, H.264 with B-frames, GOP 25, moov at the end',
      ...probeSummary(cfr),
      frameRate: 25,
      frameCount: 100,
      pts: 'k/25 for k = 0..99',
      keyframePts: cfrFrames.filter((f) => f.keyFrame).map((f) => round6(f.pts)),
    };

    // ---------------------------------------------------------------- vfr.mkv
    // Three segments with different rates: 10 fps for 1 s, 25 fps with every third frame dropped for 1 s (gaps of
    // 40 and 80 ms), 5 fps for 1 s. Matroska stores ms timestamps; -fps_mode vfr keeps them as they are.
    const vfr = encode('vfr.mkv', [
      '-filter_complex',
      'testsrc2=size=320x240:rate=10:duration=1[a];' +
        "testsrc2=size=320x240:rate=25:duration=1,select='not(eq(mod(n\\,3)\\,1))'[b];" +
        'testsrc2=size=320x240:rate=5:duration=1[c];' +
        '[a][b][c]concat=n=3:v=1:a=0[v]',
      '-map', '[v]', ...X264, '-g', '12', '-fps_mode', 'vfr', ...BITEXACT,
    ]);
    const vfrPts = probeFrames(vfr).map((f) => round6(f.pts));
    const vfrGaps = vfrPts.slice(1).map((p, i) => round6(p - vfrPts[i]!));
    if (new Set(vfrGaps).size < 3) throw new Error(`vfr.mkv is not variable frame rate: gaps ${vfrGaps.join(',')}`);
    manifest['vfr.mkv'] = {
      description: 'variable frame rate: 10 fps (1 s), 25 fps with every 3rd frame dropped (1 s), 5 fps (1 s), Matroska',
      ...probeSummary(vfr),
      frameCount: vfrPts.length,
      pts: vfrPts,
      maxFrameDuration: Math.max(...vfrGaps),
      minFrameDuration: Math.min(...vfrGaps),
    };

    // ---------------------------------------------------------------- scene-cut.mp4
    // 24 fps so that the cut at t = 1.5 s falls exactly on a frame (frame 36; at 25 fps 1.5 s is between frames).
    // Scene A: testsrc2 (bright, colourful, moving). Scene B: a Mandelbrot zoom (pink background, green set): a hard cut.
    const sceneCut = encode('scene-cut.mp4', [
      '-filter_complex',
      'testsrc2=size=320x240:rate=24:duration=1.5,format=yuv420p[a];' +
        'mandelbrot=size=320x240:rate=24,trim=duration=1.5,format=yuv420p[b];' +
        '[a][b]concat=n=2:v=1:a=0[v]',
      '-map', '[v]', ...X264, '-g', '48', ...BITEXACT,
    ]);
    const scenePts = probeFrames(sceneCut).map((f) => round6(f.pts));
    const cutIndex = scenePts.findIndex((p) => p >= 1.5 - 1e-9);
    if (scenePts.length !== 72 || cutIndex !== 36 || scenePts[cutIndex] !== 1.5) {
      throw new Error(`scene-cut.mp4: unexpected timestamps (${scenePts.length} frames, cut at index ${cutIndex})`);
    }
    manifest['scene-cut.mp4'] = {
      description: 'testsrc2 for 1.5 s, then a hard cut to a Mandelbrot zoom for 1.5 s; 320x240, 24 fps',
      ...probeSummary(sceneCut),
      frameRate: 24,
      frameCount: scenePts.length,
      cutTime: 1.5,
      cutFrameIndex: cutIndex,
    };

    // ---------------------------------------------------------------- moving-object.mp4 (+ query PNGs)
    const W = 640;
    const H = 360;
    const FPS = 25;
    const OBJ = 120;
    const bg = join(work, 'background.png');
    ffmpeg([
      '-f', 'lavfi', '-i',
      `gradients=size=${W}x${H}:c0=0x1b3a4bff:c1=0x8d6a3fff:c2=0x3f7d5aff:c3=0xb8c4d0ff:nb_colors=4:x0=0:y0=0:x1=${W - 1}:y1=${H - 1}:seed=7,` +
        'format=rgb24,noise=alls=14:allf=u',
      '-frames:v', '1', bg,
    ]);
    // The object: a 120x120 crop of the Mandelbrot set's boundary (colourful, textured, distinctive).
    const objectPng = encode('moving-object-query.png', [
      '-f', 'lavfi', '-i', 'mandelbrot=size=640x480:rate=25', '-frames:v', '1', '-vf', `crop=${OBJ}:${OBJ}:260:180,format=rgb24`,
      '-fflags', '+bitexact', '-flags:v', '+bitexact',
    ]);
    // The distractor: a 100x100 "game of life" pattern in yellow on purple, visible the whole time.
    const distractor = join(work, 'distractor.png');
    ffmpeg([
      '-f', 'lavfi', '-i', 'life=size=100x100:seed=42:ratio=0.35:mold=0:life_color=0xf0e040:death_color=0x402080:rate=25',
      '-vf', 'select=eq(n\\,5),format=rgb24', '-frames:v', '1', distractor,
    ]);
    const DISTRACTOR = { x: 520, y: 240, w: 100, h: 100 };
    // Path in frame numbers n (t = n/25): visible for n = 25..125 (t = 1..5 s, both ends included),
    // x = 40 + 4 (n − 25), y = 220 − 2 (n − 25)  ⇔  x = 40 + 100 (t − 1), y = 220 − 50 (t − 1).
    // Integer, even positions on every frame (overlay on yuv420 aligns to even pixels), always fully inside.
    // The expressions use n = round(25 t) from the frame's own timestamp: overlay's `n` variable counts from 1 at
    // the time it is evaluated, and float t−1 could truncate to the pixel below.
    const first = 25;
    const last = 125;
    const boxAt = (n: number) => ({ x: 40 + 4 * (n - first), y: 220 - 2 * (n - first), w: OBJ, h: OBJ });
    const moving = encode('moving-object.mp4', [
      '-loop', '1', '-framerate', String(FPS), '-i', bg,
      '-loop', '1', '-framerate', String(FPS), '-i', objectPng,
      '-loop', '1', '-framerate', String(FPS), '-i', distractor,
      '-filter_complex',
      `[0:v][2:v]overlay=x=${DISTRACTOR.x}:y=${DISTRACTOR.y}[withd];` +
        `[withd][1:v]overlay=x='40+4*(round(${FPS}*t)-${first})':y='220-2*(round(${FPS}*t)-${first})':` +
        `enable='between(round(${FPS}*t),${first},${last})'[v]`,
      '-map', '[v]', '-frames:v', String(6 * FPS), ...X264, '-g', '50', '-crf', '26', ...BITEXACT,
    ]);
    const movingFrames = probeFrames(moving);
    if (movingFrames.length !== 6 * FPS) throw new Error(`moving-object.mp4: ${movingFrames.length} frames`);
    // The same patch on another background (a smooth gradient with a grid), for search-by-example.
    const QUERY_AT = { x: 100, y: 60 };
    encode('moving-object-query-scene.png', [
      '-f', 'lavfi', '-i',
      'gradients=size=320x240:c0=0x802030ff:c1=0x20a0c0ff:c2=0xe0d080ff:nb_colors=3:x0=0:y0=239:x1=319:y1=0:seed=3,' +
        'format=rgb24,drawgrid=width=32:height=32:thickness=2:color=white@0.5',
      '-i', objectPng,
      '-filter_complex', `[0:v][1:v]overlay=x=${QUERY_AT.x}:y=${QUERY_AT.y}:format=rgb,format=rgb24`,
      '-frames:v', '1', '-fflags', '+bitexact', '-flags:v', '+bitexact',
    ]);
    const halfSeconds = [];
    for (let t = 1; t <= 5 + 1e-9; t += 0.5) {
      halfSeconds.push({ t, x: 40 + 100 * (t - 1), y: 220 - 50 * (t - 1), w: OBJ, h: OBJ, onFrame: Number.isInteger(t * FPS) });
    }
    manifest['moving-object.mp4'] = {
      description:
        'static textured background (gradient + noise); a 120x120 Mandelbrot patch enters at t = 1 s, moves linearly ' +
        'up-right and leaves after t = 5 s; a 100x100 yellow/purple cellular-automaton distractor is visible the whole time',
      ...probeSummary(moving),
      frameRate: FPS,
      frameCount: movingFrames.length,
      object: {
        appearance: 'moving-object-query.png',
        size: { w: OBJ, h: OBJ },
        visibleFrames: { first, last },
        visibleTime: { from: first / FPS, to: last / FPS, inclusive: true },
        formula: {
          frames: `visible for n in [${first}, ${last}]: x = 40 + 4*(n-${first}), y = 220 - 2*(n-${first}), w = h = ${OBJ}`,
          seconds: 'visible for t in [1, 5]: x = 40 + 100*(t-1), y = 220 - 50*(t-1) (exact at frame times t = n/25)',
        },
        boxesEveryHalfSecond: halfSeconds,
        boxes: Array.from({ length: last - first + 1 }, (_, i) => ({ n: first + i, t: round6((first + i) / FPS), ...boxAt(first + i) })),
      },
      distractor: { description: 'game-of-life pattern, yellow on purple', box: DISTRACTOR, visibleFrames: { first: 0, last: 6 * FPS - 1 } },
    };
    manifest['moving-object-query.png'] = { description: 'the moving object alone (120x120 RGB)', width: OBJ, height: OBJ };
    manifest['moving-object-query-scene.png'] = {
      description: 'the moving object pasted on a different background (gradient with a grid), 320x240',
      width: 320,
      height: 240,
      box: { ...QUERY_AT, w: OBJ, h: OBJ },
    };

    // ---------------------------------------------------------------- audio-only.m4a
    const audio = encode('audio-only.m4a', [
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=2', '-c:a', 'aac', '-b:a', '48k', ...BITEXACT,
    ]);
    manifest['audio-only.m4a'] = { description: '2 s 440 Hz sine, AAC, no video stream', expectedError: 'no-video-stream', ...probeSummary(audio) };

    // ---------------------------------------------------------------- negative fixtures
    writeAtomic('zero-length.mp4', Buffer.alloc(0));
    manifest['zero-length.mp4'] = { description: '0 bytes', expectedError: 'empty' };

    const cfrBytes = readFileSync(cfr);
    const truncated = writeAtomic('truncated.mp4', cfrBytes.subarray(0, Math.floor(cfrBytes.length * 0.3)));
    manifest['truncated.mp4'] = {
      description: 'first 30% of cfr-testsrc.mp4; its moov atom is at the end, so nothing is readable',
      expectedError: 'corrupt',
      ffprobeSays: probeFails(truncated),
    };

    const random = mulberry32(0xc0ffee);
    const noise = Buffer.alloc(48 * 1024);
    for (let i = 0; i < noise.length; i++) noise[i] = Math.floor(random() * 256);
    const corrupt = writeAtomic('corrupt.mp4', noise);
    manifest['corrupt.mp4'] = {
      description: '48 KiB of seeded pseudo-random bytes (mulberry32, seed 0xc0ffee) with an .mp4 name',
      expectedError: 'corrupt',
      ffprobeSays: probeFails(corrupt),
    };

    const text = writeAtomic(
      'not-video.txt',
      'This is not a video.\nIt is a plain text file used as a negative fixture for the video decoder.\n',
    );
    manifest['not-video.txt'] = { description: 'plain text', expectedError: 'no-video-stream', ffprobeSays: probeFails(text) };
    // ffprobe's message contains this machine's absolute path and heap addresses: drop them (reproducible manifest).
    for (const entry of Object.values(manifest) as Array<Record<string, unknown>>) {
      if (typeof entry['ffprobeSays'] === 'string') entry['ffprobeSays'] = (entry['ffprobeSays'] as string).split(OUT + '/').join('').replace(/ @ 0x[0-9a-f]+\]/g, ']');
    }

    // ---------------------------------------------------------------- sizes, hashes, manifest
    let total = 0;
    for (const [name, entry] of Object.entries(manifest) as Array<[string, Record<string, unknown>]>) {
      const bytes = readFileSync(join(OUT, name));
      entry['bytes'] = bytes.length;
      entry['sha256'] = createHash('sha256').update(bytes).digest('hex');
      total += bytes.length;
    }
    const version = run(FFMPEG, ['-version']).split('\n')[0];
    writeAtomic(
      'manifest.json',
      `${JSON.stringify({ generatedBy: 'scripts/make-fixtures.ts', ffmpeg: version, totalBytes: total, files: manifest }, null, 2)}\n`,
    );
    for (const name of Object.keys(manifest)) console.log(`${String(statSync(join(OUT, name)).size).padStart(9)}  ${name}`);
    console.log(`${String(total).padStart(9)}  total`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
