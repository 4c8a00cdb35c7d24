/**
 * The OpenAPI 3.1 description of the HTTP API built in app.ts (served at GET /openapi.json), with the WebSocket
 * protocol of /v1/live (live-socket.ts) described in `info.description` and, machine-readably, in `x-websocket`.
 * Keep it in step with app.ts: test/serve/openapi.test.ts checks that the paths and methods match the routes
 * Fastify registers, in both directions.
 */
import { ERROR_STATUS } from './errors.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const responseRef = (name: string): { $ref: string } => ({ $ref: `#/components/responses/${name}` });
const nullable = (schema: Record<string, Json>): Record<string, Json> => ({ ...schema, type: [schema.type as string, 'null'] });
const json = (schema: Json, description: string): Record<string, Json> => ({ description, content: { 'application/json': { schema } } });

const ERROR_CODES = Object.keys(ERROR_STATUS);

/** [x1, y1, x2, y2] in pixels. */
const corners: Record<string, Json> = {
  type: 'array',
  items: { type: 'number' },
  minItems: 4,
  maxItems: 4,
  description: 'box corners [x1, y1, x2, y2] in pixels (x2 > x1, y2 > y1)',
};

const idParameter = (what: string): Record<string, Json> => ({
  name: 'id',
  in: 'path',
  required: true,
  description: `the ${what}'s id`,
  schema: { type: 'integer', minimum: 1 },
});

const rangeParameter: Record<string, Json> = {
  name: 'Range',
  in: 'header',
  required: false,
  description:
    'one byte range (`bytes=a-b`, `bytes=a-` or `bytes=-n`), as video players send. Other forms (another unit, several ranges) get the whole file (200); a range starting past the end gets 416.',
  schema: { type: 'string', example: 'bytes=0-1023' },
};

const clipQueryParameters = (requiredSpan: boolean): Record<string, Json>[] => [
  ...(requiredSpan
    ? [
        { name: 'start', in: 'query', required: true, description: 'span start, seconds', schema: { type: 'number', minimum: 0 } },
        { name: 'end', in: 'query', required: true, description: 'span end, seconds (not before start)', schema: { type: 'number', minimum: 0 } },
      ]
    : []),
  { name: 'pad', in: 'query', required: false, description: `seconds added before and after (default ${requiredSpan ? 0 : 1})`, schema: { type: 'number', minimum: 0, maximum: 60 } },
  ...(requiredSpan
    ? []
    : [{ name: 'boxes', in: 'query', required: false, description: "draw the track's boxes into the clip (default true)", schema: { type: 'boolean' } }]),
];

const mediaResponses = (type: string, what: string): Record<string, Json> => ({
  '200': {
    description: `the whole ${what}`,
    headers: { 'Accept-Ranges': { schema: { type: 'string', const: 'bytes' } }, 'Content-Length': { schema: { type: 'integer' } } },
    content: { [type]: { schema: { type: 'string', contentMediaType: type } } },
  },
  '206': {
    description: `one byte range of the ${what}`,
    headers: {
      'Accept-Ranges': { schema: { type: 'string', const: 'bytes' } },
      'Content-Range': { schema: { type: 'string', example: 'bytes 0-1023/52311' } },
      'Content-Length': { schema: { type: 'integer' } },
    },
    content: { [type]: { schema: { type: 'string', contentMediaType: type } } },
  },
  '400': responseRef('BadRequest'),
  '401': responseRef('Unauthorized'),
  '404': responseRef('NotFound'),
  '416': responseRef('RangeNotSatisfiable'),
  '500': responseRef('Internal'),
});

