/**
 * The HTTP API (Fastify) over a DasrService: videos, streams, search, media, subscriptions, health, metrics,
 * OpenAPI, and the web UI's static files. WebSocket subscriptions are attached by live-socket.ts.
 */
import { createWriteStream, existsSync, mkdirSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createHash, randomUUID } from 'node:crypto';
import { basename, dirname, extname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import multipart, { type MultipartFile } from '@fastify/multipart';
import serveStatic from '@fastify/static';
import type { Box } from '../detect/box.js';
import type { VideoRecord, VideoSummary } from '../index/database.js';
import type { IndexStore } from '../index/index-store.js';
import { decodeImage } from '../image/load.js';
import { probeVideo } from '../decode/probe.js';
import { frameThumbnail, hitThumbnail } from '../clip/thumbnail.js';
import { cutClip } from '../clip/clip.js';
import { followedBoxes } from '../clip/box-track.js';
import { expansion, searchByExample } from '../search/search.js';
import { describeExamples, typicalFrameSize } from '../search/describe-query.js';
import { parseBoxText, searchJson, shotSearchJson } from '../search/search-json.js';
import { combineExamples } from '../search/examples.js';
import { describeShotQuery, searchShots } from '../search/shot-search.js';
import { fitVladCodebookOffThread, indexTrainingSet, vladOptionsFor, type ShotLearnSettings } from '../search/shot-codebook.js';
import { vladDim } from '../detect/vlad.js';
import { SourceError } from '../source/source-spec.js';
import { TokenCheck, mayAccess, presentedToken, roleRefusal, type Principal } from './auth.js';
import { ApiError, type ApiErrorCode } from './errors.js';
import { ROUTES } from './api-schemas.js';
import { registerOpenApi } from './openapi.js';
import { clipSpan, MEDIA_PATH } from './media-urls.js';
import { regionThumbnailPath } from './subscriptions.js';
import { uploadDir, type DasrService } from './service.js';
import { writeFileAtomic } from '../util/atomic-file.js';
import { WorkLimiterFullError } from '../util/work-limiter.js';
import { recordedSpan, withRecordedSpan, type RecordedSpan } from '../record/recorded-span.js';
import { clipPrefix, keyframeThumbnailPath, removeVideoFiles, thumbnailIdsOf } from './video-files.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** who presented the token (null on public paths) */
    principal: Principal | null;
  }
}

const WEB_DIR = fileURLToPath(new URL('../../src/serve/web/', import.meta.url));
/**
 * On every response. The UI loads only its own scripts and stylesheet, shows media from signed URLs on its own
 * origin (and the query image as a blob: or data: picture), and talks to the API and /v1/live on its own origin:
 * anything else (an injected script, a frame around it, a sniffed content type) is refused by the browser. TLS is a
 * reverse proxy's job (README).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; media-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
});

/** Who a signed media URL acts as: it may only look. */
const MEDIA_PRINCIPAL: Principal = Object.freeze({ owner: 'signed-media-url', role: 'read-only' });

/** The UI's files need no token (they hold no data; every API call they make does). */
const PUBLIC_PATHS = new Set(['/health', '/', ...readdirSync(WEB_DIR).map((file) => `/${file}`)]);
const VIDEO_EXTENSIONS = new Set(['.mp4', '.mov', '.mkv', '.webm', '.avi', '.ts', '.m4v', '.mpg', '.mpeg', '.flv', '.wmv']);
const JSON_BODY_LIMIT = 1 * 2 ** 20;

