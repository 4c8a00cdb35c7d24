import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';

/**
 * A PostgreSQL server for tests: PGlite (PostgreSQL compiled to WebAssembly, pgvector bundled) in memory, served
 * over the wire protocol, so the product's own driver and SQL run unchanged. pgvector is not packaged for Debian 12.
 *
 * PGlite is one backend session shared by every connection. `@electric-sql/pglite-socket` interleaves the
 * connections message by message, so one connection's Parse replaces another's unnamed statement between its Parse
 * and Bind ("unnamed prepared statement does not exist": electric-sql/pglite#1046, open). This server hands the
 * session to one connection for a whole batch, up to the Sync or simple Query that ends it, and keeps it with that
 * connection while a transaction it began is open, as a backend of its own would behave.
 */
export interface PgliteServer {
  url: string;
  /** one statement on a connection of its own, its rows */
  query<T extends pg.QueryResultRow>(sql: string): Promise<T[]>;
  /** drops a DASR index (its tables and track-id sequence), so the next store opened finds none */
  dropIndex(): Promise<void>;
  stop(): Promise<void>;
}

const SSL_REQUEST_CODE = 80877103;
const CANCEL_REQUEST_CODE = 80877102;
const PROTOCOL_3 = 196608;
const SYNC = 0x53; // 'S'
const SIMPLE_QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** The shared backend session, lent to one connection at a time. */
class SessionLoan {
  private holder: object | null = null;
  private readonly waiting: Array<{ who: object; lend: () => void }> = [];

  constructor(private readonly db: PGlite) {}

  async borrow(who: object): Promise<void> {
    if (this.holder === null || this.holder === who) {
      this.holder = who;
      return;
    }
    await new Promise<void>((lend) => this.waiting.push({ who, lend }));
  }

  /** A connection inside its own transaction keeps the session: nobody else may run inside that transaction. */
  giveBack(who: object): void {
    if (this.holder !== who || this.db.isInTransaction()) return;
    this.passOn();
  }

  /** A connection that closed: its open transaction is rolled back, its queued turn dropped. */
  async forget(who: object): Promise<void> {
    const queued = this.waiting.findIndex((w) => w.who === who);
    if (queued >= 0) this.waiting.splice(queued, 1);
    if (this.holder !== who) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    this.passOn();
  }

  private passOn(): void {
    const next = this.waiting.shift();
    this.holder = next?.who ?? null;
    next?.lend();
  }
}

/** Splits a connection's bytes into protocol messages; the first message has no type byte. */
function takeMessage(buffered: Buffer, started: boolean): { message: Buffer; kind: 'startup' | 'ssl' | 'cancel' | number } | null {
  if (!started) {
    if (buffered.length < 8) return null;
    const length = buffered.readInt32BE(0);
    if (buffered.length < length) return null;
    const code = buffered.readInt32BE(4);
    const kind = code === SSL_REQUEST_CODE ? 'ssl' : code === CANCEL_REQUEST_CODE ? 'cancel' : code === PROTOCOL_3 ? 'startup' : null;
    if (kind === null) throw new Error(`unsupported start-up code ${code}`);
    return { message: buffered.subarray(0, length), kind };
  }
  if (buffered.length < 5) return null;
  const length = 1 + buffered.readInt32BE(1);
  if (buffered.length < length) return null;
  return { message: buffered.subarray(0, length), kind: buffered[0]! };
}

function serveConnection(socket: net.Socket, db: PGlite, session: SessionLoan): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  let batch: Buffer[] = [];
  let turns = Promise.resolve();

  const runBatch = async (messages: Buffer[]): Promise<void> => {
    await session.borrow(socket);
    try {
      await db.runExclusive(async () => {
        for (const message of messages) {
          await db.execProtocolRawStream(new Uint8Array(message), {
            onRawData: (data) => {
              if (socket.writable) socket.write(data);
            },
          });
        }
      });
    } finally {
      session.giveBack(socket);
    }
  };

  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (let next = takeMessage(buffered, started); next; next = takeMessage(buffered, started)) {
      buffered = buffered.subarray(next.message.length);
      if (next.kind === 'ssl') {
        socket.write('N');
        continue;
      }
      if (next.kind === 'cancel' || next.kind === TERMINATE) {
        socket.end();
        return;
      }
      started = true;
      batch.push(Buffer.from(next.message));
      if (next.kind === 'startup' || next.kind === SYNC || next.kind === SIMPLE_QUERY) {
        const messages = batch;
        batch = [];
        turns = turns.then(() => runBatch(messages)).catch((error: unknown) => {
          socket.destroy(error as Error);
        });
      }
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    turns = turns.then(() => session.forget(socket));
  });
}

export async function startPgliteServer(): Promise<PgliteServer> {
  const db = await PGlite.create({ extensions: { vector } });
  const session = new SessionLoan(db);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    serveConnection(socket, db, session);
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const { port } = server.address() as net.AddressInfo;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
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
      await query('DROP TABLE IF EXISTS regions, tracks, keyframes, video_state, finished_ranges, videos, dasr_meta, dasr_subscriptions CASCADE; DROP SEQUENCE IF EXISTS dasr_track_ids');
    },
    async stop() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await db.close();
    },
  };
}