const WEBSOCKET_DESCRIPTION = `
## WebSocket subscriptions: \`/v1/live\`

Connect with a WebSocket to \`/v1/live\` (same host and port). Authenticate with \`Authorization: Bearer <token>\`,
\`X-API-Token: <token>\`, or — since browsers cannot set headers on a WebSocket — the query parameter
\`?token=<token>\` (accepted only for this upgrade, never for HTTP requests). Without a valid token the upgrade is
refused with \`401\` and the JSON error body. Messages are JSON text frames (binary frames are answered with an error);
a frame larger than about 4/3 of the image limit closes the connection (code 1009).

Client → service:
- \`{"type": "subscribe", "image": "<base64 JPEG/PNG/WebP>", "box"?: [x, y, w, h] | "x,y,w,h", "threshold"?: 0.7,
  "streams"?: [stream ids] | null, "updates"?: false, "persist"?: false, "name"?: "...", "requestId"?: "..."}\` —
  a standing query against live streams (all streams when \`streams\` is absent or null); \`threshold\` is a cosine
  in [-1, 1] (default 0.7); at most 32 subscriptions per connection.
- \`{"type": "resume", "subscription": "<id>"}\` — take over a persisted subscription (e.g. after a restart).
- \`{"type": "unsubscribe", "subscription": "<id>"}\` — remove one of this connection's subscriptions.
- \`{"type": "ping"}\`

Service → client (replies carry the request's \`requestId\` when it was a string):
- \`{"type": "subscribed" | "resumed", "requestId"?, "subscription": Subscription}\`
- \`{"type": "unsubscribed", "requestId"?, "subscription": "<id>"}\`, \`{"type": "pong", "requestId"?}\`
- \`{"type": "error", "requestId"?, "error": {"code", "message", "details"?}}\` — the HTTP API's error shape.
- pushes, for the subscription's matches in live keyframes:
  - \`{"type": "match", "subscription", "appearance", "stream", "video", "track", "region", "t", "frameTime",
    "processedAt", "box": [x1, y1, x2, y2], "score", "thumbnail"}\` — an object appeared (first match of an appearance);
  - \`{"type": "update", ...the same fields}\` — a better-scoring view of it (only when \`updates\` is true);
  - \`{"type": "ended", "subscription", "appearance", "stream", "video", "tracks", "start", "end", "bestScore"}\` —
    the appearance is over (its tracks ended, or the stream stopped);
  - \`{"type": "dropped", "subscription", "count"}\` — the client was too slow and \`count\` older messages were
    discarded.

A subscription that is not persisted ends with its connection; a persisted one keeps collecting (bounded) until
it is resumed or removed (DELETE /v1/subscriptions/{id}). The message schemas are in \`x-websocket\`.
`;

const wsClientMessages: Record<string, Json> = {
  subscribe: {
    type: 'object',
    required: ['type', 'image'],
    additionalProperties: false,
    properties: {
      type: { const: 'subscribe' },
      image: { type: 'string', contentEncoding: 'base64', description: 'the query image (JPEG, PNG or WebP), base64' },
      box: {
        oneOf: [
          { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4 },
          { type: 'string', description: '"x,y,w,h"' },
        ],
        description: 'the object in the query image: x, y, width, height in pixels (default: the whole image is the object, a cut-out crop described at its scale in the indexed frames)',
      },
      threshold: { type: 'number', minimum: -1, maximum: 1, default: 0.7 },
      streams: { type: ['array', 'null'], items: { type: 'integer', minimum: 1 }, maxItems: 1000 },
      updates: { type: 'boolean', default: false },
      persist: { type: 'boolean', default: false },
      name: { type: 'string', maxLength: 200 },
      requestId: { type: 'string', description: 'echoed in the reply (first 200 characters)' },
    },
  },
  resume: {
    type: 'object',
    required: ['type', 'subscription'],
    properties: { type: { const: 'resume' }, subscription: { type: 'string', format: 'uuid' }, requestId: { type: 'string' } },
  },
  unsubscribe: {
    type: 'object',
    required: ['type', 'subscription'],
    properties: { type: { const: 'unsubscribe' }, subscription: { type: 'string', format: 'uuid' }, requestId: { type: 'string' } },
  },
  ping: { type: 'object', required: ['type'], properties: { type: { const: 'ping' }, requestId: { type: 'string' } } },
};

