/**
 * `npm run bench -- cluster-storage [rows]`: what a region takes on disk in PostgreSQL + pgvector at 2048, 512 and 256
 * dimensions (`halfvec`): the table (TOAST included) and the HNSW index, per row and per million rows. PGlite's tables
 * and index pages are PostgreSQL's and pgvector's own, so the sizes are those of a server; its times are not.
 */
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { mulberry32, randomUnitVector } from '../test/support/random.js';

export async function run(args: string[]): Promise<void> {
  const rows = Number(args[0] ?? 2000);
  const db = await PGlite.create({ extensions: { vector } });
  try {
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    process.stdout.write(`dimensions | table B/row | HNSW B/row | GiB per million (${rows} random unit rows, halfvec, cosine HNSW with pgvector's defaults)\n`);
    for (const dim of [2048, 512, 256]) {
      await db.exec(`DROP TABLE IF EXISTS regions; CREATE TABLE regions (id bigserial PRIMARY KEY, feature halfvec(${dim}) NOT NULL)`);
      const random = mulberry32(dim);
      for (let i = 0; i < rows; i += 100) {
        const values = Array.from({ length: Math.min(100, rows - i) }, () => `('[${Array.from(randomUnitVector(random, dim)).join(',')}]')`);
        await db.exec(`INSERT INTO regions (feature) VALUES ${values.join(',')}`);
      }
      await db.exec('CREATE INDEX regions_feature ON regions USING hnsw (feature halfvec_cosine_ops)');
      const sizes = (await db.query<{ heap: string; hnsw: string }>(`SELECT pg_table_size('regions') AS heap, pg_relation_size('regions_feature') AS hnsw`)).rows[0]!;
      const heap = Number(sizes.heap) / rows;
      const hnsw = Number(sizes.hnsw) / rows;
      process.stdout.write(`${dim} | ${heap.toFixed(0)} | ${hnsw.toFixed(0)} | ${(((heap + hnsw) * 1e6) / 2 ** 30).toFixed(2)}\n`);
    }
  } finally {
    await db.close();
  }
}
