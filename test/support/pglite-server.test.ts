import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import net from 'node:net';
import { startPgliteServer } from './pglite-server.js';
import type { TestPostgres } from './test-postgres.js';

const int16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const cString = (s: string): Buffer => Buffer.from(`${s}\0`);
const message = (type: string, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), int32(4 + body.length), body]);
};

/** A client speaking the wire protocol by hand, to send an extended-protocol batch in two halves as drivers may. */
class RawConnection {
  private buffered = Buffer.alloc(0);
  private rows: string[][] = [];
  private errors: string[] = [];
  private ready: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk) => this.read(chunk));
  }

  static async open(url: string): Promise<RawConnection> {
    const { hostname, port } = new URL(url);
    const socket = net.connect(Number(port), hostname);
    await new Promise((connected) => socket.once('connect', connected));
    const connection = new RawConnection(socket);
    const params = Buffer.concat([cString('user'), cString('postgres'), cString('database'), cString('postgres'), Buffer.from([0])]);
    socket.write(Buffer.concat([int32(8 + params.length), int32(196608), params]));
    await connection.untilReady();
    return connection;
  }

  send(...messages: Buffer[]): void {
    this.socket.write(Buffer.concat(messages));
  }

  /** what the server answered up to its next ReadyForQuery: data rows and error messages */
  async untilReady(): Promise<{ rows: string[][]; errors: string[] }> {
    await new Promise<void>((ready) => (this.ready = ready));
    const answered = { rows: this.rows, errors: this.errors };
    this.rows = [];
    this.errors = [];
    return answered;
  }

  close(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    while (this.buffered.length >= 5 && this.buffered.length >= 1 + this.buffered.readInt32BE(1)) {
      const type = String.fromCharCode(this.buffered[0]!);
      const body = this.buffered.subarray(5, 1 + this.buffered.readInt32BE(1));
      this.buffered = this.buffered.subarray(1 + this.buffered.readInt32BE(1));
      if (type === 'D') this.rows.push(dataRow(body));
      if (type === 'E') this.errors.push(body.toString('utf8'));
      if (type === 'Z') this.ready?.();
    }
  }
}

function dataRow(body: Buffer): string[] {
  const values: string[] = [];
  let at = 2;
  for (let column = 0; column < body.readInt16BE(0); column++) {
    const length = body.readInt32BE(at);
    values.push(body.subarray(at + 4, at + 4 + length).toString('utf8'));
    at += 4 + length;
  }
  return values;
}

/** The test PostgreSQL must behave like one backend per connection, or cluster tests fail at random. */
describe('PGlite test server', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await startPgliteServer();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("keeps one connection's unnamed statement from another's queries until its Sync", async () => {
    const a = await RawConnection.open(server.url);
    const b = new pg.Client(server.url);
    await b.connect();
    try {
      a.send(message('P', cString(''), cString("SELECT 'from a' AS who"), int16(0)));
      await new Promise((r) => setTimeout(r, 50));
      // A backend of its own would keep a's statement: b's Parse must not replace it.
      expect((await b.query<{ who: string }>('SELECT $1::text AS who', ['from b'])).rows).toEqual([{ who: 'from b' }]);
      a.send(message('B', cString(''), cString(''), int16(0), int16(0), int16(0)), message('E', cString(''), int32(0)), message('S'));
      expect(await a.untilReady()).toEqual({ rows: [['from a']], errors: [] });
    } finally {
      a.close();
      await b.end();
    }
  });

  it('runs a transaction of one connection without statements of another inside it, and rolls back one left open', async () => {
    await server.query('CREATE TABLE loans (n int)');
    const a = new pg.Client(server.url);
    const b = new pg.Client(server.url);
    await Promise.all([a.connect(), b.connect()]);
    try {
      await a.query('BEGIN');
      await a.query('INSERT INTO loans VALUES (1)');
      const fromB = b.query<{ count: string }>('SELECT count(*) FROM loans');
      await a.query('INSERT INTO loans VALUES (2)');
      await a.query('COMMIT');
      // b waited for a's transaction: it sees both rows or (had it run first) none, never one.
      expect((await fromB).rows[0]!.count).toBe('2');

      await b.query('BEGIN');
      await b.query('INSERT INTO loans VALUES (3)');
      await b.end();
      expect(await server.query<{ count: string }>('SELECT count(*) FROM loans')).toEqual([{ count: '2' }]);
    } finally {
      await a.end();
    }
  });
});
