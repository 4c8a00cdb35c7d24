import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { describe, expect, it } from 'vitest';

import { DecodeError, type DecodeErrorCode } from '../../src/decode/errors.js';
import {
  concatMapFrames,
  decodeArgs,
  decodeFrames,
  decodeTimeline,
  outputSize,
  readFrames,
  seekBefore,
  SEGMENT_LIST,
  type DecodedFrame,
  type DecodeOptions,
  type DecodeStats,
  type Seek,
} from '../../src/decode/frames.js';
import { probeVideo } from '../../src/decode/probe.js';
import { parseSegmentList } from '../../src/record/segment-list.js';
import { parseSource } from '../../src/source/source-spec.js';
import { fixture, manifest } from './fixtures.js';

async function collect(source: string, options: DecodeOptions): Promise<DecodedFrame[]> {
  const frames: DecodedFrame[] = [];
  for await (const frame of readFrames(source, options)) frames.push(frame);
  return frames;
}

/** Resolves once the process is gone (exited and reaped). */
async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Gives ffmpeg every chance to run ahead: waits until the number of frames it has filtered stopped changing
 * (or 3 s passed, far more than it needs to decode these whole files). Nothing is asserted about time.
 */
async function letFfmpegRunAhead(stats: DecodeStats): Promise<void> {
  let last = -1;
  let quiet = 0;
  for (let i = 0; i < 60 && quiet < 4; i++) {
    await sleep(50);
    quiet = stats.framesFiltered === last ? quiet + 1 : 0;
    last = stats.framesFiltered;
  }
}

describe('outputSize', () => {
  it('puts longSide on the longer side and keeps the aspect, rounded to even', () => {
    expect(outputSize(320, 240, 160)).toEqual({ width: 160, height: 120 });
    expect(outputSize(640, 360, 224)).toEqual({ width: 224, height: 126 });
    expect(outputSize(1920, 1080, 100)).toEqual({ width: 100, height: 56 });
    expect(outputSize(360, 640, 320)).toEqual({ width: 180, height: 320 });
    expect(outputSize(120, 120, 64)).toEqual({ width: 64, height: 64 });
    expect(outputSize(4000, 10, 100)).toEqual({ width: 100, height: 2 });
  });

  it('rejects a bad longSide', () => {
    expect(() => outputSize(320, 240, 0)).toThrow(RangeError);
    expect(() => outputSize(320, 240, 10.5)).toThrow(RangeError);
  });
});

describe('decodeArgs', () => {
  it('is the documented ffmpeg command, input restricted to the file protocol', async () => {
    const spec = parseSource(fixture('cfr-testsrc.mp4'));
    const info = await probeVideo(spec);
    expect(decodeArgs(spec, info, { width: 160, height: 120 })).toEqual([
      '-hide_banner', '-nostdin', '-nostats', '-loglevel', 'info',
      '-protocol_whitelist', 'file', '-i', `file:${fixture('cfr-testsrc.mp4')}`,
      '-map', '0:0', '-an', '-sn', '-dn',
      '-vf', 'scale=160:120:flags=area,showinfo',
      '-fps_mode', 'passthrough', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1',
    ]);
  });

  it('adds the protocol-specific I/O timeout for network sources, and a short analysis for live ones', () => {
    const info = { streamIndex: 0 } as Parameters<typeof decodeArgs>[1];
    const args = (url: string, live?: boolean) => decodeArgs(parseSource(url), info, { width: 2, height: 2 }, 5000, live).join(' ');
    const analysis = '-analyzeduration 1000000 -probesize 1000000';
    expect(args('rtsp://cam/a')).toContain(`-protocol_whitelist rtsp,rtp,srtp,udp,tcp -timeout 5000000 ${analysis} -i rtsp://cam/a`);
    expect(args('rtmp://h/app/k')).toContain(`-rw_timeout 5000000 ${analysis} -i rtmp://h/app/k`);
    expect(args('rtmp://h/app/k')).not.toContain('-timeout');
    expect(args('https://h/live.m3u8')).toContain(`-rw_timeout 5000000 ${analysis} -i https://h/live.m3u8`);
    expect(args('udp://239.0.0.1:1234')).toContain(`-timeout 5000000 ${analysis} -i udp://239.0.0.1:1234`);
    expect(args('srt://h:9000')).toContain(`-timeout 5000000 ${analysis} -i srt://h:9000`);
    // A plain remote file gets the full analysis unless the caller says it is live.
    expect(args('https://h/video.mp4')).toContain('-rw_timeout 5000000 -i https://h/video.mp4');
    expect(args('https://h/video.mp4', true)).toContain(`-rw_timeout 5000000 ${analysis} -i https://h/video.mp4`);
  });
});

