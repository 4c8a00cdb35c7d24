/**
 * The device check's data: what one measuring process records (Measurement), how two measurements of the
 * same images are compared (boxes in pixels, features by cosine), and the merged JSON report. Pure code:
 * no ONNX Runtime, no files, so the comparison and the report's shape are tested on any machine.
 */
import type { OperatorProfile } from '../../src/model/ort-profile.js';
import { iou, type Box } from '../../src/detect/box.js';
import type { DetectionTimings } from '../../src/detect/dasr.js';
import type { Device } from '../../src/model/session.js';

export const REPORT_SCHEMA = 'dasr-device-check/report/1';
export const MEASUREMENT_SCHEMA = 'dasr-device-check/measurement/1';

export interface Tolerances {
  /** Largest allowed difference of any box coordinate, in original image pixels. */
  boxPx: number;
  /** Smallest allowed cosine between a region's feature on the reference and on the subject. */
  minCosine: number;
  /** Two regions are the same region when their boxes overlap at least this much (IoU). */
  matchIou: number;
}

export const DEFAULT_TOLERANCES: Tolerances = { boxPx: 1, minCosine: 0.9999, matchIou: 0.5 };

export interface RegionRecord {
  box: Box;
  score: number;
  peak: [number, number];
  /** float32 little-endian, base64 */
  feature: string;
}

export interface ImageRecord {
  image: string;
  width: number;
  height: number;
  input: { width: number; height: number };
  peaks: number;
  regions: RegionRecord[];
  /** the forward pass's logits for the resized image (float32 little-endian, base64) */
  logits: string;
  top5: number[];
  timings: DetectionTimings;
}

export interface DasrThroughput {
  /** frames in flight at once: `batch` detect() calls started together (Promise.all) on one Backbone */
  batch: number;
  /** two-frame-sizes: keyframes of a 16:9 and a 4:3 video by turns (streams of two aspect ratios sharing a detector) */
  mode: 'concurrent-detect-calls' | 'two-frame-sizes';
  rounds: number;
  frames: number;
  seconds: number;
  framesPerSecond: number;
  /** mean per-frame stage times reported by detect() (forward, top-down, boxes, pooling), ms */
  meanStageMs: DetectionTimings;
}

export interface ForwardThroughput {
  /** images in one [batch, 3, H, W] tensor run through the backbone model (its batch dimension is dynamic) */
  batch: number;
  inputShape: number[];
  runs: number;
  seconds: number;
  passesPerSecond: number;
  imagesPerSecond: number;
}

export interface GpuSnapshot {
  name: string;
  memoryUsedMiB: number;
  memoryTotalMiB: number;
}

export interface GpuMemory {
  /** nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv, as printed, at each point */
  raw: Record<string, string | null>;
  before: GpuSnapshot | null;
  afterLoad: GpuSnapshot | null;
  after: GpuSnapshot | null;
  /** highest memory.used seen by a background nvidia-smi sampling every 200 ms while the process ran */
  peakUsedMiB: number | null;
  /** this process's own use per `nvidia-smi --query-compute-apps` (absent inside some sandboxes) */
  processUsedMiB: number | null;
  unavailable?: string;
}

export interface Measurement {
  schema: typeof MEASUREMENT_SCHEMA;
  variant: string;
  requested: Device;
  /** the provider the sessions really run on (the product falls back to cpu, logged, when a provider fails) */
  device: Device;
  status: 'ok' | 'fell-back' | 'error';
  error?: string;
  warnings: string[];
  ort: { common: string; node: string; backends: { name: string; bundled: boolean }[] };
  process: { pid: number; node: string; threads: number };
  config: { longSide: number; batches: number[]; forwardBatches: number[]; seconds: number; images: string[] };
  loadMs: number | null;
  images: ImageRecord[];
  throughput: { dasr: DasrThroughput[]; forward: ForwardThroughput[]; notes: string[] } | null;
  gpuMemory: GpuMemory | null;
  /** ONNX Runtime's profile of a few DASR runs, when asked for (--profile-runs) */
  profile?: OperatorProfile;
  wallSeconds: number;
}