export async function buildApp(service: DasrService): Promise<FastifyInstance> {
  const config = service.config;
  const tokens = new TokenCheck(config.tokens);
  const app = Fastify({
    bodyLimit: JSON_BODY_LIMIT,
    // Access logs (pino, one JSON line per request) on stderr, where the service's own log goes.
    logger: config.accessLog ? { level: config.accessLog, stream: process.stderr } : false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: false } },
    // Routing errors (a path parameter over 100 characters, a malformed %-escape) skip the error handler: give
    // them the API's error shape too.
    frameworkErrors: (error, _request, reply) => {
      void (reply as FastifyReply).status(400).type('application/json').send(new ApiError('bad-request', error.message).toJSON());
    },
  });
  await app.register(multipart, {
    limits: { fileSize: config.maxUploadBytes, files: 1, fields: 16, fieldSize: 64 * 1024, parts: 20, headerPairs: 100 },
  });

  await registerOpenApi(app);
  // The UI's files, and reply.sendFile for media (one byte range, conditional requests: what video players need).
  await app.register(serveStatic, { root: WEB_DIR, wildcard: false });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const [path, query] = request.url.split('?') as [string, string | undefined];
    if (PUBLIC_PATHS.has(path)) return;
    if ((request.method === 'GET' || request.method === 'HEAD') && MEDIA_PATH.test(path) && query) {
      const params = new URLSearchParams(query);
      if (params.has('sig')) {
        if (!service.mediaUrls.verify(path, params)) throw new ApiError('unauthorized', 'the media URL is expired or its signature is wrong: take a fresh one from a search');
        request.principal = MEDIA_PRINCIPAL;
        return;
      }
    }
    const principal = tokens.identify(presentedToken(request.headers, request.url, false));
    if (!principal) throw new ApiError('unauthorized', 'a valid API token is required (Authorization: Bearer <token> or X-API-Token)');
    request.principal = principal;
    // the route as matched (the router decodes percent-escapes: the raw path could spell it otherwise)
    const refusal = roleRefusal(principal, request.method, request.routeOptions.url ?? path);
    if (refusal) throw new ApiError('forbidden', refusal);
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    void reply.headers(SECURITY_HEADERS);
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    service.metrics.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });
  app.setErrorHandler((error, request, reply) => {
    if (request.raw.socket?.destroyed) {
      // the client went away (its work was stopped): nobody to answer, nothing went wrong
      service.logger.debug(`${request.method} ${request.url.split('?')[0]}: the client went away`);
      return reply.status(499).send();
    }
    const apiError = toApiError(error);
    if (apiError.code === 'internal') service.logger.error(`request failed: ${error instanceof Error ? error.stack : String(error)}`);
    void reply.status(apiError.status).type('application/json').send(apiError.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new ApiError('not-found', `no route ${request.method} ${request.url.split('?')[0]}`).toJSON());
  });

  // ---- health, metrics, description, UI ----
  app.get('/health', { schema: ROUTES.health }, async () => ({ status: 'ok' }));
  app.get('/ready', { schema: ROUTES.ready }, async (_request, reply) => {
    const workers = service.workers();
    // An index that does not answer (a cluster's PostgreSQL down) is not ready either.
    const regions = await service.store.regionCount().catch(() => null);
    const ready = regions !== null && workers.every((w) => w.state === 'running');
    return reply.status(ready ? 200 : 503).send({ ready, regions, variant: service.queryDetector.config.variant, workers });
  });
  app.get('/metrics', { schema: ROUTES.metrics }, async (_request, reply) => reply.type('text/plain; version=0.0.4').send(await service.metrics.text()));
  app.get('/openapi.json', { schema: ROUTES.openapi }, async () => app.swagger());

  // ---- videos ----
  app.get('/v1/videos', { schema: ROUTES.listVideos }, async () => ({ videos: (await service.store.listVideos()).map((v) => videoView(service, v)), jobs: await service.jobs.list() }));

  app.get('/v1/videos/:id', { schema: ROUTES.getVideo }, async (request) => {
    const { id } = request.params as { id: number };
    const video = await service.store.videoSummary(id);
    if (!video || video.status === 'deleted') throw new ApiError('not-found', `no video ${id}`);
    return videoView(service, video);
  });

  app.post('/v1/videos', { schema: ROUTES.addVideo }, async (request, reply) => {
    let path: string;
    let uploaded = false;
    if (request.isMultipart()) {
      path = await receiveUpload(request, service);
      uploaded = true;
    } else {
      // A JSON body was validated by the route's schema; any other parsed body (text) is the wrong kind.
      if (typeof request.body !== 'object' || request.body === null) {
        throw new ApiError('unsupported-media-type', 'send a multipart upload (field "file") or JSON {"path": "<file under a configured root>"}');
      }
      path = confinedPath((request.body as { path: string }).path, config.pathRoots);
      await checkVideo(path, false);
    }
    const job = await service.jobs.submit(path, uploaded);
    return reply.status(202).send({ job });
  });

  app.delete('/v1/videos/:id', { schema: ROUTES.deleteVideo }, async (request, reply) => {
    const { id } = request.params as { id: number };
    const video = await service.store.getVideo(id);
    if (!video || video.status === 'deleted') throw new ApiError('not-found', `no video ${id}`);
    if (video.sourceKind === 'live' && (await service.streams.list()).some((s) => s.videoId === id)) {
      throw new ApiError('conflict', `video ${id} is the current run of a live stream: remove the stream first`);
    }
    await service.jobs.cancelVideo(video);
    const indexed = thumbnailIdsOf(service.embedded, id);
    await service.store.deleteVideo(id);
    await removeVideoFiles(config.dataDir, video, indexed);
    return reply.status(204).send();
  });

  // ---- media: thumbnails and clips ----
  app.get('/v1/regions/:id/thumbnail', { schema: ROUTES.regionThumbnail }, async (request, reply) => {
    const { id } = request.params as { id: number };
    const region = (await service.store.regionsByIds([id]))[0];
    if (!region) throw new ApiError('not-found', `no region ${id}`);
    const file = regionThumbnailPath(config.dataDir, id);
    if (!existsSync(file)) await savePicture(service, reply, { what: `region ${id}`, videoId: region.videoId, t: region.t, region: { box: region.box, score: region.score, track: region.trackId } }, file);
    return sendFile(reply, file);
  });

  app.get('/v1/keyframes/:id/thumbnail', { schema: ROUTES.keyframeThumbnail }, async (request, reply) => {
    const { id } = request.params as { id: number };
    const keyframe = service.embedded?.db.keyframesByIds([id])[0];
    if (!keyframe) throw new ApiError('not-found', `no keyframe ${id}`);
    const file = keyframeThumbnailPath(config.dataDir, id);
    if (!existsSync(file)) await savePicture(service, reply, { what: `keyframe ${id}`, videoId: keyframe.videoId, t: keyframe.t, region: null }, file);
    return sendFile(reply, file);
  });

  app.get('/v1/tracks/:id/clip', { schema: ROUTES.trackClip }, async (request, reply) => {
    const { id } = request.params as { id: number };
    const query = request.query as { pad?: number; boxes?: boolean };
    const track = await service.store.getTrack(id);
    if (!track) throw new ApiError('not-found', `no track ${id}`);
    const boxes = query.boxes === false ? undefined : followedBoxes(await service.store.regionsOfTrack(id));
    const file = await clipFile(service, track.videoId, track.firstT, track.lastT, query.pad ?? 1, boxes, clientGone(reply));
    return sendFile(reply, file);
  });

  app.get('/v1/videos/:id/clip', { schema: ROUTES.videoClip }, async (request, reply) => {
    const { id } = request.params as { id: number };
    const query = request.query as { start: number; end: number; pad?: number };
    const file = await clipFile(service, id, query.start, query.end, query.pad ?? 0, undefined, clientGone(reply));
    return sendFile(reply, file);
  });

  // ---- search ----
  app.post('/v1/search', { schema: ROUTES.search }, async (request) => {
    const started = performance.now();
    const form = await readSearchForm(request, config.maxImageBytes);
    const images = await Promise.all(form.images.map((bytes) => decodeImage(bytes, { maxPixels: config.maxImagePixels })));
    const vector = await describeExamples(service.queryDetector, images, form.boxes, await typicalFrameSize(service.store, form.videos));
    const marked = [...form.right, ...form.wrong];
    const known = new Set((await service.store.regionsByIds(marked)).map((r) => r.id));
    const unknown = marked.filter((id) => !known.has(id));
    if (unknown.length > 0) throw new ApiError('bad-request', `no region ${unknown.join(', ')} in the index: right and wrong name regions of earlier hits (best.region)`);
    const image = images[0]!;
    const hits = await searchByExample(service.store, vector, { top: form.top, videoIds: form.videos, from: form.from, to: form.to, minScore: form.minScore, keyframes: form.keyframes, expand: expansion(form.expand), trackWeight: form.trackWeight, feedback: marked.length ? { right: form.right, wrong: form.wrong } : undefined });
    service.metrics.searchSeconds.observe((performance.now() - started) / 1000);
    const json = searchJson(hits);
    // each video read once, however many of its tracks were hit (in a cluster, a query each)
    const videoIds = [...new Set(hits.map((hit) => hit.videoId))];
    const videos = new Map(await Promise.all(videoIds.map(async (id) => [id, await service.store.getVideo(id)] as const)));
    return {
      query: { width: image.width, height: image.height, box: form.boxes[0] ?? [0, 0, image.width, image.height] },
      examples: images.length,
      hits: await Promise.all(json.hits.map(async (hit, i) => {
        const { videoId, best, track } = hits[i]!;
        const video = videos.get(videoId);
        // A live region has pictures where its moment was recorded (or it matched a subscription).
        const recorded = await wasRecorded(service, video, best.t, best.t);
        const pictured = recorded || existsSync(regionThumbnailPath(config.dataDir, best.regionId));
        return {
          ...hit,
          duration: video?.duration ?? null,
          thumbnail: pictured ? service.mediaUrls.sign(`/v1/regions/${best.regionId}/thumbnail`) : null,
          clip: recorded && track !== null ? service.mediaUrls.sign(`/v1/tracks/${track}/clip`) : null,
        };
      })),
    };
  });

  // ---- shot search ----
  app.post('/v1/shots/search', { schema: ROUTES.shotSearch }, async (request) => {
    const started = performance.now();
    const form = await readSearchForm(request, config.maxImageBytes, SHOT_SEARCH_FIELDS);
    const index = embeddedIndex(service);
    if (!index.shotCodebook) throw new ApiError('conflict', 'this index has no shot codebook yet: learn one (POST /v1/shots/learn, or dasr shots learn)');
    const images = await Promise.all(form.images.map((bytes) => decodeImage(bytes, { maxPixels: config.maxImagePixels })));
    const vlads: Float32Array[] = [];
    for (const image of images) vlads.push(await describeShotQuery(service.queryDetector, index, image));
    const hits = await searchShots(index, combineExamples(vlads), { top: form.top, videoIds: form.videos, from: form.from, to: form.to, minScore: form.minScore });
    service.metrics.searchSeconds.observe((performance.now() - started) / 1000);
    const json = shotSearchJson(hits);
    return {
      query: { width: images[0]!.width, height: images[0]!.height },
      examples: images.length,
      hits: await Promise.all(json.hits.map(async (hit, i) => {
        const { videoId, best, start, end } = hits[i]!;
        const video = index.db.getVideo(videoId);
        return {
          ...hit,
          duration: video?.duration ?? null,
          thumbnail: (await wasRecorded(service, video, best.t, best.t)) ? service.mediaUrls.sign(`/v1/keyframes/${best.keyframeId}/thumbnail`) : null,
          clip: (await wasRecorded(service, video, start, end)) ? service.mediaUrls.sign(`/v1/videos/${videoId}/clip`, clipSpan(start, end)) : null,
        };
      })),
    };
  });

  let learning = false;
  app.post('/v1/shots/learn', { schema: ROUTES.learnShots }, async (request) => {
    if (learning) throw new ApiError('conflict', 'a shot codebook is being learned already: wait for it');
    learning = true;
    try {
      return await learnShotCodebook(service, (request.body ?? {}) as ShotLearnSettings & { sample?: number });
    } finally {
      learning = false;
    }
  });

  // ---- live streams ----
  // Another owner's stream or subscription answers as one that does not exist: its id tells nothing.
  const ownStream = async (request: FastifyRequest, id: number) => {
    const status = await service.streams.status(id);
    if (!status || !mayAccess(request.principal!, status.owner)) throw new ApiError('not-found', `no stream ${id}`);
    return status;
  };
  app.get('/v1/streams', { schema: ROUTES.listStreams }, async (request) => ({ streams: await service.streams.list(request.principal!) }));
  app.get('/v1/streams/:id', { schema: ROUTES.getStream }, async (request) => ownStream(request, (request.params as { id: number }).id));
  app.post('/v1/streams', { schema: ROUTES.addStream }, async (request, reply) => {
    const body = request.body as { url: string; interval?: number; name?: string };
    // Only URLs: a path would be stat'ed relative to the service's directory (an existence oracle, and an
    // existing file made LiveStreams.add throw a TypeError, answered 500).
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(body.url)) throw new ApiError('bad-request', 'a live stream needs a URL (rtsp://, http://, …); upload or index files as videos');
    return reply.status(201).send(await service.streams.add(body.url, body.interval ?? config.interval, body.name ?? null, request.principal!.owner));
  });
  app.delete('/v1/streams/:id', { schema: ROUTES.deleteStream }, async (request, reply) => {
    const { id } = request.params as { id: number };
    await ownStream(request, id);
    if (!(await service.streams.remove(id))) throw new ApiError('not-found', `no stream ${id}`);
    return reply.status(204).send();
  });

  // ---- subscriptions (created over WebSocket, listed and removed here) ----
  app.get('/v1/subscriptions', { schema: ROUTES.listSubscriptions }, async (request) => ({ subscriptions: service.hub.list(request.principal!) }));
  app.delete('/v1/subscriptions/:id', { schema: ROUTES.deleteSubscription }, async (request, reply) => {
    const { id } = request.params as { id: string };
    const subscription = service.hub.get(id);
    if (!subscription || !mayAccess(request.principal!, subscription.owner) || !(await service.hub.remove(id))) throw new ApiError('not-found', `no subscription ${id}`);
    return reply.status(204).send();
  });

  return app;
}

