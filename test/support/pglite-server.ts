import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pg from 'pg';

/**
 * A PostgreSQL server for tests: PGlite (PostgreSQL compiled to WebAssembly, pgvector bundled) in memory, served
 * over the wire protocol, so the product's own driver and SQL run unchanged. pgvector is not packaged for Debian 12.
 */
export interface PgliteServer {
  url: string;
  /** one statement on a connection of its own, its rows */
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
  /** drops a DASR index (its tables and track-id sequence), so the next store opened finds none */
  dropIndex(): Promise<void>;
  stop(): Promise<void>;
}

export async function startPgliteServer(): Promise<PgliteServer> {
  const db = await PGlite.create({ extensions: { vector } });
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 16 });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  const query = async <T extends pg.QueryResultRow>(sql: string): Promise<T[]> => {
    const client = new pg.Client(url);
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  };
  return {
    url,
    query,
    async dropIndex() {
      await query('DROP TABLE IF EXISTS regions, tracks, keyframes, video_state, videos, dasr_meta, dasr_subscriptions CASCADE; DROP SEQUENCE IF EXISTS dasr_track_ids');
    },
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
