/**
 * The HTTP API's contract as JSON schemas, the one source for both Fastify (it validates requests and serialises
 * responses with them) and the OpenAPI document @fastify/swagger generates from the routes (openapi.ts).
 * Shared schemas are registered by name (`$ref: 'Video#'`); each route's schema is below, named by its
 * operationId.
 */
import { ERROR_STATUS, type ApiErrorCode } from './errors.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/** A shared schema, by name. */
export const ref = (name: string): { $ref: string } => ({ $ref: `${name}#` });
const nullable = (schema: JsonObject): JsonObject => ({ ...schema, type: [schema.type as string, 'null'] });

const ERROR_CODES = Object.keys(ERROR_STATUS);

/** [x1, y1, x2, y2] in pixels. */
const corners: JsonObject = {
  type: 'array',
  items: { type: 'number' },
  minItems: 4,
  maxItems: 4,
  description: 'box corners [x1, y1, x2, y2] in pixels (x2 > x1, y2 > y1)',
};

export const SHARED_SCHEMAS: Record<string, Json> = {
  ErrorBody: {
    type: 'object',
    required: ['code', 'message'],
    properties: {
      code: { type: 'string', enum: ERROR_CODES, description: `machine-readable; the HTTP status follows from it: ${Object.entries(ERROR_STATUS).map(([code, status]) => `${code} ${status}`).join(', ')}` },
      message: { type: 'string' },
      details: { description: 'more about the error, when there is more (e.g. {"reason": ...} or {"size": ...})' },
    },
  },
  Error: {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: { error: ref('ErrorBody') },
  },
  Health: { type: 'object', required: ['status'], properties: { status: { const: 'ok' } } },
  Ready: {
    type: 'object',
    required: ['ready', 'regions', 'variant', 'workers'],
    properties: {
      ready: { type: 'boolean', description: 'the index answers and every worker thread runs' },
      regions: { type: ['integer', 'null'], minimum: 0, description: 'regions in the index (null: the index did not answer)' },
      variant: { type: 'string', enum: ['dasr', 'dasr-star'], description: 'the DASR variant used for ingestion' },
      workers: {
        type: 'array',
        description: 'the worker threads, each restarted (with backoff) when it dies',
        items: {
          type: 'object',
          required: ['worker', 'state', 'restarts'],
          properties: {
            worker: { type: 'string', enum: ['ingest-dasr', 'query-dasr', 'vectors'] },
            state: { type: 'string', enum: ['running', 'restarting', 'closed'] },
            restarts: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
  },
  VideoProgress: {
    type: 'object',
    required: ['state', 'position', 'duration'],
    properties: { state: { type: 'string', enum: ['queued', 'indexing'] }, position: { type: 'number' }, duration: { type: ['number', 'null'] } },
  },
  Video: {
    type: 'object',
    required: ['id', 'path', 'sourceKind', 'width', 'height', 'duration', 'fps', 'status', 'error', 'createdAt', 'updatedAt', 'lastCommittedT', 'keyframeCount', 'regionCount', 'trackCount', 'progress'],
    properties: {
      id: { type: 'integer', minimum: 1 },
      path: { type: 'string', description: 'the file indexed (uploads live under the data directory) or the stream URL' },
      sourceKind: { type: 'string', enum: ['file', 'live'], description: 'live: one run of a live stream' },
      width: nullable({ type: 'integer' }),
      height: nullable({ type: 'integer' }),
      duration: nullable({ type: 'number', description: 'seconds' }),
      fps: nullable({ type: 'number' }),
      status: { type: 'string', enum: ['indexing', 'ready', 'failed'] },
      error: nullable({ type: 'string' }),
      createdAt: { type: 'integer', description: 'Unix milliseconds' },
      updatedAt: { type: 'integer', description: 'Unix milliseconds' },
      lastCommittedT: nullable({ type: 'number', description: 'seconds of the last committed keyframe' }),
      keyframeCount: { type: 'integer', minimum: 0 },
      regionCount: { type: 'integer', minimum: 0 },
      trackCount: { type: 'integer', minimum: 0 },
      progress: { oneOf: [ref('VideoProgress'), { type: 'null' }], description: 'the running or queued indexing job, if any' },
    },
  },
  VideoJob: {
    type: 'object',
    required: ['id', 'path', 'state', 'videoId', 'position', 'duration', 'keyframes', 'regions', 'error', 'createdAt', 'uploaded'],
    properties: {
      id: { type: 'integer', minimum: 1 },
      path: { type: 'string' },
      state: { type: 'string', enum: ['queued', 'indexing', 'done', 'failed', 'cancelled'] },
      videoId: nullable({ type: 'integer' }),
      position: { type: 'number', description: 'seconds indexed so far' },
      duration: nullable({ type: 'number' }),
      keyframes: { type: 'integer', minimum: 0 },
      regions: { type: 'integer', minimum: 0 },
      error: nullable({ type: 'string' }),
      createdAt: { type: 'integer', description: 'Unix milliseconds' },
      uploaded: { type: 'boolean', description: 'the file was uploaded (and is removed with the video)' },
    },
  },
  VideoList: {
    type: 'object',
    required: ['videos', 'jobs'],
    properties: { videos: { type: 'array', items: ref('Video') }, jobs: { type: 'array', items: ref('VideoJob'), description: 'recent indexing jobs' } },
  },
  JobAccepted: { type: 'object', required: ['job'], properties: { job: ref('VideoJob') } },
  IndexPath: {
    type: 'object',
    required: ['path'],
    additionalProperties: false,
    properties: { path: { type: 'string', description: 'an absolute path of a video file under one of the configured roots (--root)' } },
  },
  Upload: {
    type: 'object',
    required: ['file'],
    properties: { file: { type: 'string', contentMediaType: 'application/octet-stream', description: 'the video file (one file field named "file")' } },
  },
  SearchForm: {
    type: 'object',
    required: ['image'],
    additionalProperties: false,
    properties: {
      image: { type: 'string', contentMediaType: 'application/octet-stream', description: 'the query image (JPEG, PNG, WebP, …): a file field named "image"; repeat it (up to 8) for several views of the object, combined as the mean of their descriptors' },
      box: { type: 'string', description: 'the object in the query image: "x,y,w,h" or "[x, y, w, h]" in pixels (default: the whole image is the object, a cut-out crop described at its scale in the indexed frames); with several images, none or one box field per image in the same order', example: '100,60,120,120' },
      top: { type: 'integer', minimum: 1, maximum: 1000, default: 20, description: 'most hits returned' },
      videos: { type: 'string', description: 'comma-separated video ids to search in (default: all)', example: '1,4' },
      from: { type: 'number', minimum: 0, description: 'only appearances at or after this time (seconds)' },
      to: { type: 'number', minimum: 0, description: 'only appearances up to this time (seconds)' },
      minScore: { type: 'number', minimum: -1, maximum: 1, description: 'lowest cosine similarity (to the expanded query)' },
      keyframes: { type: 'string', enum: ['true', '1', 'false', '0'], description: 'list every matching keyframe of each hit' },
      right: { type: 'string', description: 'relevance feedback: comma-separated region ids (best.region of earlier hits) that are the object; the query moves towards them', example: '812,1040' },
      wrong: { type: 'string', description: 'relevance feedback: comma-separated region ids that are not the object; the query moves away from them', example: '77' },
      expand: { type: 'integer', minimum: 0, maximum: 50, default: 5, description: 'query expansion (αQE, α = 3): the query is moved towards the best regions of its k best keyframes before ranking; 0: off' },
      trackWeight: { type: 'number', minimum: 0, maximum: 1, default: 0.5, description: "track-level evidence: an appearance scores (1 − w) × its best region's similarity + w × the similarity of its track's mean descriptor; 0: the best region alone" },
    },
  },
  SearchHit: {
    type: 'object',
    required: ['video', 'path', 'track', 'score', 'similarity', 'start', 'end', 'best', 'duration', 'thumbnail', 'clip'],
    properties: {
      video: { type: 'integer' },
      path: { type: 'string' },
      track: { type: ['integer', 'null'], description: 'null: a region the tracker did not link' },
      score: { type: 'number', description: "the appearance's score, hits are ranked by it: its best region's similarity blended with its track's (trackWeight)" },
      similarity: { type: 'number', description: 'cosine similarity of the best region' },
      start: { type: 'number', description: 'seconds' },
      end: { type: 'number', description: 'seconds' },
      best: { type: 'object', required: ['t', 'box', 'region'], properties: { t: { type: 'number' }, box: corners, region: { type: 'integer', description: 'the best region: its id marks the hit right or wrong in a next search (fields right, wrong)' } } },
      keyframes: {
        type: 'array',
        description: 'present when the form asked for keyframes',
        items: { type: 'object', required: ['t', 'box', 'score'], properties: { t: { type: 'number' }, box: corners, score: { type: 'number' } } },
      },
      duration: { type: ['number', 'null'], description: "the video's duration, seconds" },
      thumbnail: { type: ['string', 'null'], description: 'URL path of the best region thumbnail (null for a live-stream region whose moment was not recorded, or retention removed it, and no subscription matched)', example: '/v1/regions/17/thumbnail' },
      clip: { type: ['string', 'null'], description: "URL path of the track's clip (null when track is null, or for a live-stream moment that was not recorded or retention removed)", example: '/v1/tracks/3/clip' },
    },
  },
  SearchResult: {
    type: 'object',
    required: ['query', 'examples', 'hits'],
    properties: {
      query: {
        type: 'object',
        description: 'the first query image',
        required: ['width', 'height', 'box'],
        properties: { width: { type: 'integer' }, height: { type: 'integer' }, box: { ...corners, description: 'the query box as corners [x1, y1, x2, y2]' } },
      },
      examples: { type: 'integer', minimum: 1, maximum: 8, description: 'query images combined into the query (the mean of their descriptors)' },
      hits: { type: 'array', items: ref('SearchHit') },
    },
  },
  ShotSearchForm: {
    type: 'object',
    required: ['image'],
    additionalProperties: false,
    properties: {
      image: { type: 'string', contentMediaType: 'application/octet-stream', description: 'the query scene (JPEG, PNG, WebP, …), a whole image: a file field named "image"; repeat it (up to 8) for several views of the scene, combined as the mean of their shot vectors' },
      top: { type: 'integer', minimum: 1, maximum: 1000, default: 20, description: 'most shots returned' },
      videos: { type: 'string', description: 'comma-separated video ids to search in (default: all)', example: '1,4' },
      from: { type: 'number', minimum: 0, description: 'only keyframes at or after this time (seconds)' },
      to: { type: 'number', minimum: 0, description: 'only keyframes up to this time (seconds)' },
      minScore: { type: 'number', minimum: -1, maximum: 1, description: 'lowest cosine similarity of a keyframe' },
    },
  },
  ShotHit: {
    type: 'object',
    required: ['video', 'path', 'track', 'score', 'start', 'end', 'best', 'keyframeCount', 'duration', 'thumbnail', 'clip'],
    properties: {
      video: { type: 'integer' },
      path: { type: 'string' },
      track: { type: 'null', description: 'a shot is no track' },
      score: { type: 'number', description: 'cosine similarity of the best keyframe\'s shot vector' },
      start: { type: 'number', description: 'the first matching keyframe of the shot, seconds' },
      end: { type: 'number', description: 'the last matching keyframe of the shot, seconds' },
      best: { type: 'object', required: ['t', 'box', 'keyframe'], properties: { t: { type: 'number' }, box: { ...corners, description: 'the whole frame' }, keyframe: { type: 'integer' } } },
      keyframeCount: { type: 'integer', minimum: 1, description: 'matching keyframes in the shot' },
      duration: { type: ['number', 'null'], description: "the video's duration, seconds" },
      thumbnail: { type: ['string', 'null'], description: 'URL path of the best keyframe\'s picture (null for a live moment that was not recorded)', example: '/v1/keyframes/17/thumbnail?expires=1767225600&sig=…' },
      clip: { type: ['string', 'null'], description: "URL path of the shot's clip (null for a live moment that was not recorded)", example: '/v1/videos/3/clip?start=12&end=15&expires=1767225600&sig=…' },
    },
  },
  ShotSearchResult: {
    type: 'object',
    required: ['query', 'examples', 'hits'],
    properties: {
      query: { type: 'object', description: 'the first query image', required: ['width', 'height'], properties: { width: { type: 'integer' }, height: { type: 'integer' } } },
      examples: { type: 'integer', minimum: 1, maximum: 8, description: 'query images combined into the query' },
      hits: { type: 'array', items: ref('ShotHit') },
    },
  },
  ShotLearning: {
    type: 'object',
    additionalProperties: false,
    properties: {
      k: { type: 'integer', minimum: 1, maximum: 1024, description: 'codewords (default 16, fewer when the index has few regions)' },
      localDims: { type: 'integer', minimum: 1, maximum: 4096, description: 'dimensions of a region after PCA (default 64, fewer when the index has few regions)' },
      aggregate: { type: 'string', enum: ['sum', 'residual'], default: 'sum', description: "a codeword's regions summed, or their residuals to it (VLAD as published; worse with few regions per keyframe)" },
      dims: { type: 'integer', minimum: 1, maximum: 65536, description: 'PCA-whiten the shot vectors to this many dimensions (default: keep k × localDims)' },
      sample: { type: 'integer', minimum: 1, maximum: 1000000, default: 5000, description: 'keyframes learned from at most, evenly spread over the index' },
    },
  },
  ShotCodebook: {
    type: 'object',
    required: ['keyframes', 'trainingKeyframes', 'indexedKeyframes', 'k', 'localDims', 'dim'],
    properties: {
      keyframes: { type: 'integer', description: 'keyframes that now have a shot vector' },
      trainingKeyframes: { type: 'integer', description: 'keyframes learned from' },
      indexedKeyframes: { type: 'integer', description: 'keyframes with regions in the index' },
      k: { type: 'integer' },
      localDims: { type: 'integer' },
      dim: { type: 'integer', description: 'length of a shot vector' },
    },
  },
  NewStream: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', minLength: 1, maxLength: 2048, description: 'a network URL whose scheme is allowed (by default rtsp, rtsps, rtmp, rtmps, http, https, udp, srt); never a file or an ffmpeg pseudo-protocol' },
      interval: { type: 'number', exclusiveMinimum: 0, maximum: 3600, description: "seconds between analysed keyframes (default: the service's)" },
      name: { type: 'string', maxLength: 200 },
    },
  },
  StreamCounters: {
    type: 'object',
    required: ['framesDecoded', 'keyframes', 'carried', 'processed', 'dropped', 'regions', 'reconnects', 'lastError'],
    properties: {
      framesDecoded: { type: 'integer' },
      keyframes: { type: 'integer' },
      carried: { type: 'integer', description: 'keyframes that carried the last analysed one\'s regions, the picture being still' },
      processed: { type: 'integer' },
      dropped: { type: 'integer', description: 'keyframes skipped because analysis was busy' },
      regions: { type: 'integer' },
      reconnects: { type: 'integer' },
      lastError: { type: ['string', 'null'] },
    },
  },
  Stream: {
    type: 'object',
    required: ['id', 'owner', 'url', 'interval', 'name', 'createdAt', 'state', 'videoId', 'counters'],
    properties: {
      id: { type: 'integer', minimum: 1 },
      owner: { type: 'string', description: "the owner of the token that added it: only it and admin tokens see it" },
      url: { type: 'string' },
      interval: { type: 'number' },
      name: { type: ['string', 'null'] },
      createdAt: { type: 'integer', description: 'Unix milliseconds' },
      state: { type: 'string', enum: ['connecting', 'live', 'reconnecting', 'failed', 'superseded', 'stopped'] },
      videoId: { type: 'integer', description: "the current run's video id (in cluster mode the stream's id: a stream is one video)" },
      counters: ref('StreamCounters'),
      holder: { type: ['string', 'null'], description: 'cluster mode only: the worker following the stream (host:pid), null while none has taken it; its decoder counters stay with it and read 0 here' },
    },
  },
  StreamList: { type: 'object', required: ['streams'], properties: { streams: { type: 'array', items: ref('Stream') } } },
  Subscription: {
    type: 'object',
    required: ['id', 'owner', 'threshold', 'streams', 'updates', 'persist', 'name', 'createdAt', 'attached', 'queued', 'dropped', 'pushed'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      owner: { type: 'string', description: "the owner of the token that created it: only it and admin tokens see it" },
      threshold: { type: 'number' },
      streams: { type: ['array', 'null'], items: { type: 'integer' }, description: 'null: every stream' },
      updates: { type: 'boolean' },
      persist: { type: 'boolean' },
      name: { type: ['string', 'null'] },
      createdAt: { type: 'integer', description: 'Unix milliseconds' },
      attached: { type: 'boolean', description: 'a WebSocket client takes its messages' },
      queued: { type: 'integer', description: 'messages waiting' },
      dropped: { type: 'integer', description: 'messages discarded because the client was too slow' },
      pushed: { type: 'integer' },
    },
  },
  SubscriptionList: { type: 'object', required: ['subscriptions'], properties: { subscriptions: { type: 'array', items: ref('Subscription') } } },
  LiveMatch: {
    type: 'object',
    required: ['type', 'subscription', 'appearance', 'stream', 'video', 'track', 'region', 't', 'frameTime', 'processedAt', 'box', 'score', 'thumbnail', 'clip'],
    properties: {
      type: { type: 'string', enum: ['match', 'update'] },
      subscription: { type: 'string', format: 'uuid' },
      appearance: { type: 'integer' },
      stream: { type: 'integer' },
      video: { type: 'integer' },
      track: { type: 'integer' },
      region: { type: 'integer' },
      t: { type: 'number', description: "seconds in the stream run's index" },
      frameTime: { type: 'string', format: 'date-time', description: 'when the frame arrived' },
      processedAt: { type: 'string', format: 'date-time' },
      box: corners,
      score: { type: 'number' },
      thumbnail: { type: ['string', 'null'], description: 'null when the picture could not be written', example: '/v1/regions/17/thumbnail' },
      clip: { type: ['string', 'null'], description: "the track's clip from the stream's recording, served once its moments are recorded (segments close every 10 s); null when streams are not recorded (--no-record; in a cluster, workers record with --data)", example: '/v1/tracks/3/clip?expires=1767225600&sig=…' },
    },
  },
};


// ---- responses ----

/** An error response: the codes answered with `status`, listed from errors.ts. */
function errorResponse(status: number, description: string): JsonObject {
  const codes = Object.entries(ERROR_STATUS).filter(([, s]) => s === status).map(([code]) => code as ApiErrorCode);
  return { description: `${description} (error codes: ${codes.join(', ')})`, ...ref('Error') };
}

const ERROR_RESPONSES: Record<number, JsonObject> = {
  400: errorResponse(400, 'the request is malformed: bad parameters, fields, box or image'),
  401: errorResponse(401, 'no valid API token'),
  403: errorResponse(403, "not allowed: the token's role, or a path outside the configured roots"),
  404: errorResponse(404, 'no such object (or route)'),
  409: errorResponse(409, 'the request conflicts with the current state'),
  413: errorResponse(413, 'the body, upload or image is over its limit'),
  415: errorResponse(415, 'wrong content type, or the file is not a readable video'),
  416: errorResponse(416, 'the Range header starts past the end of the file'),
  422: errorResponse(422, 'the query box holds no object DASR can describe'),
  429: errorResponse(429, 'too much of this work is running: try again shortly'),
  500: errorResponse(500, 'an unexpected failure (logged by the service)'),
};

const errors = (...statuses: number[]): Record<number, JsonObject> => Object.fromEntries(statuses.map((s) => [s, ERROR_RESPONSES[s]!]));
const json = (schema: JsonObject, description: string): JsonObject => ({ description, ...schema });
const removed: JsonObject = { description: 'removed', type: 'null' };

/** A file answered whole or, for one byte range, in part (as video players ask). */
const mediaResponses = (type: string, what: string): Record<number, JsonObject> => ({
  200: {
    description: `the whole ${what}`,
    headers: { 'accept-ranges': { type: 'string', const: 'bytes' }, 'content-length': { type: 'integer' } },
    content: { [type]: { schema: { type: 'string', contentMediaType: type } } },
  },
  206: {
    description: `one byte range of the ${what}`,
    headers: { 'accept-ranges': { type: 'string', const: 'bytes' }, 'content-range': { type: 'string', description: 'e.g. bytes 0-1023/52311' }, 'content-length': { type: 'integer' } },
    content: { [type]: { schema: { type: 'string', contentMediaType: type } } },
  },
  ...errors(400, 401, 404, 416, 429, 500),
});

// ---- parameters ----

const idParams = (what: string): JsonObject => ({
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'integer', minimum: 1, description: `the ${what}'s id` } },
});

