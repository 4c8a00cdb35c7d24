import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { DetectorThread } from '../../src/detect/detector-thread.js';
import { Dasr } from '../../src/detect/dasr.js';
import { Backbone } from '../../src/model/backbone.js';
import { decodeImage, type DecodedImage } from '../../src/image/load.js';
import { createLogger } from '../../src/log.js';

const photo = fileURLToPath(new URL('../../fixtures/photos/coffee.png', import.meta.url));

describe('DASR in a worker thread', () => {
  let thread: DetectorThread;
  let image: DecodedImage;
  beforeAll(async () => {
    thread = await DetectorThread.start({ backbone: {}, config: { longSide: 256 }, logLevel: 'error' });
    image = await decodeImage(photo);
  });
  afterAll(() => thread.close());

  it('gives the same regions and descriptors as DASR on the main thread', async () => {
    const local = new Dasr(await Backbone.load({ logger: createLogger('error') }), { longSide: 256 });
    const [remote, here] = [await thread.detect(image), await local.detect(image)];
    expect(remote.regions.map((r) => r.box)).toEqual(here.regions.map((r) => r.box));
    expect(remote.regions.map((r) => Array.from(r.feature))).toEqual(here.regions.map((r) => Array.from(r.feature)));
    expect(Array.from(await thread.describe(image, [100, 50, 400, 300]))).toEqual(Array.from(await local.describe(image, [100, 50, 400, 300])));
    expect(thread.config).toEqual(local.config);
    expect(thread.device).toBe('cpu');
  });

  it('keeps the event loop free while it infers', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    await thread.detect(image);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // On the main thread this loop would tick once at most; here it keeps ticking through the inference.
    expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 5 / 4));
  });

  it('passes typed errors back with their code, and keeps working after one', async () => {
    await expect(thread.describe(image, [5000, 5000, 5100, 5100])).rejects.toMatchObject({ name: 'DasrInputError', code: 'box-outside-image' });
    await expect(thread.detect({ width: 10, height: 10, data: Buffer.alloc(300) })).rejects.toMatchObject({ code: 'too-small' });
    expect((await thread.detect(image)).regions.length).toBeGreaterThan(0);
  });
});
