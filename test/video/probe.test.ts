import { describe, expect, it } from 'vitest';

import { DecodeError, type DecodeErrorCode } from '../../src/decode/errors.js';
import { probeMedia, probeVideo } from '../../src/decode/probe.js';
import { SourceError } from '../../src/source/source-spec.js';
import { fixture, manifest } from './fixtures.js';

async function errorOf(promise: Promise<unknown>): Promise<DecodeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
    return error as DecodeError;
  }
  throw new Error('expected a DecodeError, got a result');
}

describe('probeVideo on good fixtures', () => {
  it('cfr-testsrc.mp4: 320x240, 4 s, 25 fps, h264, no audio', async () => {
    const info = await probeVideo(fixture('cfr-testsrc.mp4'));
    expect(info).toMatchObject({
      width: 320,
      height: 240,
      duration: 4,
      frameRate: 25,
      codec: 'h264',
      hasVideo: true,
      hasAudio: false,
      streamIndex: 0,
      displayWidth: 320,
      displayHeight: 240,
      timeBase: '1/12800',
      frameCount: 100,
    });
    expect(info.rotation).toBeUndefined();
  });

  it('vfr.mkv: duration from the container, frame rate falls back to r_frame_rate (no avg in Matroska)', async () => {
    const info = await probeVideo(fixture('vfr.mkv'));
    expect(info).toMatchObject({ width: 320, height: 240, codec: 'h264', hasVideo: true, timeBase: '1/1000' });
    expect(info.duration).toBeCloseTo(manifest.files['vfr.mkv'].pts.at(-1)!, 6);
    expect(info.frameRate).toBeGreaterThan(0);
    expect(info.frameCount).toBeUndefined();
  });

  it('scene-cut.mp4: 24 fps, 3 s', async () => {
    const info = await probeVideo(fixture('scene-cut.mp4'));
    expect(info).toMatchObject({ width: 320, height: 240, frameRate: 24, frameCount: 72 });
    expect(info.duration).toBeCloseTo(3, 6);
  });

  it('moving-object.mp4: 640x360, 6 s, 25 fps', async () => {
    const info = await probeVideo(fixture('moving-object.mp4'));
    expect(info).toMatchObject({ width: 640, height: 360, duration: 6, frameRate: 25, frameCount: 150, codec: 'h264' });
  });

  it('a still image probes as a one-frame video', async () => {
    const info = await probeVideo(fixture('moving-object-query.png'));
    expect(info).toMatchObject({ width: 120, height: 120, codec: 'png', hasVideo: true });
  });
});

describe('probeVideo errors', () => {
  it.each([
    ['zero-length.mp4', 'empty'],
    ['audio-only.m4a', 'no-video-stream'],
    ['not-video.txt', 'no-video-stream'],
    ['truncated.mp4', 'corrupt'],
    ['corrupt.mp4', 'corrupt'],
    ['does-not-exist.mp4', 'not-found'],
  ] as Array<[string, DecodeErrorCode]>)('%s → %s', async (name, code) => {
    const error = await errorOf(probeVideo(fixture(name)));
    expect(error.code).toBe(code);
    expect(error.message).toContain(name);
  });

  it('includes what ffprobe said', async () => {
    const truncated = await errorOf(probeVideo(fixture('truncated.mp4')));
    expect(truncated.message).toMatch(/moov atom not found/);
    expect(truncated.stderr).toMatch(/Invalid data found when processing input/);
    const text = await errorOf(probeVideo(fixture('not-video.txt')));
    expect(text.message).toMatch(/text file/);
    expect(text.message).toMatch(/Invalid data found/);
  });

  it('the manifest agrees with the codes', () => {
    const files = manifest.files as Record<string, { expectedError?: string }>;
    expect(files['zero-length.mp4']?.expectedError).toBe('empty');
    expect(files['audio-only.m4a']?.expectedError).toBe('no-video-stream');
    expect(files['truncated.mp4']?.expectedError).toBe('corrupt');
    expect(files['corrupt.mp4']?.expectedError).toBe('corrupt');
    expect(files['not-video.txt']?.expectedError).toBe('no-video-stream');
  });

  it('probeMedia reports an audio-only file without throwing', async () => {
    const info = await probeMedia(fixture('audio-only.m4a'));
    expect(info).toMatchObject({ hasVideo: false, hasAudio: true, width: 0, height: 0 });
    expect(info.duration).toBeCloseTo(2, 1);
  });

  it('a directory is not-found; a refused URL stays a SourceError', async () => {
    expect((await errorOf(probeVideo(fixture('')))).code).toBe('not-found');
    await expect(probeVideo('concat:/etc/passwd|/etc/hosts')).rejects.toBeInstanceOf(SourceError);
    await expect(probeVideo('-f')).rejects.toBeInstanceOf(SourceError);
  });

  it('a missing ffprobe binary is spawn-failed', async () => {
    const error = await errorOf(probeVideo(fixture('cfr-testsrc.mp4'), { ffprobePath: '/nonexistent/ffprobe' }));
    expect(error.code).toBe('spawn-failed');
  });

  it('an aborted signal rejects with its reason', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(probeVideo(fixture('cfr-testsrc.mp4'), { signal: controller.signal })).rejects.toThrow('stop');
  });
});