describe('readFrames: timestamps and sizes', () => {
  it('cfr-testsrc.mp4: 100 frames, pts exactly k/25, rgb24 of the requested size', async () => {
    const frames = await collect(fixture('cfr-testsrc.mp4'), { longSide: 160 });
    expect(frames).toHaveLength(manifest.files['cfr-testsrc.mp4'].frameCount);
    frames.forEach((frame, k) => {
      expect(frame.index).toBe(k);
      expect(Math.abs(frame.pts - k / 25)).toBeLessThan(1e-6);
      expect(frame.width).toBe(160);
      expect(frame.height).toBe(120);
      expect(frame.data.length).toBe(160 * 120 * 3);
      expect(typeof frame.receivedAt).toBe('number');
    });
    // Not a constant picture: testsrc2 moves.
    expect(frames[0]!.data.equals(frames[50]!.data)).toBe(false);
  });

  it('vfr.mkv: every pts equals the ground truth (within one frame duration; in fact exactly)', async () => {
    const truth = manifest.files['vfr.mkv'];
    const frames = await collect(fixture('vfr.mkv'), { longSide: 96 });
    expect(frames.map((f) => f.index)).toEqual(truth.pts.map((_, i) => i));
    frames.forEach((frame, i) => {
      expect(Math.abs(frame.pts - truth.pts[i]!)).toBeLessThan(truth.minFrameDuration);
      expect(Math.abs(frame.pts - truth.pts[i]!)).toBeLessThan(1e-6);
    });
    // The gaps really vary: the pts are not frame-count based.
    const gaps = new Set(frames.slice(1).map((f, i) => Math.round((f.pts - frames[i]!.pts) * 1000)));
    expect(gaps.size).toBeGreaterThanOrEqual(3);
  });

  it('moving-object.mp4 at several sizes', async () => {
    for (const [longSide, w, h] of [[640, 640, 360], [224, 224, 126], [100, 100, 56]] as const) {
      const first = await firstValueFrom(decodeFrames(fixture('moving-object.mp4'), { longSide }));
      expect([first.width, first.height, first.data.length]).toEqual([w, h, w * h * 3]);
    }
  });
});

