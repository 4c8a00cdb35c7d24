import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Files under a data directory (the thumbnail and clip caches left out), with sizes: what a run that must change
 * nothing may not add, remove or grow. The database files are listed without sizes (SQLite may checkpoint its
 * log on a reader's close); compare their content separately.
 */
export function storedFiles(dataDir: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(dataDir, path);
      if (rel === 'thumbnails' || rel === 'clips') continue;
      if (entry.isDirectory()) walk(path);
      else out.push(`${rel} ${/^index\.db/.test(rel) ? '' : statSync(path).size}`);
    }
  };
  walk(dataDir);
  return out.sort();
}
