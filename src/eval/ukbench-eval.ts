/**
 * `dasr eval ukbench <dir>`: the UKBench sanity check (Nistér & Stewénius 2006) on a small subset such as
 * ../shared/data/ukbench56. Image k (k-th in file-name order, or the number in its name) belongs to group
 * floor(k / 4). Every image is a query, described as a whole (method.describe(image), the box being the whole
 * image); the database is all the images, the query included, as in the standard protocol; an image's score is the
 * best cosine over its regions (> 0 to be ranked). The N-S score is the mean number of same-group images in the
 * top 4 (the query itself counts when retrieved), 4.0 being perfect.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { dot } from '../detect/vector.js';
import { decodeImage } from '../image/load.js';
import { FeatureCache } from './feature-cache.js';
import { methodRegions, methodVector, type EvalMethod, type EvalRegion } from './methods.js';
import { nsScore, rankByScore } from './metrics.js';
import { countProgress } from './progress.js';
import { formatTable } from './tracks-eval.js';

const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp|tiff?|bmp)$/i;

export interface UkbenchImage {
  file: string;
  group: number;
}

export interface UkbenchRow {
  method: string;
  ns: number;
  /** per query: file and the files of its top 4 */
  perQuery: { file: string; top4: string[]; hits: number }[];
}

export interface UkbenchReport {
  dataset: string;
  images: number;
  groups: number;
  methods: { name: string; settings: Record<string, unknown> }[];
  rows: UkbenchRow[];
}

/**
 * The images of a UKBench directory with their groups: k is the number in the file name (ukbench00012.jpg → 12)
 * when every name has one, otherwise the position in sorted order.
 */
export function ukbenchImages(dir: string): UkbenchImage[] {
  const files = readdirSync(dir).filter((f) => IMAGE_EXTENSIONS.test(f)).sort();
  if (files.length === 0) throw new Error(`${dir} has no images`);
  const numbers = files.map((f) => /(\d+)\.[^.]+$/.exec(f)?.[1]);
  const useNumbers = numbers.every((n) => n !== undefined) && new Set(numbers).size === numbers.length;
  return files.map((file, i) => ({ file, group: Math.floor((useNumbers ? Number(numbers[i]) : i) / 4) }));
}

export interface UkbenchEvalOptions {
  cache?: FeatureCache;
  progress?: (line: string) => void;
}

export async function evaluateUkbench(dir: string, methods: readonly EvalMethod[], options: UkbenchEvalOptions = {}): Promise<UkbenchReport> {
  const images = ukbenchImages(dir);
  const cache = options.cache ?? new FeatureCache(null);
  const write = options.progress ?? (() => undefined);
  const rows: UkbenchRow[] = [];
  for (const method of methods) {
    const progress = countProgress(`[ukbench ${method.name}]`, images.length, write, 'images');
    const database: EvalRegion[][] = [];
    const queries: Float32Array[] = [];
    for (const image of images) {
      const path = join(dir, image.file);
      database.push(await methodRegions(method, cache, path));
      queries.push(await methodVector(method, cache, path, null, async () => method.describe(await decodeImage(path))));
      progress.update(database.length);
    }
    progress.done();
    const rankings = queries.map((query, q) => {
      const scored = database.map((regions, i) => ({
        score: regions.reduce((best, r) => Math.max(best, dot(query, r.feature)), Number.NEGATIVE_INFINITY),
        relevant: images[i]!.group === images[q]!.group,
      }));
      return rankByScore(scored).map((i) => ({ index: i, relevant: scored[i]!.relevant }));
    });
    rows.push({
      method: method.name,
      ns: nsScore(rankings.map((ranking) => ranking.map((r) => r.relevant))),
      perQuery: rankings.map((ranking, q) => ({
        file: images[q]!.file,
        top4: ranking.slice(0, 4).map((r) => images[r.index]!.file),
        hits: ranking.slice(0, 4).filter((r) => r.relevant).length,
      })),
    });
  }
  return {
    dataset: dir,
    images: images.length,
    groups: new Set(images.map((i) => i.group)).size,
    methods: methods.map((m) => ({ name: m.name, settings: m.settings })),
    rows,
  };
}

export function formatUkbenchReport(report: UkbenchReport): string {
  const lines = [`${report.dataset}: ${report.images} images in ${report.groups} groups; N-S score = mean same-group images in the top 4, query included (max 4.00)`];
  for (const m of report.methods) lines.push(`  ${m.name}: ${JSON.stringify(m.settings)}`);
  lines.push('', formatTable(['method', 'N-S'], report.rows.map((r) => [r.method, r.ns.toFixed(3)])));
  return lines.join('\n');
}

export async function ukbenchEvalCommand(methods: readonly EvalMethod[], dir: string, options: { cache?: string; json?: boolean }): Promise<UkbenchReport> {
  const report = await evaluateUkbench(dir, methods, {
    cache: new FeatureCache(options.cache ?? null),
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(options.json ? `${JSON.stringify(report)}\n` : `${formatUkbenchReport(report)}\n`);
  return report;
}
