/**
 * `npm run bench -- cluster-index [--postgres URL] [--sizes 100000,1000000] [--ef 10,20,40,64,100,200] [--noise x]
 * [--per-sequence n] [--connections n] [--index-after] [--ef-construction n] [--engines hnswlib,pgvector]`: the two
 * vector engines behind the region store on one collection — the embedded index's hnswlib graph (its worker thread,
 * M 16, efConstruction 128) and PostgreSQL + pgvector's HNSW on a `halfvec(2048)` column (the cluster schema's index:
 * cosine, pgvector's defaults M 16, ef_construction 64, or `--ef-construction`). The default search list sizes include
 * the product's: hnswlib 64, pgvector 100.
 *
 * The collection: DASR region features of the shipped photos and of `--per-sequence` frames of every tracks-dev
 * sequence (when ../shared is present) as seeds, each repeated with noise. Reported per engine: the insert rate (rows
 * added one batch at a time into a live index, as ingestion does; with `--index-after`, pgvector's index built once
 * over the loaded rows instead; generating the rows and the exact search are not timed), then for each search list
 * size (hnswlib's ef, pgvector's `hnsw.ef_search`) the query latency p50 / p99 and recall@10 against exact float32
 * search over the whole collection (for pgvector also against its own exact search, a sequential scan over the
 * half-precision vectors it stores), and the memory per million regions (hnswlib: the process's resident growth;
 * PostgreSQL: the table with its TOAST and the HNSW index on disk, which a server must hold in its cache to answer at
 * these latencies). Before the timed queries, one untimed pass of every query reads the index in, as a serving index
 * would have it.
 */
import { performance } from 'node:perf_hooks';
import { cpus } from 'node:os';
import pg from 'pg';
import { VectorIndex } from '../src/index/vector-index.js';
import { halfvecText } from '../src/index/postgres-store.js';
import { gaussian, noisyCopy, regionFeatures, StreamingExactTop10 } from './collection.js';
import { takeOption } from './args.js';
import { benchImages } from './images.js';
import { median, quantile } from './stats.js';

const DIM = 2048;
const QUERIES = 100;
const HNSWLIB_BATCH = 1000;
const POSTGRES_BATCH = 100;
const KNN = 'SELECT id FROM bench_regions ORDER BY feature <=> $1::halfvec LIMIT 10';

interface Collection {
  size: number;
  seeds: readonly Float32Array[];
  noise: number;
}

/** The collection in batches, the same vectors on every call (seeded by its size). */
function* batches(collection: Collection, batchSize: number): Generator<{ start: number; vectors: Float32Array[] }> {
  const random = gaussian(collection.size);
  for (let start = 0; start < collection.size; start += batchSize) {
    const count = Math.min(batchSize, collection.size - start);
    const vectors = Array.from({ length: count }, (_, i) => noisyCopy(collection.seeds[(start + i) % collection.seeds.length]!, collection.noise, random));
    yield { start, vectors };
  }
}

interface EngineRun {
  insertPerS: number;
  gibPerMillion: number;
  /** Per search list size: latencies (ms) and the ids returned, top 10. */
  searches: Map<number, { latencies: number[]; hits: number[][] }>;
  /** the exact top 10 of each query over the vectors as the engine stores them (pgvector: half precision) */
  storedExact?: Set<number>[];
}

function progress(engine: string, done: number, size: number): void {
  process.stderr.write(`\r  ${engine}: ${done}/${size}`);
  if (done === size) process.stderr.write('\n');
}

async function runHnswlib(collection: Collection, queries: readonly Float32Array[], efs: readonly number[]): Promise<EngineRun> {
  // efSearch 10: a search for max(ef, 10) ids walks a list of that size, so its first 10 are the search at ef.
  const index = await VectorIndex.create({ dim: DIM, initialCapacity: collection.size, efSearch: 10 });
  const rssBefore = process.memoryUsage().rss;
  try {
    let insertMs = 0;
    for (const { start, vectors } of batches(collection, HNSWLIB_BATCH)) {
      const packed = new Float32Array(vectors.length * DIM);
      vectors.forEach((v, i) => packed.set(v, i * DIM));
      const t = performance.now();
      await index.add(Array.from({ length: vectors.length }, (_, i) => start + i), packed, { transfer: true });
      insertMs += performance.now() - t;
      progress('hnswlib', start + vectors.length, collection.size);
    }
    const grown = process.memoryUsage().rss - rssBefore;
    const searches = new Map<number, { latencies: number[]; hits: number[][] }>();
    for (const query of queries) await index.search(query, Math.max(...efs));
    for (const ef of efs) {
      const run = { latencies: [] as number[], hits: [] as number[][] };
      for (const query of queries) {
        const t = performance.now();
        const hits = await index.search(query, Math.max(ef, 10));
        run.latencies.push(performance.now() - t);
        run.hits.push(hits.slice(0, 10).map((h) => h.id));
      }
      searches.set(ef, run);
    }
    return { insertPerS: collection.size / (insertMs / 1000), gibPerMillion: ((grown / collection.size) * 1e6) / 2 ** 30, searches };
  } finally {
    await index.close();
  }
}