const rangeHeader: JsonObject = {
  type: 'object',
  properties: {
    range: {
      type: 'string',
      description: 'one byte range (`bytes=a-b`, `bytes=a-` or `bytes=-n`), as video players send. Other forms (another unit, several ranges) get the whole file (200); a malformed or reversed range, or one starting past the end, gets 416.',
    },
  },
};

/** A signed media URL's parameters (media-urls.ts): with them, no token is needed. */
const signature: Record<string, JsonObject> = {
  expires: { type: 'integer', minimum: 0, description: 'a signed URL: when it expires (Unix seconds); as search results and live matches give it' },
  sig: { type: 'string', maxLength: 64, description: 'a signed URL: its signature' },
};

const pad = (fallback: number): JsonObject => ({ type: 'number', minimum: 0, maximum: 60, description: `seconds added before and after (default ${fallback})` });

// ---- the routes, by operationId ----
// `multipart` is for the document only: Fastify does not parse multipart bodies (the routes stream them with
// @fastify/multipart and check each field), so it must not validate them either; openapi.ts adds it to the
// operation's request body.

export const ROUTES = {
  health: { tags: ['service'], summary: 'Liveness (no token needed)', operationId: 'health', security: [], response: { 200: json(ref('Health'), 'the service is up') } },
  ready: {
    tags: ['service'],
    summary: 'Readiness: the index answers and every worker thread runs (503 while one is being restarted, or the index is unreachable)',
    operationId: 'ready',
    response: { 200: json(ref('Ready'), 'ready'), 503: json(ref('Ready'), 'a worker is being restarted, or the index does not answer'), ...errors(401) },
  },
  metrics: {
    tags: ['service'],
    summary: 'Prometheus metrics',
    operationId: 'metrics',
    response: { 200: { description: 'metrics in the Prometheus text format', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } }, ...errors(401) },
  },
  openapi: {
    tags: ['service'],
    summary: 'This document',
    operationId: 'openapi',
    response: { 200: { description: 'the OpenAPI 3.1 document', type: 'object', additionalProperties: true }, ...errors(401) },
  },
  listVideos: {
    tags: ['videos'],
    summary: 'The indexed videos (files and live stream runs) and the recent indexing jobs',
    operationId: 'listVideos',
    response: { 200: json(ref('VideoList'), 'videos and jobs'), ...errors(401) },
  },
  addVideo: {
    tags: ['videos'],
    summary: 'Index a video: upload it, or name a file under a configured root',
    description: 'The file is checked to be a readable video, then queued for indexing; poll GET /v1/videos for progress.',
    operationId: 'addVideo',
    body: { content: { 'application/json': { schema: ref('IndexPath') } } },
    multipart: ref('Upload'),
    response: { 202: json(ref('JobAccepted'), 'queued for indexing'), ...errors(400, 401, 403, 404, 413, 415, 500) },
  },
  getVideo: { tags: ['videos'], summary: 'One video', operationId: 'getVideo', params: idParams('video'), response: { 200: json(ref('Video'), 'the video'), ...errors(400, 401, 404) } },
  deleteVideo: {
    tags: ['videos'],
    summary: 'Remove a video from the index (and its uploaded file, clips and thumbnails)',
    operationId: 'deleteVideo',
    params: idParams('video'),
    response: { 204: removed, ...errors(400, 401, 403, 404, 409) },
  },
  videoClip: {
    tags: ['media'],
    summary: 'An MP4 clip of a span of an indexed video file (cached)',
    operationId: 'videoClip',
    params: idParams('video'),
    querystring: {
      type: 'object',
      required: ['start', 'end'],
      additionalProperties: false,
      properties: { start: { type: 'number', minimum: 0, description: 'span start, seconds' }, end: { type: 'number', minimum: 0, description: 'span end, seconds (not before start)' }, pad: pad(0), ...signature },
    },
    headers: rangeHeader,
    response: mediaResponses('video/mp4', 'clip'),
  },
  trackClip: {
    tags: ['media'],
    summary: "An MP4 clip of a track's span, its boxes drawn (cached)",
    operationId: 'trackClip',
    params: idParams('track'),
    querystring: {
      type: 'object',
      additionalProperties: false,
      properties: { pad: pad(1), boxes: { type: 'boolean', description: "draw the track's boxes into the clip (default true)" }, ...signature },
    },
    headers: rangeHeader,
    response: mediaResponses('video/mp4', 'clip'),
  },
  regionThumbnail: {
    tags: ['media'],
    summary: "A JPEG of a region's keyframe with its box drawn (cached)",
    operationId: 'regionThumbnail',
    params: idParams('region'),
    querystring: { type: 'object', additionalProperties: false, properties: signature },
    headers: rangeHeader,
    response: mediaResponses('image/jpeg', 'thumbnail'),
  },
  keyframeThumbnail: {
    tags: ['media'],
    summary: 'A JPEG of a whole keyframe (shot search results; cached)',
    operationId: 'keyframeThumbnail',
    params: idParams('keyframe'),
    querystring: { type: 'object', additionalProperties: false, properties: signature },
    headers: rangeHeader,
    response: mediaResponses('image/jpeg', 'thumbnail'),
  },
  shotSearch: {
    tags: ['search'],
    summary: 'Shot search: shots like the query scene (runs of keyframes whose shot vectors match), by a whole image',
    operationId: 'shotSearch',
    multipart: ref('ShotSearchForm'),
    response: { 200: json(ref('ShotSearchResult'), 'the shots, best first'), ...errors(400, 401, 409, 413, 415, 422, 500) },
  },
  learnShots: {
    tags: ['search'],
    summary: "Learn the index's shot codebook from its keyframes and give every keyframe its shot vector (admin)",
    operationId: 'learnShots',
    body: ref('ShotLearning'),
    response: { 200: json(ref('ShotCodebook'), 'the codebook learned and installed'), ...errors(400, 401, 403, 409, 415) },
  },
  search: {
    tags: ['search'],
    summary: 'Search the index by example: the appearances of the object in the query image',
    operationId: 'search',
    multipart: ref('SearchForm'),
    response: { 200: json(ref('SearchResult'), 'the hits, best first'), ...errors(400, 401, 413, 415, 422, 500) },
  },
  listStreams: { tags: ['streams'], summary: 'The live streams being ingested', operationId: 'listStreams', response: { 200: json(ref('StreamList'), 'the streams'), ...errors(401) } },
  addStream: {
    tags: ['streams'],
    summary: 'Start ingesting a live stream (kept across restarts)',
    operationId: 'addStream',
    body: ref('NewStream'),
    response: { 201: json(ref('Stream'), 'the stream, connecting'), ...errors(400, 401, 403, 413, 415) },
  },
  getStream: { tags: ['streams'], summary: "A stream's status and counters", operationId: 'getStream', params: idParams('stream'), response: { 200: json(ref('Stream'), 'the stream'), ...errors(400, 401, 404) } },
  deleteStream: {
    tags: ['streams'],
    summary: 'Stop and forget a stream (what it indexed stays searchable)',
    operationId: 'deleteStream',
    params: idParams('stream'),
    response: { 204: removed, ...errors(400, 401, 403, 404) },
  },
  listSubscriptions: {
    tags: ['subscriptions'],
    summary: 'The live subscriptions (created over the WebSocket /v1/live)',
    operationId: 'listSubscriptions',
    response: { 200: json(ref('SubscriptionList'), 'the subscriptions'), ...errors(401) },
  },
  deleteSubscription: {
    tags: ['subscriptions'],
    summary: 'Remove a subscription (persisted ones included)',
    operationId: 'deleteSubscription',
    params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', format: 'uuid', description: "the subscription's id" } } },
    response: { 204: removed, ...errors(400, 401, 403, 404) },
  },
} as const satisfies Record<string, JsonObject>;