const requestId: Record<string, Json> = { type: 'string', description: "the request's requestId, when it sent one" };

const wsServerMessages: Record<string, Json> = {
  subscribed: {
    type: 'object',
    required: ['type', 'subscription'],
    properties: { type: { const: 'subscribed' }, requestId, subscription: ref('Subscription') },
  },
  resumed: {
    type: 'object',
    required: ['type', 'subscription'],
    properties: { type: { const: 'resumed' }, requestId, subscription: ref('Subscription') },
  },
  unsubscribed: {
    type: 'object',
    required: ['type', 'subscription'],
    properties: { type: { const: 'unsubscribed' }, requestId, subscription: { type: 'string', format: 'uuid' } },
  },
  pong: { type: 'object', required: ['type'], properties: { type: { const: 'pong' }, requestId } },
  error: {
    type: 'object',
    required: ['type', 'error'],
    properties: { type: { const: 'error' }, requestId, error: ref('ErrorBody') },
  },
  match: ref('LiveMatch'),
  update: ref('LiveMatch'),
  ended: {
    type: 'object',
    required: ['type', 'subscription', 'appearance', 'stream', 'video', 'tracks', 'start', 'end', 'bestScore'],
    properties: {
      type: { const: 'ended' },
      subscription: { type: 'string', format: 'uuid' },
      appearance: { type: 'integer' },
      stream: { type: 'integer' },
      video: { type: 'integer', description: "the stream run's video id" },
      tracks: { type: 'array', items: { type: 'integer' } },
      start: { type: 'number', description: 'seconds in the stream run' },
      end: { type: 'number' },
      bestScore: { type: 'number' },
    },
  },
  dropped: {
    type: 'object',
    required: ['type', 'subscription', 'count'],
    properties: { type: { const: 'dropped' }, subscription: { type: 'string', format: 'uuid' }, count: { type: 'integer', minimum: 1 } },
  },
};

const schemas: Record<string, Json> = {
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
      ready: { type: 'boolean', description: 'every worker thread runs' },
      regions: { type: 'integer', minimum: 0, description: 'regions in the index' },
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
    },
  },
  SearchHit: {
    type: 'object',
    required: ['video', 'path', 'track', 'score', 'start', 'end', 'best', 'duration', 'thumbnail', 'clip'],
    properties: {
      video: { type: 'integer' },
      path: { type: 'string' },
      track: { type: ['integer', 'null'], description: 'null: a region the tracker did not link' },
      score: { type: 'number', description: 'cosine similarity of the best region' },
      start: { type: 'number', description: 'seconds' },
      end: { type: 'number', description: 'seconds' },
      best: { type: 'object', required: ['t', 'box', 'region'], properties: { t: { type: 'number' }, box: corners, region: { type: 'integer', description: 'the best region: its id marks the hit right or wrong in a next search (fields right, wrong)' } } },
      keyframes: {
        type: 'array',
        description: 'present when the form asked for keyframes',
        items: { type: 'object', required: ['t', 'box', 'score'], properties: { t: { type: 'number' }, box: corners, score: { type: 'number' } } },
      },
      duration: { type: ['number', 'null'], description: "the video's duration, seconds" },
      thumbnail: { type: ['string', 'null'], description: 'URL path of the best region thumbnail (null for a live-stream region no subscription matched: live frames are not kept)', example: '/v1/regions/17/thumbnail' },
      clip: { type: ['string', 'null'], description: "URL path of the track's clip (null when track is null, or for a live stream: not recorded)", example: '/v1/tracks/3/clip' },
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
      state: { type: 'string', enum: ['connecting', 'live', 'reconnecting', 'failed', 'stopped'] },
      videoId: { type: 'integer', description: "the current run's video id" },
      counters: ref('StreamCounters'),
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
    required: ['type', 'subscription', 'appearance', 'stream', 'video', 'track', 'region', 't', 'frameTime', 'processedAt', 'box', 'score', 'thumbnail'],
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
    },
  },
};

