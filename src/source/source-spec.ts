/**
 * What the user gives us as a video source (a local path or a URL), checked before anything reaches ffmpeg.
 *
 * ffmpeg treats its `-i` argument as far more than a file name: a leading `-` would be read as an option if the
 * argument ever slipped into the wrong position, and a `scheme:` prefix selects one of dozens of "protocols", many of
 * which read local files or wrap other inputs (`file:`, `pipe:`, `fd:`, `concat:`, `subfile:`, `data:`, `crypto:`,
 * `cache:`, `async:`, `tee:`, `gopher:`, ...). So:
 *
 * - a string with a `scheme:` prefix is a URL and its scheme must be in an allowlist of network protocols
 *   (default: rtsp, rtsps, rtmp, rtmps, http, https, udp, srt); pseudo-protocols can never be allowlisted;
 * - a URL may not contain whitespace or control characters, and must parse as a URL with a host
 *   (udp and srt may omit the host: listener mode, `udp://@:1234`);
 * - anything else is a local path: it is resolved to an absolute path and must name an existing regular file.
 *   A relative path whose first segment contains a colon (`a:b.mp4`) looks like a URL; write `./a:b.mp4`.
 *
 * The decoders pass a file to ffmpeg as `file:<absolute path>` and restrict every input with
 * `-protocol_whitelist` (see {@link protocolWhitelist}), so a remote playlist cannot pull in local files either.
 */

import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { resolve } from 'node:path';

export type SourceSpec =
  | { kind: 'file'; path: string /* absolute */ }
  | { kind: 'live' | 'remote'; url: string; protocol: string };

export interface ParseSourceOptions {
  /** Lowercase URL schemes accepted. Default {@link DEFAULT_ALLOWED_PROTOCOLS}. */
  allowedProtocols?: readonly string[];
  /** Base directory for relative paths. Default `process.cwd()`. */
  cwd?: string;
}

export const DEFAULT_ALLOWED_PROTOCOLS: readonly string[] = Object.freeze([
  'rtsp',
  'rtsps',
  'rtmp',
  'rtmps',
  'http',
  'https',
  'udp',
  'srt',
]);

/**
 * ffmpeg protocols that read local data, wrap or nest other protocols, or open unusual channels. They are refused
 * even when a caller puts them in `allowedProtocols` (that is a configuration error, reported as a TypeError).
 */
export const FORBIDDEN_PROTOCOLS: ReadonlySet<string> = new Set([
  'file',
  'pipe',
  'fd',
  'concat',
  'concatf',
  'subfile',
  'data',
  'crypto',
  'async',
  'cache',
  'tee',
  'gopher',
  'gophers',
  'md5',
  'unix',
  'hls',
  'ipfs',
  'ipns',
  'android_content',
  'bluray',
  'sftp',
  'ftp',
  'smb',
  'librtmp',
]);

export type SourceErrorCode =
  /** The input is an empty string. */
  | 'empty'
  /** The input starts with `-` and could be taken for an ffmpeg option. */
  | 'option-injection'
  /** Control characters anywhere, or whitespace in a URL. */
  | 'invalid-characters'
  /** A `scheme:` prefix that is not in the allowlist (includes file:, pipe:, concat:, data:, ...). */
  | 'protocol-not-allowed'
  /** An allowed scheme, but the rest does not parse as a URL (or has no host). */
  | 'invalid-url'
  /** A local path that does not exist. */
  | 'not-found'
  /** A local path that exists but is not a regular file (directory, device, fifo, socket). */
  | 'not-a-file'
  /** A local regular file we are not allowed to read. */
  | 'not-readable'
  /** A URL whose host is loopback, link-local or private, refused by the host policy (host-policy.ts). */
  | 'host-not-allowed'
  /** A listener-mode URL (the service would open a port), refused by the host policy. */
  | 'listener-not-allowed';