/**
 * `indexAfter`: the rows loaded first and the HNSW index built over them at the end (CREATE INDEX, in memory within
 * maintenance_work_mem, in parallel), as a first load or a rebuild would; the rate is then rows over load + build.
 */
interface PgvectorSettings {
  url: string;
  /** inserts in flight at a time, as that many committing workers would have */
  connections: number;
  indexAfter: boolean;
  /** the index's build-time list (pgvector's default, the product's: 64) */
  efConstruction: number | undefined;
}

async function runPgvector(settings: PgvectorSettings, collection: Collection, queries: readonly Float32Array[], efs: readonly number[]): Promise<EngineRun> {
  const { url, connections, indexAfter, efConstruction } = settings;
  const pool = new pg.Pool({ connectionString: url, max: connections });
  try {
    await pool.query('CREATE EXTENSION IF NOT EXISTS vector');
    await pool.query('DROP TABLE IF EXISTS bench_regions');
    await pool.query(`CREATE TABLE bench_regions (id bigint PRIMARY KEY, feature halfvec(${DIM}) NOT NULL)`);
    const createIndex = `CREATE INDEX bench_regions_feature ON bench_regions USING hnsw (feature halfvec_cosine_ops)${efConstruction ? ` WITH (ef_construction = ${efConstruction})` : ''}`;
    if (!indexAfter) await pool.query(createIndex);
    // A build in parallel takes its workers from the table's size, which its TOASTed vectors leave small: none. Let it
    // have what the server's max_parallel_maintenance_workers allows.
    else await pool.query(`ALTER TABLE bench_regions SET (parallel_workers = ${Math.max(1, cpus().length - 1)})`);
    const insert = (start: number, vectors: Float32Array[]): Promise<unknown> =>
      pool.query(
        `INSERT INTO bench_regions (id, feature) VALUES ${vectors.map((_, i) => `($${2 * i + 1}, $${2 * i + 2}::halfvec)`).join(', ')}`,
        vectors.flatMap((v, i) => [start + i, halfvecText(v)]),
      );
    let insertMs = 0;
    let pending: { start: number; vectors: Float32Array[] }[] = [];
    const flush = async (): Promise<void> => {
      const t = performance.now();
      await Promise.all(pending.map((b) => insert(b.start, b.vectors)));
      insertMs += performance.now() - t;
      const last = pending[pending.length - 1]!;
      progress('pgvector', last.start + last.vectors.length, collection.size);
      pending = [];
    };
    for (const batch of batches(collection, POSTGRES_BATCH)) {
      pending.push(batch);
      if (pending.length === connections) await flush();
    }
    if (pending.length) await flush();
    if (indexAfter) {
      const t = performance.now();
      await pool.query(createIndex);
      insertMs += performance.now() - t;
    }
    await pool.query('ANALYZE bench_regions');
    const sizes = (await pool.query<{ bytes: string }>(`SELECT pg_table_size('bench_regions') + pg_relation_size('bench_regions_feature') AS bytes`)).rows[0]!;
    const client = await pool.connect();
    const searches = new Map<number, { latencies: number[]; hits: number[][] }>();
    const storedExact: Set<number>[] = [];
    try {
      const search = async (query: Float32Array): Promise<number[]> =>
        (await client.query<{ id: string }>({ name: 'knn', text: KNN, values: [halfvecText(query)] })).rows.map((r) => Number(r.id));
      const plan = await client.query<{ 'QUERY PLAN': string }>({ text: `EXPLAIN ${KNN}`, values: [halfvecText(queries[0]!)] });
      if (!plan.rows.some((row) => row['QUERY PLAN'].includes('bench_regions_feature'))) throw new Error(`PostgreSQL does not search through the HNSW index here:\n${plan.rows.map((row) => row['QUERY PLAN']).join('\n')}`);
      await client.query(`SET hnsw.ef_search = ${Math.max(...efs)}`);
      for (const query of queries) await search(query);
      for (const ef of efs) {
        await client.query(`SET hnsw.ef_search = ${ef}`);
        const run = { latencies: [] as number[], hits: [] as number[][] };
        for (const query of queries) {
          const t = performance.now();
          run.hits.push(await search(query));
          run.latencies.push(performance.now() - t);
        }
        searches.set(ef, run);
      }
      // The same query with the index scan off: a sequential scan, exact on the stored half-precision vectors.
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_indexscan = off');
      for (const query of queries) storedExact.push(new Set((await client.query<{ id: string }>({ text: KNN, values: [halfvecText(query)] })).rows.map((r) => Number(r.id))));
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    return { insertPerS: collection.size / (insertMs / 1000), gibPerMillion: ((Number(sizes.bytes) / collection.size) * 1e6) / 2 ** 30, searches, storedExact };
  } finally {
    await pool.query('DROP TABLE IF EXISTS bench_regions').catch(() => undefined);
    await pool.end();
  }
}


const USAGE =
  'usage: npm run bench -- cluster-index [--postgres postgres://user:password@host/db] [--sizes 100000,1000000] [--ef 10,20,40,64,100,200] ' +
  '[--noise 0.3] [--per-sequence 4] [--connections 2] [--index-after] [--ef-construction n] [--engines hnswlib,pgvector]\n' +
  '(pgvector needs --postgres: a server with pgvector ≥ 0.7, where the benchmark creates and drops the table bench_regions)\n';

export async function run(args: string[]): Promise<void> {
  const url = takeOption(args, '--postgres');
  const sizes = (takeOption(args, '--sizes') ?? '100000').split(',').map(Number);
  const efs = (takeOption(args, '--ef') ?? '10,20,40,64,100,200').split(',').map(Number);
  const noise = Number(takeOption(args, '--noise') ?? 0.3);
  const connections = Number(takeOption(args, '--connections') ?? 2);
  const indexAfter = args.includes('--index-after');
  const efConstruction = takeOption(args, '--ef-construction');
  const engines = (takeOption(args, '--engines') ?? 'hnswlib,pgvector').split(',');
  // Below 10 a search list would return fewer than the 10 results recall is counted on.
  const refused = [
    ...engines.filter((engine) => engine !== 'hnswlib' && engine !== 'pgvector').map((engine) => `no engine ${engine}`),
    ...efs.filter((ef) => !(Number.isInteger(ef) && ef >= 10)).map((ef) => `a search list of ${ef} (10 at least)`),
    ...(engines.includes('pgvector') && !url ? ['pgvector without --postgres'] : []),
    ...(efConstruction !== undefined && !(Number(efConstruction) >= 4) ? [`an ef_construction of ${efConstruction}`] : []),
  ];
  if (refused.length) {
    process.stdout.write(`${refused.join('; ')}\n${USAGE}`);
    return;
  }
  const images = benchImages({ perSequence: Number(takeOption(args, '--per-sequence') ?? 4) });
  const seeds = await regionFeatures(images, (done) => process.stderr.write(`\r  seeds: ${done}/${images.length} images`));
  process.stderr.write('\n');
  process.stdout.write(
    `${seeds.length} DASR region features of ${images.length} images as seeds, each repeated with noise ${noise} (norm) and renormalised; ` +
      `${QUERIES} queries, noisy copies too; recall@10 against exact float32 search; pgvector inserts ${POSTGRES_BATCH} rows per statement on ${connections} connections\n`,
  );
  process.stdout.write('regions | engine | insert/s | GiB per million | ' + efs.map((ef) => `ef ${ef}: p50 / p99 ms, recall@10`).join(' | ') + '\n');
  for (const size of sizes) {
    const collection = { size, seeds, noise };
    const random = gaussian(-size);
    const queries = Array.from({ length: QUERIES }, (_, q) => noisyCopy(seeds[(q * 7919) % seeds.length]!, noise, random));
    const exact = new StreamingExactTop10(queries);
    for (const { start, vectors } of batches(collection, HNSWLIB_BATCH)) vectors.forEach((v, i) => exact.offer(start + i, v));
    for (const engine of engines) {
      const name = engine === 'hnswlib' ? engine : `pgvector${efConstruction ? `, ef_construction ${efConstruction}` : ''}${indexAfter ? ' (index built after the load)' : ''}`;
      const result = engine === 'hnswlib' ? await runHnswlib(collection, queries, efs) : await runPgvector({ url: url!, connections, indexAfter, efConstruction: efConstruction === undefined ? undefined : Number(efConstruction) }, collection, queries, efs);
      const cells = efs.map((ef) => {
        const { latencies, hits } = result.searches.get(ef)!;
        const recall = (truth: (q: number) => Set<number>): string => (hits.reduce((sum, ids, q) => sum + ids.filter((id) => truth(q).has(id)).length, 0) / (QUERIES * 10)).toFixed(3);
        const stored = result.storedExact ? ` (${recall((q) => result.storedExact![q]!)} of the exact search on the stored vectors)` : '';
        return `${median(latencies).toFixed(2)} / ${quantile(latencies, 0.99).toFixed(2)}, ${recall((q) => exact.ids(q))}${stored}`;
      });
      process.stdout.write(`${size.toLocaleString('en')} | ${name} | ${result.insertPerS.toFixed(0)} | ${result.gibPerMillion.toFixed(2)} | ${cells.join(' | ')}\n`);
    }
  }
}
