/**
 * `npm run bench -- vector-save [vectors]`: searches while the vector graph is saved (as ingestion does every 30 s).
 * A graph of n random 2048-d vectors (default 20 000: 160 MB on disk); one search every 2 ms during the save.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { VectorIndex } from '../src/index/vector-index.js';
import { mulberry32, randomUnitVector } from '../test/support/random.js';
import { median, quantile } from './stats.js';

const DIM = 2048;

export async function run(args: string[]): Promise<void> {
  const count = Number(args[0] ?? 20_000);
  const dir = mkdtempSync(join(tmpdir(), 'dasr-bench-save-'));
  const index = await VectorIndex.create({ dim: DIM });
  try {
    const random = mulberry32(3);
    let t = performance.now();
    for (let start = 0; start < count; start += 1000) {
      const n = Math.min(1000, count - start);
      const packed = new Float32Array(n * DIM);
      for (let i = 0; i < n; i++) packed.set(randomUnitVector(random, DIM), i * DIM);
      await index.add(Array.from({ length: n }, (_, i) => start + i), packed, { transfer: true });
    }
    process.stdout.write(`${count} vectors of ${DIM} dims added in ${((performance.now() - t) / 1000).toFixed(1)} s\n`);
    const query = randomUnitVector(random, DIM);
    const quiet: number[] = [];
    for (let i = 0; i < 50; i++) {
      t = performance.now();
      await index.search(query, 100);
      quiet.push(performance.now() - t);
    }
    const during: number[] = [];
    const file = join(dir, 'graph.hnsw');
    let saving = true;
    t = performance.now();
    const save = index.save(file).then(() => (saving = false));
    while (saving) {
      const started = performance.now();
      await index.search(query, 100);
      during.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await save;
    const saveMs = performance.now() - t;
    process.stdout.write(`save: ${(statSync(file).size / 2 ** 20).toFixed(0)} MiB in ${saveMs.toFixed(0)} ms\n`);
    process.stdout.write(`search (top 100), quiet: median ${median(quiet).toFixed(1)} ms, p99 ${quantile(quiet, 0.99).toFixed(1)} ms\n`);
    process.stdout.write(`search during the save: ${during.length} searches, median ${median(during).toFixed(1)} ms, p99 ${quantile(during, 0.99).toFixed(1)} ms, max ${Math.max(...during).toFixed(1)} ms\n`);
  } finally {
    await index.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