const errorResponse = (description: string, codes: string[]): Record<string, Json> => ({
  description: `${description} (error codes: ${codes.join(', ')})`,
  content: { 'application/json': { schema: ref('Error') } },
});

const responses: Record<string, Json> = {
  BadRequest: errorResponse('the request is malformed: bad parameters, fields, box or image', ['bad-request', 'bad-image', 'bad-box']),
  Unauthorized: errorResponse('no valid API token', ['unauthorized']),
  Forbidden: errorResponse('not allowed (e.g. a path outside the configured roots)', ['forbidden']),
  NotFound: errorResponse('no such object (or route)', ['not-found']),
  Conflict: errorResponse('the request conflicts with the current state', ['conflict']),
  TooLarge: errorResponse('the body, upload or image is over its limit', ['too-large']),
  UnsupportedMediaType: errorResponse('wrong content type, or the file is not a readable video', ['unsupported-media-type']),
  NoObject: errorResponse('the query box holds no object DASR can describe', ['no-object']),
  RangeNotSatisfiable: errorResponse('the Range header starts past the end of the file', ['range-not-satisfiable']),
  Internal: errorResponse('an unexpected failure (logged by the service)', ['internal']),
};

const publicOperation = { security: [] as Json[] };

const webFile = (summary: string, type: string): Record<string, Json> => ({
  get: {
    tags: ['ui'],
    summary,
    operationId: `ui${summary.replace(/[^a-zA-Z]/g, '')}`,
    ...publicOperation,
    responses: { '200': { description: summary, content: { [type]: { schema: { type: 'string' } } } } },
  },
});

