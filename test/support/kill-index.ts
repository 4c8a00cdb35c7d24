import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DATABASE_FILE } from '../../src/index/database.js';
import { dasrArgv, ROOT } from './cli.js';

/** Keyframes committed so far, read from outside the process as any other reader would. */
export function committedKeyframes(dataDir: string): number {
  const path = join(dataDir, DATABASE_FILE);
  if (!existsSync(path)) return 0;
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT count(*) AS n FROM keyframes').get() as { n: number }).n;
    } finally {
      db.close();
    }
  } catch {
    return 0; // schema not created yet
  }
}

export interface KillPlan {
  /** kill once this many more keyframes are committed than at the start of the run… */
  afterKeyframes: number;
  /** …plus this delay, so the kill lands anywhere in the next keyframe's decode, inference or commit */
  delayMs: number;
}

/**
 * `dasr index` as a real child process; resolves with its exit status or the signal that ended it. `kill` ends it
 * with `signal` (SIGKILL unless said) at the planned moment.
 */
export function runIndex(dataDir: string, args: readonly string[], kill?: KillPlan & { signal?: NodeJS.Signals }): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, dasrArgv([...args, '--data', dataDir]), {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, DASR_LOG_LEVEL: 'warn' },
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    const start = committedKeyframes(dataDir);
    const poll = kill
      ? setInterval(() => {
          if (committedKeyframes(dataDir) < start + kill.afterKeyframes) return;
          clearInterval(poll);
          setTimeout(() => child.kill(kill.signal ?? 'SIGKILL'), kill.delayMs);
        }, 20)
      : undefined;
    child.on('exit', (code, signal) => {
      clearInterval(poll);
      done({ code, signal, stderr });
    });
  });
}
