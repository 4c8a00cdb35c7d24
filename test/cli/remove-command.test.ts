import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IndexStore } from '../../src/index/index-store.js';
import { createLogger } from '../../src/log.js';
import { recordingDir } from '../../src/record/live-recording.js';
import { runCli } from '../support/cli.js';

describe('dasr rm', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-rm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('removes a live run with its recordings, and leaves the other runs and their recordings', async () => {
    const store = await IndexStore.open(dir, { dim: 8, logger: createLogger('error') });
    const [gone, kept] = [await store.addVideo({ path: 'rtsp://cam/1', sourceKind: 'live' }), await store.addVideo({ path: 'rtsp://cam/2', sourceKind: 'live' })];
    await store.close();
    for (const video of [gone, kept]) {
      mkdirSync(join(recordingDir(dir, video.id), '0'), { recursive: true });
      writeFileSync(join(recordingDir(dir, video.id), '0', 'seg-000000.ts'), 'segment');
    }
    const removal = await runCli(['rm', String(gone.id), '--data', dir]);
    expect(removal.code, removal.stderr).toBe(0);
    expect(removal.stdout).toBe(`removed video ${gone.id}\n`);
    expect(existsSync(recordingDir(dir, gone.id))).toBe(false);
    expect(existsSync(join(recordingDir(dir, kept.id), '0', 'seg-000000.ts'))).toBe(true);
    const listing = await runCli(['videos', '--json', '--data', dir]);
    expect(JSON.parse(listing.stdout).map((v: { id: number }) => v.id)).toEqual([kept.id]);
  }, 60_000);
});
