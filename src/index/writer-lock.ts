import Database from 'better-sqlite3';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** File whose SQLite lock marks the data directory's one writer. */
export const WRITER_LOCK_FILE = 'writer.lock';
/** Who holds it, for the message a second writer gets. */
export const WRITER_FILE = 'writer.json';

export interface WriterInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export class DataDirectoryLockedError extends Error {
  override name = 'DataDirectoryLockedError';
  constructor(
    readonly dataDir: string,
    readonly holder: WriterInfo | undefined,
  ) {
    super(
      `${dataDir} is being written by ${holder ? `${holder.command} (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : 'another process'}: ` +
        'one writer per data directory. Stop it first, or, when it is `dasr serve`, index through its API (POST /v1/videos). ' +
        'Searching, listing and clips read the directory and may run beside it.',
    );
  }
}

/**
 * One writer per data directory: two would keep two vector graphs of one database, save them over each other
 * and collide on track ids. The lock is an exclusive lock on a SQLite file, taken by the operating system (fcntl):
 * it is released when the process ends however it ends, so a kill -9 leaves no stale lock to clean up, and a
 * second writer, in this process or another, is refused at once.
 */
export class WriterLock {
  private constructor(private readonly connection: Database.Database) {}

  /** Takes the directory's writer lock, or throws DataDirectoryLockedError naming the holder. */
  static acquire(dataDir: string, command: string): WriterLock {
    const connection = new Database(join(dataDir, WRITER_LOCK_FILE), { timeout: 0 });
    try {
      connection.pragma('locking_mode = EXCLUSIVE');
      // The first write takes the exclusive lock; EXCLUSIVE locking mode keeps it until the connection closes.
      connection.exec('BEGIN EXCLUSIVE; CREATE TABLE IF NOT EXISTS writer (one INTEGER); COMMIT;');
    } catch (err) {
      connection.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new DataDirectoryLockedError(dataDir, readHolder(dataDir));
      throw err;
    }
    const info: WriterInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
    const path = join(dataDir, WRITER_FILE);
    writeFileSync(`${path}.tmp`, `${JSON.stringify(info)}\n`);
    renameSync(`${path}.tmp`, path);
    return new WriterLock(connection);
  }

  release(): void {
    if (this.connection.open) this.connection.close();
  }
}

function readHolder(dataDir: string): WriterInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, WRITER_FILE), 'utf8')) as WriterInfo;
  } catch {
    return undefined;
  }
}
