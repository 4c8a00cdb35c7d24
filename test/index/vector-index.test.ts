import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VectorIndex } from '../../src/index/vector-index.js';
import { mulberry32, randomUnitVector } from '../support/random.js';

const DIM = 32;
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** n seeded random unit vectors, row-major. */
function unitVectors(n: number, seed: number, dim = DIM): Float32Array {
  const random = mulberry32(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) out.set(randomUnitVector(random, dim), i * dim);
  return out;
}

const row = (m: Float32Array, i: number, dim = DIM) => m.slice(i * dim, (i + 1) * dim);

let dir: string;
let open: VectorIndex[] = [];
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'dasr-vec-'));
});
afterEach(async () => {
  await Promise.all(open.map((v) => v.close()));
  open = [];
  rmSync(dir, { recursive: true, force: true });
});

async function create(options: Partial<Parameters<typeof VectorIndex.create>[0]> = {}): Promise<VectorIndex> {
  const index = await VectorIndex.create({ dim: DIM, ...options });
  open.push(index);
  return index;
}

describe('VectorIndex (worker thread, started from TypeScript under vitest)', () => {
  it('finds a stored vector as its own nearest neighbour', async () => {
    const index = await create();
    const n = 300;
    const data = unitVectors(n, 1);
    const ids = Array.from({ length: n }, (_, i) => 1000 + i);
    expect(await index.add(ids, data)).toBe(n);
    expect(await index.size()).toBe(n);
    for (const i of [0, 17, 150, 299]) {
      const hits = await index.search(row(data, i), 5);
      expect(hits).toHaveLength(5);
      expect(hits[0].id).toBe(ids[i]);
      expect(hits[0].similarity).toBeCloseTo(1, 5);
      for (let j = 1; j < hits.length; j++) expect(hits[j].similarity).toBeLessThanOrEqual(hits[j - 1].similarity);
    }
    // k larger than the index returns everything once.
    const all = await index.search(row(data, 3), 10_000);
    expect(new Set(all.map((h) => h.id)).size).toBe(n);
  });

  it('grows its capacity as vectors arrive', async () => {
    const index = await create({ initialCapacity: 4 });
    const data = unitVectors(100, 2);
    for (let i = 0; i < 100; i += 7) {
      const ids = Array.from({ length: Math.min(7, 100 - i) }, (_, j) => i + j + 1);
      await index.add(ids, data.slice(i * DIM, (i + ids.length) * DIM));
    }
    const stats = await index.stats();
    expect(stats.live).toBe(100);
    expect(stats.capacity).toBeGreaterThanOrEqual(100);
    expect((await index.search(row(data, 99), 1))[0].id).toBe(100);
  });

  it('removed ids never come back; re-adding revives them', async () => {
    const index = await create();
    const data = unitVectors(50, 3);
    const ids = Array.from({ length: 50 }, (_, i) => i + 1);
    await index.add(ids, data);
    const gone = ids.filter((id) => id % 3 === 0);
    expect(await index.remove(gone)).toBe(gone.length);
    expect(await index.remove(gone)).toBe(0); // idempotent
    expect(await index.remove([424242])).toBe(0); // unknown id
    expect(await index.size()).toBe(50 - gone.length);
    for (const id of gone) {
      const hits = await index.search(row(data, id - 1), 50);
      expect(hits.map((h) => h.id)).not.toContain(id);
    }
    expect((await index.ids()).sort((a, b) => a - b)).toEqual(ids.filter((id) => id % 3 !== 0));
    expect((await index.ids({ live: false })).length).toBe(50);

    await index.add([3], row(data, 2));
    expect((await index.search(row(data, 2), 1))[0].id).toBe(3);
    expect(await index.size()).toBe(50 - gone.length + 1);

    // New ids reuse the slots of deleted ones (allowReplaceDeleted) without duplicating labels.
    const fresh = unitVectors(5, 4);
    await index.add([101, 102, 103, 104, 105], fresh);
    const live = await index.ids();
    expect(new Set(live).size).toBe(live.length);
    expect(live.length).toBe(await index.size());
    expect((await index.search(row(fresh, 4), 1))[0].id).toBe(105);
  });

  it('updates the vector of an id added twice', async () => {
    const index = await create();
    const data = unitVectors(3, 5);
    await index.add([1, 2], data.slice(0, 2 * DIM));
    await index.add([1], row(data, 2));
    expect(await index.size()).toBe(2);
    expect((await index.search(row(data, 2), 1))[0]).toMatchObject({ id: 1 });
    expect(await index.verify([1], row(data, 2))).toEqual([]);
    expect(await index.verify([1, 2], data.slice(0, 2 * DIM))).toEqual([1]);
  });

  it('restricts a search to allowed ids', async () => {
    const index = await create();
    const data = unitVectors(200, 6);
    await index.add(
      Array.from({ length: 200 }, (_, i) => i),
      data,
    );
    const allowed = [5, 50, 150];
    const hits = await index.search(row(data, 0), 10, { allowIds: allowed });
    expect(hits.map((h) => h.id).sort((a, b) => a - b)).toEqual(allowed);
    expect(await index.search(row(data, 0), 10, { allowIds: [] })).toEqual([]);
    expect(await index.search(row(data, 50), 1, { allowIds: new Set(allowed) })).toMatchObject([{ id: 50 }]);
  });

  it('transfers buffers only when asked, never detaching a query', async () => {
    const index = await create();
    const data = unitVectors(4, 7);
    const query = row(data, 1);
    await index.add([1, 2, 3, 4], data);
    expect(data.length).toBe(4 * DIM); // copied, still usable
    await index.search(query, 1);
    expect(query.length).toBe(DIM);
    const mine = unitVectors(2, 8);
    await index.add([5, 6], mine, { transfer: true });
    expect(mine.length).toBe(0); // detached: it was handed to the worker
    expect(await index.size()).toBe(6);
  });

  it('saves atomically and loads back', async () => {
    const index = await create();
    const data = unitVectors(120, 9);
    const ids = Array.from({ length: 120 }, (_, i) => i + 1);
    await index.add(ids, data);
    await index.remove([7, 8]);
    const file = join(dir, 'v.hnsw');
    await index.save(file);
    await index.save(file); // overwrite
    expect(readFileSync(file).byteLength).toBeGreaterThan(120 * DIM * 4);

    const copy = await create();
    const stats = await copy.load(file);
    expect(stats.live).toBe(118);
    expect((await copy.ids()).sort((a, b) => a - b)).toEqual(ids.filter((id) => id !== 7 && id !== 8));
    expect((await copy.search(row(data, 40), 1))[0].id).toBe(41);
    expect(await copy.verify(ids.slice(10, 20), data.slice(10 * DIM, 20 * DIM))).toEqual([]);
    // Keeps growing after a load.
    await copy.add([500], unitVectors(1, 10));
    expect(await copy.size()).toBe(119);
  });

  it('answers searches while a save writes the graph, and orders changes after it', async () => {
    const dim = 128;
    const index = await create({ dim });
    const vectors = unitVectors(4000, 5, dim);
    await index.add(Array.from({ length: 4000 }, (_, i) => i), vectors);
    const finished: string[] = [];
    const save = index.save(join(dir, 'graph.hnsw')).then(() => finished.push('save'));
    const search = index.search(row(vectors, 7, dim), 1).then((hits) => (finished.push('search'), hits));
    // an add sent after the save waits for it; a search sent after the add sees it
    const fresh = unitVectors(1, 99, dim);
    const add = index.add([50_000], fresh).then(() => finished.push('add'));
    const after = index.search(fresh, 1);
    expect((await search)[0]!.id).toBe(7);
    expect((await after)[0]!.id).toBe(50_000);
    await Promise.all([save, add]);
    // writing and syncing 2 MB outlasts one search: the search came back first
    expect(finished).toEqual(['search', 'save', 'add']);
  });

  it('refuses unreadable files and files of another dimension, keeping its contents', async () => {
    const index = await create();
    const data = unitVectors(20, 11);
    await index.add(
      Array.from({ length: 20 }, (_, i) => i + 1),
      data,
    );
    const file = join(dir, 'v.hnsw');
    await index.save(file);
    const bytes = readFileSync(file);

    writeFileSync(join(dir, 'half.hnsw'), bytes.subarray(0, bytes.length >> 1));
    await expect(index.load(join(dir, 'half.hnsw'))).rejects.toThrow();
    writeFileSync(join(dir, 'tiny.hnsw'), bytes.subarray(0, 10));
    await expect(index.load(join(dir, 'tiny.hnsw'))).rejects.toThrow(/short/);
    await expect(index.load(join(dir, 'absent.hnsw'))).rejects.toThrow();
    expect(await index.size()).toBe(20);

    const wide = await create({ dim: DIM * 2 });
    await expect(wide.load(file)).rejects.toThrow(/32 dims/);
  });

  it('rejects bad input', async () => {
    const index = await create();
    await expect(index.add([1, 2], unitVectors(1, 12))).rejects.toThrow(/ids but/);
    await expect(index.add([-1], unitVectors(1, 12))).rejects.toThrow(/uint32/);
    await expect(index.search(new Float32Array(3), 1)).rejects.toThrow(/dims/);
    expect(await index.search(unitVectors(1, 13), 5)).toEqual([]); // empty index
    await index.close();
    await expect(index.size()).rejects.toThrow(/closed/);
  });
});

