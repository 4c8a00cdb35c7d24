/**
 * Where the time of a model's runs goes: ONNX Runtime's own profiler (enableProfiling) around a few runs,
 * summarised per operator type and provider. It answers what a throughput figure cannot: which operators are
 * slow on a device, and which ones ONNX Runtime placed on the cpu. Used by `npm run bench -- profile` and by
 * the device check.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';

/** One event of ONNX Runtime's profile file (Chrome trace format); only the fields read here. */
export interface ProfileEvent {
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string; provider?: string };
}

export interface OperatorTime {
  op: string;
  provider: string;
  /** distinct graph nodes of this type on this provider */
  nodes: number;
  /** kernel executions over all profiled runs */
  calls: number;
  /** kernel time per profiled run, ms */
  msPerRun: number;
}

export interface OperatorProfile {
  runs: number;
  /** wall time per profiled run as JavaScript saw it, ms */
  wallMsPerRun?: number;
  /** each profiled run as the session timed it (model_run events), ms */
  runMs: number[];
  /** kernel time per run by provider, ms; what the kernels leave unexplained is copies, scheduling and gaps */
  kernelMsPerRun: Record<string, number>;
  /** operator types, slowest first */
  operators: OperatorTime[];
  /** the slowest single nodes */
  slowestNodes: { node: string; op: string; provider: string; msPerRun: number }[];
}

const KERNEL_SUFFIX = '_kernel_time';

/** Summarises the events of `runs` runs. Times in the file are microseconds. */
export function summariseProfile(events: ProfileEvent[], runs: number, topNodes = 15): OperatorProfile {
  const perRun = (us: number) => us / 1000 / runs;
  const byOp = new Map<string, { op: string; provider: string; nodes: Set<string>; calls: number; us: number }>();
  const byNode = new Map<string, { op: string; provider: string; us: number }>();
  const kernelUs: Record<string, number> = {};
  const runMs: number[] = [];
  for (const event of events) {
    if (event.cat === 'Session' && event.name === 'model_run') runMs.push(event.dur / 1000);
    if (event.cat !== 'Node' || !event.name.endsWith(KERNEL_SUFFIX)) continue;
    const op = event.args?.op_name ?? '?';
    const provider = (event.args?.provider ?? '?').replace(/ExecutionProvider$/, '');
    const node = event.name.slice(0, -KERNEL_SUFFIX.length);
    const key = `${op}\u0000${provider}`;
    const entry = byOp.get(key) ?? { op, provider, nodes: new Set<string>(), calls: 0, us: 0 };
    entry.nodes.add(node);
    entry.calls++;
    entry.us += event.dur;
    byOp.set(key, entry);
    const perNode = byNode.get(node) ?? { op, provider, us: 0 };
    perNode.us += event.dur;
    byNode.set(node, perNode);
    kernelUs[provider] = (kernelUs[provider] ?? 0) + event.dur;
  }
  return {
    runs,
    runMs,
    kernelMsPerRun: Object.fromEntries(Object.entries(kernelUs).map(([p, us]) => [p, perRun(us)])),
    operators: [...byOp.values()]
      .sort((a, b) => b.us - a.us)
      .map((e) => ({ op: e.op, provider: e.provider, nodes: e.nodes.size, calls: e.calls, msPerRun: perRun(e.us) })),
    slowestNodes: [...byNode.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, topNodes)
      .map(([node, e]) => ({ node, op: e.op, provider: e.provider, msPerRun: perRun(e.us) })),
  };
}

/** The events after the first `count` runs: ONNX Runtime records a run's model_run event when the run ends. */
export function dropFirstRuns(events: ProfileEvent[], count: number): ProfileEvent[] {
  if (count === 0) return events;
  let seen = 0;
  const cut = events.findIndex((event) => event.cat === 'Session' && event.name === 'model_run' && ++seen === count);
  return cut < 0 ? [] : events.slice(cut + 1);
}

/**
 * Profiles `runs` runs cycling through `feeds`. Each feed first runs once in the same session, and those runs
 * are left out of the summary, so what a provider does once per input shape (a GPU's kernel choice, allocator
 * growth) does not count.
 */
export async function profileRuns(model: string, options: ort.InferenceSession.SessionOptions, feeds: Record<string, ort.Tensor>[], runs: number): Promise<OperatorProfile> {
  const dir = await mkdtemp(join(tmpdir(), 'dasr-profile-'));
  try {
    const session = await ort.InferenceSession.create(model, { ...options, enableProfiling: true, profileFilePrefix: join(dir, 'run') });
    try {
      for (const feed of feeds) await session.run(feed);
      const t0 = performance.now();
      for (let k = 0; k < runs; k++) await session.run(feeds[k % feeds.length]!);
      const wallMsPerRun = (performance.now() - t0) / runs;
      session.endProfiling();
      const file = (await readdir(dir)).find((f) => f.endsWith('.json'));
      if (!file) throw new Error(`ONNX Runtime wrote no profile into ${dir}`);
      const events = JSON.parse(await readFile(join(dir, file), 'utf8')) as ProfileEvent[];
      return { ...summariseProfile(dropFirstRuns(events, feeds.length), runs), wallMsPerRun };
    } finally {
      await session.release();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