/** Learns the index's shot codebook from its keyframes (fitted off the event loop) and installs it. */
async function learnShotCodebook(service: DasrService, body: ShotLearnSettings & { sample?: number }): Promise<Record<string, number>> {
  const index = embeddedIndex(service);
  const { sets, keyframes } = indexTrainingSet(index, body.sample);
  let options;
  try {
    options = vladOptionsFor(sets, body);
  } catch (error) {
    throw new ApiError('conflict', (error as Error).message);
  }
  let codebook;
  try {
    codebook = await fitVladCodebookOffThread(sets, options);
  } catch (error) {
    throw new ApiError('bad-request', (error as Error).message);
  }
  await index.installShotCodebook(codebook);
  return { keyframes: index.db.shotCount(), trainingKeyframes: sets.length, indexedKeyframes: keyframes, k: codebook.k, localDims: codebook.local.outputDim, dim: vladDim(codebook) };
}

/**
 * Cuts the picture of a moment (a region, its box drawn, or a whole keyframe) into `file`: from the video file, or from a
 * live run's recording around it, joined as for clips. 404 when a live moment was not recorded.
 */
async function savePicture(
  service: DasrService,
  reply: FastifyReply,
  moment: { what: string; videoId: number; t: number; region: { box: Box; score: number; track: number | null } | null },
  file: string,
): Promise<void> {
  const video = (await service.store.getVideo(moment.videoId))!;
  const width = Math.min(640, video.width ?? 640);
  const { region } = moment;
  const picture = (path: string, t: number) => (signal: AbortSignal) =>
    region ? hitThumbnail({ path, score: region.score, track: region.track, best: { t, box: region.box } }, { width, signal }) : frameThumbnail(path, t, { width, signal });
  let jpeg: Buffer;
  if (video.sourceKind === 'file') {
    jpeg = await service.media.run(picture(video.path, moment.t), clientGone(reply));
  } else {
    const span = recordedSpan(await service.store.segmentsOfVideo(video.id, moment.t - 5, moment.t), moment.t);
    if (!span) throw new ApiError('not-found', `${moment.what} of live stream run ${video.id} has no picture: that moment was not recorded (or retention removed it)`);
    const gone = clientGone(reply);
    try {
      jpeg = await withRecordedSpan(service.config.dataDir, span, dirname(file), gone, (joined) => service.media.run(picture(joined, moment.t - span.tStart), gone));
    } catch (error) {
      if (error instanceof WorkLimiterFullError || reply.raw.destroyed) throw error;
      // The last segment of a run cut by a stop or a crash may end before its last keyframe's frame.
      service.logger.warn(`no picture of ${moment.what} from the recording: ${error instanceof Error ? error.message : String(error)}`);
      throw new ApiError('not-found', `${moment.what} of live stream run ${video.id} has no picture: its recording ends before it`);
    }
  }
  await writeFileAtomic(file, jpeg);
}