const paths: Record<string, Json> = {
  '/health': {
    get: {
      tags: ['service'],
      summary: 'Liveness (no token needed)',
      operationId: 'health',
      ...publicOperation,
      responses: { '200': json(ref('Health'), 'the service is up') },
    },
  },
  '/ready': {
    get: {
      tags: ['service'],
      summary: 'Readiness: the index is open and every worker thread runs (503 while one is being restarted)',
      operationId: 'ready',
      responses: { '200': json(ref('Ready'), 'ready'), '503': json(ref('Ready'), 'a worker is being restarted'), '401': responseRef('Unauthorized') },
    },
  },
  '/metrics': {
    get: {
      tags: ['service'],
      summary: 'Prometheus metrics',
      operationId: 'metrics',
      responses: {
        '200': { description: 'metrics in the Prometheus text format', content: { 'text/plain; version=0.0.4': { schema: { type: 'string' } } } },
        '401': responseRef('Unauthorized'),
      },
    },
  },
  '/openapi.json': {
    get: {
      tags: ['service'],
      summary: 'This document',
      operationId: 'openapi',
      responses: { '200': json({ type: 'object' }, 'the OpenAPI 3.1 document'), '401': responseRef('Unauthorized') },
    },
  },
  '/': webFile('Web UI page', 'text/html; charset=utf-8'),
  '/app.js': webFile('Web UI script', 'text/javascript; charset=utf-8'),
  '/style.css': webFile('Web UI style sheet', 'text/css; charset=utf-8'),
  '/v1/videos': {
    get: {
      tags: ['videos'],
      summary: 'The indexed videos (files and live stream runs) and the recent indexing jobs',
      operationId: 'listVideos',
      responses: { '200': json(ref('VideoList'), 'videos and jobs'), '401': responseRef('Unauthorized') },
    },
    post: {
      tags: ['videos'],
      summary: 'Index a video: upload it, or name a file under a configured root',
      description: 'The file is checked to be a readable video, then queued for indexing; poll GET /v1/videos for progress.',
      operationId: 'addVideo',
      requestBody: {
        required: true,
        content: {
          'multipart/form-data': { schema: ref('Upload'), encoding: { file: { contentType: 'application/octet-stream' } } },
          'application/json': { schema: ref('IndexPath') },
        },
      },
      responses: {
        '202': json(ref('JobAccepted'), 'queued for indexing'),
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '403': responseRef('Forbidden'),
        '404': responseRef('NotFound'),
        '413': responseRef('TooLarge'),
        '415': responseRef('UnsupportedMediaType'),
        '500': responseRef('Internal'),
      },
    },
  },
  '/v1/videos/{id}': {
    parameters: [idParameter('video')],
    get: {
      tags: ['videos'],
      summary: 'One video',
      operationId: 'getVideo',
      responses: { '200': json(ref('Video'), 'the video'), '400': responseRef('BadRequest'), '401': responseRef('Unauthorized'), '404': responseRef('NotFound') },
    },
    delete: {
      tags: ['videos'],
      summary: 'Remove a video from the index (and its uploaded file)',
      operationId: 'deleteVideo',
      responses: {
        '204': { description: 'removed' },
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '404': responseRef('NotFound'),
        '409': responseRef('Conflict'),
      },
    },
  },
  '/v1/videos/{id}/clip': {
    parameters: [idParameter('video')],
    get: {
      tags: ['media'],
      summary: 'An MP4 clip of a span of an indexed video file (cached)',
      operationId: 'videoClip',
      parameters: [...clipQueryParameters(true), rangeParameter],
      responses: mediaResponses('video/mp4', 'clip'),
    },
  },
  '/v1/tracks/{id}/clip': {
    parameters: [idParameter('track')],
    get: {
      tags: ['media'],
      summary: "An MP4 clip of a track's span, its boxes drawn (cached)",
      operationId: 'trackClip',
      parameters: [...clipQueryParameters(false), rangeParameter],
      responses: mediaResponses('video/mp4', 'clip'),
    },
  },
  '/v1/regions/{id}/thumbnail': {
    parameters: [idParameter('region')],
    get: {
      tags: ['media'],
      summary: "A JPEG of a region's keyframe with its box drawn (cached)",
      operationId: 'regionThumbnail',
      parameters: [rangeParameter],
      responses: mediaResponses('image/jpeg', 'thumbnail'),
    },
  },
  '/v1/search': {
    post: {
      tags: ['search'],
      summary: 'Search the index by example: the appearances of the object in the query image',
      operationId: 'search',
      requestBody: {
        required: true,
        content: { 'multipart/form-data': { schema: ref('SearchForm'), encoding: { image: { contentType: 'image/jpeg, image/png, image/webp, application/octet-stream' } } } },
      },
      responses: {
        '200': json(ref('SearchResult'), 'the hits, best first'),
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '413': responseRef('TooLarge'),
        '415': responseRef('UnsupportedMediaType'),
        '422': responseRef('NoObject'),
        '500': responseRef('Internal'),
      },
    },
  },
  '/v1/streams': {
    get: {
      tags: ['streams'],
      summary: 'The live streams being ingested',
      operationId: 'listStreams',
      responses: { '200': json(ref('StreamList'), 'the streams'), '401': responseRef('Unauthorized') },
    },
    post: {
      tags: ['streams'],
      summary: 'Start ingesting a live stream (kept across restarts)',
      operationId: 'addStream',
      requestBody: { required: true, content: { 'application/json': { schema: ref('NewStream') } } },
      responses: {
        '201': json(ref('Stream'), 'the stream, connecting'),
        '400': responseRef('BadRequest'),
        '401': responseRef('Unauthorized'),
        '413': responseRef('TooLarge'),
        '415': responseRef('UnsupportedMediaType'),
      },
    },
  },
  '/v1/streams/{id}': {
    parameters: [idParameter('stream')],
    get: {
      tags: ['streams'],
      summary: "A stream's status and counters",
      operationId: 'getStream',
      responses: { '200': json(ref('Stream'), 'the stream'), '400': responseRef('BadRequest'), '401': responseRef('Unauthorized'), '404': responseRef('NotFound') },
    },
    delete: {
      tags: ['streams'],
      summary: 'Stop and forget a stream (what it indexed stays searchable)',
      operationId: 'deleteStream',
      responses: { '204': { description: 'removed' }, '400': responseRef('BadRequest'), '401': responseRef('Unauthorized'), '404': responseRef('NotFound') },
    },
  },
  '/v1/subscriptions': {
    get: {
      tags: ['subscriptions'],
      summary: 'The live subscriptions (created over the WebSocket /v1/live)',
      operationId: 'listSubscriptions',
      responses: { '200': json(ref('SubscriptionList'), 'the subscriptions'), '401': responseRef('Unauthorized') },
    },
  },
  '/v1/subscriptions/{id}': {
    parameters: [{ name: 'id', in: 'path', required: true, description: "the subscription's id", schema: { type: 'string', format: 'uuid' } }],
    delete: {
      tags: ['subscriptions'],
      summary: 'Remove a subscription (persisted ones included)',
      operationId: 'deleteSubscription',
      responses: { '204': { description: 'removed' }, '400': responseRef('BadRequest'), '401': responseRef('Unauthorized'), '404': responseRef('NotFound') },
    },
  },
};