export class SourceError extends Error {
  override readonly name = 'SourceError';
  readonly code: SourceErrorCode;

  constructor(code: SourceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** Protocols whose sources are streams without an end (or, for HLS, a playlist that may grow). */
const LIVE_PROTOCOLS = new Set(['rtsp', 'rtsps', 'rtmp', 'rtmps', 'udp', 'srt', 'rtp', 'tcp']);

// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const WHITESPACE = /\s/u;
/** RFC 3986 scheme followed by ':'; also what ffmpeg treats as a protocol prefix. */
const SCHEME_PREFIX = /^([a-zA-Z][a-zA-Z0-9+.-]*):/;
/** ffmpeg's own, older syntax: `subfile,,start,end,:url` selects the subfile protocol without a colon first. */
const FFMPEG_COMMA_SYNTAX = /^[a-zA-Z][a-zA-Z0-9+.-]*,/;

function shown(input: string): string {
  const s = JSON.stringify(input.length > 200 ? `${input.slice(0, 200)}…` : input);
  return s;
}

/**
 * Checks and classifies a user-given source. Synchronous: for a local path it stats the file.
 * Throws {@link SourceError} for anything it refuses, and TypeError for a bad `allowedProtocols`.
 */
export function parseSource(input: string, options: ParseSourceOptions = {}): SourceSpec {
  const allowed = normaliseAllowlist(options.allowedProtocols ?? DEFAULT_ALLOWED_PROTOCOLS);

  if (typeof input !== 'string' || input.length === 0) {
    throw new SourceError('empty', 'No video source given (empty string).');
  }
  if (input.startsWith('-')) {
    throw new SourceError(
      'option-injection',
      `Refusing source ${shown(input)}: it starts with "-" and could be read as an ffmpeg option. ` +
        'Write a path that starts with "./" instead.',
    );
  }
  if (CONTROL_CHARS.test(input)) {
    throw new SourceError('invalid-characters', `Refusing source ${shown(input)}: it contains control characters.`);
  }

  const scheme = SCHEME_PREFIX.exec(input)?.[1]?.toLowerCase();
  if (scheme !== undefined && !isWindowsDrivePath(input)) {
    return parseUrl(input, scheme, allowed);
  }
  if (FFMPEG_COMMA_SYNTAX.test(input) && input.includes(':')) {
    // e.g. "subfile,,0,100,:/etc/passwd": ffmpeg would pick the subfile protocol. As a path it is harmless
    // (we hand ffmpeg "file:<absolute path>"), but nobody names a video like that: refuse with a clear message.
    throw new SourceError(
      'protocol-not-allowed',
      `Refusing source ${shown(input)}: it uses ffmpeg's "protocol," syntax. Write "./${input}" if it is really a file name.`,
    );
  }
  return parseFile(input, options.cwd ?? process.cwd());
}

function normaliseAllowlist(list: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const p of list) {
    const lower = p.toLowerCase();
    if (FORBIDDEN_PROTOCOLS.has(lower)) {
      throw new TypeError(`allowedProtocols: "${p}" reads local data or wraps other inputs and cannot be allowed.`);
    }
    if (!/^[a-z][a-z0-9+.-]*$/.test(lower) || lower.includes('+')) {
      throw new TypeError(`allowedProtocols: "${p}" is not a plain URL scheme.`);
    }
    out.add(lower);
  }
  return out;
}

function isWindowsDrivePath(input: string): boolean {
  return process.platform === 'win32' && /^[a-zA-Z]:[\\/]/.test(input);
}

function parseUrl(input: string, scheme: string, allowed: Set<string>): SourceSpec {
  if (!allowed.has(scheme)) {
    const why = FORBIDDEN_PROTOCOLS.has(scheme) || scheme.includes('+')
      ? 'it is an ffmpeg pseudo-protocol that can read local files or wrap other inputs'
      : `allowed protocols are ${[...allowed].join(', ')}`;
    throw new SourceError('protocol-not-allowed', `Refusing source ${shown(input)}: protocol "${scheme}:" is not allowed (${why}).`);
  }
  if (WHITESPACE.test(input)) {
    throw new SourceError(
      'invalid-characters',
      `Refusing source ${shown(input)}: a URL may not contain whitespace (percent-encode it as %20).`,
    );
  }
  const hostOptional = scheme === 'udp' || scheme === 'srt';
  if (hostOptional && /^[a-z]+:\/\/@?:\d{1,5}(\?[^#]*)?$/i.test(input)) {
    // Listener form without a host (udp://@:1234, srt://:9000?mode=listener), which WHATWG URL refuses.
    return { kind: 'live', url: input, protocol: scheme };
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch (cause) {
    throw new SourceError('invalid-url', `Source ${shown(input)} is not a valid ${scheme} URL.`, { cause });
  }
  // WHATWG parsing of non-special schemes such as rtsp: keeps "rtsp:foo" as an opaque path; ffmpeg needs "//host".
  if (!input.slice(scheme.length + 1).startsWith('//') || (url.hostname === '' && !hostOptional)) {
    throw new SourceError('invalid-url', `Source ${shown(input)} has no host (expected ${scheme}://host/...).`);
  }
  return { kind: classifyUrl(scheme, url), url: input, protocol: scheme };
}

function classifyUrl(scheme: string, url: URL): 'live' | 'remote' {
  if (scheme === 'http' || scheme === 'https') {
    return /\.m3u8?$/i.test(url.pathname) ? 'live' : 'remote';
  }
  return LIVE_PROTOCOLS.has(scheme) ? 'live' : 'remote';
}

function parseFile(input: string, cwd: string): SourceSpec {
  const path = resolve(cwd, input);
  let stats;
  try {
    stats = statSync(path);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new SourceError('not-readable', `Cannot access video file ${shown(path)} (permission denied).`, { cause });
    }
    throw new SourceError('not-found', `Video file ${shown(path)} does not exist.`, { cause });
  }
  if (!stats.isFile()) {
    const what = stats.isDirectory() ? 'a directory' : 'not a regular file (device, fifo or socket)';
    throw new SourceError('not-a-file', `Video source ${shown(path)} is ${what}.`);
  }
  try {
    accessSync(path, fsConstants.R_OK);
  } catch (cause) {
    throw new SourceError('not-readable', `Cannot read video file ${shown(path)} (permission denied).`, { cause });
  }
  return { kind: 'file', path };
}

/** The string handed to ffmpeg/ffprobe as `-i`: `file:<absolute path>` for files (no protocol guessing), else the URL. */
export function ffmpegInput(spec: SourceSpec): string {
  return spec.kind === 'file' ? `file:${spec.path}` : spec.url;
}

/**
 * The value for ffmpeg's `-protocol_whitelist` for a source: exactly the protocols that the input protocol needs
 * underneath (HLS segments over http(s), AES-128 HLS via crypto, RTP over UDP for RTSP, TLS for the "s" variants).
 */
export function protocolWhitelist(spec: SourceSpec): string {
  if (spec.kind === 'file') return 'file';
  const byProtocol: Record<string, string[]> = {
    http: ['http', 'https', 'tls', 'tcp', 'crypto'],
    https: ['https', 'http', 'tls', 'tcp', 'crypto'],
    rtsp: ['rtsp', 'rtp', 'srtp', 'udp', 'tcp'],
    rtsps: ['rtsps', 'rtsp', 'rtp', 'srtp', 'udp', 'tcp', 'tls'],
    rtmp: ['rtmp', 'tcp'],
    rtmps: ['rtmps', 'rtmp', 'tls', 'tcp'],
    udp: ['udp'],
    srt: ['srt'],
  };
  return (byProtocol[spec.protocol] ?? [spec.protocol, 'tcp', 'udp', 'tls']).join(',');
}
