import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { DetectorThread } from '../src/detect/detector-thread.js';
import { dot, l2Normalize } from '../src/detect/vector.js';
import { decodeImage } from '../src/image/load.js';
import { VectorIndex, DEFAULT_HNSW_PARAMS } from '../src/index/vector-index.js';
import { mulberry32, standardNormal } from '../test/support/random.js';
import { median, mib, quantile } from './stats.js';

const DIM = 2048;
const QUERIES = 100;
const BATCH = 1000;

/** Deterministic standard-normal noise (Box–Muller over seeded mulberry32), so runs are comparable. */
function gaussian(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => standardNormal(uniform);
}

/** Real DASR region features of the shipped photos and fixture frames: the seeds of the synthetic collection. */
async function realFeatures(): Promise<Float32Array[]> {
  const detector = await DetectorThread.start({ backbone: {}, config: {}, logLevel: 'warn' });
  const files = ['photos/chelsea.png', 'photos/coffee.png', 'videos/moving-object-query-scene.png', 'videos/moving-object-query.png'];
  const features: Float32Array[] = [];
  for (const file of files) {
    const detection = await detector.detect(await decodeImage(fileURLToPath(new URL(`../fixtures/${file}`, import.meta.url))));
    features.push(...detection.regions.map((r) => r.feature));
  }
  await detector.close();
  return features;
}

/** Copy k of a seed feature with isotropic noise of norm ~`noise` (then unit length). */
function noisyCopy(seed: Float32Array, noise: number, random: () => number): Float32Array {
  const v = new Float32Array(DIM);
  const scale = noise / Math.sqrt(DIM);
  for (let i = 0; i < DIM; i++) v[i] = seed[i]! + scale * random();
  return l2Normalize(v);
}

/**
 * HNSW search latency and recall@10 against exact search, on collections made of real DASR features repeated
 * with small noise. `npm run bench -- search [sizes] [noise]`, sizes comma-separated (default 100000).
 */
export async function run(args: string[]): Promise<void> {
  const sizes = (args[0] ?? '100000').split(',').map(Number);
  const noise = Number(args[1] ?? 0.3);
  const seeds = await realFeatures();
  process.stdout.write(`${seeds.length} real region features as seeds; copies with noise ${noise} (norm) renormalised; HNSW M=${DEFAULT_HNSW_PARAMS.m}, efConstruction=${DEFAULT_HNSW_PARAMS.efConstruction}, efSearch=${DEFAULT_HNSW_PARAMS.efSearch}\n`);
  for (const size of sizes) {
    const random = gaussian(size);
    const index = await VectorIndex.create({ dim: DIM, initialCapacity: size });
    const all = new Float32Array(size * DIM);
    const heapBefore = process.memoryUsage().rss;
    let t = performance.now();
    for (let start = 0; start < size; start += BATCH) {
      const count = Math.min(BATCH, size - start);
      const batch = new Float32Array(count * DIM);
      for (let i = 0; i < count; i++) batch.set(noisyCopy(seeds[(start + i) % seeds.length]!, noise, random), i * DIM);
      all.set(batch, start * DIM);
      await index.add(Array.from({ length: count }, (_, i) => start + i), batch, { transfer: true });
      if (start % (BATCH * 10) === 0) process.stderr.write(`\r  inserted ${start + count}/${size}`);
    }
    const insertS = (performance.now() - t) / 1000;
    process.stderr.write('\n');
    const queries = Array.from({ length: QUERIES }, (_, q) => noisyCopy(seeds[q % seeds.length]!, noise, random));
    const latencies: number[] = [];
    let recalled = 0;
    for (const query of queries) {
      t = performance.now();
      const hits = await index.search(query, 10);
      latencies.push(performance.now() - t);
      const exact = exactTop10(all, size, query);
      recalled += hits.filter((h) => exact.has(h.id)).length;
    }
    const stats = await index.stats();
    process.stdout.write(
      `${size.toLocaleString('en')} vectors: insert ${(size / insertS).toFixed(0)}/s (${insertS.toFixed(0)} s); query latency median ${median(latencies).toFixed(2)} ms, ` +
        `p99 ${quantile(latencies, 0.99).toFixed(2)} ms; recall@10 ${(recalled / (QUERIES * 10)).toFixed(3)}; ` +
        `process RSS grew ${mib(process.memoryUsage().rss - heapBefore)} (vectors alone ${mib(size * DIM * 4)}, exact-search copy included: ${mib(all.byteLength)}); ${stats.live} live\n`,
    );
    await index.close();
  }
}

function exactTop10(all: Float32Array, size: number, query: Float32Array): Set<number> {
  const scores = new Float32Array(size);
  for (let i = 0; i < size; i++) scores[i] = dot(all.subarray(i * DIM, (i + 1) * DIM), query);
  return new Set(Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!).slice(0, 10));
}