/** Whether [from, to] of a video can be shown: a file always, a live run where it was recorded (retention keeps it). */
async function wasRecorded(service: DasrService, video: VideoRecord | undefined, from: number, to: number): Promise<boolean> {
  if (!video) return false;
  return video.sourceKind === 'file' || (await service.store.segmentsOfVideo(video.id, from, to)).length > 0;
}

/** The embedded index, for what only it has (shot search); a cluster replica answers 409. */
function embeddedIndex(service: DasrService): IndexStore {
  if (!service.embedded) throw new ApiError('conflict', 'shot search needs the embedded index (dasr serve --data): a cluster index has no shot vectors');
  return service.embedded;
}

function videoView(service: DasrService, video: VideoSummary): Record<string, unknown> {
  const { config: _settings, contentKey: _key, ...rest } = video;
  return { ...rest, progress: service.jobs.progress(video) };
}

/** Streams the multipart field "file" to `<data>/uploads/`, checks it is a video, and returns its path. */
async function receiveUpload(request: FastifyRequest, service: DasrService): Promise<string> {
  let file: MultipartFile | undefined;
  try {
    file = await request.file();
  } catch (error) {
    throw multipartError(error);
  }
  if (!file || file.fieldname !== 'file') {
    file?.file.resume();
    throw new ApiError('bad-request', 'the upload must be a multipart field named "file"');
  }
  const dir = join(uploadDir(service.config.dataDir), randomUUID());
  mkdirSync(dir, { recursive: true });
  // The file keeps its name (made safe) inside a directory of its own, so lists and results show what users uploaded.
  const final = join(dir, safeFileName(file.filename));
  const partial = join(dir, '.upload.part');
  try {
    await pipeline(file.file, createWriteStream(partial, { mode: 0o600 }));
    if (file.file.truncated) throw new ApiError('too-large', `the upload is larger than the limit of ${service.config.maxUploadBytes} bytes`);
    await checkVideo(partial, true);
    await rename(partial, final);
    return final;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw multipartError(error);
  }
}

