/**
 * The device check (scripts/device-check) on this machine's cpu: the measuring code on real photos at a small
 * long side, the cpu-vs-cpu comparison (all threads vs one thread: it must pass), and the report's JSON shape.
 * The GPU runs themselves only happen on a GPU machine; here cuda/webgpu are represented by a fallen-back step.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { measure } from '../../scripts/device-check/measure.js';
import { parseGpuCsv } from '../../scripts/device-check/measure.js';
import {
  REPORT_SCHEMA,
  buildReport,
  compareImage,
  decodeFloats,
  encodeFloats,
  type ImageRecord,
  type Measurement,
} from '../../scripts/device-check/report.js';

const fixture = (path: string) => fileURLToPath(new URL(`../../fixtures/${path}`, import.meta.url));
const images = [fixture('photos/chelsea.png'), fixture('videos/moving-object-query-scene.png')];
const silent = () => undefined;

describe('device check on cpu', () => {
  let reference: Measurement;
  let subject: Measurement;

  beforeAll(async () => {
    const base = { images, longSide: 128, seconds: 0.2, log: silent };
    reference = await measure({ ...base, variant: 'test', provider: 'cpu', threads: 0, batches: [1, 2], forwardBatches: [1, 2] });
    subject = await measure({ ...base, variant: 'test+1thread', provider: 'cpu', threads: 1, batches: [1], forwardBatches: [2], profileRuns: 2 });
  }, 120_000);

  it('measures detections, throughput and the forward pass', () => {
    expect(reference.status).toBe('ok');
    expect(reference.device).toBe('cpu');
    expect(reference.ort.common).toMatch(/^\d+\.\d+\.\d+$/);
    expect(reference.images.map((i) => i.image)).toEqual(['chelsea.png', 'moving-object-query-scene.png']);
    for (const image of reference.images) {
      expect(Math.max(image.input.width, image.input.height)).toBe(128);
      expect(image.top5).toHaveLength(5);
      expect(decodeFloats(image.logits)).toHaveLength(1000);
      for (const region of image.regions) {
        expect(region.box).toHaveLength(4);
        expect(decodeFloats(region.feature)).toHaveLength(2048);
      }
    }
    expect(reference.images.some((i) => i.regions.length > 0)).toBe(true);
    const { dasr, forward } = reference.throughput!;
    expect(dasr.map((t) => [t.batch, t.mode])).toEqual([
      [1, 'concurrent-detect-calls'],
      [2, 'concurrent-detect-calls'],
      [1, 'two-frame-sizes'],
    ]);
    for (const t of dasr) {
      expect(t.frames).toBe(t.rounds * t.batch);
      expect(t.framesPerSecond).toBeGreaterThan(0);
    }
    expect(reference.throughput!.notes).toEqual([expect.stringMatching(/^DASR batch > 1 = concurrent detect\(\) calls/)]);
    expect(forward.map((t) => t.inputShape[0])).toEqual([1, 2]);
    expect(forward[1]!.imagesPerSecond).toBeCloseTo(forward[1]!.passesPerSecond * 2, 6);
    // Where nvidia-smi runs, its snapshots; elsewhere null figures with the reason.
    if (spawnSync('nvidia-smi', ['-L']).status === 0) {
      expect(reference.gpuMemory!.before!.memoryTotalMiB).toBeGreaterThan(0);
      expect(reference.gpuMemory!.peakUsedMiB).toBeGreaterThanOrEqual(reference.gpuMemory!.before!.memoryUsedMiB);
    } else {
      expect(reference.gpuMemory).toMatchObject({ unavailable: 'nvidia-smi not found or failed', before: null, afterLoad: null, after: null, peakUsedMiB: null, processUsedMiB: null });
    }
  });

  it("profiles the DASR model's runs per operator when asked, and only then", () => {
    expect(reference.profile).toBeUndefined();
    const profile = subject.profile!;
    expect(profile.runs).toBe(2);
    expect(profile.runMs).toHaveLength(2);
    expect(Object.keys(profile.kernelMsPerRun)).toEqual(['CPU']);
    const conv = profile.operators.find((o) => o.op === 'Conv')!;
    expect(conv.provider).toBe('CPU');
    expect(conv.calls).toBe(2 * conv.nodes);
    expect(profile.slowestNodes.length).toBeGreaterThan(0);
  });

  it('finds the cpu equal to itself (all threads vs one thread)', () => {
    const report = buildReport({ plan: 'test', measurements: [reference, subject] });
    expect(report.comparisons).toHaveLength(1);
    const [comparison] = report.comparisons;
    expect(comparison!.reference).toBe('test/cpu');
    expect(comparison!.subject).toBe('test+1thread/cpu');
    expect(comparison!.pass).toBe(true);
    expect(comparison!.maxBoxDiffPx!).toBeLessThanOrEqual(1);
    expect(comparison!.minCosine!).toBeGreaterThanOrEqual(0.9999);
    for (const image of comparison!.images) {
      expect(image.matched).toBe(image.referenceRegions);
      expect(image.logits!.top5Equal).toBe(true);
    }
  });

  it('writes a report of the agreed shape, with fallen-back and skipped runs said as such', () => {
    const fellBack: Measurement = { ...reference, variant: 'test', requested: 'cuda', device: 'cpu', status: 'fell-back', error: 'device cuda failed to start', images: [], throughput: null };
    const report = buildReport({
      plan: 'test',
      measurements: [reference, subject, fellBack],
      steps: [
        { variant: 'test', provider: 'cpu', role: 'reference', status: 'ok' },
        { variant: 'test+1thread', provider: 'cpu', role: 'subject', status: 'ok' },
        { variant: 'test', provider: 'cuda', role: 'subject', status: 'fell-back', why: 'device cuda failed to start', ortErrors: ['[E:onnxruntime:x] libcublasLt.so.13: cannot open shared object file'] },
        { variant: 'test', provider: 'webgpu', role: 'subject', status: 'skipped', why: 'budget' },
      ],
    });
    const json = JSON.parse(JSON.stringify(report)) as typeof report;
    expect(json.schema).toBe(REPORT_SCHEMA);
    expect(Object.keys(json)).toEqual(['schema', 'createdAt', 'plan', 'host', 'gpu', 'environment', 'config', 'tolerances', 'runs', 'comparisons', 'summary', 'notes']);
    expect(json.tolerances).toEqual({ boxPx: 1, minCosine: 0.9999, matchIou: 0.5 });
    expect(json.runs.map((r) => [r.variant, r.requested, r.status])).toEqual([
      ['test', 'cpu', 'ok'],
      ['test+1thread', 'cpu', 'ok'],
      ['test', 'cuda', 'fell-back'],
      ['test', 'webgpu', 'skipped'],
    ]);
    expect(json.runs[0]!.throughput!.dasr[0]).toMatchObject({ batch: 1, mode: 'concurrent-detect-calls' });
    expect(json.comparisons).toHaveLength(1);
    expect(json.summary.referenceOk).toBe(true);
    expect(json.summary.gpuPassed).toEqual([]);
    expect(json.summary.verdict[2]).toMatch(/test\/cuda: fell-back — device cuda failed to start \[ONNX Runtime: libcublasLt/);
    expect(json.summary.verdict[3]).toMatch(/test\/webgpu: skipped — budget/);
    expect(json.notes.join(' ')).toMatch(/synchronously/);
    // Features travel only in the measurements, not in the report.
    expect(JSON.stringify(json)).not.toContain(reference.images[0]!.logits);
  });
});

describe('region comparison', () => {
  const feature = (seed: number) => encodeFloats(Float32Array.from({ length: 8 }, (_, i) => Math.sin(seed + i)));
  const image = (regions: [number, number, number, number, number][]): ImageRecord => ({
    image: 'x.png',
    width: 100,
    height: 80,
    input: { width: 100, height: 80 },
    peaks: regions.length,
    regions: regions.map(([x1, y1, x2, y2, seed]) => ({ box: [x1, y1, x2, y2], score: 10 - seed, peak: [0, 0], feature: feature(seed) })),
    logits: '',
    top5: [],
    timings: { networkMs: 0, boxesMs: 0, poolingMs: 0 },
  });
  const reference = image([
    [0, 0, 40, 40, 1],
    [50, 30, 90, 70, 2],
  ]);

  it('pairs regions by overlap, whatever their order', () => {
    const result = compareImage(reference, image([[50.4, 30, 90, 70.2, 2], [0, 0, 40, 40, 1]]));
    expect(result.pass).toBe(true);
    expect(result.matched).toBe(2);
    expect(result.maxBoxDiffPx).toBeCloseTo(0.4, 6);
    expect(result.minCosine).toBeCloseTo(1, 9);
  });

  it('fails a box that moved more than the tolerance', () => {
    const result = compareImage(reference, image([[0, 0, 40, 43, 1], [50, 30, 90, 70, 2]]));
    expect(result.pass).toBe(false);
    expect(result.problems.join()).toMatch(/moved 3\.000 px/);
  });

  it('fails a missing or an extra region, and a feature that changed', () => {
    expect(compareImage(reference, image([[0, 0, 40, 40, 1]])).problems.join()).toMatch(/no counterpart/);
    expect(compareImage(reference, image([[0, 0, 40, 40, 1], [50, 30, 90, 70, 2], [5, 5, 9, 9, 3]])).problems.join()).toMatch(/1 subject region/);
    const changed = compareImage(reference, image([[0, 0, 40, 40, 1], [50, 30, 90, 70, 7]]));
    expect(changed.pass).toBe(false);
    expect(changed.minCosine!).toBeLessThan(0.9999);
  });

  it('reads nvidia-smi csv', () => {
    expect(parseGpuCsv('name, memory.used [MiB], memory.total [MiB]\nNVIDIA H100 80GB HBM3, 512 MiB, 81559 MiB')).toEqual({
      name: 'NVIDIA H100 80GB HBM3',
      memoryUsedMiB: 512,
      memoryTotalMiB: 81559,
    });
    expect(parseGpuCsv(null)).toBeNull();
  });
});
