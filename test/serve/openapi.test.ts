import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/serve/app.js';
import { ERROR_STATUS } from '../../src/serve/errors.js';
import type { DasrService } from '../../src/serve/service.js';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

// ajv-formats is CommonJS: its default export is the plugin function
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;

const fixture = (name: string): string => fileURLToPath(new URL(`../../fixtures/videos/${name}`, import.meta.url));
const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Schema = Record<string, unknown>;
type Document = {
  openapi: string;
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Schema>; securitySchemes: Record<string, Schema> };
  security: Record<string, unknown[]>[];
  info: { description: string };
  'x-websocket': { path: string; clientMessages: Record<string, Schema>; serverMessages: Record<string, Schema> };
};

/** The app as the service builds it; buildApp reads only service.config, everything else is touched per request. */
async function appWithoutService() {
  const fake = { config: { tokens: ['fake-token-0123456789'], maxUploadBytes: 1 << 20 } } as unknown as DasrService;
  const app = await buildApp(fake);
  await app.ready();
  return app;
}

const generator = await appWithoutService();
const doc = JSON.parse(JSON.stringify(generator.swagger())) as Document;
const routeTree = generator.printRoutes({ commonPrefix: false });
await generator.close();

/** The web UI's files (@fastify/static), which are not part of the API document. */
const UI_FILES = new Set(['/', ...readdirSync(fileURLToPath(new URL('../../src/serve/web/', import.meta.url))).map((file) => `/${file}`)]);