describe('readFrames: seeking', () => {
  const summary = async (file: string, seek?: Seek) => {
    const frames: { pts: number; sum: number }[] = [];
    const info = await probeVideo(file);
    for await (const f of readFrames(file, { longSide: 64, info, seek })) frames.push({ pts: f.pts, sum: f.data.reduce((a, b) => a + b, 0) });
    return frames;
  };

  it('a decode from part-way gives the frames of a whole decode from there, with the same pts to the bit (MP4 and MPEG-TS starting at 1.48 s)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-seek-'));
    try {
      const transportStream = join(dir, 'moving-object.ts');
      await once(spawn('ffmpeg', ['-v', 'error', '-i', fixture('moving-object.mp4'), '-c', 'copy', transportStream]), 'exit');
      for (const file of [fixture('moving-object.mp4'), transportStream]) {
        const info = await probeVideo(file);
        const timeline = await decodeTimeline(file, info);
        expect(timeline.firstPts).toBe(0);
        expect(timeline.shift).toBeCloseTo(file === transportStream ? 1.48 : 0, 9);
        const whole = await summary(file);
        const seek = await seekBefore(file, info, timeline, 2);
        expect(seek).toEqual({ seconds: 1, shift: timeline.shift });
        const part = await summary(file, seek);
        expect(part[0]!.pts).toBeLessThanOrEqual(2);
        expect(part).toEqual(whole.slice(whole.length - part.length));
      }
      // In the MPEG-TS file a seek to 2.3 s lands at 4 s (the next keyframe): 3.3 s needs a decode from the start.
      const info = await probeVideo(transportStream);
      expect(await seekBefore(transportStream, info, await decodeTimeline(transportStream, info), 3.3)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readFrames: recording', () => {
  const file = fixture('cfr-testsrc.mp4'); // a keyframe every second: four 1-s segments
  const ptsOf = async (options: DecodeOptions): Promise<number[]> => (await collect(file, options)).map((f) => f.pts);

  it("records into a folder whatever its name holds, beside a decode that is the same as without one", async () => {
    const root = mkdtempSync(join(tmpdir(), 'dasr-record-'));
    try {
      const dir = join(root, "cam 1: 100% [a|b] it's \\ é");
      mkdirSync(dir);
      expect(await ptsOf({ longSide: 64, record: { dir, segmentSeconds: 1 } })).toEqual(await ptsOf({ longSide: 64 }));
      const listed = parseSegmentList(readFileSync(join(dir, SEGMENT_LIST), 'utf8'));
      expect(listed.map((s) => s.file)).toEqual([0, 1, 2, 3].map((i) => `seg-00000${i}.ts`));
      // Cut at the keyframes (every second), one after another; the copied stream's times run two frames behind the
      // decoded ones in this MP4 (its B-frame delay, which the decoder's edit list takes back).
      listed.forEach((segment, i) => {
        expect(segment.start).toBe(i === 0 ? 0 : listed[i - 1]!.end);
        expect(segment.end).toBeCloseTo(i + 1 + 2 / 25, 6);
      });
      expect(readdirSync(dir).filter((f) => f.endsWith('.ts')).sort()).toEqual(listed.map((s) => s.file));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('a recording that fails stops alone: every frame is still decoded, and the failure is reported once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dasr-record-'));
    try {
      const failures: string[] = [];
      const pts: number[] = [];
      for await (const frame of readFrames(file, { longSide: 64, record: { dir, segmentSeconds: 1, onFailure: (reason) => failures.push(reason) } })) {
        // The folder goes while the first segment is written: the next segment cannot be opened.
        if (pts.length === 0) rmSync(dir, { recursive: true });
        pts.push(frame.pts);
      }
      expect(pts).toEqual(await ptsOf({ longSide: 64 }));
      expect(failures).toEqual([expect.stringMatching(/No such file or directory/)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readFrames: errors', () => {
  it.each([
    ['zero-length.mp4', 'empty'],
    ['audio-only.m4a', 'no-video-stream'],
    ['not-video.txt', 'no-video-stream'],
    ['truncated.mp4', 'corrupt'],
    ['corrupt.mp4', 'corrupt'],
    ['missing.mp4', 'not-found'],
  ] as Array<[string, DecodeErrorCode]>)('%s → DecodeError %s', async (name, code) => {
    const error = await lastValueFrom(decodeFrames(fixture(name), { longSide: 64 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).code).toBe(code);
  });

  it('a non-zero ffmpeg exit is ffmpeg-failed with its last stderr lines', async () => {
    const info = await probeVideo(fixture('cfr-testsrc.mp4'));
    let child: ChildProcess | undefined;
    const error = await collect(fixture('cfr-testsrc.mp4'), {
      longSide: 64,
      info: { ...info, streamIndex: 7 }, // no such stream: ffmpeg fails after starting
      onSpawn: (c) => (child = c),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as DecodeError).code).toBe('ffmpeg-failed');
    expect((error as DecodeError).exitCode).not.toBe(0);
    expect((error as DecodeError).message).toMatch(/matches no streams/);
    expect(child?.exitCode).not.toBe(0);
  });

  it('a missing ffmpeg binary is spawn-failed', async () => {
    const error = await collect(fixture('cfr-testsrc.mp4'), { longSide: 64, ffmpegPath: '/nonexistent/ffmpeg' }).catch((e: unknown) => e);
    expect((error as DecodeError).code).toBe('spawn-failed');
  });

  it('refuses an unsafe source before running anything', async () => {
    await expect(collect('concat:/etc/passwd', { longSide: 64 })).rejects.toMatchObject({ name: 'SourceError', code: 'protocol-not-allowed' });
    await expect(collect('-filter_complex', { longSide: 64 })).rejects.toMatchObject({ name: 'SourceError', code: 'option-injection' });
  });
});

describe('backpressure: a slow consumer pauses ffmpeg', () => {
  const name = 'moving-object.mp4'; // 150 frames; 640x360 rgb24 = 675 KiB per frame, 101 MiB in all
  const frameBytes = 640 * 360 * 3;
  // Node's stdout buffer grows to the power of two above one frame (1 MiB) and the OS pipe holds 64 KiB: whatever
  // ffmpeg wrote beyond what we consumed fits in a few frames.
  const maxBufferedBytes = 2 * 1024 * 1024 + 3 * frameBytes;
  const maxFramesAhead = 8;

  it('readFrames (pull): ffmpeg does not run ahead of the consumer', async () => {
    const stats = {} as DecodeStats;
    let child: ChildProcess | undefined;
    let consumed = 0;
    const checks: Array<{ consumed: number; filtered: number; bytesRead: number; alive: boolean }> = [];
    for await (const frame of readFrames(fixture(name), { longSide: 640, stats, onSpawn: (c) => (child = c) })) {
      consumed++;
      expect(frame.data.length).toBe(frameBytes);
      if (consumed === 3 || consumed === 60 || consumed === 120) {
        await letFfmpegRunAhead(stats);
        checks.push({
          consumed,
          filtered: stats.framesFiltered,
          bytesRead: (child!.stdout as Socket).bytesRead,
          alive: child!.exitCode === null,
        });
      }
    }
    expect(consumed).toBe(150);
    for (const c of checks) {
      expect(c.alive).toBe(true); // still blocked, not finished
      expect(c.filtered).toBeLessThanOrEqual(c.consumed + maxFramesAhead);
      expect(c.bytesRead).toBeLessThanOrEqual(c.consumed * frameBytes + maxBufferedBytes);
    }
    expect(stats.framesEmitted).toBe(150);
  });

  it('concatMapFrames (async work per frame) pauses ffmpeg too', async () => {
    const stats = {} as DecodeStats;
    let child: ChildProcess | undefined;
    const seen: Array<{ consumed: number; filtered: number; bytesRead: number }> = [];
    const results = await lastValueFrom(
      concatMapFrames(fixture(name), { longSide: 640, stats, onSpawn: (c) => (child = c) }, async (frame) => {
        if (frame.index === 10 || frame.index === 100) {
          await letFfmpegRunAhead(stats);
          seen.push({ consumed: frame.index + 1, filtered: stats.framesFiltered, bytesRead: (child!.stdout as Socket).bytesRead });
        }
        return frame.pts;
      }).pipe(toArray()),
    );
    expect(results).toHaveLength(150);
    expect(seen).toHaveLength(2);
    for (const c of seen) {
      expect(c.filtered).toBeLessThanOrEqual(c.consumed + maxFramesAhead);
      expect(c.bytesRead).toBeLessThanOrEqual(c.consumed * frameBytes + maxBufferedBytes);
    }
  });

  it('control: the same wait is long enough for an unthrottled ffmpeg to run through the whole file', async () => {
    // Same command, but stdout is drained (flowing) and discarded: nothing holds ffmpeg back. If the bounds above
    // held only because the wait was too short, this would fail.
    const spec = parseSource(fixture(name));
    const args = decodeArgs(spec, await probeVideo(spec), { width: 640, height: 360 });
    const env: NodeJS.ProcessEnv = { ...process.env, AV_LOG_FORCE_NOCOLOR: '1' };
    delete env['AV_LOG_FORCE_COLOR'];
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    const counter = { framesFiltered: 0, framesEmitted: 0, bytesEmitted: 0 } as DecodeStats;
    child.stdout.resume();
    let rest = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      counter.framesFiltered += lines.filter((l) => /^\[Parsed_showinfo_\d+ @ \S+\] n:/.test(l)).length;
    });
    await letFfmpegRunAhead(counter);
    expect(counter.framesFiltered).toBe(150);
    await exited(child);
    expect(child.exitCode).toBe(0);
  });
});

describe('stopping early kills ffmpeg', () => {
  it('abort signal: the pending read rejects with the reason and the process is killed', async () => {
    const controller = new AbortController();
    let child: ChildProcess | undefined;
    const iterator = readFrames(fixture('moving-object.mp4'), { longSide: 320, signal: controller.signal, onSpawn: (c) => (child = c) });
    expect((await iterator.next()).done).toBe(false);
    expect((await iterator.next()).done).toBe(false);
    const pid = child!.pid!;
    expect(isAlive(pid)).toBe(true);
    controller.abort(new Error('user cancelled'));
    await expect(iterator.next()).rejects.toThrow('user cancelled');
    await exited(child!);
    expect(child!.signalCode).toBe('SIGKILL');
    expect(isAlive(pid)).toBe(false);
  });

  it('abort while the consumer waits for a frame (ffmpeg still starting) rejects at once', async () => {
    const controller = new AbortController();
    let child: ChildProcess | undefined;
    const iterator = readFrames(fixture('moving-object.mp4'), {
      longSide: 320,
      signal: controller.signal,
      onSpawn: (c) => {
        child = c;
        controller.abort(new Error('early'));
      },
    });
    await expect(iterator.next()).rejects.toThrow('early');
    await exited(child!);
    expect(child!.signalCode).toBe('SIGKILL');
  });

  it('an already aborted signal starts nothing', async () => {
    const controller = new AbortController();
    controller.abort(new Error('never'));
    let spawned = false;
    await expect(collect(fixture('cfr-testsrc.mp4'), { longSide: 64, signal: controller.signal, onSpawn: () => (spawned = true) })).rejects.toThrow('never');
    expect(spawned).toBe(false);
  });

  it('breaking out of for-await kills ffmpeg', async () => {
    let child: ChildProcess | undefined;
    for await (const frame of readFrames(fixture('moving-object.mp4'), { longSide: 320, onSpawn: (c) => (child = c) })) {
      if (frame.index === 4) break;
    }
    // The generator's finally waited for the process: it is already gone.
    expect(child!.signalCode).toBe('SIGKILL');
    expect(isAlive(child!.pid!)).toBe(false);
  });

  it('unsubscribing (take) kills ffmpeg', async () => {
    let child: ChildProcess | undefined;
    const frames = await lastValueFrom(
      decodeFrames(fixture('moving-object.mp4'), { longSide: 320, onSpawn: (c) => (child = c) }).pipe(take(3), toArray()),
    );
    expect(frames.map((f) => f.index)).toEqual([0, 1, 2]);
    await exited(child!);
    expect(child!.signalCode).toBe('SIGKILL');
  });

  it('aborting decodeFrames errors the observable with the reason and kills ffmpeg', async () => {
    const controller = new AbortController();
    let child: ChildProcess | undefined;
    const error = await new Promise<unknown>((resolve) => {
      decodeFrames(fixture('moving-object.mp4'), { longSide: 320, signal: controller.signal, onSpawn: (c) => (child = c) }).subscribe({
        next: (frame) => {
          if (frame.index === 2) controller.abort(new Error('stop now'));
        },
        error: resolve,
        complete: () => resolve('completed'),
      });
    });
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toBe('stop now');
    await exited(child!);
    expect(child!.signalCode).toBe('SIGKILL');
  });
});

describe('concatMapFrames: unsubscribing during the per-frame work', () => {
  it('kills ffmpeg and stops pulling frames', async () => {
    let child: ChildProcess | undefined;
    let started = 0;
    const subscription = concatMapFrames(fixture('moving-object.mp4'), { longSide: 160, onSpawn: (c) => (child = c) }, (frame) => {
      started++;
      return frame.index === 2 ? new Promise<number>(() => undefined) : Promise.resolve(frame.index); // never settles
    }).subscribe();
    while (started < 3) await sleep(10);
    subscription.unsubscribe();
    await exited(child!);
    expect(child!.signalCode).toBe('SIGKILL');
    expect(started).toBe(3);
  });
});