/**
 * An error while reading a multipart body: the parser's own errors (no boundary, truncated or garbled body) are
 * plain Errors that toApiError would call internal, but they are the client's; file system errors stay internal.
 */
function multipartError(error: unknown): ApiError {
  const apiError = toApiError(error);
  if (apiError.code !== 'internal' || !(error instanceof Error) || 'syscall' in error) return apiError;
  return new ApiError('bad-request', `the multipart body could not be read: ${error.message}`);
}

/** A file name safe to keep on disk: no directories, no control or shell-special characters, a video extension. */
export function safeFileName(name: string): string {
  const base = (name.split(/[\\/]/).pop() ?? '').replace(/[^\p{L}\p{N}._ -]/gu, '_').replace(/^[.\s]+/, '').slice(-120);
  const stem = base || 'upload';
  return VIDEO_EXTENSIONS.has(extname(stem).toLowerCase()) ? stem : `${stem}.video`;
}

async function checkVideo(path: string, uploaded: boolean): Promise<void> {
  try {
    await probeVideo(path);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'unreadable';
    // The reason by its code only: the message would show server paths and ffprobe's output.
    throw new ApiError('unsupported-media-type', `${uploaded ? 'the upload' : 'the file'} is not a readable video (${code})`, { reason: code });
  }
}