/** "METHOD /path/{param}" for every route Fastify registered (HEAD routes it adds for GET left out). */
function registeredRoutes(): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of routeTree.split('\n')) {
    const match = /^(.*?)(?:└──|├──) (\S+)(?: \(([A-Z, ]+)\))?\s*$/.exec(line);
    if (!match) continue;
    const depth = [...match[1]!].length / 4;
    stack.length = depth;
    const path = (depth > 0 ? stack[depth - 1]! : '') + match[2]!;
    stack.push(path);
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
      if (method !== 'HEAD') routes.push(`${method} ${path.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes.sort();
}

function documentedRoutes(): string[] {
  const routes: string[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of HTTP_METHODS) if (item[method]) routes.push(`${method.toUpperCase()} ${path}`);
  }
  return routes.sort();
}

/**
 * The document's schemas for ajv (JSON Schema 2020-12, as OpenAPI 3.1 uses, with formats): every object schema that
 * lists its properties gets additionalProperties: false here, so an undocumented property in a response fails.
 */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (!schema || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') out[key] = value.replace(/^#\/components\//, 'doc.json#/components/');
    else out[key] = key === 'properties' ? Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, strict(v)])) : strict(value);
  }
  if ('properties' in out && !('additionalProperties' in out)) out.additionalProperties = false;
  return out;
}

const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
ajv.addSchema({ $id: 'doc.json', components: strict(doc.components) as object });

/** The problems ajv finds with `value` against `schema` (a schema of the document). */
function validate(value: unknown, schema: Schema): string[] {
  const check = ajv.compile(strict(schema) as object);
  if (check(value)) return [];
  return (check.errors ?? []).map((e) => `${e.instancePath || '$'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
}

/** The schema of an operation's response body. */
function responseSchema(path: string, method: string, status: string): Schema {
  const response = (doc.paths[path]![method] as { responses: Record<string, Schema> }).responses[status];
  if (!response) throw new Error(`${method.toUpperCase()} ${path} documents no ${status} response`);
  return (response.content as Record<string, { schema: Schema }>)['application/json']!.schema;
}

function expectValid(value: unknown, schema: Schema): void {
  expect(validate(value, schema)).toEqual([]);
}

describe('the OpenAPI document', () => {
  it('is an OpenAPI 3.1.0 document', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.components.schemas)).toEqual(expect.arrayContaining(['Error', 'ErrorBody', 'Video', 'SearchResult', 'Stream', 'Subscription', 'LiveMatch']));
  });

  it('documents every route Fastify registers but the UI files, each with its own schema', () => {
    const registered = registeredRoutes().filter((r) => !UI_FILES.has(r.split(' ')[1]!));
    expect(registered.length).toBeGreaterThan(15);
    expect(registered).toContain('POST /v1/search');
    expect(registered).toContain('DELETE /v1/subscriptions/{id}');
    expect(registeredRoutes()).toContain('GET /main.js');
    const documented = documentedRoutes();
    expect(documented.filter((r) => !registered.includes(r))).toEqual([]);
    expect(registered.filter((r) => !documented.includes(r))).toEqual([]);
    // A route added without a schema would still be listed, with an empty default response: refuse that.
    for (const route of documented) {
      const [method, path] = route.split(' ') as [string, string];
      const operation = doc.paths[path]![method.toLowerCase()] as { summary?: string; tags?: string[]; responses: Record<string, { description: string }> };
      expect(operation.summary, route).toBeTruthy();
      expect(operation.tags?.length, route).toBe(1);
      expect(Object.values(operation.responses).map((r) => r.description), route).not.toContain('Default Response');
    }
  });

  it('documents multipart bodies beside the JSON ones', () => {
    const body = (path: string) => (doc.paths[path]!.post as { requestBody: { content: Record<string, { schema: { $ref: string } }> } }).requestBody.content;
    expect(body('/v1/search')).toEqual({ 'multipart/form-data': { schema: { $ref: '#/components/schemas/SearchForm' } } });
    expect(body('/v1/videos')).toEqual({
      'application/json': { schema: { $ref: '#/components/schemas/IndexPath' } },
      'multipart/form-data': { schema: { $ref: '#/components/schemas/Upload' } },
    });
  });

  it('declares every path parameter, resolves every $ref and names operations uniquely', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const method of HTTP_METHODS) {
        const operation = item[method] as { operationId: string; parameters?: { name: string; in: string }[]; responses: Record<string, unknown> } | undefined;
        if (!operation) continue;
        expect(ids.has(operation.operationId), operation.operationId).toBe(false);
        ids.add(operation.operationId);
        const parameters = [...((item.parameters as { name: string; in: string }[] | undefined) ?? []), ...(operation.parameters ?? [])];
        expect(parameters.filter((p) => p.in === 'path').map((p) => p.name).sort(), `${method} ${path}`).toEqual(names.sort());
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
      }
    }
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(20);
    for (const target of refs) {
      const [, kind, name] = /^#\/components\/(schemas)\/(.+)$/.exec(target) ?? [];
      expect(kind && name && (doc.components as Record<string, Record<string, unknown>>)[kind]![name], target).toBeTruthy();
    }
  });

  it('has the error shape with every code, the security schemes, and /health public', () => {
    const body = doc.components.schemas.ErrorBody!;
    expect([...((body.properties as Record<string, Schema>).code!.enum as string[])].sort()).toEqual(Object.keys(ERROR_STATUS).sort());
    expectValid({ error: { code: 'not-found', message: 'no video 3' } }, { $ref: '#/components/schemas/Error' });
    expect(validate({ error: { code: 'nope', message: 'x' } }, { $ref: '#/components/schemas/Error' })).not.toEqual([]);
    // what the hand-written check let through: formats, lengths, exclusive bounds, undocumented properties
    expect(validate({ id: 'not-a-uuid' }, { type: 'object', properties: { id: { type: 'string', format: 'uuid' } } })).not.toEqual([]);
    expect(validate({ name: 'x'.repeat(201) }, { type: 'object', properties: { name: { type: 'string', maxLength: 200 } } })).not.toEqual([]);
    expect(validate({ interval: 0 }, { type: 'object', properties: { interval: { type: 'number', exclusiveMinimum: 0 } } })).not.toEqual([]);
    expect(validate({ error: { code: 'not-found', message: 'x', extra: 1 } }, { $ref: '#/components/schemas/Error' })).not.toEqual([]);
    expect(doc.components.securitySchemes.bearerToken).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.apiTokenHeader).toMatchObject({ type: 'apiKey', in: 'header', name: 'X-API-Token' });
    expect(doc.security).toEqual([{ bearerToken: [] }, { apiTokenHeader: [] }]);
    expect((doc.paths['/health']!.get as { security: unknown[] }).security).toEqual([]);
    for (const route of documentedRoutes().filter((r) => r.includes('/v1/'))) {
      const [method, path] = route.split(' ') as [string, string];
      expect((doc.paths[path]![method.toLowerCase()] as { security?: unknown }).security, route).toBeUndefined();
    }
  });

  it('describes the WebSocket protocol both ways', () => {
    const ws = doc['x-websocket'];
    expect(ws.path).toBe('/v1/live');
    expect(Object.keys(ws.clientMessages).sort()).toEqual(['ping', 'resume', 'subscribe', 'unsubscribe']);
    expect(Object.keys(ws.serverMessages).sort()).toEqual(['dropped', 'ended', 'error', 'match', 'pong', 'resumed', 'subscribed', 'unsubscribed', 'update']);
    for (const type of ['subscribe', 'resume', 'unsubscribe', 'ping', 'subscribed', 'match', 'ended', 'dropped', 'error']) expect(doc.info.description).toContain(`"${type}"`);
    expectValid({ type: 'error', requestId: 'r1', error: { code: 'bad-box', message: 'box: …' } }, ws.serverMessages.error!);
    expectValid({ type: 'pong' }, ws.serverMessages.pong!);
  });
});

