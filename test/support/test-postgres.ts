import pg from 'pg';
import { startPgliteServer } from './pglite-server.js';

/**
 * The PostgreSQL + pgvector server of the cluster tests and benches. By default PGlite served over the wire protocol
 * (pglite-server.ts), since pgvector is not packaged for Debian 12. With DASR_TEST_POSTGRES naming a real server
 * (`postgres://role:password@host/db`, a role that may create databases, pgvector installed), a database of its own
 * there instead, dropped on stop: the same tests then run against a real server, with sessions of their own.
 */
export interface TestPostgres {
  url: string;
  /** one statement on a connection of its own, its rows */
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
  /** drops a DASR index (its tables and track-id sequence), so the next store opened finds none */
  dropIndex(): Promise<void>;
  stop(): Promise<void>;
}

export const REAL_POSTGRES_URL = process.env.DASR_TEST_POSTGRES || undefined;

const DROP_INDEX = 'DROP TABLE IF EXISTS segments, regions, tracks, keyframes, video_state, finished_ranges, videos, dasr_meta, dasr_subscriptions CASCADE; DROP SEQUENCE IF EXISTS dasr_track_ids';

/** One statement on a connection of its own. */
export async function queryOnce<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client(url);
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Drops a DASR index at `url`. */
export async function dropIndexAt(url: string): Promise<void> {
  await queryOnce(url, DROP_INDEX);
}

let databases = 0;

async function startDatabase(serverUrl: string): Promise<TestPostgres> {
  const name = `dasr_test_${process.pid}_${++databases}`;
  await queryOnce(serverUrl, `CREATE DATABASE ${name}`);
  const address = new URL(serverUrl);
  address.pathname = `/${name}`;
  const url = address.toString();
  return {
    url,
    query: (sql) => queryOnce(url, sql),
    dropIndex: () => dropIndexAt(url),
    async stop() {
      await queryOnce(serverUrl, `DROP DATABASE ${name} WITH (FORCE)`);
    },
  };
}

export async function startTestPostgres(): Promise<TestPostgres> {
  return REAL_POSTGRES_URL ? startDatabase(REAL_POSTGRES_URL) : startPgliteServer();
}
