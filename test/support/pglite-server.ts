import net from 'node:net';
import { PGlite } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { dropIndexAt, queryOnce, type TestPostgres } from './postgres-client.js';

const SSL_REQUEST_CODE = 80877103;
const GSSENC_REQUEST_CODE = 80877104;
const CANCEL_REQUEST_CODE = 80877102;
const PROTOCOL_3 = 196608;
const SYNC = 0x53; // 'S'
const SIMPLE_QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** The shared backend session, lent to one connection at a time. */
class SessionLoan {
  private holder: object | null = null;
  private readonly waiting: Array<{ who: object; lend: (lent: boolean) => void }> = [];

  constructor(private readonly db: PGlite) {}

  /** Waits for the session; false when the connection closed meanwhile (its turn was cancelled). */
  async borrow(who: object): Promise<boolean> {
    if (this.holder === null || this.holder === who) {
      this.holder = who;
      return true;
    }
    return new Promise<boolean>((lend) => this.waiting.push({ who, lend }));
  }

  /** A connection inside its own transaction keeps the session: nobody else may run inside that transaction. */
  giveBack(who: object): void {
    if (this.holder !== who || this.db.isInTransaction()) return;
    this.passOn();
  }

  /** A connection that closed loses its place in the queue at once. */
  cancel(who: object): void {
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.who === who) this.waiting.splice(i, 1)[0]!.lend(false);
  }

  /** A connection that closed, its last batch done: the transaction it left open is rolled back, the session passed on. */
  async forget(who: object): Promise<void> {
    if (this.holder !== who) return;
    if (this.db.isInTransaction()) await this.db.exec('ROLLBACK');
    this.passOn();
  }

  private passOn(): void {
    const next = this.waiting.shift();
    this.holder = next?.who ?? null;
    next?.lend(true);
  }
}

type MessageKind = 'startup' | 'ssl' | 'gssenc' | 'cancel' | 'malformed' | number;

/** Splits a connection's bytes into protocol messages; the first message has no type byte. */
function takeMessage(buffered: Buffer, started: boolean): { message: Buffer; kind: MessageKind } | null {
  if (!started) {
    if (buffered.length < 8) return null;
    const length = buffered.readInt32BE(0);
    if (length < 8 || length > 10_000) return { message: buffered, kind: 'malformed' };
    if (buffered.length < length) return null;
    const code = buffered.readInt32BE(4);
    const kinds = new Map<number, MessageKind>([[SSL_REQUEST_CODE, 'ssl'], [GSSENC_REQUEST_CODE, 'gssenc'], [CANCEL_REQUEST_CODE, 'cancel'], [PROTOCOL_3, 'startup']]);
    return { message: buffered.subarray(0, length), kind: kinds.get(code) ?? 'malformed' };
  }
  if (buffered.length < 5) return null;
  const length = 1 + buffered.readInt32BE(1);
  if (length < 5) return { message: buffered, kind: 'malformed' };
  if (buffered.length < length) return null;
  return { message: buffered.subarray(0, length), kind: buffered[0]! };
}

function serveConnection(socket: net.Socket, db: PGlite, session: SessionLoan): void {
  let buffered = Buffer.alloc(0);
  let started = false;
  let closed = false;
  let batch: Buffer[] = [];
  let turns = Promise.resolve();

  const runBatch = async (messages: Buffer[]): Promise<void> => {
    if (closed || !(await session.borrow(socket))) return;
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
  // Turns run one after another; one that fails ends its connection, and none is left rejected (the server may
  // already be stopped when a closed connection's rollback runs).
  const queue = (turn: () => Promise<void>): void => {
    turns = turns.then(turn).catch(() => {
      socket.destroy();
    });
  };

  socket.setNoDelay(true);
  socket.on('data', (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (let next = takeMessage(buffered, started); next; next = takeMessage(buffered, started)) {
      buffered = buffered.subarray(next.message.length);
      if (next.kind === 'ssl' || next.kind === 'gssenc') {
        socket.write('N'); // no encryption: the client goes on in plain text
        continue;
      }
      if (next.kind === 'cancel' || next.kind === 'malformed' || next.kind === TERMINATE) {
        socket.destroy();
        return;
      }
      started = true;
      batch.push(Buffer.from(next.message));
      if (next.kind === 'startup' || next.kind === SYNC || next.kind === SIMPLE_QUERY) {
        const messages = batch;
        batch = [];
        queue(() => runBatch(messages));
      }
    }
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    closed = true;
    session.cancel(socket);
    queue(() => session.forget(socket));
  });
}

/**
 * A PostgreSQL server for tests: PGlite (PostgreSQL compiled to WebAssembly, pgvector bundled) in memory, served
 * over the wire protocol, so the product's own driver and SQL run unchanged. pgvector is not packaged for Debian 12.
 *
 * PGlite is one backend session shared by every connection. `@electric-sql/pglite-socket` interleaves the
 * connections message by message, so one connection's Parse replaces another's unnamed statement between its Parse
 * and Bind ("unnamed prepared statement does not exist": electric-sql/pglite#1046, open). This server hands the
 * session to one connection for a whole batch, up to the Sync or simple Query that ends it, and keeps it with that
 * connection while a transaction it began is open, as a backend of its own would behave.
 *
 * What it cannot give: sessions of their own. Every connection shares PGlite's one session, so an advisory lock
 * taken on one connection is granted to any other too; claims (RegionStore.claim) are not exclusive here.
 */
export async function startPgliteServer(): Promise<TestPostgres> {
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
  return {
    url,
    query: (sql) => queryOnce(url, sql),
    dropIndex: () => dropIndexAt(url),
    async stop() {
      const closed = new Promise<void>((done) => server.close(() => done()));
      for (const socket of sockets) socket.destroy();
      await closed;
      await db.close();
    },
  };
}
