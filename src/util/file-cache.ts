import { readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A directory of derived files (clips, thumbnails) kept under a size: the least recently used go first. "Used" is
 * the modification time, which `touch` sets when a file is served (access times are often not kept).
 */
export class FileCache {
  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    if (!(maxBytes >= 0)) throw new RangeError(`maxBytes must be non-negative, got ${maxBytes}`);
  }

  touch(file: string): void {
    const now = new Date();
    try {
      utimesSync(file, now, now);
    } catch {
      // removed meanwhile: nothing to keep fresh
    }
  }

  /** Removes least recently used files until the directory holds at most maxBytes; returns what was removed. */
  evict(keep: readonly string[] = []): string[] {
    let entries: { path: string; size: number; used: number }[];
    try {
      entries = readdirSync(this.dir, { withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => {
          const path = join(this.dir, e.name);
          const stats = statSync(path);
          return { path, size: stats.size, used: stats.mtimeMs };
        });
    } catch {
      return [];
    }
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    const removed: string[] = [];
    entries.sort((a, b) => a.used - b.used || a.path.localeCompare(b.path));
    for (const entry of entries) {
      if (total <= this.maxBytes) break;
      if (keep.includes(entry.path)) continue;
      rmSync(entry.path, { force: true });
      total -= entry.size;
      removed.push(entry.path);
    }
    return removed;
  }
}
