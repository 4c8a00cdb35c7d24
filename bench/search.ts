import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { VectorIndex, DEFAULT_HNSW_PARAMS } from '../src/index/vector-index.js';
import { gaussian, noisyCopy, regionFeatures, StreamingExactTop10 } from './collection.js';
import { median, mib, quantile } from './stats.js';

const DIM = 2048;
const QUERIES = 100;
const BATCH = 1000;
/** The shipped photos and fixture frames whose regions seed the synthetic collection. */
const SEED_IMAGES = ['photos/chelsea.png', 'photos/coffee.png', 'videos/moving-object-query-scene.png', 'videos/moving-object-query.png'];

/**
 * HNSW search latency and recall@10 against exact search, on collections made of real DASR features repeated
 * with small noise. `npm run bench -- search [sizes] [noise] [efConstruction] [efSearch]`, sizes comma-separated (default
 * 100000). The exact answers are computed while inserting, so memory growth is the index's own.
 */
export async function run(args: string[]): Promise<void> {
  const sizes = (args[0] ?? '100000').split(',').map(Number);
  const noise = Number(args[1] ?? 0.3);
  const efConstruction = Number(args[2] ?? DEFAULT_HNSW_PARAMS.efConstruction);
  const efSearch = Number(args[3] ?? DEFAULT_HNSW_PARAMS.efSearch);
  const seeds = await regionFeatures(SEED_IMAGES.map((file) => fileURLToPath(new URL(`../fixtures/${file}`, import.meta.url))));
  process.stdout.write(`${seeds.length} real region features as seeds; copies with noise ${noise} (norm) renormalised; HNSW M=${DEFAULT_HNSW_PARAMS.m}, efConstruction=${efConstruction}, efSearch=${efSearch}\n`);
  for (const size of sizes) {
    const random = gaussian(size);
    const queries = Array.from({ length: QUERIES }, (_, q) => noisyCopy(seeds[q % seeds.length]!, noise, random));
    const exact = new StreamingExactTop10(queries);
    const index = await VectorIndex.create({ dim: DIM, initialCapacity: size, efConstruction, efSearch });
    const rssBefore = process.memoryUsage().rss;
    let t = performance.now();
    let exactMs = 0;
    for (let start = 0; start < size; start += BATCH) {
      const count = Math.min(BATCH, size - start);
      const batch = new Float32Array(count * DIM);
      for (let i = 0; i < count; i++) batch.set(noisyCopy(seeds[(start + i) % seeds.length]!, noise, random), i * DIM);
      const exactStart = performance.now();
      for (let i = 0; i < count; i++) exact.offer(start + i, batch.subarray(i * DIM, (i + 1) * DIM));
      exactMs += performance.now() - exactStart;
      await index.add(Array.from({ length: count }, (_, i) => start + i), batch, { transfer: true });
      if (start % (BATCH * 10) === 0) process.stderr.write(`\r  inserted ${start + count}/${size}`);
    }
    const insertS = (performance.now() - t - exactMs) / 1000;
    process.stderr.write('\n');
    const latencies: number[] = [];
    let recalled = 0;
    for (const [q, query] of queries.entries()) {
      t = performance.now();
      const hits = await index.search(query, 10);
      latencies.push(performance.now() - t);
      const truth = exact.ids(q);
      recalled += hits.filter((h) => truth.has(h.id)).length;
    }
    const stats = await index.stats();
    const grown = process.memoryUsage().rss - rssBefore;
    process.stdout.write(
      `${size.toLocaleString('en')} vectors: insert ${(size / insertS).toFixed(0)}/s (${insertS.toFixed(0)} s, exact top-10 bookkeeping excluded); query latency median ${median(latencies).toFixed(2)} ms, ` +
        `p99 ${quantile(latencies, 0.99).toFixed(2)} ms; recall@10 ${(recalled / (QUERIES * 10)).toFixed(3)}; ` +
        `process RSS grew ${mib(grown)} (vectors alone ${mib(size * DIM * 4)}), i.e. ${((grown / size) * 1e6 / 2 ** 30).toFixed(1)} GiB per million vectors; ${stats.live} live\n`,
    );
    await index.close();
  }
}