/**
 * A path inside one of the configured roots (symbolic links resolved), naming an existing regular file. The path is
 * first checked as written, so that outside the roots every answer is 'forbidden' whether or not the file exists.
 */
export function confinedPath(input: string, roots: readonly string[]): string {
  if (roots.length === 0) throw new ApiError('forbidden', 'indexing by path is disabled: start the service with --root <dir> or upload the file');
  if (!isAbsolute(input) || input.includes('\0')) throw new ApiError('bad-request', 'path must be absolute');
  const within = (path: string, resolveRoot: (root: string) => string): boolean =>
    roots.some((root) => {
      const rel = relative(resolveRoot(root), path);
      return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
    });
  if (!within(resolve(input), (root) => resolve(root))) throw new ApiError('forbidden', `${input} is outside the allowed roots`);
  let real: string;
  try {
    real = realpathSync(input);
  } catch {
    throw new ApiError('not-found', `no such file: ${input}`);
  }
  if (!within(real, (root) => realpathSync(root))) throw new ApiError('forbidden', `${input} is outside the allowed roots`);
  if (!statSync(real).isFile()) throw new ApiError('bad-request', `${input} is not a regular file`);
  return real;
}

interface SearchForm {
  /** one or more views of the object, combined (examples.ts) */
  images: Buffer[];
  /** none, or one per image in the same order */
  boxes: Box[];
  top?: number;
  videos?: number[];
  from?: number;
  to?: number;
  minScore?: number;
  keyframes: boolean;
  expand?: number;
  trackWeight?: number;
  /** relevance feedback: region ids of earlier hits */
  right: number[];
  wrong: number[];
}

/** Views of one object a search may combine. */
const MAX_QUERY_IMAGES = 8;
const SEARCH_FIELDS: ReadonlySet<string> = new Set(['box', 'top', 'videos', 'from', 'to', 'minScore', 'keyframes', 'expand', 'trackWeight', 'right', 'wrong']);
/** Shot search takes whole images: no box, nothing that names regions. */
const SHOT_SEARCH_FIELDS: ReadonlySet<string> = new Set(['top', 'videos', 'from', 'to', 'minScore']);

