/**
 * Fuzzed and hostile requests against a running service: every one must be answered with a 4xx in the API's error
 * shape (or a 2xx where it was in fact valid), never a 5xx or a crash, and none may change what is stored.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../../src/serve/errors.js';
import { mulberry32 } from '../support/random.js';
import { storedFiles } from '../support/stored-files.js';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/videos/${name}`, import.meta.url));
const VIDEO = readFileSync(fixture('moving-object.mp4'));
const QUERY = readFileSync(fixture('moving-object-query.png'));
const SCENE = readFileSync(fixture('moving-object-query-scene.png'));
const MAX_IMAGE_BYTES = 5 * 2 ** 20;
const MAX_UPLOAD_BYTES = 20 * 2 ** 20;
const JSON_LIMIT = 2 ** 20;
/** Seeded random inputs beyond the listed ones: with those, over 10 000 in all. */
const RANDOM_HTTP_PROBES = 2000;
const RANDOM_WS_MESSAGES = 5000;

function pickFrom<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}
const WRONG_TOKEN = 'wrong-token-0123456789abcdef';

interface Probe {
  label: string;
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer | FormData;
  /** the request may in fact be valid: a 2xx is fine too */
  mayPass?: boolean;
}

/** Problems found, reported all together at the end of each test. */
type Problems = string[];

