import { afterAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { IndexStore } from '../../src/index/index-store.js';
import { DataDirectoryLockedError } from '../../src/index/writer-lock.js';
import { createLogger } from '../../src/log.js';
import { mulberry32, randomUnitVector } from '../support/random.js';
import { runCli } from '../support/cli.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const DIM = 8;
const quiet = createLogger('error');

/** A second process holding the directory as its writer until it is killed; resolves once it holds it. */
function holdAsWriter(dir: string): Promise<ChildProcess> {
  const script = `
    import { IndexStore } from ${JSON.stringify(join(ROOT, 'src/index/index-store.ts'))};
    await IndexStore.open(${JSON.stringify(dir)}, { dim: ${DIM}, writer: 'the test holder' });
    process.stdout.write('holding\\n');
    setInterval(() => {}, 1000);`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('holding') && done(child));
    child.on('exit', (code) => fail(new Error(`holder exited ${code}: ${stderr}`)));
  });
}

describe('one writer per data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dasr-lock-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a second writer in this process and in another, naming the holder; readers search beside the writer; a killed writer leaves no lock', async () => {
    // A first writer indexes something, then hands the directory to another process.
    const first = await IndexStore.open(dir, { dim: DIM, logger: quiet, writer: 'first' });
    const videoId = first.db.addVideo({ path: '/v.mp4', sourceKind: 'file', width: 64, height: 64, duration: 1, fps: 1, status: 'ready' }).id;
    const feature = randomUnitVector(mulberry32(3), DIM);
    await first.commit(videoId, [{ t: 0, width: 64, height: 64, regions: [{ box: [0, 0, 8, 8], score: 1, feature, trackId: null }] }]);
    await expect(IndexStore.open(dir, { dim: DIM, logger: quiet })).rejects.toThrow(/being written by first \(pid \d+/);
    await first.close();

    const holder = await holdAsWriter(dir);
    try {
      const refused = await IndexStore.open(dir, { dim: DIM, logger: quiet }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(DataDirectoryLockedError);
      expect((refused as DataDirectoryLockedError).holder).toMatchObject({ pid: holder.pid, command: 'the test holder' });
      // the CLI's writers say so and exit non-zero without touching the index
      const removal = await runCli(['rm', String(videoId), '--data', dir]);
      expect(removal.code).not.toBe(0);
      expect(removal.stderr).toContain(`being written by the test holder (pid ${holder.pid}`);

      const reader = await IndexStore.open(dir, { access: 'read', logger: quiet });
      expect((await reader.search(feature, 1)).map((h) => h.videoId)).toEqual([videoId]);
      await expect(reader.deleteVideo(videoId)).rejects.toThrow(/opened for reading/);
      await reader.close();
      const listing = await runCli(['videos', '--json', '--data', dir]);
      expect(listing.code, listing.stderr).toBe(0);
      expect(JSON.parse(listing.stdout)).toHaveLength(1);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.once('exit', r));
    }
    const after = await IndexStore.open(dir, { dim: DIM, logger: quiet });
    expect(await after.deleteVideo(videoId)).toBe(true);
    await after.close();
  }, 60_000);
});