/** What the orchestrator knows about one child process, whether or not it produced a measurement. */
export interface StepRecord {
  variant: string;
  provider: Device;
  role: 'reference' | 'subject' | 'experiment';
  status: 'ok' | 'fell-back' | 'error' | 'crashed' | 'timed-out' | 'skipped';
  why?: string;
  exitCode?: number | null;
  signal?: string | null;
  seconds?: number;
  logTail?: string;
  gpuBefore?: string | null;
  gpuAfter?: string | null;
  /** error lines ONNX Runtime itself printed (`[E:onnxruntime:...]`), e.g. why a provider library did not load */
  ortErrors?: string[];
}

export interface ImageComparison {
  image: string;
  referenceRegions: number;
  subjectRegions: number;
  matched: number;
  /** largest |coordinate difference| over matched boxes, original pixels (null when nothing matched) */
  maxBoxDiffPx: number | null;
  minCosine: number | null;
  maxScoreRelDiff: number | null;
  logits: { maxAbsDiff: number; cosine: number; top5Equal: boolean } | null;
  pass: boolean;
  problems: string[];
}

export interface Comparison {
  subject: string;
  reference: string;
  tolerances: Tolerances;
  images: ImageComparison[];
  maxBoxDiffPx: number | null;
  minCosine: number | null;
  pass: boolean;
}

export interface RunSummary {
  variant: string;
  requested: Device;
  device: Device | null;
  role: StepRecord['role'];
  status: StepRecord['status'];
  why?: string;
  ortErrors?: string[];
  warnings: string[];
  ort: Measurement['ort'] | null;
  loadMs: number | null;
  throughput: Measurement['throughput'];
  gpuMemory: GpuMemory | null;
  /** nvidia-smi memory query by the orchestrator just before the child started and after it ended */
  gpuAround?: { before: string | null; after: string | null };
  regionsPerImage: Record<string, number>;
  wallSeconds: number | null;
}

export interface DeviceReport {
  schema: typeof REPORT_SCHEMA;
  createdAt: string;
  plan: string;
  host: Record<string, unknown>;
  gpu: Record<string, unknown> | null;
  environment: Record<string, unknown>;
  config: Record<string, unknown>;
  tolerances: Tolerances;
  runs: RunSummary[];
  comparisons: Comparison[];
  summary: {
    referenceOk: boolean;
    /** `variant/provider` of every GPU run that really ran on its provider and matched the reference */
    gpuPassed: string[];
    verdict: string[];
  };
  notes: string[];
}

export function encodeFloats(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
}

export function decodeFloats(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return new Float32Array(copy.buffer, 0, copy.length / 4);
}