describe('VectorIndex from compiled JavaScript', () => {
  it('starts the .js worker next to the compiled module', { timeout: 120_000 }, () => {
    const out = join(dir, 'dist');
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    execFileSync(
      process.execPath,
      [
        tsc,
        '--outDir', out,
        '--rootDir', join(ROOT, 'src'),
        '--module', 'NodeNext',
        '--moduleResolution', 'NodeNext',
        '--target', 'ES2022',
        '--strict',
        '--esModuleInterop',
        '--skipLibCheck',
        '--types', 'node',
        join(ROOT, 'src/index/vector-index.ts'),
      ],
      { cwd: ROOT, stdio: 'pipe' },
    );
    // Resolve hnswlib-node from the project, as an installed dist/ would.
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    mkdirSync(join(dir, 'run'));
    const script = join(dir, 'run', 'check.mjs');
    writeFileSync(
      script,
      `import { VectorIndex } from ${JSON.stringify(join(out, 'index/vector-index.js'))};
       const v = await VectorIndex.create({ dim: 4 });
       await v.add([7, 8], [new Float32Array([1, 0, 0, 0]), new Float32Array([0, 1, 0, 0])]);
       const hits = await v.search(new Float32Array([0, 1, 0, 0]), 1);
       await v.close();
       console.log(JSON.stringify(hits));`,
    );
    // Plain node, no tsx anywhere.
    const result = spawnSync(process.execPath, [script], { cwd: join(dir, 'run'), encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.trim())).toEqual([{ id: 8, similarity: 1 }]);
  });
});
