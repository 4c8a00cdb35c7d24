import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { runDasr } from '../../src/cli/program.js';
import { IndexStore } from '../../src/index/index-store.js';
import { mulberry32, randomUnitVector } from '../support/random.js';
import { fixture } from '../video/fixtures.js';

const DIM = 32;
const dir = mkdtempSync(join(tmpdir(), 'dasr-shots-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `dasr <args>` in this process: exit status and what it wrote on stderr. */
async function dasr(...args: string[]): Promise<{ status: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  try {
    return { status: await runDasr(['node', 'dasr', ...args]), stderr };
  } finally {
    spy.mockRestore();
  }
}

describe('dasr shots learn', () => {
  it("learns from the index's own keyframes and gives each one with regions a shot vector", async () => {
    const data = join(dir, 'index');
    const store = await IndexStore.open(data, { dim: DIM });
    const random = mulberry32(4);
    const video = store.db.addVideo({ path: 'a.mp4', sourceKind: 'file' });
    const keyframes = Array.from({ length: 30 }, (_, i) => ({
      t: i,
      width: 64,
      height: 48,
      regions: Array.from({ length: i % 10 === 9 ? 0 : 3 }, () => ({ box: [0, 0, 10, 10] as [number, number, number, number], score: 1, feature: randomUnitVector(random, DIM), trackId: null })),
    }));
    await store.commit(video.id, keyframes);
    await store.close();

    const run = await dasr('shots', 'learn', '--data', data, '--k', '3', '--local-dims', '8', '--sample', '20');
    expect(run.stderr).toMatch(/learning from 20 of the index's 27 keyframes with regions/);
    expect(run.stderr).toMatch(/learning a VLAD codebook from 60 regions of 20 images: 3 codewords × 8 dimensions/);
    expect(run.stderr).toMatch(/installed: 27 keyframes have 24-d shot vectors/);
    expect(run.status).toBe(0);
    const reopened = await IndexStore.open(data, { access: 'read' });
    expect(reopened.db.shotCount()).toBe(27);
    expect(reopened.shotCodebook).toMatchObject({ k: 3, dim: DIM });
    await reopened.close();
  });

  it('refuses an index with nothing to learn from, and settings its regions cannot support', async () => {
    const empty = await dasr('shots', 'learn', '--data', join(dir, 'empty'));
    expect(empty).toMatchObject({ status: 1 });
    expect(empty.stderr).toMatch(/\ndasr: only 0 regions to learn a shot codebook from: index videos first/);
    const tooWide = await dasr('shots', 'learn', '--data', join(dir, 'index'), '--local-dims', '64');
    expect(tooWide.status).toBe(1);
    expect(tooWide.stderr).toMatch(/local dimensions must be an integer from 1 to 32/);
  });

  it('refuses object-search options with --shot', async () => {
    const run = await dasr('search', '--shot', '--box', '0,0,10,10', '--expand', '2', fixture('moving-object-query.png'), '--data', join(dir, 'index'));
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/--shot searches whole scenes: --box, --expand cannot be used with it/);
  });
});
