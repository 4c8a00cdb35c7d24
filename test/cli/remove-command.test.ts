import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { videoFilesDir } from '../../src/cli/index-commands.js';
import { IndexStore } from '../../src/index/index-store.js';
import { createLogger } from '../../src/log.js';
import { recordingDir } from '../../src/record/live-recording.js';
import { clipPrefix } from '../../src/serve/video-files.js';
import { runCli } from '../support/cli.js';

describe('dasr rm', () => {
  it("takes a data directory index's files from it, and a cluster index's only from a directory given", () => {
    expect(videoFilesDir('/srv/dasr', undefined)).toBe('/srv/dasr');
    expect(videoFilesDir('/srv/dasr', '/elsewhere')).toBe('/srv/dasr');
    expect(videoFilesDir('postgres://dasr@db/dasr', undefined)).toBeUndefined();
    expect(videoFilesDir('postgresql://dasr@db/dasr', '/shared/dasr-data')).toBe('/shared/dasr-data');
  });

  const dir = mkdtempSync(join(tmpdir(), 'dasr-rm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('removes a live run with its recordings and cached clips, and leaves the other runs and their files', async () => {
    const store = await IndexStore.open(dir, { dim: 8, logger: createLogger('error') });
    const [gone, kept] = [await store.addVideo({ path: 'rtsp://cam/1', sourceKind: 'live' }), await store.addVideo({ path: 'rtsp://cam/2', sourceKind: 'live' })];
    await store.close();
    mkdirSync(join(dir, 'clips'));
    for (const video of [gone, kept]) {
      mkdirSync(join(recordingDir(dir, video.id), '0'), { recursive: true });
      writeFileSync(join(recordingDir(dir, video.id), '0', 'seg-000000.ts'), 'segment');
      writeFileSync(join(dir, 'clips', `${clipPrefix(video.id)}0123.mp4`), 'clip');
    }
    const removal = await runCli(['rm', String(gone.id), '--data', dir]);
    expect(removal.code, removal.stderr).toBe(0);
    expect(removal.stdout).toBe(`removed video ${gone.id}\n`);
    expect(existsSync(recordingDir(dir, gone.id))).toBe(false);
    expect(existsSync(join(dir, 'clips', `${clipPrefix(gone.id)}0123.mp4`))).toBe(false);
    expect(existsSync(join(recordingDir(dir, kept.id), '0', 'seg-000000.ts'))).toBe(true);
    expect(existsSync(join(dir, 'clips', `${clipPrefix(kept.id)}0123.mp4`))).toBe(true);
    const listing = await runCli(['videos', '--json', '--data', dir]);
    expect(JSON.parse(listing.stdout).map((v: { id: number }) => v.id)).toEqual([kept.id]);
  }, 60_000);
});