describe('the OpenAPI document against a running service', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('serves /openapi.json only with a token', async () => {
    expect((await fetch(`${server.url}/openapi.json`)).status).toBe(401);
    expect((await fetch(`${server.url}/openapi.json`, { headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetch(`${server.url}/openapi.json?token=${server.token}`)).status).toBe(401);
    const viaHeader = await fetch(`${server.url}/openapi.json`, { headers: { 'x-api-token': server.token } });
    expect(viaHeader.status).toBe(200);
    const response = await server.api('/openapi.json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual(doc);
    expect(await viaHeader.json()).toEqual(doc);
  });

  it('describes what the service actually returns', async () => {
    const check = async (path: string, status: number, docPath = path, method = 'get', init?: RequestInit): Promise<unknown> => {
      const response = await server.api(path, { method: method.toUpperCase(), ...init });
      const body = (await response.json()) as unknown;
      expect(response.status, `${method} ${path}: ${JSON.stringify(body)}`).toBe(status);
      expectValid(body, responseSchema(docPath, method, String(status)));
      return body;
    };
    expectValid(await (await fetch(`${server.url}/health`)).json(), responseSchema('/health', 'get', '200'));
    await check('/ready', 200);

    const form = new FormData();
    form.append('file', new Blob([readFileSync(fixture('moving-object.mp4'))]), 'moving-object.mp4');
    const accepted = (await check('/v1/videos', 202, '/v1/videos', 'post', { body: form })) as { job: { id: number } };
    expect(accepted.job.id).toBe(1);
    const queuedOrRunning = await check('/v1/videos', 200);
    expect((queuedOrRunning as { jobs: unknown[] }).jobs).toHaveLength(1);
    const videoId = await waitFor(
      async () => {
        const list = (await (await server.api('/v1/videos')).json()) as { videos: { id: number; status: string }[] };
        expectValid(list, responseSchema('/v1/videos', 'get', '200'));
        return list.videos[0]?.status === 'ready' ? list.videos[0].id : undefined;
      },
      120_000,
      'the fixture to be indexed',
    );
    await check('/v1/videos', 200);
    await check(`/v1/videos/${videoId}`, 200, '/v1/videos/{id}');
    await check('/v1/videos/999', 404, '/v1/videos/{id}');
    await check('/v1/videos/abc', 400, '/v1/videos/{id}');

    const search = new FormData();
    search.append('image', new Blob([readFileSync(fixture('moving-object-query-scene.png'))]), 'query.png');
    search.append('box', '100,60,120,120');
    search.append('keyframes', 'true');
    const result = (await check('/v1/search', 200, '/v1/search', 'post', { body: search })) as { hits: { keyframes?: unknown[] }[] };
    expect(result.hits.length).toBeGreaterThan(0);
    expect(result.hits[0]!.keyframes?.length).toBeGreaterThan(0);
    const badBox = new FormData();
    badBox.append('image', new Blob([readFileSync(fixture('moving-object-query.png'))]), 'query.png');
    badBox.append('box', '1,2,3');
    await check('/v1/search', 400, '/v1/search', 'post', { body: badBox });

    await check('/v1/streams', 200);
    await check('/v1/streams/1', 404, '/v1/streams/{id}');
    await check('/v1/streams', 400, '/v1/streams', 'post', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: 'file:///etc/passwd' }) });
    await check('/v1/subscriptions', 200);
    await check('/v1/subscriptions/00000000-0000-4000-8000-000000000000', 404, '/v1/subscriptions/{id}', 'delete');
    await check('/v1/regions/999999/thumbnail', 404, '/v1/regions/{id}/thumbnail');
    await check('/v1/tracks/999999/clip', 404, '/v1/tracks/{id}/clip');
    await check(`/v1/videos/${videoId}/clip?start=3&end=1`, 400, '/v1/videos/{id}/clip');
  });
});
