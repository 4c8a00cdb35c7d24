import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  DEFAULT_ALLOWED_PROTOCOLS,
  ffmpegInput,
  parseSource,
  protocolWhitelist,
  SourceError,
  type SourceErrorCode,
} from '../../src/source/source-spec.js';

let dir: string;
let video: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'source-spec-'));
  video = join(dir, 'clip one.mp4');
  writeFileSync(video, 'not really a video, parseSource does not look inside');
  mkdirSync(join(dir, 'folder.mp4'));
  writeFileSync(join(dir, 'a:b.mp4'), 'x');
  symlinkSync(video, join(dir, 'link.mp4'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function codeOf(input: string, options?: Parameters<typeof parseSource>[1]): SourceErrorCode | 'accepted' {
  try {
    parseSource(input, options);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(SourceError);
    return (error as SourceError).code;
  }
}

describe('parseSource: local files', () => {
  it('accepts an absolute path to a regular file (spaces allowed)', () => {
    expect(parseSource(video)).toEqual({ kind: 'file', path: video });
  });

  it('resolves a relative path against cwd to an absolute one', () => {
    expect(parseSource('clip one.mp4', { cwd: dir })).toEqual({ kind: 'file', path: video });
    expect(parseSource('./clip one.mp4', { cwd: dir })).toEqual({ kind: 'file', path: video });
  });

  it('accepts a symlink to a regular file', () => {
    expect(parseSource(join(dir, 'link.mp4'))).toEqual({ kind: 'file', path: join(dir, 'link.mp4') });
  });

  it('rejects a missing file', () => {
    expect(codeOf(join(dir, 'missing.mp4'))).toBe('not-found');
  });

  it('rejects a directory and a device', () => {
    expect(codeOf(join(dir, 'folder.mp4'))).toBe('not-a-file');
    expect(codeOf('/dev/null')).toBe('not-a-file');
  });

  it('a file name with a colon must be written with ./ (otherwise it looks like a URL scheme)', () => {
    expect(codeOf('a:b.mp4', { cwd: dir })).toBe('protocol-not-allowed');
    expect(parseSource('./a:b.mp4', { cwd: dir })).toEqual({ kind: 'file', path: join(dir, 'a:b.mp4') });
  });

  it("refuses ffmpeg's 'protocol,' syntax even when it is not a URL", () => {
    expect(codeOf('subfile,,0,100,:/etc/passwd')).toBe('protocol-not-allowed');
  });

  it('is handed to ffmpeg as file:<absolute path> with only the file protocol allowed', () => {
    const spec = parseSource(video);
    expect(ffmpegInput(spec)).toBe(`file:${video}`);
    expect(protocolWhitelist(spec)).toBe('file');
  });
});

describe('parseSource: option injection and bad characters', () => {
  it.each(['-i', '-f lavfi', '-filter_complex', '--', '-y'])('rejects %j (leading dash)', (input) => {
    expect(codeOf(input)).toBe('option-injection');
  });

  it('rejects the empty string', () => {
    expect(codeOf('')).toBe('empty');
  });

  it.each([
    'rtsp://cam.local/stream\n-f lavfi',
    'http://example.com/a.mp4\r\n',
    'http://example.com/\u0000.mp4',
    'rtsp://cam.local/\u001b[31m',
    'https://example.com/a\u007f.mp4',
    'https://example.com/a\u2028.mp4',
  ])('rejects control characters in %j', (input) => {
    expect(codeOf(input)).toBe('invalid-characters');
  });

  it.each(['http://example.com/my video.mp4', 'rtsp://cam.local/a\tb', 'https://example.com/a\u00a0b.mp4'])(
    'rejects whitespace in URL %j',
    (input) => {
      expect(codeOf(input)).toBe('invalid-characters');
    },
  );

  it('rejects control characters in a path', () => {
    expect(codeOf(join(dir, 'evil\nname.mp4'))).toBe('invalid-characters');
  });
});

describe('parseSource: protocols', () => {
  it.each([
    'file:///etc/passwd',
    'file:/etc/passwd',
    'FILE:/etc/passwd',
    'pipe:0',
    'fd:3',
    'concat:/etc/passwd|/etc/hosts',
    'concatf:/tmp/list.txt',
    'subfile:/etc/passwd',
    'data:video/mp4;base64,AAAA',
    'crypto:/etc/passwd',
    'crypto+http://example.com/a.ts',
    'async:http://example.com/a.mp4',
    'cache:http://example.com/a.mp4',
    'tee:http://example.com/a.mp4',
    'gopher://example.com/a',
    'ftp://example.com/a.mp4',
    'hls+http://example.com/a.m3u8',
    'unix:/run/socket',
    'tcp://example.com:1234',
    'rtp://239.0.0.1:5004',
    'ipfs://bafy/a.mp4',
    'javascript:alert(1)',
  ])('rejects %j', (input) => {
    expect(codeOf(input)).toBe('protocol-not-allowed');
  });

  it('the default allowlist is the documented one', () => {
    expect([...DEFAULT_ALLOWED_PROTOCOLS]).toEqual(['rtsp', 'rtsps', 'rtmp', 'rtmps', 'http', 'https', 'udp', 'srt']);
  });

  it.each([
    ['rtsp://user:pass@cam.local:554/stream1', 'live', 'rtsp'],
    ['RTSPS://cam.local/stream', 'live', 'rtsps'],
    ['rtmp://live.example.com/app/key', 'live', 'rtmp'],
    ['rtmps://live.example.com/app/key', 'live', 'rtmps'],
    ['udp://239.0.0.1:1234', 'live', 'udp'],
    ['udp://@:1234', 'live', 'udp'],
    ['srt://:9000?mode=listener', 'live', 'srt'],
    ['srt://example.com:9000?mode=caller', 'live', 'srt'],
    ['https://cdn.example.com/live/index.m3u8', 'live', 'https'],
    ['http://cdn.example.com/vod/master.M3U8?token=abc', 'live', 'http'],
    ['https://cdn.example.com/videos/clip.mp4', 'remote', 'https'],
    ['http://example.com/clip.mp4?x=1#t=3', 'remote', 'http'],
  ] as const)('accepts %s as %s (%s)', (url, kind, protocol) => {
    expect(parseSource(url)).toEqual({ kind, url, protocol });
  });

  it('respects a narrower allowlist', () => {
    expect(codeOf('http://example.com/a.mp4', { allowedProtocols: ['rtsp'] })).toBe('protocol-not-allowed');
    expect(codeOf('rtsp://cam/a', { allowedProtocols: ['rtsp'] })).toBe('accepted');
  });

  it('refuses to allowlist a pseudo-protocol (configuration error)', () => {
    expect(() => parseSource('file:/etc/passwd', { allowedProtocols: ['file'] })).toThrow(TypeError);
    expect(() => parseSource('http://x/a.mp4', { allowedProtocols: ['http', 'concat'] })).toThrow(TypeError);
    expect(() => parseSource('http://x/a.mp4', { allowedProtocols: ['crypto+http'] })).toThrow(TypeError);
  });

  it.each(['http:/example.com/a.mp4', 'rtsp:cam.local', 'http://', 'rtsp:///stream', 'https://exa mple.com'])(
    'rejects malformed URL %j',
    (input) => {
      expect(['invalid-url', 'invalid-characters']).toContain(codeOf(input));
    },
  );

  it('restricts the protocols ffmpeg may use underneath a URL', () => {
    const wl = (url: string) => protocolWhitelist(parseSource(url)).split(',');
    for (const url of ['http://a/b.m3u8', 'https://a/b.mp4', 'rtsp://a/b', 'rtsps://a/b', 'rtmp://a/b', 'rtmps://a/b', 'udp://a:1', 'srt://a:1']) {
      const list = wl(url);
      expect(list).not.toContain('file');
      expect(list).not.toContain('pipe');
      expect(list).not.toContain('data');
      expect(list).not.toContain('concat');
      expect(list).toContain(parseSource(url).kind === 'file' ? 'file' : (parseSource(url) as { protocol: string }).protocol);
    }
    expect(wl('https://a/b.m3u8')).toEqual(expect.arrayContaining(['https', 'http', 'tls', 'tcp', 'crypto']));
    expect(wl('rtsp://a/b')).toEqual(expect.arrayContaining(['rtsp', 'rtp', 'udp', 'tcp']));
    expect(ffmpegInput(parseSource('rtsp://a/b'))).toBe('rtsp://a/b');
  });
});
