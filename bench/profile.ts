import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DEFAULT_TOPDOWN_LEVEL, ensureModels, TOPDOWN_LEVELS, type TopDownLevel } from '../src/model/provision.js';

interface OpRow {
  op: string;
  ms: number;
}

/** Per-operator-type time of one run, from ONNX Runtime's own profiler (the last of `repeats` runs). */
async function profile(model: string, feeds: () => Record<string, ort.Tensor>, repeats: number): Promise<{ rows: OpRow[]; wallMs: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'dasr-profile-'));
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    interOpNumThreads: 1,
    extra: { session: { intra_op: { allow_spinning: '0' } } },
    enableProfiling: true,
    profileFilePrefix: join(dir, 'run'),
  });
  let wallMs = 0;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await session.run(feeds());
    wallMs = performance.now() - t;
  }
  session.endProfiling();
  await session.release();
  const file = (await readdir(dir)).find((f) => f.endsWith('.json'));
  if (!file) throw new Error('ONNX Runtime wrote no profile');
  const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as { cat: string; name: string; dur: number; args?: { op_name?: string } }[];
  await rm(dir, { recursive: true, force: true });
  // Node events of the last run only: the profile holds every run, each op once per run.
  const nodeEvents = events.filter((e) => e.cat === 'Node' && e.name.endsWith('_kernel_time'));
  const perRun = nodeEvents.slice(nodeEvents.length - nodeEvents.length / repeats);
  const byOp = new Map<string, number>();
  for (const e of perRun) byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur / 1000);
  return { rows: [...byOp].map(([op, ms]) => ({ op, ms })).sort((a, b) => b.ms - a.ms), wallMs };
}

function printTable(title: string, rows: OpRow[], wallMs: number): void {
  const total = rows.reduce((s, r) => s + r.ms, 0);
  process.stdout.write(`\n${title}: wall ${wallMs.toFixed(0)} ms, operators ${total.toFixed(0)} ms\n| op type | ms | share |\n|---|---|---|\n`);
  for (const r of rows.filter((r) => r.ms / total >= 0.005)) process.stdout.write(`| ${r.op} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / total).toFixed(1)} % |\n`);
}

/**
 * `npm run bench -- profile [level] [peaks…]`: where the time goes, per ONNX operator type, for the plain forward
 * and the DASR model of a top-down level (default: the product's) at 512×341 and 512×288 with 1, 4 and 8 peaks.
 * The image is a deterministic texture whose response map has more than 8 peaks, so max_peaks sets K.
 */
export async function run(args: string[]): Promise<void> {
  const level = (TOPDOWN_LEVELS as string[]).includes(args[0] ?? '') ? (args.shift() as TopDownLevel) : DEFAULT_TOPDOWN_LEVEL;
  const peakCounts = args.length ? args.map(Number) : [1, 4, 8];
  const paths = await ensureModels({ topDown: level });
  for (const [width, height] of [[512, 341], [512, 288]] as const) {
    const image = () => new ort.Tensor('float32', Float32Array.from({ length: 3 * width * height }, (_, i) => ((i * 7919) % 255) - 120), [1, 3, height, width]);
    const forward = await profile(paths.backbone, () => ({ image: image() }), 3);
    printTable(`forward ${width}×${height}`, forward.rows, forward.wallMs);
    for (const k of peakCounts) {
      const feeds = () => ({
        image: image(),
        max_peaks: new ort.Tensor('int64', BigInt64Array.of(BigInt(k)), [1]),
        above_mean: new ort.Tensor('bool', Uint8Array.of(0), [1]),
      });
      const dasr = await profile(paths.dasr, feeds, 2);
      printTable(`DASR model (top-down to ${level}) ${width}×${height}, max ${k} peaks`, dasr.rows, dasr.wallMs);
    }
  }
}