/** The multipart search form: file fields "image" and the optional text fields `allowed`, each checked. */
async function readSearchForm(request: FastifyRequest, maxImageBytes: number, allowed = SEARCH_FIELDS): Promise<SearchForm> {
  if (!request.isMultipart()) throw new ApiError('unsupported-media-type', 'search takes multipart/form-data with a file field "image"');
  const images: Buffer[] = [];
  const boxes: Box[] = [];
  const fields: Record<string, string> = {};
  try {
    for await (const part of request.parts({ limits: { fileSize: maxImageBytes, files: MAX_QUERY_IMAGES + 1 } })) { // one more, refused with a clear message
      if (part.type === 'file') {
        if (part.fieldname !== 'image' || images.length === MAX_QUERY_IMAGES) {
          part.file.resume();
          throw new ApiError('bad-request', part.fieldname !== 'image' ? `unexpected file field "${part.fieldname}": send file fields "image"` : `at most ${MAX_QUERY_IMAGES} images per search`);
        }
        images.push(await part.toBuffer());
      } else if (part.fieldname === 'box' && allowed.has('box')) {
        boxes.push(parseBoxField(String(part.value)));
      } else {
        if (!allowed.has(part.fieldname)) throw new ApiError('bad-request', `unknown field "${part.fieldname}"`, { allowed: [...allowed] });
        fields[part.fieldname] = String(part.value);
      }
    }
  } catch (error) {
    throw multipartError(error);
  }
  if (images.length === 0) throw new ApiError('bad-request', 'the form has no file field "image"');
  if (boxes.length !== 0 && boxes.length !== images.length) throw new ApiError('bad-request', `${boxes.length} box fields for ${images.length} images: send none, or one per image in the same order`);
  return {
    images,
    boxes,
    top: optionalNumber(fields, 'top', (v) => Number.isInteger(v) && v >= 1 && v <= 1000, 'an integer from 1 to 1000'),
    videos: fields.videos === undefined ? undefined : parseIdList(fields.videos),
    from: optionalNumber(fields, 'from', (v) => v >= 0, 'seconds ≥ 0'),
    to: optionalNumber(fields, 'to', (v) => v >= 0, 'seconds ≥ 0'),
    minScore: optionalNumber(fields, 'minScore', (v) => v >= -1 && v <= 1, 'a cosine in [-1, 1]'),
    keyframes: fields.keyframes === 'true' || fields.keyframes === '1',
    expand: optionalNumber(fields, 'expand', (v) => Number.isInteger(v) && v >= 0 && v <= 50, 'an integer from 0 to 50'),
    trackWeight: optionalNumber(fields, 'trackWeight', (v) => v >= 0 && v <= 1, 'a weight in [0, 1]'),
    right: fields.right === undefined ? [] : parseIdList(fields.right, 'right', 'region ids'),
    wrong: fields.wrong === undefined ? [] : parseIdList(fields.wrong, 'wrong', 'region ids'),
  };
}

/** A query box field (`x,y,w,h`, or the JSON array form) → corners; ApiError 'bad-box' when malformed. */
export function parseBoxField(text: string): Box {
  try {
    return parseBoxText(text);
  } catch (error) {
    throw new ApiError('bad-box', `box: ${(error as Error).message}`);
  }
}

function parseIdList(text: string, field = 'videos', what = 'video ids'): number[] {
  const ids = text.split(',').map((p) => Number(p.trim()));
  if (ids.length === 0 || ids.length > 1000 || !ids.every((id) => Number.isInteger(id) && id > 0)) throw new ApiError('bad-request', `${field} must be a comma-separated list of ${what}`);
  return ids;
}

function optionalNumber(fields: Record<string, string>, name: string, valid: (v: number) => boolean, expected: string): number | undefined {
  const text = fields[name];
  if (text === undefined) return undefined;
  const value = text.trim() === '' ? Number.NaN : Number(text);
  if (!Number.isFinite(value) || !valid(value)) throw new ApiError('bad-request', `${name} must be ${expected}, got "${text.slice(0, 100)}"`);
  return value;
}

/**
 * Aborted when the client goes away before its answer is sent: the ffmpeg cutting it for nobody is stopped (or
 * never started, if it waited).
 */
function clientGone(reply: FastifyReply): AbortSignal {
  const gone = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) gone.abort(new Error('the client went away'));
  });
  return gone.signal;
}

/**
 * The clip of a span, cached under `<data>/clips/` (keyed by everything that shapes it; the least recently served
 * clips leave when the cache outgrows its size). Cut under the service's media limit.
 */
