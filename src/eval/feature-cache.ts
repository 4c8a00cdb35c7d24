import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Box } from '../detect/box.js';
import type { EvalRegion } from './methods.js';

interface RegionsFile {
  key: string;
  regions: { box: Box; feature: string }[];
}

interface VectorFile {
  key: string;
  feature: string;
}

/**
 * Per-image results of a method (database regions, query vectors), computed once per run and kept in memory, and
 * also on disk when a directory is given so that reruns are cheap. An entry is keyed by the method's cache key
 * (its whole configuration), the image's content (SHA-1 of its bytes), and for query vectors the box: editing an
 * image or changing a setting misses the cache instead of reusing stale numbers, while a copied or re-checked-out
 * dataset, whose files have new modification times, still hits. (A changed model file is not part of the key: clear
 * the directory after regenerating the models.)
 */
export class FeatureCache {
  private readonly memory = new Map<string, unknown>();
  hits = 0;
  misses = 0;

  constructor(readonly dir: string | null = null) {}

  /** The regions `compute` gives for `imagePath` under `methodKey`. */
  async regions(methodKey: string, imagePath: string, compute: () => Promise<EvalRegion[]>): Promise<EvalRegion[]> {
    const key = entryKey('regions', methodKey, imagePath, null);
    return this.cached(methodKey, key, compute, (value) => ({ key, regions: value.map((r) => ({ box: r.box, feature: encode(r.feature) })) }), (json) => {
      const file = json as RegionsFile;
      if (file.key !== key || !Array.isArray(file.regions)) return undefined;
      return file.regions.map((r) => ({ box: r.box, feature: decode(r.feature) }));
    });
  }

  /**
   * The query vector `compute` gives for `box` in `imagePath` under `methodKey`. `view` names how the box was
   * turned into a query when that is not the method's own describe(image, box) (e.g. 'crop': the box cut out and
   * described alone); it is part of the key, and omitting it keeps the keys of plain box queries.
   */
  async vector(methodKey: string, imagePath: string, box: Box | null, compute: () => Promise<Float32Array>, view?: string): Promise<Float32Array> {
    const key = entryKey('vector', methodKey, imagePath, box, view);
    return this.cached(methodKey, key, compute, (value) => ({ key, feature: encode(value) }), (json) => {
      const file = json as VectorFile;
      return file.key === key && typeof file.feature === 'string' ? decode(file.feature) : undefined;
    });
  }

  private async cached<T>(methodKey: string, key: string, compute: () => Promise<T>, toJson: (value: T) => unknown, fromJson: (json: unknown) => T | undefined): Promise<T> {
    if (this.memory.has(key)) {
      this.hits++;
      return this.memory.get(key) as T;
    }
    const path = this.dir ? join(this.dir, methodKey, `${key}.json`) : null;
    if (path) {
      const stored = readJson(path);
      const value = stored === undefined ? undefined : fromJson(stored);
      if (value !== undefined) {
        this.hits++;
        this.memory.set(key, value);
        return value;
      }
    }
    this.misses++;
    const value = await compute();
    this.memory.set(key, value);
    if (path) {
      mkdirSync(join(this.dir!, methodKey), { recursive: true });
      const temp = `${path}.tmp-${process.pid}`;
      writeFileSync(temp, JSON.stringify(toJson(value)));
      renameSync(temp, path);
    }
    return value;
  }
}

function entryKey(kind: 'regions' | 'vector', methodKey: string, imagePath: string, box: Box | null, view?: string): string {
  const fields = { kind, methodKey, content: contentHash(resolve(imagePath)), box, ...(view === undefined ? {} : { view }) };
  return createHash('sha1').update(JSON.stringify(fields)).digest('hex');
}

/** SHA-1 of a file's bytes, read once per path, size and modification time in a process. */
const contentHashes = new Map<string, string>();
function contentHash(path: string): string {
  const stat = statSync(path);
  const known = `${path}\0${stat.size}\0${stat.mtimeMs}`;
  let hash = contentHashes.get(known);
  if (hash === undefined) {
    hash = createHash('sha1').update(readFileSync(path)).digest('hex');
    contentHashes.set(known, hash);
  }
  return hash;
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined; // missing or torn: recompute
  }
}

function encode(v: Float32Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
}

function decode(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
