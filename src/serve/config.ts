import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { DetectorWorkerData } from '../detect/detector-thread.js';
import { DEFAULT_ALLOWED_PROTOCOLS } from '../source/source-spec.js';
import type { HostPolicy } from '../source/host-policy.js';
import { generateToken } from './auth.js';
import type { LogLevel } from '../log.js';
import type { RetentionLimits } from '../record/retention.js';

export interface ServeConfig {
  host: string;
  port: number;
  /** the embedded index, or on a cluster replica this service's own files: uploads, thumbnails, clip cache */
  dataDir: string;
  /** set: this service is an API replica of a cluster (shared index in PostgreSQL, workers on NATS JetStream) */
  cluster?: { index: string; nats: string };
  /** accepted API tokens (at least one) */
  tokens: string[];
  /** directories whose files may be indexed by path; none: only uploads */
  pathRoots: string[];
  /** URL schemes accepted for live streams */
  allowedProtocols: string[];
  /** where stream URLs may point: by default public hosts only, no listener modes */
  hostPolicy: HostPolicy;
  /** largest video upload, and largest query image (bytes) */
  maxUploadBytes: number;
  maxImageBytes: number;
  /** largest query image, in pixels (checked from the header before decoding) */
  maxImagePixels: number;
  /** seconds between keyframes for uploaded videos and streams (streams may set their own) */
  interval: number;
  sceneThreshold: number;
  /** grey levels a block must move for a keyframe to be analysed again (still-gate.ts); 0: every keyframe. Default DEFAULT_STILL_THRESHOLD */
  stillThreshold?: number;
  /** messages kept per subscription for a slow or absent client */
  queueCapacity: number;
  /** DASR for ingestion; queries get a second thread with the same settings so they never wait behind a keyframe */
  detector: DetectorWorkerData;
  /** clips and thumbnails cut at once (one ffmpeg each), and how many more may wait; beyond, 429 */
  mediaConcurrency: number;
  mediaQueue: number;
  /** size of the clip cache (`<data>/clips`); the least recently served clips go first */
  clipCacheBytes: number;
  /** live streams followed at once */
  maxStreams: number;
  /** live streams recorded (segments of `segmentSeconds`, kept within the age and size limits) so hits have clips; null: not recorded */
  record: LiveRecordSettings | null;
  /** one JSON line per HTTP request on stderr (Fastify's pino logger) at info level, shown from this level; false: none */
  accessLog?: LogLevel | false;
  /** live-source timeouts (tests shorten them) */
  streamIoTimeoutMs?: number;
  streamBackoff?: { initialMs: number; maxMs: number };
}

export interface LiveRecordSettings extends RetentionLimits {
  segmentSeconds: number;
}

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxUploadBytes: 4 * 2 ** 30,
  maxImageBytes: 25 * 2 ** 20,
  maxImagePixels: 40_000_000,
  interval: 1,
  queueCapacity: 256,
  mediaConcurrency: 2,
  mediaQueue: 16,
  clipCacheBytes: 2 * 2 ** 30,
  maxStreams: 16,
  record: { segmentSeconds: 10, maxAgeSeconds: 24 * 3600, maxBytes: 10 * 2 ** 30 },
  allowedProtocols: [...DEFAULT_ALLOWED_PROTOCOLS],
} as const;

/**
 * Inference threads for the service's two DASR threads out of `total` cores (`--threads`, 0 = every core the
 * process may use): a quarter (at least one) for queries, the rest for ingestion. Each asking for every core, as
 * they did, put twice as many compute threads as cores to work whenever a search ran during ingestion, and ONNX
 * Runtime's parallel loops wait for their slowest thread.
 */
export function splitInferenceThreads(total: number = 0): { ingest: number; query: number } {
  const cores = total > 0 ? total : availableParallelism();
  const query = Math.max(1, Math.floor(cores / 4));
  return { ingest: Math.max(1, cores - query), query };
}

/**
 * The API tokens: `DASR_API_TOKENS` (comma-separated) when set, else the token kept in `<data>/api-token`,
 * created (random, mode 0600) on first start. `generated` tells the caller to show where it is.
 */
export function resolveTokens(dataDir: string, env: NodeJS.ProcessEnv = process.env): { tokens: string[]; file: string | null; generated: boolean } {
  const fromEnv = (env.DASR_API_TOKENS ?? '').split(',').map((t) => t.trim()).filter(Boolean);
  if (fromEnv.length > 0) return { tokens: fromEnv, file: null, generated: false };
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'api-token');
  if (existsSync(file)) return { tokens: [readFileSync(file, 'utf8').trim()], file, generated: false };
  const token = generateToken();
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { tokens: [token], file, generated: true };
}
