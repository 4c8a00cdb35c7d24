import { randomUUID } from 'node:crypto';
import { startPgliteServer } from './pglite-server.js';
import { dropIndexAt, queryOnce, type TestPostgres } from './postgres-client.js';

export type { TestPostgres } from './postgres-client.js';

/** A real PostgreSQL server with pgvector to test against instead of PGlite, when given. */
export const REAL_POSTGRES_URL = process.env.DASR_TEST_POSTGRES || undefined;

async function startDatabase(serverUrl: string): Promise<TestPostgres> {
  const name = `dasr_test_${randomUUID().replaceAll('-', '')}`;
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

/**
 * The PostgreSQL + pgvector server of the cluster tests and benches. By default PGlite served over the wire protocol
 * (pglite-server.ts), since pgvector is not packaged for Debian 12. With DASR_TEST_POSTGRES naming a real server
 * (`postgres://role:password@host/db`, a role that may create databases, pgvector installed), a database of its own
 * there instead, dropped on stop: the same tests then run against a real server, with sessions of their own.
 */
export async function startTestPostgres(): Promise<TestPostgres> {
  return REAL_POSTGRES_URL ? startDatabase(REAL_POSTGRES_URL) : startPgliteServer();
}
