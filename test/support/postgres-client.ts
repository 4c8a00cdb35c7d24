import pg from 'pg';

/** A PostgreSQL + pgvector server a test or bench uses, with what they do to it. */
export interface TestPostgres {
  url: string;
  /** one statement on a connection of its own, its rows */
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
  /** drops a DASR index (its tables and track-id sequence), so the next store opened finds none */
  dropIndex(): Promise<void>;
  stop(): Promise<void>;
}

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