async function checkError(response: Response, label: string, problems: Problems, mayPass = false): Promise<unknown> {
  const text = await response.text();
  const shown = `${label} → ${response.status} ${text.slice(0, 200)}`;
  if (response.status >= 200 && response.status < 300 && mayPass) return text;
  if (response.status < 400 || response.status >= 500) {
    problems.push(`not a 4xx: ${shown}`);
    return undefined;
  }
  let body: { error?: { code?: unknown; message?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    problems.push(`not JSON: ${shown}`);
    return undefined;
  }
  const code = body.error?.code;
  if (typeof code !== 'string' || !(code in ERROR_STATUS) || typeof body.error?.message !== 'string') problems.push(`not the error shape: ${shown}`);
  else if (ERROR_STATUS[code as keyof typeof ERROR_STATUS] !== response.status) problems.push(`code ${code} with status ${response.status}: ${shown}`);
  else if (Object.keys(body).length !== 1) problems.push(`extra fields: ${shown}`);
  return body;
}

function form(parts: [name: string, value: string | Buffer, filename?: string][]): FormData {
  const data = new FormData();
  for (const [name, value, filename] of parts) {
    if (filename !== undefined) data.append(name, new Blob([value]), filename);
    else data.append(name, typeof value === 'string' ? value : new Blob([value]));
  }
  return data;
}

/** A raw multipart body (for bodies FormData cannot make). */
function rawPart(boundary: string, name: string, content: string, filename?: string): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ''}\r\n${filename ? 'Content-Type: application/octet-stream\r\n' : ''}\r\n${content}\r\n`;
}

describe('fuzzed requests', () => {
  let server: TestServer;
  let videoId: number;
  let trackId: number;
  let regionId: number;
  let snapshot: Awaited<ReturnType<typeof takeSnapshot>>;

  async function takeSnapshot() {
    const get = async (path: string): Promise<unknown> => (await server.api(path)).json();
    return {
      videos: await get('/v1/videos'),
      streams: await get('/v1/streams'),
      subscriptions: await get('/v1/subscriptions'),
      regions: server.service.embedded!.db.regionCount(),
      files: storedFiles(server.dataDir),
    };
  }

  async function search(image: Buffer, fields: Record<string, string> = {}): Promise<Response> {
    return server.api('/v1/search', { method: 'POST', body: form([['image', image, 'query.png'], ...Object.entries(fields)]) });
  }

  beforeAll(async () => {
    server = await startTestServer();
    const accepted = await server.api('/v1/videos', { method: 'POST', body: form([['file', VIDEO, 'moving-object.mp4']]) });
    expect(accepted.status).toBe(202);
    videoId = await waitFor(
      async () => {
        const { videos } = (await (await server.api('/v1/videos')).json()) as { videos: { id: number; status: string }[] };
        return videos[0]?.status === 'ready' ? videos[0].id : undefined;
      },
      120_000,
      'the fixture to be indexed',
    );
    const response = await search(SCENE, { box: '100,60,120,120' });
    expect(response.status).toBe(200);
    const { hits } = (await response.json()) as { hits: { track: number | null; thumbnail: string }[] };
    trackId = hits.find((h) => h.track !== null)!.track!;
    regionId = Number(/\/v1\/regions\/(\d+)\//.exec(hits[0]!.thumbnail)![1]);
    // caches written by valid requests are left out of the snapshot, but make them once now
    expect((await server.api(`/v1/tracks/${trackId}/clip`)).status).toBe(200);
    snapshot = await takeSnapshot();
    expect(snapshot.regions).toBeGreaterThan(0);
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('refuses requests without a valid token on every route but /health and the UI', async () => {
    const problems: Problems = [];
    const doc = (await (await server.api('/openapi.json')).json()) as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    const routes: [string, string][] = [['GET', '/'], ['GET', '/main.js'], ['GET', '/style.css']]; // the UI's files, outside the API document
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const method of ['get', 'post', 'delete'] as const) {
        if (!item[method]) continue;
        const path = template.replace('/v1/subscriptions/{id}', `/v1/subscriptions/${randomUUID()}`).replace('{id}', '1');
        routes.push([method.toUpperCase(), path]);
      }
    }
    expect(routes.map(([, path]) => path)).toEqual(expect.arrayContaining(['/metrics', '/openapi.json', '/ready', '/v1/search']));
    const publicPaths = new Set(['/health', '/', '/main.js', '/style.css']);
    for (const [method, path] of [...routes, ['GET', '/v1/nothing-here'] as [string, string]]) {
      const variants: [string, Record<string, string>, string][] = [
        ['no token', {}, path],
        ['wrong bearer', { authorization: `Bearer ${WRONG_TOKEN}` }, path],
        ['wrong header', { 'x-api-token': WRONG_TOKEN }, path],
        ['basic auth', { authorization: `Basic ${Buffer.from(`user:${server.token}`).toString('base64')}` }, path],
        ['bare token', { authorization: server.token }, path],
        ['query token', {}, `${path}?token=${server.token}`],
        ['empty header', { 'x-api-token': '' }, path],
        ['prefix of the token', { authorization: `Bearer ${server.token.slice(0, -1)}` }, path],
      ];
      for (const [what, headers, url] of variants) {
        const body = method === 'POST' ? (path === '/v1/streams' ? JSON.stringify({ url: 'rtsp://127.0.0.1:1/x' }) : JSON.stringify({ path: fixture('moving-object.mp4') })) : undefined;
        const response = await fetch(`${server.url}${url}`, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
        const label = `${what}: ${method} ${url}`;
        if (publicPaths.has(path)) {
          if (response.status !== 200) problems.push(`${label} → ${response.status}`);
          await response.arrayBuffer();
          continue;
        }
        const error = (await checkError(response, label, problems)) as { error: { code: string } } | undefined;
        if (error && error.error.code !== 'unauthorized') problems.push(`${label} → ${error.error.code}, not unauthorized`);
      }
    }
    expect(problems).toEqual([]);
    expect(await takeSnapshot()).toEqual(snapshot);
  });

  it('answers a seeded battery of malformed requests with 4xx errors', async () => {
    const random = mulberry32(0x5eed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const junkValues: unknown[] = [123, -1, 0, null, [], [1, 2], {}, { a: 1 }, true, false, 'NaN', '1e309', 1e308, -1e308, '', ' ', 'x'.repeat(3000), '\u0000', '../../etc/passwd', '%00', '🙂'];
    const badUrls = [
      'file:///etc/passwd', 'file:/etc/passwd', 'FILE:///etc/passwd', 'concat:/etc/passwd|/etc/hosts', 'pipe:0', 'pipe:', 'data:text/plain;base64,aGk=', 'fd:0',
      '-i', '-f lavfi -i testsrc', '-y', 'subfile,,0,100,:/etc/passwd', 'cache:http://127.0.0.1/x', 'async:file:/etc/passwd', 'crypto:file:/etc/passwd',
      'hls+file:///etc/passwd', 'tee:/tmp/x', 'unix:/tmp/socket', 'gopher://127.0.0.1/', 'ftp://127.0.0.1/x', 'tcp://127.0.0.1:1', 'javascript:alert(1)',
      '/etc/passwd', '/', '/dev/zero', 'package.json', './package.json', '../../../../etc/passwd', 'rtsp:foo', 'http://', 'rtsp://', 'rtsp://a b/c',
      'http://127.0.0.1/\u0000', 'http://127.0.0.1/x\ny', 'lavfi:testsrc', 'smb://x/y', 'sftp://x/y', 'zmq:tcp://x', '', ' ',
    ];
    const badBoxes = ['500,500,10,10', '0,0,0,10', '0,0,10,0', '0,0,-5,10', '10,10,-1,-1', 'NaN,0,10,10', '0,0,Infinity,10', '1,2,3', '1,2,3,4,5', 'abc', '[1,2,3]', '[a,b,c,d]', '', ' , , , ', '1e400,0,10,10', '0,0,0.5,0.5', '{"x":1}', '120,120,10,10'];
    const badIds = ['0', '-1', '999999', '123456789', 'abc', '1.5', '1e400', '99999999999999999999', '%00', 'null', '[]', '%2e%2e%2f%2e%2e%2fetc', '0x10', ''.padEnd(300, '9'), '%', '%zz', '%E0%A4%A', '%C0%AF', 'a'.repeat(101)];
    const badUuids = ['abc', '1', randomUUID().slice(0, 30), `${randomUUID()}x`, '%00', 'null', randomUUID(), randomUUID().toUpperCase()];
    const ranges = ['bytes=abc', 'bytes=5-1', 'bytes=-0', 'bytes=99999999-', 'bytes=0-1,3-4', 'items=0-1', 'bytes=-99999999999999999999', 'bytes=1e3-', 'bytes=--1', 'bytes=0-0', 'bytes=-1', '', 'bytes=', 'bytes=0-99999999999999999999999'];
    const badContentTypes = ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'image/png', 'application/octet-stream', 'application/json; charset=latin1', 'multipart/mixed', 'text/html; charset=utf-8', 'application/problem+json'];
    const boundary = 'fuzzboundary';

    const multipartFaults = ['no-boundary', 'wrong-boundary', 'truncated', 'garbage', 'empty', 'only-closing', 'header-only', 'bad-disposition', 'proto-field'] as const;
    const badMultipart = (path: string, kind: (typeof multipartFaults)[number]): Probe => {
      const field = path === '/v1/search' ? 'image' : 'file';
      const headers: Record<string, string> = { 'content-type': `multipart/form-data; boundary=${boundary}` };
      let body = '';
      switch (kind) {
        case 'no-boundary': headers['content-type'] = 'multipart/form-data'; body = rawPart(boundary, field, 'abc', 'a.png'); break;
        case 'wrong-boundary': body = rawPart('other', field, 'abc', 'a.png') + '--other--\r\n'; break;
        case 'truncated': body = rawPart(boundary, field, QUERY.subarray(0, 300).toString('latin1'), 'a.png').slice(0, -2 - Math.floor(random() * 50)); break;
        case 'garbage': body = Buffer.from(Array.from({ length: 500 }, () => Math.floor(random() * 256))).toString('latin1'); break;
        case 'empty': body = ''; break;
        case 'only-closing': body = `--${boundary}--\r\n`; break;
        case 'header-only': body = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="a.png"\r\n`; break;
        case 'bad-disposition': body = `--${boundary}\r\nContent-Disposition: nonsense\r\n\r\nxyz\r\n--${boundary}--\r\n`; break;
        case 'proto-field': body = rawPart(boundary, '__proto__', 'x') + `--${boundary}--\r\n`; break;
      }
      return { label: `multipart ${kind} to ${path}`, method: 'POST', path, headers, body: Buffer.from(body, 'latin1') };
    };
    const streamProbe = (body: Record<string, unknown>): Probe => ({ label: `stream ${JSON.stringify(body).slice(0, 120)}`, method: 'POST', path: '/v1/streams', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

    const generators: (() => Probe)[] = [
      // malformed JSON
      () => {
        const body = pick(['{', '{"path":', 'nul', '[1,2', '"str"', '{"a":1}}', '{"path":"/x",}', "{'path': 1}", '{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '\u0000', '1e999', 'true', '[]', '{"url":"rtsp://x"']);
        const path = pick(['/v1/videos', '/v1/streams']);
        return { label: `malformed JSON ${JSON.stringify(body)} to ${path}`, method: 'POST', path, headers: { 'content-type': 'application/json' }, body };
      },
      // empty bodies, wrong content types
      () => {
        const path = pick(['/v1/videos', '/v1/streams', '/v1/search']);
        const type = pick(badContentTypes);
        return { label: `${type} to ${path}`, method: 'POST', path, headers: { 'content-type': type }, body: pick(['', 'path=/etc/passwd', '<x/>', '{"url":"file:/etc/passwd"}', QUERY.subarray(0, 200).toString('latin1')]) };
      },
      () => ({ label: 'empty JSON body', method: 'POST', path: pick(['/v1/videos', '/v1/streams']), headers: { 'content-type': 'application/json' }, body: '' }),
      // wrong types and unknown fields in the stream body (the URL is never a valid one)
      () => {
        const body: Record<string, unknown> = { url: random() < 0.7 ? pick(badUrls) : pick(junkValues) };
        if (random() < 0.5) body.interval = random() < 0.5 ? pick(junkValues) : pick([0, -1, 3601, 1e308, 0.5]);
        if (random() < 0.4) body.name = pick(junkValues);
        if (random() < 0.3) body[pick(['extra', 'path', '__proto__', 'constructor', 'id'])] = pick(junkValues);
        return streamProbe(body);
      },
      // path indexing without roots
      () => {
        const body: Record<string, unknown> = { path: random() < 0.7 ? pick([fixture('moving-object.mp4'), '/etc/passwd', 'moving-object.mp4', '../../etc/passwd', `${server.dataDir}/uploads/../index.db`, '/proc/self/environ', '/', '/dev/zero', '']) : pick(junkValues) };
        if (random() < 0.3) body[pick(['file', 'url', 'extra'])] = pick(junkValues);
        return { label: `index path ${JSON.stringify(body).slice(0, 120)}`, method: 'POST', path: '/v1/videos', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
      },
      // bad search forms (each has one fault that makes it invalid)
      () => {
        const fault = pick(['box', 'top', 'videos', 'from', 'to', 'minScore', 'trackWeight', 'unknown', 'image-name', 'no-image', 'text-image', 'empty-image', 'png-garbage', 'nine-images', 'unpaired-boxes', 'random-bytes', 'truncated-png']);
        const fields: [string, string | Buffer, string?][] = [];
        let image: Buffer | null = QUERY;
        switch (fault) {
          case 'box': fields.push(['box', pick(badBoxes)]); break;
          case 'top': fields.push(['top', pick(['0', '-1', '1001', '1.5', 'abc', '', 'NaN', '1e309', '[1]'])]); break;
          case 'videos': fields.push(['videos', pick(['', 'a,b', '-1', '1,,2', '1.5', '0', Array.from({ length: 1001 }, (_, i) => i + 1).join(','), 'null'])]); break;
          case 'from': fields.push(['from', pick(['-1', 'abc', '', 'Infinity', '-Infinity'])]); break;
          case 'to': fields.push(['to', pick(['-0.001', 'NaN', 'x', '1e999'])]); break;
          case 'minScore': fields.push(['minScore', pick(['2', '-1.5', 'abc', '', '1e3'])]); break;
          case 'trackWeight': fields.push(['trackWeight', pick(['1.5', '-0.1', 'abc', '', 'NaN'])]); break;
          case 'unknown': fields.push([pick(['extra', 'file', 'path', '__proto__', 'boxes']), 'x']); break;
          case 'image-name': fields.push([pick(['file', 'img', 'photo', 'box']), QUERY, 'query.png']); image = null; break;
          case 'no-image': fields.push(['box', '0,0,10,10']); image = null; break;
          case 'text-image': fields.push(['image', 'not a file, a text field']); image = null; break;
          case 'empty-image': image = Buffer.alloc(0); break;
          case 'png-garbage': image = Buffer.concat([QUERY.subarray(0, 33), Buffer.from(Array.from({ length: 2000 }, () => Math.floor(random() * 256)))]); break;
          case 'nine-images': for (let i = 0; i < 8; i++) fields.push(['image', SCENE, `view${i}.png`]); break;
          case 'unpaired-boxes': fields.push(['box', '0,0,60,60'], ['image', SCENE, 'second.png']); break;
          case 'random-bytes': image = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 5000) }, () => Math.floor(random() * 256))); break;
          case 'truncated-png': image = QUERY.subarray(0, Math.floor(QUERY.length * random() * 0.9)); break;
        }
        const parts: [string, string | Buffer, string?][] = image ? [['image', image, 'query.png'], ...fields] : fields;
        return { label: `search form with bad ${fault}: ${JSON.stringify(fields.map(([n, v]) => [n, typeof v === 'string' ? v.slice(0, 60) : `${v.length} bytes`]))}`, method: 'POST', path: '/v1/search', body: form(parts) };
      },
      // bad multipart bodies
      () => badMultipart(pick(['/v1/search', '/v1/videos']), pick(multipartFaults)),
      // uploads that are not videos, or wrongly named
      () => {
        const kind = pick(['text', 'zero', 'audio', 'random', 'field-name', 'no-file', 'two-files', 'text-field']);
        let parts: [string, string | Buffer, string?][];
        switch (kind) {
          case 'text': parts = [['file', readFileSync(fixture('not-video.txt')), 'video.mp4']]; break;
          case 'zero': parts = [['file', Buffer.alloc(0), 'empty.mp4']]; break;
          case 'audio': parts = [['file', readFileSync(fixture('audio-only.m4a')), 'audio.mp4']]; break;
          case 'random': parts = [['file', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256))), pick(['x.mp4', '../../x.mp4', 'x', '.mp4', '\u0000.mp4'])]]; break;
          case 'field-name': parts = [[pick(['video', 'image', 'files', 'File']), VIDEO, 'moving-object.mp4']]; break;
          case 'no-file': parts = [['path', fixture('moving-object.mp4')]]; break;
          case 'two-files': parts = [['file', readFileSync(fixture('not-video.txt')), 'a.mp4'], ['file', VIDEO, 'b.mp4']]; break;
          default: parts = [['file', 'a text field, not a file']]; break;
        }
        return { label: `upload ${kind}`, method: 'POST', path: '/v1/videos', body: form(parts) };
      },
      // unknown or malformed ids
      () => {
        const id = pick(badIds);
        const [method, path] = pick<[string, string]>([
          ['GET', `/v1/videos/${id}`], ['DELETE', `/v1/videos/${id}`], ['GET', `/v1/streams/${id}`], ['DELETE', `/v1/streams/${id}`],
          ['GET', `/v1/regions/${id}/thumbnail`], ['GET', `/v1/tracks/${id}/clip`], ['GET', `/v1/videos/${id}/clip?start=0&end=1`],
          ['DELETE', `/v1/subscriptions/${pick(badUuids)}`],
        ]);
        return { label: `unknown id ${method} ${path}`, method, path };
      },
      // bad clip queries
      () => {
        const query = pick([
          'start=-1&end=2', 'start=abc&end=2', 'start=1', 'end=1', 'start=3&end=1', 'start=0&end=2&pad=61', 'start=0&end=2&pad=-1', 'start=0&end=2&boxes=maybe',
          'start=0&end=2&extra=1', 'start=1e400&end=1e401', 'start=100&end=200', 'start=NaN&end=NaN', 'start=&end=', 'start[]=1&end=2', 'start=1&start=2&end=3',
        ]);
        const path = random() < 0.7 ? `/v1/videos/${videoId}/clip?${query}` : `/v1/tracks/${trackId}/clip?${query.replace(/start=[^&]*&?|end=[^&]*&?/g, '') || 'pad=-3'}`;
        return { label: `clip query ${path}`, method: 'GET', path, mayPass: false };
      },
      // Range headers (a valid file: 200, 206 or 416 are all right)
      () => {
        const range = pick(ranges);
        const path = pick([`/v1/tracks/${trackId}/clip`, `/v1/regions/${regionId}/thumbnail`]);
        return { label: `range ${JSON.stringify(range)} on ${path}`, method: 'GET', path, headers: { range }, mayPass: true };
      },
      // unknown routes and methods
      () => {
        const [method, path] = pick<[string, string]>([
          ['PUT', '/v1/videos'], ['PATCH', `/v1/videos/${videoId}`], ['POST', `/v1/videos/${videoId}`], ['GET', '/v1/search'], ['PUT', '/v1/streams/1'],
          ['GET', '/v1/live'], ['GET', '/v1/../etc/passwd'], ['GET', '/v2/videos'], ['GET', '/v1/videos/1/clip/extra'], ['DELETE', '/v1/subscriptions'], ['OPTIONS', '/v1/videos'],
        ]);
        return { label: `unknown route ${method} ${path}`, method, path };
      },
    ];

    const probes: Probe[] = [];
    for (let i = 0; i < RANDOM_HTTP_PROBES; i++) probes.push(pick(generators)());
    // every stream URL, multipart fault, box and routing oddity at least once
    for (const url of badUrls) probes.push(streamProbe({ url }));
    for (const path of ['/v1/search', '/v1/videos']) for (const kind of multipartFaults) probes.push(badMultipart(path, kind));
    for (const box of badBoxes) probes.push({ label: `search box ${JSON.stringify(box)}`, method: 'POST', path: '/v1/search', body: form([['image', QUERY, 'q.png'], ['box', box]]) });
    for (const id of ['%', '%zz', 'a'.repeat(101), '9'.repeat(101)]) probes.push({ label: `odd id ${id.slice(0, 20)}`, method: 'GET', path: `/v1/videos/${id}` });
    // the big ones, once each
    probes.push({ label: 'JSON body over the 1 MiB limit', method: 'POST', path: '/v1/streams', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: `rtsp://h/${'x'.repeat(JSON_LIMIT)}` }) });
    probes.push({ label: 'JSON path over the 1 MiB limit', method: 'POST', path: '/v1/videos', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: `/${'a/'.repeat(JSON_LIMIT / 2 + 10)}` }) });
    probes.push({ label: 'image over maxImageBytes', method: 'POST', path: '/v1/search', body: form([['image', Buffer.concat([QUERY, Buffer.alloc(MAX_IMAGE_BYTES)]), 'big.png']]) });
    probes.push({ label: 'second image over maxImageBytes', method: 'POST', path: '/v1/search', body: form([['image', QUERY, 'a.png'], ['image', Buffer.alloc(MAX_IMAGE_BYTES + 1), 'b.png']]) });
    probes.push({ label: 'upload over maxUploadBytes', method: 'POST', path: '/v1/videos', body: form([['file', Buffer.concat([VIDEO, Buffer.alloc(MAX_UPLOAD_BYTES)]), 'big.mp4']]) });
    probes.push({ label: 'too many fields', method: 'POST', path: '/v1/search', body: form([['image', QUERY, 'q.png'], ...Array.from({ length: 30 }, (_, i): [string, string] => ['top', String(i + 1)])]) });

    const problems: Problems = [];
    for (const probe of probes) {
      let response: Response;
      try {
        response = await server.api(probe.path, { method: probe.method, headers: probe.headers, body: probe.body });
      } catch (error) {
        problems.push(`${probe.label}: the request failed: ${String(error)}`);
        continue;
      }
      await checkError(response, probe.label, problems, probe.mayPass);
    }
    expect(problems).toEqual([]);
    expect(await takeSnapshot()).toEqual(snapshot);
  });

  it('confines indexing by path to the roots, symbolic links resolved', async () => {
    const base = mkdtempSync(join(tmpdir(), 'dasr-fuzz-roots-'));
    const root = join(base, 'root');
    const outside = join(base, 'outside');
    mkdirSync(join(root, 'sub'), { recursive: true });
    mkdirSync(outside);
    copyFileSync(fixture('moving-object.mp4'), join(outside, 'secret.mp4'));
    writeFileSync(join(outside, 'secret.txt'), 'secret');
    copyFileSync(fixture('not-video.txt'), join(root, 'not-video.txt'));
    copyFileSync(fixture('cfr-testsrc.mp4'), join(root, 'sub', 'inside.mp4'));
    symlinkSync(join(outside, 'secret.mp4'), join(root, 'link-to-outside.mp4'));
    symlinkSync(outside, join(root, 'dir-link'));
    symlinkSync('/etc/passwd', join(root, 'passwd'));
    symlinkSync(join(root, 'loop-b'), join(root, 'loop-a'));
    symlinkSync(join(root, 'loop-a'), join(root, 'loop-b'));
    symlinkSync(join(root, 'sub', 'inside.mp4'), join(root, 'link-inside.mp4'));
    const rooted = await startTestServer({ pathRoots: [root] });
    const problems: Problems = [];
    try {
      const post = (body: unknown): Promise<Response> => rooted.api('/v1/videos', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const cases: [unknown, string][] = [
        [join(root, 'link-to-outside.mp4'), 'forbidden'],
        [join(root, 'dir-link', 'secret.mp4'), 'forbidden'],
        [join(root, 'dir-link', 'secret.txt'), 'forbidden'],
        [join(root, 'passwd'), 'forbidden'],
        [`${root}/../outside/secret.mp4`, 'forbidden'],
        [`${root}/sub/../../outside/secret.mp4`, 'forbidden'],
        [`${root}/./../root/../outside/secret.mp4`, 'forbidden'],
        [join(outside, 'secret.mp4'), 'forbidden'],
        [root, 'forbidden'],
        [`${root}/`, 'forbidden'],
        [`${root}-evil/x.mp4`, 'forbidden'], // outside the roots: forbidden whether or not it exists (no existence oracle)
        [base, 'forbidden'],
        ['/etc/passwd', 'forbidden'],
        ['sub/inside.mp4', 'bad-request'],
        ['./sub/inside.mp4', 'bad-request'],
        ['../outside/secret.mp4', 'bad-request'],
        ['', 'bad-request'],
        [`${root}/sub/inside.mp4\u0000.txt`, 'bad-request'],
        [`file://${root}/sub/inside.mp4`, 'bad-request'],
        [join(root, 'missing.mp4'), 'not-found'],
        [join(root, 'loop-a'), 'not-found'],
        [join(root, 'sub'), 'bad-request'],
        [join(root, 'not-video.txt'), 'unsupported-media-type'],
        [123, 'bad-request'],
        [[join(root, 'sub', 'inside.mp4')], 'bad-request'],
        [null, 'bad-request'],
      ];
      for (const [path, code] of cases) {
        const label = `index ${JSON.stringify(path)}`;
        const error = (await checkError(await post({ path }), label, problems)) as { error: { code: string } } | undefined;
        if (error && error.error.code !== code) problems.push(`${label} → ${error.error.code}, expected ${code}`);
      }
      const error = (await checkError(await post({ path: join(root, 'sub', 'inside.mp4'), extra: 1 }), 'unknown field', problems)) as { error: { code: string } } | undefined;
      expect(error?.error.code).toBe('bad-request');
      expect(problems).toEqual([]);
      // the controls: a file inside the root, directly and through a link that stays inside
      for (const path of [join(root, 'sub', 'inside.mp4'), join(root, 'link-inside.mp4')]) {
        const accepted = await post({ path });
        expect(accepted.status, await accepted.clone().text()).toBe(202);
        expect(((await accepted.json()) as { job: { path: string } }).job.path).toBe(join(root, 'sub', 'inside.mp4'));
      }
    } finally {
      await rooted.stop();
      rmSync(base, { recursive: true, force: true });
    }
  });

  it('answers WebSocket junk with error messages and keeps serving', async () => {
    const wsUrl = server.url.replace(/^http/, 'ws') + '/v1/live';
    const refused = (url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.on('open', () => {
          ws.close();
          reject(new Error(`${url} was accepted`));
        });
        ws.on('unexpected-response', (_request, response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => (body += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        });
        ws.on('error', reject);
      });
    for (const [url, headers] of [
      [wsUrl, {}],
      [`${wsUrl}?token=${WRONG_TOKEN}`, {}],
      [`${wsUrl}?token=`, {}],
      [wsUrl, { authorization: `Bearer ${WRONG_TOKEN}` }],
      [wsUrl, { 'x-api-token': WRONG_TOKEN }],
      [`${wsUrl}?token=${server.token.slice(1)}`, {}],
    ] as [string, Record<string, string>][]) {
      const { status, body } = await refused(url, headers);
      expect(status, url).toBe(401);
      expect(JSON.parse(body)).toMatchObject({ error: { code: 'unauthorized' } });
    }
    // an upgrade anywhere else is cut off
    await expect(new Promise((resolve, reject) => {
      const ws = new WebSocket(server.url.replace(/^http/, 'ws') + `/v1/videos?token=${server.token}`);
      ws.on('open', () => reject(new Error('accepted')));
      ws.on('error', resolve);
    })).resolves.toBeInstanceOf(Error);

    const open = (): Promise<{ ws: WebSocket; next: () => Promise<Record<string, unknown>>; closed: Promise<number> }> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`${wsUrl}?token=${server.token}`);
        const queue: Record<string, unknown>[] = [];
        const waiting: ((m: Record<string, unknown>) => void)[] = [];
        ws.on('message', (data) => {
          const message = JSON.parse(String(data)) as Record<string, unknown>;
          const waiter = waiting.shift();
          if (waiter) waiter(message);
          else queue.push(message);
        });
        const closed = new Promise<number>((done) => ws.on('close', (code) => done(code)));
        const next = (): Promise<Record<string, unknown>> =>
          queue.length > 0
            ? Promise.resolve(queue.shift()!)
            : new Promise((done, fail) => {
                const timer = setTimeout(() => fail(new Error('no reply within 20 s')), 20_000);
                waiting.push((m) => {
                  clearTimeout(timer);
                  done(m);
                });
              });
        ws.on('open', () => resolve({ ws, next, closed }));
        ws.on('error', reject);
      });

    const image = QUERY.toString('base64');
    const random = mulberry32(0xbadf00d);
    const junk: [what: string, data: string | Buffer, binary?: boolean][] = [
      ['binary frame', Buffer.from([0, 1, 2, 3]), true],
      ['binary JSON', Buffer.from(JSON.stringify({ type: 'ping' })), true],
      ['invalid JSON', '{"type": "ping"'],
      ['not JSON', 'hello'],
      ['empty', ''],
      ['null', 'null'],
      ['number', '42'],
      ['string', '"ping"'],
      ['array', '[{"type":"ping"}]'],
      ['no type', '{}'],
      ['unknown type', JSON.stringify({ type: 'shutdown', requestId: 'r' })],
      ['type not a string', JSON.stringify({ type: ['subscribe'] })],
      ['__proto__', '{"__proto__": {"type": "ping"}}'],
      ['random bytes as text', Buffer.from(Array.from({ length: 300 }, () => 32 + Math.floor(random() * 90))).toString('latin1')],
    ];
    const subscribes: Record<string, unknown>[] = [
      {},
      { image: 123 },
      { image: '' },
      { image: null },
      { image: ['a'] },
      { image: 'not base64 at all !!!' },
      { image: Buffer.alloc(100, 1).toString('base64') },
      { image: Buffer.concat([QUERY.subarray(0, 40), Buffer.alloc(400, 9)]).toString('base64') },
      { image, box: 'abc' },
      { image, box: [1, 2, 3] },
      { image, box: [1, 2, 3, 'x'] },
      { image, box: [0, 0, 0, 10] },
      { image, box: [500, 500, 10, 10] },
      { image, box: {} },
      { image, box: null },
      { image, box: 5 },
      { image, box: [[1, 2], [3, 4]] },
      { image, threshold: '0.5' },
      { image, threshold: 2 },
      { image, threshold: -1.5 },
      { image, threshold: null },
      { image, threshold: [0.5] },
      { image, streams: 'all' },
      { image, streams: [0] },
      { image, streams: [1.5] },
      { image, streams: ['1'] },
      { image, streams: {} },
      { image, streams: Array.from({ length: 1001 }, (_, i) => i + 1) },
      { image, updates: 'yes' },
      { image, persist: 1 },
      { image, name: 5 },
      { image, name: 'x'.repeat(201) },
      { image, extra: true },
      { image: Buffer.alloc(MAX_IMAGE_BYTES + 1000).toString('base64') },
    ];
    const connection = await open();
    const problems: Problems = [];
    const expectError = async (what: string, sent: string | Buffer, binary = false, requestId?: string): Promise<void> => {
      connection.ws.send(sent, { binary });
      let reply: Record<string, unknown>;
      try {
        reply = await connection.next();
      } catch (error) {
        problems.push(`${what}: ${String(error)}`);
        return;
      }
      const error = reply.error as { code?: unknown; message?: unknown } | undefined;
      if (reply.type !== 'error' || typeof error?.code !== 'string' || !(error.code in ERROR_STATUS) || error.code === 'internal' || typeof error.message !== 'string') {
        problems.push(`${what} → ${JSON.stringify(reply).slice(0, 200)}`);
      } else if (requestId !== undefined && reply.requestId !== requestId) {
        problems.push(`${what}: requestId ${String(reply.requestId)} is not ${requestId}`);
      }
    };
    for (const [what, data, binary] of junk) await expectError(what, data, binary);
    // seeded random messages: every type with fields drawn from junk values (no valid image: nothing may succeed)
    const junkFields: unknown[] = [123, -1, 0, null, [], [1, 2], {}, { a: 1 }, true, 'x', '', 'x'.repeat(300), '\u0000', '🙂', 1e308, [0, 0, 0, 0], 'not base64 !!', '00000000-0000-4000-8000-000000000000'];
    for (let i = 0; i < RANDOM_WS_MESSAGES; i++) {
      const message: Record<string, unknown> = { type: pickFrom(random, ['subscribe', 'resume', 'unsubscribe', 'SUBSCRIBE', 'pong', 42, null]), requestId: `w${i}` };
      for (const field of ['image', 'box', 'threshold', 'streams', 'updates', 'persist', 'name', 'subscription', 'extra']) if (random() < 0.4) message[field] = pickFrom(random, junkFields);
      if (message.type === 'subscribe' && typeof message.image === 'string' && message.image.length > 0) message.image = 'not base64 !!';
      await expectError(`random message ${JSON.stringify(message).slice(0, 120)}`, JSON.stringify(message), false, `w${i}`);
    }
    for (const [i, fields] of subscribes.entries()) {
      await expectError(`subscribe ${JSON.stringify(fields).slice(0, 100)}`, JSON.stringify({ type: 'subscribe', requestId: `s${i}`, ...fields }), false, `s${i}`);
    }
    for (const [i, message] of [
      { type: 'resume' },
      { type: 'resume', subscription: 42 },
      { type: 'resume', subscription: randomUUID() },
      { type: 'resume', subscription: '../../etc' },
      { type: 'unsubscribe' },
      { type: 'unsubscribe', subscription: randomUUID() },
      { type: 'unsubscribe', subscription: { id: 1 } },
    ].entries()) {
      await expectError(`${JSON.stringify(message)}`, JSON.stringify({ ...message, requestId: `m${i}` }), false, `m${i}`);
    }
    expect(problems).toEqual([]);
    // still serving on the same connection
    connection.ws.send(JSON.stringify({ type: 'ping', requestId: 'alive' }));
    expect(await connection.next()).toEqual({ type: 'pong', requestId: 'alive' });

    // a message over the size limit closes that connection (1009) and nothing else
    const big = await open();
    big.ws.send(JSON.stringify({ type: 'subscribe', image: Buffer.alloc(8 * 2 ** 20).toString('base64') }));
    expect(await big.closed).toBe(1009);
    connection.ws.send(JSON.stringify({ type: 'ping', requestId: 'after' }));
    expect(await connection.next()).toEqual({ type: 'pong', requestId: 'after' });

    // a valid subscription lives as long as its connection (not persisted)
    connection.ws.send(JSON.stringify({ type: 'subscribe', image, requestId: 'ok', streams: null, updates: false, persist: false }));
    const subscribed = await connection.next();
    expect(subscribed).toMatchObject({ type: 'subscribed', requestId: 'ok', subscription: { persist: false, attached: true } });
    expect(((await (await server.api('/v1/subscriptions')).json()) as { subscriptions: unknown[] }).subscriptions).toHaveLength(1);
    connection.ws.close();
    await connection.closed;
    await waitFor(async () => (((await (await server.api('/v1/subscriptions')).json()) as { subscriptions: unknown[] }).subscriptions.length === 0 ? true : undefined), 5000, 'the subscription to end');
    const other = await open();
    other.ws.close();
    await other.closed;
  });

  it('still answers and searches afterwards, with the stored state unchanged', async () => {
    expect(await (await fetch(`${server.url}/health`)).json()).toEqual({ status: 'ok' });
    expect((await server.api('/ready')).status).toBe(200);
    const response = await search(SCENE, { box: '100,60,120,120', top: '5' });
    expect(response.status).toBe(200);
    const { hits } = (await response.json()) as { hits: { video: number; track: number | null; start: number; end: number }[] };
    expect(hits[0]).toMatchObject({ video: videoId, track: trackId });
    expect(await takeSnapshot()).toEqual(snapshot);
  });
});