export function cosine(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.NaN;
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  if (na === 0 && nb === 0) return 1;
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/**
 * Pairs the subject's regions with the reference's: highest-scored reference region first, each takes the
 * unpaired subject region it overlaps most (IoU ≥ matchIou). Order-independent, so a near-tie in scores that
 * swaps two regions is not a failure, while a region present on one side only is.
 */
export function compareImage(reference: ImageRecord, subject: ImageRecord, tolerances: Tolerances = DEFAULT_TOLERANCES): ImageComparison {
  const problems: string[] = [];
  if (reference.width !== subject.width || reference.height !== subject.height) {
    problems.push(`image sizes differ: ${reference.width}×${reference.height} vs ${subject.width}×${subject.height}`);
  }
  const order = reference.regions.map((_, i) => i).sort((a, b) => reference.regions[b]!.score - reference.regions[a]!.score);
  const taken = new Set<number>();
  let maxBox: number | null = null;
  let minCos: number | null = null;
  let maxScore: number | null = null;
  let matched = 0;
  for (const r of order) {
    const ref = reference.regions[r]!;
    let best = -1;
    let bestIou = -1;
    subject.regions.forEach((candidate, s) => {
      if (taken.has(s)) return;
      const overlap = iou(ref.box, candidate.box);
      if (overlap > bestIou) {
        bestIou = overlap;
        best = s;
      }
    });
    if (best < 0 || bestIou < tolerances.matchIou) {
      problems.push(`reference region ${r} [${ref.box.map((v) => v.toFixed(1)).join(', ')}] has no counterpart (best IoU ${bestIou < 0 ? 'none' : bestIou.toFixed(3)})`);
      continue;
    }
    taken.add(best);
    matched++;
    const sub = subject.regions[best]!;
    const boxDiff = Math.max(...ref.box.map((v, k) => Math.abs(v - sub.box[k]!)));
    const cos = cosine(decodeFloats(ref.feature), decodeFloats(sub.feature));
    const scoreDiff = Math.abs(ref.score - sub.score) / Math.max(Math.abs(ref.score), 1e-12);
    maxBox = Math.max(maxBox ?? 0, boxDiff);
    minCos = Math.min(minCos ?? 1, cos);
    maxScore = Math.max(maxScore ?? 0, scoreDiff);
  }
  const extra = subject.regions.length - taken.size;
  if (extra > 0) problems.push(`${extra} subject region(s) have no counterpart in the reference`);
  if (maxBox !== null && maxBox > tolerances.boxPx) problems.push(`a box moved ${maxBox.toFixed(3)} px (tolerance ${tolerances.boxPx} px)`);
  if (minCos !== null && !(minCos >= tolerances.minCosine)) problems.push(`a feature's cosine is ${minCos.toFixed(6)} (tolerance ≥ ${tolerances.minCosine})`);

  let logits: ImageComparison['logits'] = null;
  if (reference.logits && subject.logits) {
    const a = decodeFloats(reference.logits);
    const b = decodeFloats(subject.logits);
    logits = {
      maxAbsDiff: maxAbsDiff(a, b),
      cosine: cosine(a, b),
      top5Equal: reference.top5.length === subject.top5.length && reference.top5.every((v, i) => v === subject.top5[i]),
    };
  }
  return {
    image: reference.image,
    referenceRegions: reference.regions.length,
    subjectRegions: subject.regions.length,
    matched,
    maxBoxDiffPx: maxBox,
    minCosine: minCos,
    maxScoreRelDiff: maxScore,
    logits,
    pass: problems.length === 0,
    problems,
  };
}

export function compareMeasurements(reference: Measurement, subject: Measurement, tolerances: Tolerances = DEFAULT_TOLERANCES): Comparison {
  const byName = new Map(subject.images.map((image) => [image.image, image]));
  const images = reference.images.map((ref) => {
    const sub = byName.get(ref.image);
    if (sub) return compareImage(ref, sub, tolerances);
    return {
      image: ref.image,
      referenceRegions: ref.regions.length,
      subjectRegions: 0,
      matched: 0,
      maxBoxDiffPx: null,
      minCosine: null,
      maxScoreRelDiff: null,
      logits: null,
      pass: false,
      problems: ['the subject has no result for this image'],
    } satisfies ImageComparison;
  });
  const boxes = images.map((i) => i.maxBoxDiffPx).filter((v): v is number => v !== null);
  const cosines = images.map((i) => i.minCosine).filter((v): v is number => v !== null);
  return {
    subject: label(subject),
    reference: label(reference),
    tolerances,
    images,
    maxBoxDiffPx: boxes.length ? Math.max(...boxes) : null,
    minCosine: cosines.length ? Math.min(...cosines) : null,
    pass: images.length > 0 && images.every((i) => i.pass),
  };
}

export function label(m: Pick<Measurement, 'variant' | 'requested'> & { process?: { threads: number } }): string {
  return `${m.variant}/${m.requested}`;
}

export interface ReportInput {
  plan: string;
  measurements: Measurement[];
  /** from the orchestrator; when absent, one step per measurement is assumed (in-process runs) */
  steps?: StepRecord[];
  /** which measurement is the reference: `variant/provider`; default the first ok cpu measurement */
  reference?: string;
  host?: Record<string, unknown>;
  gpu?: Record<string, unknown> | null;
  environment?: Record<string, unknown>;
  config?: Record<string, unknown>;
  tolerances?: Tolerances;
  notes?: string[];
}

export const BATCH_NOTES = [
  'dasr throughput, batch B: the equality images as keyframes of one 16:9 video at 512×288, the size ingestion hands ' +
    "them over in (scaled and centre-cropped: a stream's keyframes share a size, their peak counts differ), cycled; " +
    'B detect() calls are started together ' +
    '(Promise.all) on one Backbone and the round is timed; ' +
    'frames per second = frames / seconds over whole rounds after one warm-up round. The Backbone API takes one frame per run ' +
    '(forward: [1,3,H,W]; top-down: [1,3,H,W] with K peak seeds batched), and onnxruntime-node executes session.run ' +
    'synchronously on the JavaScript thread, so B > 1 does not overlap frames on the device: it measures what exists, not ' +
    'multi-frame batching. "two frame sizes": the same at batch 1 with keyframes of a 16:9 (512×288) and a 4:3 (512×384) video by turns, ' +
    'as streams of two aspect ratios sharing one detector (off the cpu each size keeps a session of its own).',
  'forward throughput, batch B: one run of a [B,3,H,W] tensor through the generated backbone model (its batch dimension is ' +
    'dynamic), the first equality image resized to the long side and repeated B times; all four outputs are fetched to the host. ' +
    'This is the reference for what multi-frame batching of the forward pass would give.',
  'equality: each image is detected on the reference (cpu) and on the subject; regions are paired by IoU, boxes compared in ' +
    'original-image pixels, features (L2-normalised res5a box averages) by cosine; logits of the forward pass are compared too.',
];

/** Merges measurements (and the orchestrator's step records) into the report and decides pass/fail. */
export function buildReport(input: ReportInput): DeviceReport {
  const tolerances = input.tolerances ?? DEFAULT_TOLERANCES;
  const measurements = input.measurements;
  const steps: StepRecord[] =
    input.steps ??
    measurements.map((m, i) => ({
      variant: m.variant,
      provider: m.requested,
      role: i === 0 ? 'reference' : 'subject',
      status: m.status,
      seconds: m.wallSeconds,
    }));
  const find = (variant: string, provider: Device) => measurements.find((m) => m.variant === variant && m.requested === provider);
  const referenceStep = input.reference
    ? steps.find((s) => `${s.variant}/${s.provider}` === input.reference)
    : steps.find((s) => s.role === 'reference') ?? steps.find((s) => s.provider === 'cpu');
  const reference = referenceStep ? find(referenceStep.variant, referenceStep.provider) : undefined;
  const referenceOk = !!reference && reference.status === 'ok' && reference.device === 'cpu';

  const runs: RunSummary[] = steps.map((step) => {
    const m = step.status === 'skipped' ? undefined : find(step.variant, step.provider);
    return {
      variant: step.variant,
      requested: step.provider,
      device: m?.device ?? null,
      role: step.role,
      status: step.status,
      ...(step.why || m?.error ? { why: step.why ?? m?.error } : {}),
      ...(step.ortErrors?.length ? { ortErrors: step.ortErrors } : {}),
      warnings: m?.warnings ?? [],
      ort: m?.ort ?? null,
      loadMs: m?.loadMs ?? null,
      throughput: m?.throughput ?? null,
      gpuMemory: m?.gpuMemory ?? null,
      ...(step.gpuBefore || step.gpuAfter ? { gpuAround: { before: step.gpuBefore ?? null, after: step.gpuAfter ?? null } } : {}),
      regionsPerImage: Object.fromEntries((m?.images ?? []).map((i) => [i.image, i.regions.length])),
      wallSeconds: m?.wallSeconds ?? step.seconds ?? null,
    };
  });

  const comparisons: Comparison[] = [];
  if (reference && referenceOk) {
    for (const step of steps) {
      if (step === referenceStep || step.status !== 'ok') continue;
      const subject = find(step.variant, step.provider);
      if (!subject || subject.status !== 'ok') continue;
      comparisons.push(compareMeasurements(reference, subject, tolerances));
      // A run on another ONNX Runtime build is also compared with that build's own cpu run, when there is one.
      const sameBuild = step.provider !== 'cpu' ? find(step.variant, 'cpu') : undefined;
      if (sameBuild && sameBuild !== reference && sameBuild.status === 'ok') comparisons.push(compareMeasurements(sameBuild, subject, tolerances));
    }
  }

  const verdict: string[] = [];
  if (!reference) verdict.push('no cpu reference measurement: nothing could be compared');
  else if (!referenceOk) verdict.push(`the cpu reference ${label(reference)} did not run (${reference.status}${reference.error ? `: ${reference.error}` : ''})`);
  const gpuPassed: string[] = [];
  const referenceIndex = referenceStep ? steps.indexOf(referenceStep) : -1;
  runs.forEach((run, index) => {
    const name = `${run.variant}/${run.requested}`;
    const main = index === referenceIndex ? undefined : comparisons.find((c) => c.subject === name);
    if (run.status === 'ok') {
      const fps = run.throughput?.dasr.map((t) => `B${t.batch}${t.mode === 'two-frame-sizes' ? ' two frame sizes' : ''} ${t.framesPerSecond.toFixed(2)}`).join(', ') ?? '';
      const fwd = run.throughput?.forward.map((t) => `B${t.batch} ${t.imagesPerSecond.toFixed(1)}`).join(', ') ?? '';
      const eq = index === referenceIndex ? 'the reference' : main ? (main.pass ? 'equal to the reference' : 'DIFFERS from the reference') : 'not compared';
      const details = main ? ` (max box diff ${fmt(main.maxBoxDiffPx)} px, min cosine ${fmt(main.minCosine, 6)})` : '';
      verdict.push(`${name}: ran on ${run.device}; ${eq}${details}; DASR keyframes/s ${fps || 'n/a'}; forward images/s ${fwd || 'n/a'}`);
      if (run.requested !== 'cpu' && main?.pass) gpuPassed.push(name);
    } else {
      const why = run.why ?? run.warnings[run.warnings.length - 1];
      const ortError = run.ortErrors?.[run.ortErrors.length - 1];
      verdict.push(`${name}: ${run.status}${why ? ` — ${firstLine(why)}` : ''}${ortError ? ` [ONNX Runtime: ${ortReason(ortError)}]` : ''}`);
    }
  });

  return {
    schema: REPORT_SCHEMA,
    createdAt: new Date().toISOString(),
    plan: input.plan,
    host: input.host ?? {},
    gpu: input.gpu ?? null,
    environment: input.environment ?? {},
    config: input.config ?? {},
    tolerances,
    runs,
    comparisons,
    summary: { referenceOk, gpuPassed, verdict },
    notes: [...BATCH_NOTES, ...(input.notes ?? [])],
  };
}

function fmt(value: number | null, digits = 3): string {
  return value === null ? 'n/a' : value.toFixed(digits);
}

/** The useful end of an ONNX Runtime error line: what follows "with error:", else the text after its location prefix. */
function ortReason(line: string): string {
  const cause = /with error: (.*)$/.exec(line)?.[1] ?? line.replace(/^.*?\] /, '');
  return firstLine(cause);
}

function firstLine(text: string): string {
  return text.split('\n')[0]!.slice(0, 300);
}