const DOCUMENT = {
  openapi: '3.1.0',
  info: {
    title: 'DASR video search',
    version: '1.0.0',
    summary: 'Instance search in indexed videos and live streams with DASR on ResNet-50',
    description:
      'Index video files and live streams, search them with an example image, get thumbnails and clips of the hits, and subscribe (WebSocket) to live appearances.\n\n' +
      'Every request except GET /health and the web UI needs an API token: `Authorization: Bearer <token>` or `X-API-Token: <token>` (the `token` query parameter is accepted only for the WebSocket upgrade). ' +
      'A token has an owner and a role: admin (everything), user (indexes videos, adds streams, subscribes; sees and changes only its own streams and subscriptions; cannot delete videos), read-only (searches and looks, subscribes; changes nothing else); another role\'s request answers 403 forbidden, another owner\'s stream or subscription 404. ' +
      'Every error has the shape `{"error": {"code": "...", "message": "...", "details"?: ...}}`.\n' +
      WEBSOCKET_DESCRIPTION,
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: '/', description: 'this service' }],
  security: [{ bearerToken: [] }, { apiTokenHeader: [] }],
  tags: [
    { name: 'service', description: 'health, readiness, metrics and this document' },
    { name: 'videos', description: 'indexing video files' },
    { name: 'search', description: 'search by example' },
    { name: 'media', description: 'thumbnails and clips' },
    { name: 'streams', description: 'live streams' },
    { name: 'subscriptions', description: 'standing live queries (see x-websocket)' },
    { name: 'ui', description: 'the web UI' },
  ],
  paths,
  components: {
    securitySchemes: {
      bearerToken: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer <token>' },
      apiTokenHeader: { type: 'apiKey', in: 'header', name: 'X-API-Token' },
      webSocketQueryToken: { type: 'apiKey', in: 'query', name: 'token', description: 'only for the WebSocket upgrade at /v1/live' },
    },
    schemas,
    responses,
  },
  'x-websocket': {
    path: '/v1/live',
    description: 'Live subscriptions; see the description in info.',
    security: [{ bearerToken: [] }, { apiTokenHeader: [] }, { webSocketQueryToken: [] }],
    unauthorized: 'the upgrade is answered with HTTP 401 and the JSON error body',
    frames: 'JSON text; binary frames are answered with an error message; oversized frames close the connection with code 1009',
    clientMessages: wsClientMessages,
    serverMessages: wsServerMessages,
  },
} as const satisfies Record<string, Json>;

/** The OpenAPI document (the same frozen object each time; serialise it, do not change it). */
export function openApiDocument(): typeof DOCUMENT {
  return DOCUMENT;
}

deepFreeze(DOCUMENT);

function deepFreeze(value: unknown): void {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
}
