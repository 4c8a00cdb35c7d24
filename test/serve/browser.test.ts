/**
 * The web UI in a real browser against the real service: index the moving-object fixture through the API, then
 * in Chromium pick the scene image, drag a box around the object on the canvas, search, and check the cards,
 * the request the page sent, and the clip player; then search with two views of the object, add a live camera in
 * the streams tab and get a live match in the live tab; and find similar shots with a whole frame. Leaves
 * screenshots in test-output/ (browser-search.png, browser-player.png, browser-shots.png, browser-streams.png,
 * browser-live.png; docs/ keeps copies).
 *
 * Needs the system Chromium at /usr/bin/chromium (`apt-get install chromium`); no browser is downloaded.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startTestServer, waitFor, type TestServer } from '../support/serve.js';
import { fixture, manifest } from '../video/fixtures.js';
import { LivePublisher } from '../support/live-publisher.js';
import sharp from 'sharp';
import { grabFrame } from '../../src/clip/frame-grab.js';

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = resolve('test-output');
const SCENE = manifest.files['moving-object-query-scene.png'];
const MOVING = manifest.files['moving-object.mp4'] as (typeof manifest.files)['moving-object.mp4'] & { object: { visibleTime: { from: number; to: number } } };

/** The value of a text field of a multipart/form-data body. */
function multipartField(body: Buffer, contentType: string, name: string): string | undefined {
  const boundary = /boundary=(?:"([^"]+)"|([^;]+))/.exec(contentType);
  if (!boundary) return undefined;
  const text = body.toString('latin1');
  for (const part of text.split(`--${boundary[1] ?? boundary[2]}`)) {
    const [head, ...rest] = part.split('\r\n\r\n');
    if (head && new RegExp(`name="${name}"(?:;|\\r\\n|$)`).test(head) && !/filename=/.test(head)) return rest.join('\r\n\r\n').replace(/\r\n$/, '');
  }
  return undefined;
}

/** Page coordinates of an image pixel on the query canvas (which is displayed scaled). */
async function canvasPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const rect = (await page.getByTestId('query-canvas').boundingBox())!;
  return { x: rect.x + (x / SCENE.width) * rect.width, y: rect.y + (y / SCENE.height) * rect.height };
}

/** A desktop-sized page that collects page errors and console errors (a CSP violation is one). */
async function openPage(browser: Browser): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
  return { context, page, problems };
}

