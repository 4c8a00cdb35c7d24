import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_HOST_POLICY } from '../../src/source/host-policy.js';
import { SECURITY_HEADERS } from '../../src/serve/app.js';
import { startTestServer, type TestServer } from '../support/serve.js';

/** The service as shipped: stream URLs limited to public hosts, security headers on every answer. */
describe('the service\'s network surface', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ hostPolicy: { ...DEFAULT_HOST_POLICY } });
  }, 120_000);
  afterAll(() => server.stop());

  const addStream = (url: string) => server.api('/v1/streams', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url }) });

  it('refuses streams on loopback, private and link-local hosts, and listener modes, the same way whether or not they answer', async () => {
    for (const url of ['rtsp://127.0.0.1:8554/cam', 'rtsp://127.0.0.1:1/cam', 'rtsp://localhost/cam', 'http://169.254.169.254/x.m3u8', 'rtsp://192.168.0.10/cam', 'rtsp://[::1]/cam', 'udp://@:1234']) {
      const response = await addStream(url);
      expect(response.status, url).toBe(400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.message, url).toMatch(url.startsWith('udp') ? /listener modes .* are off/ : /loopback, link-local or private address/);
    }
    expect(await (await server.api('/v1/streams')).json()).toEqual({ streams: [] });
  });

  it('sends the security headers on the UI, the API and errors', async () => {
    for (const [path, status] of [['/', 200], ['/main.js', 200], ['/v1/videos', 200], ['/v1/nothing', 404]] as const) {
      const response = await server.api(path);
      expect(response.status, path).toBe(status);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(response.headers.get(name), `${path} ${name}`).toBe(value);
    }
    const unauthenticated = await fetch(`${server.url}/v1/videos`);
    expect(unauthenticated.status).toBe(401);
    expect(unauthenticated.headers.get('x-frame-options')).toBe('DENY');
  });
});
