/**
 * Persisted subscriptions of a cluster: a table of the shared PostgreSQL, so that every API replica holds them all
 * and a client resumes its subscription on whichever replica it reaches. Descriptors are kept exactly (float32).
 */
import type pg from 'pg';
import { defaultLogger, type Logger } from '../log.js';
import { openPool, transaction } from '../index/postgres-store.js';
import type { SavedSubscription, SubscriptionRecords } from '../serve/subscription-records.js';
import { float32FromLEBytes, float32ToLEBytes } from '../util/float32-bytes.js';

/** Serialises the table's creation across replicas that start together. */
const SCHEMA_LOCK = 0x64617373; // "dass"

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS dasr_subscriptions (
    id         text PRIMARY KEY,
    owner      text NOT NULL,
    vector     bytea NOT NULL,
    threshold  double precision NOT NULL,
    streams    integer[],
    updates    boolean NOT NULL,
    name       text,
    created_at bigint NOT NULL
  )`;

interface SubscriptionRow {
  id: string;
  owner: string;
  vector: Buffer;
  threshold: number;
  streams: number[] | null;
  updates: boolean;
  name: string | null;
  created_at: number;
}

export class PostgresSubscriptionRecords implements SubscriptionRecords {
  private constructor(private readonly pool: pg.Pool) {}

  static async open(url: string, logger: Logger = defaultLogger): Promise<PostgresSubscriptionRecords> {
    const pool = openPool(url, 2, logger);
    try {
      await transaction(pool, async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
        await client.query(SCHEMA);
      });
    } catch (error) {
      await pool.end();
      throw error;
    }
    return new PostgresSubscriptionRecords(pool);
  }

  async ids(): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM dasr_subscriptions');
    return rows.map((row) => row.id);
  }

  async load(ids?: readonly string[]): Promise<SavedSubscription[]> {
    const { rows } = ids
      ? await this.pool.query<SubscriptionRow>('SELECT * FROM dasr_subscriptions WHERE id = ANY($1::text[]) ORDER BY created_at, id', [ids])
      : await this.pool.query<SubscriptionRow>('SELECT * FROM dasr_subscriptions ORDER BY created_at, id');
    return rows.map((row) => ({
      id: row.id,
      owner: row.owner,
      vector: float32FromLEBytes(row.vector),
      threshold: row.threshold,
      streams: row.streams,
      updates: row.updates,
      name: row.name,
      createdAt: row.created_at,
    }));
  }

  async save(s: SavedSubscription): Promise<void> {
    await this.pool.query(
      `INSERT INTO dasr_subscriptions (id, owner, vector, threshold, streams, updates, name, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (id) DO UPDATE SET owner = $2, vector = $3, threshold = $4, streams = $5, updates = $6, name = $7, created_at = $8`,
      [s.id, s.owner, float32ToLEBytes(s.vector), s.threshold, s.streams, s.updates, s.name, s.createdAt],
    );
  }

  async remove(id: string): Promise<void> {
    await this.pool.query('DELETE FROM dasr_subscriptions WHERE id = $1', [id]);
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