async function clipFile(service: DasrService, videoId: number, start: number, end: number, pad: number, boxes: { t: number; box: Box }[] | undefined, signal: AbortSignal): Promise<string> {
  const video = await service.store.getVideo(videoId);
  if (!video || video.status === 'deleted') throw new ApiError('not-found', `no video ${videoId}`);
  if (!(end >= start)) throw new ApiError('bad-request', `end (${end}) must not be before start (${start})`);
  let span: RecordedSpan | null = null;
  if (video.sourceKind !== 'file') {
    span = recordedSpan(await service.store.segmentsOfVideo(videoId, start - pad, end + pad), start);
    if (!span) throw new ApiError('not-found', `this span of live stream run ${videoId} was not recorded (or retention removed it), so there is no clip`);
  }
  const source = span ? span.segments.map((s) => s.id) : video.contentKey;
  const key = `${clipPrefix(videoId)}${createHash('sha1').update(JSON.stringify({ videoId, source, start, end, pad, boxes })).digest('hex').slice(0, 20)}`;
  const dir = join(service.config.dataDir, 'clips');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${key}.mp4`);
  if (existsSync(file)) {
    service.clipCache.touch(file);
    return file;
  }
  const temporary = join(dir, `${key}.tmp-${randomUUID()}.mp4`);
  try {
    if (span) {
      // A live run's clip is cut from its recorded segments joined into one file, whose time 0 is span.tStart.
      const base = span.tStart;
      const shifted = boxes?.filter((b) => b.t >= span.tStart && b.t <= span.tEnd).map((b) => ({ t: b.t - base, box: b.box }));
      const from = Math.max(start, base) - base;
      await withRecordedSpan(service.config.dataDir, span, dir, signal, async (joined) => {
        // The last segment of a run stopped or cut may hold less than the time it was committed for: the clip ends
        // where the recording does.
        const recorded = (await probeVideo(joined, { signal })).duration;
        const to = Math.max(from, Math.min(end - base, span.tEnd - base, recorded) - 1e-3);
        return service.media.run((stop) => cutClip({ video: joined, start: from, end: to, pad, boxes: shifted, out: temporary, signal: stop }), signal);
      });
    } else {
      await service.media.run((stop) => cutClip({ video: video.path, start, end, pad, boxes, out: temporary, signal: stop }), signal);
    }
    await rename(temporary, file);
    await rename(`${temporary}.jpg`, `${file}.jpg`).catch(() => undefined);
  } finally {
    await rm(temporary, { force: true });
    await rm(`${temporary}.jpg`, { force: true });
  }
  service.clipCache.evict([file, `${file}.jpg`]);
  return file;
}

/** A media file (clip or thumbnail) through @fastify/static: 206 for one satisfiable range, 416 past the end. */
function sendFile(reply: FastifyReply, file: string): FastifyReply {
  return reply.sendFile(basename(file), dirname(file));
}


/** Any error → the API's error shape; unknown ones are 'internal' (and logged by the caller). */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const e = error as { name?: string; code?: string; message?: string; statusCode?: number; validation?: unknown };
  const message = e?.message ?? String(error);
  if (e?.validation) return new ApiError('bad-request', message);
  switch (e?.name) {
    case 'ImageInputError':
      return new ApiError(e.code === 'too-large' ? 'too-large' : 'bad-image', message, { reason: e.code });
    case 'DasrInputError':
      return new ApiError(e.code === 'no-object' ? 'no-object' : 'bad-box', message, { reason: e.code });
    case 'SourceError':
      return new ApiError('bad-request', message, { reason: e.code });
    case 'HostLookupError':
      return new ApiError('bad-request', message, { reason: 'host-lookup-failed' });
    case 'ShotSearchUnavailableError':
    case 'ShotCodebookBusyError':
      return new ApiError('conflict', message);
  }
  if (error instanceof SourceError) return new ApiError('bad-request', message);
  if (error instanceof WorkLimiterFullError) return new ApiError('too-many-requests', `too many clips and thumbnails are being made (${message}): try again shortly`);
  if (e?.name === 'ClipError') return new ApiError(e.code === 'out-of-range' || e.code === 'invalid-range' || e.code === 'invalid-argument' ? 'bad-request' : 'internal', message, { reason: e.code });
  const fastifyCodes: Record<string, ApiErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'too-large',
    FST_REQ_FILE_TOO_LARGE: 'too-large',
    FST_PARTS_LIMIT: 'too-large',
    FST_FILES_LIMIT: 'too-large',
    FST_FIELDS_LIMIT: 'too-large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
    FST_INVALID_MULTIPART_CONTENT_TYPE: 'unsupported-media-type',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'bad-request',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad-request',
    FST_PROTO_VIOLATION: 'bad-request',
  };
  if (e?.code && fastifyCodes[e.code]) return new ApiError(fastifyCodes[e.code]!, message);
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const codes: Record<number, ApiErrorCode> = { 413: 'too-large', 415: 'unsupported-media-type', 416: 'range-not-satisfiable' };
    return new ApiError(codes[e.statusCode] ?? 'bad-request', message);
  }
  return new ApiError('internal', 'internal error');
}