describe('web UI in Chromium', () => {
  let server: TestServer;
  let browser: Browser | undefined;
  let videoId: number;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`the browser test needs Chromium at ${CHROMIUM}: install it with \`apt-get install chromium\` (no browser is downloaded)`);
    }
    // The default long side (512): boxes of the fixture object are accurate there, so the screenshot shows them.
    server = await startTestServer({ detector: { backbone: {}, config: { maxPeaks: 8 }, logLevel: 'error' } });
    const form = new FormData();
    form.append('file', new Blob([readFileSync(fixture('moving-object.mp4'))], { type: 'video/mp4' }), 'moving-object.mp4');
    const response = await server.api('/v1/videos', { method: 'POST', body: form });
    expect(response.status).toBe(202);
    videoId = await waitFor(
      async () => {
        const { videos, jobs } = (await (await server.api('/v1/videos')).json()) as { videos: { id: number; status: string }[]; jobs: { state: string; error: string | null }[] };
        const failed = jobs.find((j) => j.state === 'failed');
        if (failed) throw new Error(`indexing failed: ${failed.error}`);
        return videos.find((v) => v.status === 'ready')?.id;
      },
      180_000,
      'the fixture video to be indexed',
    );
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('searches with a box drawn on the query image and shows the object\'s track with its thumbnail and clip', async () => {
    const { context, page, problems } = await openPage(browser!);
    const searches: { body: Buffer; contentType: string }[] = [];
    await page.route('**/v1/search', async (route) => {
      const request = route.request();
      searches.push({ body: request.postDataBuffer() ?? Buffer.alloc(0), contentType: (await request.allHeaders())['content-type'] ?? '' });
      await route.continue();
    });

    const opened = await page.goto(`${server.url}/#token=${server.token}`);
    // under its Content-Security-Policy (a violation would be a console error, failing the test below)
    expect(opened!.headers()['content-security-policy']).toContain("script-src 'self'");
    // the token is taken from the address, remembered, and removed from the address bar
    await expect.poll(() => page.evaluate('location.hash')).toBe('');
    expect(await page.evaluate("localStorage.getItem('dasr.token')")).toBe(server.token);
    // the videos view lists the indexed video
    await page.getByTestId('tab-videos').click();
    await page.locator(`[data-testid="video-row"][data-video="${videoId}"][data-status="ready"]`).waitFor({ timeout: 10_000 });
    await page.getByTestId('tab-results').click();

    await page.getByTestId('query-file').setInputFiles(fixture('moving-object-query-scene.png'));
    const canvas = page.getByTestId('query-canvas');
    await canvas.waitFor({ state: 'visible' });
    const rect = (await canvas.boundingBox())!;
    // the canvas is shown larger than the 320×240 image: the UI must scale the box back to image pixels
    expect(rect.width).toBeGreaterThan(SCENE.width);

    const target = SCENE.box;
    const from = await canvasPoint(page, target.x, target.y);
    const to = await canvasPoint(page, target.x + target.w, target.y + target.h);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 5 });
    await page.mouse.move(to.x, to.y, { steps: 5 });
    await page.mouse.up();
    const shownBox = (await page.getByTestId('box-info').getAttribute('data-box'))!.split(',').map(Number);
    expect(shownBox).toHaveLength(4);

    const response = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/search', { timeout: 60_000 });
    await page.getByTestId('search-button').click();
    const answer = (await (await response).json()) as { query: { width: number; height: number; box: number[] }; hits: unknown[] };
    const firstCard = page.getByTestId('result-card').first();
    await firstCard.waitFor({ timeout: 60_000 });
    // (page functions are strings: the test project's TypeScript has no DOM types)
    // (polled through page.evaluate: waitForFunction evaluates its string in the page, which the UI's CSP forbids)
    await expect
      .poll(() => page.evaluate(`(() => {
        const img = document.querySelector('[data-testid="result-card"] img[data-testid="result-thumbnail"]');
        return img !== null && img.complete && img.naturalWidth > 0;
      })()`), { timeout: 60_000 })
      .toBe(true);

    // the request carried the drawn box, in the image's pixels (x,y,w,h), within a few pixels (page.route sees the
    // text fields of a multipart body; page.on('request') gets no body at all when the form holds a Blob)
    expect(searches).toHaveLength(1);
    const boxField = multipartField(searches[0]!.body, searches[0]!.contentType, 'box');
    expect(boxField, 'the search request has a box field').toBeDefined();
    const sent = boxField!.split(',').map(Number);
    expect(sent).toEqual(shownBox);
    const expected = [target.x, target.y, target.w, target.h];
    for (let i = 0; i < 4; i++) expect(Math.abs(sent[i]! - expected[i]!), `box[${i}] = ${sent[i]} vs ${expected[i]}`).toBeLessThanOrEqual(3);
    // …and the service read it so ([x1, y1, x2, y2] of the 320×240 image)
    expect(answer.query).toMatchObject({ width: SCENE.width, height: SCENE.height, box: [sent[0], sent[1], sent[0]! + sent[2]!, sent[1]! + sent[3]!] });

    // the first hit is the object's track in the indexed video, spanning the time the object is visible
    const visible = MOVING.object.visibleTime;
    const first: Record<string, string | null> = {};
    for (const key of ['video', 'start', 'end', 'best']) first[key] = await firstCard.getAttribute(`data-${key}`);
    expect(Number(first.video)).toBe(videoId);
    expect(Number(first.start)).toBeLessThanOrEqual(visible.from + 1e-3);
    expect(Number(first.end)).toBeGreaterThanOrEqual(visible.to - 1e-3);
    expect(Number(first.best)).toBeGreaterThanOrEqual(visible.from);
    expect(Number(first.best)).toBeLessThanOrEqual(visible.to);
    expect(await firstCard.getByTestId('result-span').textContent()).toMatch(/^00:0\d\.\d – 00:0\d\.\d$/);
    // one timeline per video, with a mark per track
    const timeline = page.locator(`[data-testid="timeline"][data-video="${videoId}"]`);
    await expect.poll(() => timeline.count()).toBe(1);
    expect(await timeline.getByTestId('timeline-mark').count()).toBe(await page.locator(`[data-testid="result-card"][data-video="${videoId}"]`).count());

    mkdirSync(OUTPUT, { recursive: true });
    // the picture once every card's thumbnail is in
    await expect
      .poll(() => page.evaluate(`[...document.querySelectorAll('[data-testid="result-thumbnail"]')].every((img) => img.complete && img.naturalWidth > 0)`), { timeout: 60_000 })
      .toBe(true);
    await page.screenshot({ path: join(OUTPUT, 'browser-search.png'), fullPage: true });

    // a card plays the track's clip: its signed URL straight in the <video>, which streams it with byte ranges
    await firstCard.click();
    await page.getByTestId('player').waitFor({ state: 'visible' });
    await expect
      .poll(() => page.evaluate(`(() => {
        const video = document.querySelector('[data-testid="player-video"]');
        return video !== null && /\\/v1\\/tracks\\/\\d+\\/clip\\?expires=\\d+&sig=/.test(video.src) && video.readyState >= 1 && video.duration > 0;
      })()`), { timeout: 60_000 })
      .toBe(true);
    await page.screenshot({ path: join(OUTPUT, 'browser-player.png') });
    await page.keyboard.press('Escape');
    await page.getByTestId('player').waitFor({ state: 'hidden' });

    // relevance feedback: ✓ on the first card (without playing it), ✗ on the last, then search again with them
    const cards = page.getByTestId('result-card');
    const lastCard = cards.last();
    const rightRegion = await firstCard.getAttribute('data-region');
    const wrongRegion = await lastCard.getAttribute('data-region');
    expect(Number(rightRegion)).toBeGreaterThan(0);
    await firstCard.getByTestId('mark-right').click();
    expect(await page.getByTestId('player').isHidden()).toBe(true);
    expect(await firstCard.getByTestId('mark-right').getAttribute('aria-pressed')).toBe('true');
    if ((await cards.count()) > 1) await lastCard.getByTestId('mark-wrong').click();
    await expect.poll(() => page.getByTestId('feedback-hint').textContent()).toMatch(/marked: search again/);
    const again = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/search', { timeout: 60_000 });
    await page.getByTestId('search-button').click();
    expect((await again).status()).toBe(200);
    expect(searches).toHaveLength(2);
    expect(multipartField(searches[1]!.body, searches[1]!.contentType, 'right')).toBe(rightRegion);
    if (wrongRegion !== rightRegion) expect(multipartField(searches[1]!.body, searches[1]!.contentType, 'wrong')).toBe(wrongRegion);
    await expect.poll(async () => Number(await page.getByTestId('result-card').first().getAttribute('data-video'))).toBe(videoId);

    expect(problems).toEqual([]);
    await context.close();
  }, 240_000);

  it('finds similar shots with the whole image: a frame of the video as the query, its shot with picture and clip', async () => {
    const learned = await server.api('/v1/shots/learn', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(learned.status).toBe(200);
    const frame = await grabFrame(fixture('moving-object.mp4'), 3);
    mkdirSync(OUTPUT, { recursive: true });
    const query = join(OUTPUT, 'shot-query.png');
    await sharp(frame.data, { raw: { width: frame.width, height: frame.height, channels: 3 } }).png().toFile(query);

    const { context, page, problems } = await openPage(browser!);
    await page.goto(`${server.url}/#token=${server.token}`);
    await page.getByTestId('query-file').setInputFiles(query);
    await page.getByTestId('opt-shot').check();
    expect(await page.getByTestId('search-button').textContent()).toBe('Find similar shots');
    const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/shots/search', { timeout: 60_000 });
    await page.getByTestId('search-button').click();
    expect((await answered).status()).toBe(200);
    const first = page.getByTestId('result-card').first();
    await first.waitFor({ timeout: 30_000 });
    expect(Number(await first.getAttribute('data-video'))).toBe(videoId);
    expect(await first.textContent()).toMatch(/shot of \d+ keyframes?/);
    expect(await page.getByTestId('search-status').textContent()).toMatch(/^\d+ shots? in 1 video/);
    // a shot is no object: no ✓ / ✗
    expect(await first.getByTestId('mark-right').count()).toBe(0);
    await expect
      .poll(() => page.evaluate(`[...document.querySelectorAll('[data-testid="result-thumbnail"]')].every((img) => img.complete && img.naturalWidth > 0)`), { timeout: 60_000 })
      .toBe(true);
    await page.screenshot({ path: join(OUTPUT, 'browser-shots.png'), fullPage: true });
    // the card plays the shot's span of the video
    await first.click();
    await expect
      .poll(() => page.evaluate(`(() => {
        const video = document.querySelector('[data-testid="player-video"]');
        return video !== null && /\\/v1\\/videos\\/${videoId}\\/clip\\?start=[\\d.]+&end=[\\d.]+&expires=\\d+&sig=/.test(video.src) && video.readyState >= 1 && video.duration > 0;
      })()`), { timeout: 60_000 })
      .toBe(true);
    await page.keyboard.press('Escape');
    expect(problems).toEqual([]);
    await context.close();
  }, 240_000);

  it('searches with two views of the object, adds a live stream, and pushes a live match with its picture', async () => {
    const publisher = new LivePublisher(fixture('moving-object.mp4'));
    await publisher.start();
    const { context, page, problems } = await openPage(browser!);
    try {
      await page.goto(`${server.url}/#token=${server.token}`);
      // two views of the object: the cut-out crop, then the scene it was cut from; the search sends both
      await page.getByTestId('query-file').setInputFiles(fixture('moving-object-query.png'));
      await page.getByTestId('query-canvas').waitFor({ state: 'visible' });
      await page.getByTestId('query-add-file').setInputFiles(fixture('moving-object-query-scene.png'));
      await expect.poll(() => page.getByTestId('query-view').count()).toBe(2);
      expect(await page.getByTestId('query-view').nth(1).getAttribute('aria-pressed')).toBe('true');
      expect(await page.getByTestId('box-info').textContent()).toMatch(/^View 2 of 2/);
      const bodies: string[] = [];
      await page.route('**/v1/search', async (route) => {
        bodies.push((route.request().postDataBuffer() ?? Buffer.alloc(0)).toString('latin1'));
        await route.continue();
      });
      const answered = page.waitForResponse((r) => new URL(r.url()).pathname === '/v1/search', { timeout: 60_000 });
      await page.getByTestId('search-button').click();
      const response = await answered;
      const body = bodies[0]!;
      expect(body.match(/name="image"/g)).toHaveLength(2);
      expect(body).not.toMatch(/name="box"/);
      const result = (await response.json()) as { examples: number; hits: { video: number }[] };
      expect(result.examples).toBe(2);
      expect(result.hits[0]!.video).toBe(videoId);
      // back to the crop alone for the live subscription
      await page.getByTestId('query-view-remove').nth(1).click();
      await expect.poll(() => page.getByTestId('query-view').count()).toBe(1);

      // the streams tab: add the camera, see it live
      await page.getByTestId('tab-streams').click();
      await page.getByTestId('stream-url').fill(publisher.url);
      await page.getByTestId('stream-name').fill('test camera');
      await page.getByTestId('stream-add').click();
      await page.locator('[data-testid="stream-row"][data-state="live"]').waitFor({ timeout: 60_000 });

      // the live tab: subscribe with the crop; the object crosses the camera's picture every 6 s
      await page.getByTestId('tab-live').click();
      await page.getByTestId('live-threshold').fill('0.6');
      await page.getByTestId('live-subscribe').click();
      await page.getByTestId('subscription').first().waitFor({ timeout: 30_000 });
      const match = page.getByTestId('live-match').first();
      await match.waitFor({ timeout: 90_000 });
      expect(Number(await match.getAttribute('data-score'))).toBeGreaterThanOrEqual(0.6);
      await expect.poll(() => match.getByTestId('live-thumbnail').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), { timeout: 30_000 }).toBeGreaterThan(0);
      await page.screenshot({ path: join(OUTPUT, 'browser-live.png') });
      await page.getByTestId('tab-streams').click();
      await page.screenshot({ path: join(OUTPUT, 'browser-streams.png') });
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await publisher.stop();
    }
  }, 300_000);

  it('says clearly when the token is refused', async () => {
    const context = await browser!.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/#token=not-the-token`);
    const banner = page.getByTestId('banner');
    await banner.waitFor({ state: 'visible', timeout: 10_000 });
    expect(await banner.textContent()).toMatch(/401|refused/i);
    await context.close();
  }, 60_000);
});
