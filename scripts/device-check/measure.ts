/**
 * One measuring run of the device check, in this process, on one execution provider: the product's own
 * Backbone.load (so a provider that fails falls back to cpu exactly as in production, and that is recorded),
 * DASR detect on a few images (the equality data), DASR keyframes/s and plain forward throughput, and GPU
 * memory from nvidia-smi when there is one.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import sharp from 'sharp';
import { Dasr, type Detection, type DetectionTimings } from '../../src/detect/dasr.js';
import { decodeImage, resizeLongSide, type DecodedImage } from '../../src/image/load.js';
import { toCaffeTensor } from '../../src/image/tensor.js';
import { createLogger, type Logger } from '../../src/log.js';
import { Backbone, dasrFeeds } from '../../src/model/backbone.js';
import { profileRuns } from '../../src/model/ort-profile.js';
import { ensureModels } from '../../src/model/provision.js';
import { createSession, sessionOptionsFor, type Device } from '../../src/model/session.js';
import {
  MEASUREMENT_SCHEMA,
  encodeFloats,
  type DasrThroughput,
  type ForwardThroughput,
  type GpuMemory,
  type GpuSnapshot,
  type ImageRecord,
  type Measurement,
} from './report.js';

export interface MeasureOptions {
  variant: string;
  provider: Device;
  images: string[];
  longSide: number;
  /** DASR frames in flight at once; empty: no DASR throughput */
  batches: number[];
  /** tensor batch sizes of the plain forward pass; empty: none */
  forwardBatches: number[];
  /** time per throughput configuration, after a warm-up; at least one round is always timed */
  seconds: number;
  /** intra-op threads for the cpu provider (0: one per core) */
  threads?: number;
  cacheDir?: string;
  /** DASR runs to profile with ONNX Runtime's profiler after the throughput runs; 0 or absent: none */
  profileRuns?: number;
  /** receives every log line too (the measurement keeps warnings) */
  log?: (line: string) => void;
}

export async function measure(options: MeasureOptions): Promise<Measurement> {
  const started = performance.now();
  const warnings: string[] = [];
  const write = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const logger: Logger = createLogger('info', (line) => {
    if (/\] (warn|error):/.test(line)) warnings.push(line.replace(/^\[dasr\] (warn|error): /, ''));
    write(line);
  });
  const gpu = new GpuWatcher();
  const measurement: Measurement = {
    schema: MEASUREMENT_SCHEMA,
    variant: options.variant,
    requested: options.provider,
    device: options.provider,
    status: 'ok',
    warnings,
    ort: { common: ort.env.versions.common, node: ort.env.versions.node ?? '', backends: listBackends() },
    process: { pid: process.pid, node: process.version, threads: options.threads ?? 0 },
    config: {
      longSide: options.longSide,
      batches: options.batches,
      forwardBatches: options.forwardBatches,
      seconds: options.seconds,
      images: options.images.map((image) => basename(image)),
    },
    loadMs: null,
    images: [],
    throughput: null,
    gpuMemory: null,
    wallSeconds: 0,
  };
  let backbone: Backbone | undefined;
  try {
    const paths = await ensureModels({ cacheDir: options.cacheDir, logger });
    const t = performance.now();
    backbone = await Backbone.load({ device: options.provider, threads: options.threads, cacheDir: options.cacheDir, logger });
    measurement.loadMs = performance.now() - t;
    measurement.device = backbone.device;
    gpu.mark('afterLoad');
    if (backbone.device !== options.provider) {
      measurement.status = 'fell-back';
      measurement.error = warnings[warnings.length - 1] ?? `sessions run on ${backbone.device}, not ${options.provider}`;
      return measurement;
    }

    const dasr = new Dasr(backbone, { longSide: options.longSide });
    const decoded: { name: string; image: DecodedImage }[] = [];
    for (const file of options.images) decoded.push({ name: basename(file), image: await decodeImage(file) });
    for (const { name, image } of decoded) {
      const t0 = performance.now();
      const detection = await dasr.detect(image);
      const resized = resizeLongSide(image, options.longSide);
      const outputs = await backbone.forward(toCaffeTensor(resized), resized.height, resized.width);
      measurement.images.push(imageRecord(name, image, detection, outputs.logits));
      write(`[device-check] ${options.variant}/${options.provider} ${name}: ${detection.regions.length} regions, ${(performance.now() - t0).toFixed(0)} ms (first run, warm-up included)`);
    }

    // Keyframes of one video share a size; only their content (and so their peak count) changes.
    // (At another long side than 512 detect() resizes them first, as it would any image.)
    const frames = await Promise.all(options.images.map((file) => asVideoFrame(file)));
    const dasrThroughput: DasrThroughput[] = [];
    for (const batch of options.batches) {
      const result = await timeDasr(dasr, frames, batch, options.seconds);
      dasrThroughput.push(result);
      write(`[device-check] ${options.variant}/${options.provider} DASR batch ${batch}: ${result.framesPerSecond.toFixed(2)} keyframes/s (${result.frames} frames in ${result.seconds.toFixed(2)} s)`);
    }
    if (options.batches.includes(1)) {
      const narrower = await Promise.all(options.images.map((file) => asVideoFrame(file, NARROW_VIDEO_FRAME)));
      const result = await timeDasr(dasr, frames.flatMap((frame, i) => [frame, narrower[i]!]), 1, options.seconds, 'two-frame-sizes', 2);
      dasrThroughput.push(result);
      write(`[device-check] ${options.variant}/${options.provider} DASR two frame sizes by turns: ${result.framesPerSecond.toFixed(2)} keyframes/s`);
    }
    const forwardThroughput: ForwardThroughput[] = [];
    if (options.forwardBatches.length > 0 && decoded.length > 0) {
      const created = await createSession(paths.backbone, { device: options.provider, threads: options.threads, logger });
      try {
        if (created.device !== options.provider) throw new Error(`the forward session fell back to ${created.device}`);
        const resized = resizeLongSide(decoded[0]!.image, options.longSide);
        const one = toCaffeTensor(resized);
        for (const batch of options.forwardBatches) {
          const result = await timeForward(created.session, one, resized.height, resized.width, batch, options.seconds);
          forwardThroughput.push(result);
          write(`[device-check] ${options.variant}/${options.provider} forward batch ${batch}: ${result.imagesPerSecond.toFixed(1)} images/s`);
        }
      } finally {
        await created.session.release();
      }
    }
    measurement.throughput = { dasr: dasrThroughput, forward: forwardThroughput, notes: [] };
    if (options.batches.some((b) => b > 1)) {
      measurement.throughput.notes.push('DASR batch > 1 = concurrent detect() calls; session.run is synchronous in onnxruntime-node, so no device overlap is expected');
    }
    if (options.profileRuns) {
      try {
        // The video's keyframes with the product's session options and the detector's own feeds, profiled.
        const fixedSlots = backbone.fixedSlots;
        const feeds = frames.map((image) => {
          const resized = resizeLongSide(image, options.longSide);
          return dasrFeeds(toCaffeTensor(resized), resized.height, resized.width, dasr.peakRule, fixedSlots);
        });
        const profile = await profileRuns(paths.dasr, sessionOptionsFor(options.provider, { threads: options.threads }), feeds, options.profileRuns);
        measurement.profile = profile;
        write(`[device-check] ${options.variant}/${options.provider} profile: ${profile.wallMsPerRun?.toFixed(1)} ms per run; kernels ${JSON.stringify(profile.kernelMsPerRun)}`);
        for (const o of profile.operators.slice(0, 12)) write(`[device-check]   ${o.op} on ${o.provider}: ${o.msPerRun.toFixed(2)} ms/run (${o.nodes} nodes, ${o.calls} calls)`);
      } catch (error) {
        // The profile is a diagnosis: its failure leaves the comparison and the throughput standing.
        warnings.push(`profile failed: ${error instanceof Error ? error.message : String(error)}`);
        write(`[device-check] ${options.variant}/${options.provider} profile failed: ${String(error)}`);
      }
    }
  } catch (error) {
    measurement.status = 'error';
    measurement.error = error instanceof Error ? `${error.message}\n${error.stack ?? ''}` : String(error);
    write(`[device-check] error: ${measurement.error}`);
  } finally {
    gpu.mark('after');
    if (backbone) await backbone.release().catch(() => undefined);
    measurement.gpuMemory = await gpu.stop();
    measurement.wallSeconds = (performance.now() - started) / 1000;
  }
  return measurement;
}

/**
 * The image as a keyframe of a 16:9 video, scaled and centre-cropped to fill the frame, at the size ingestion
 * hands keyframes to DASR: ffmpeg already scales them to the network's long side (512).
 */
const VIDEO_FRAME = { width: 512, height: 288 } as const;
/** A second stream's keyframe size, of another aspect ratio (4:3). */
const NARROW_VIDEO_FRAME = { width: 512, height: 384 } as const;

async function asVideoFrame(file: string, size: { width: number; height: number } = VIDEO_FRAME): Promise<DecodedImage> {
  return decodeImage(await sharp(file).resize(size.width, size.height, { fit: 'cover' }).png().toBuffer());
}

function listBackends(): { name: string; bundled: boolean }[] {
  try {
    return ort.listSupportedBackends().map((b) => ({ name: b.name, bundled: b.bundled }));
  } catch {
    return [];
  }
}

function imageRecord(name: string, image: DecodedImage, detection: Detection, logits: Float32Array): ImageRecord {
  const top5 = Array.from(logits.keys())
    .sort((a, b) => logits[b]! - logits[a]!)
    .slice(0, 5);
  return {
    image: name,
    width: image.width,
    height: image.height,
    input: detection.input,
    peaks: detection.peaks,
    regions: detection.regions.map((r) => ({ box: r.box, score: r.score, peak: r.peak, feature: encodeFloats(r.feature) })),
    logits: encodeFloats(logits),
    top5,
    timings: detection.timings,
  };
}

/** `warmUp` frames run first, untimed: at least one of each size among `images` (shapes, allocator growth). */
async function timeDasr(dasr: Dasr, images: DecodedImage[], batch: number, seconds: number, mode: DasrThroughput['mode'] = 'concurrent-detect-calls', warmUp = batch): Promise<DasrThroughput> {
  let next = 0;
  const round = () => Promise.all(Array.from({ length: batch }, () => dasr.detect(images[next++ % images.length]!)));
  for (let k = 0; k < warmUp; k++) await dasr.detect(images[next++ % images.length]!);
  const stages: DetectionTimings = { networkMs: 0, boxesMs: 0, poolingMs: 0 };
  let rounds = 0;
  let frames = 0;
  const t0 = performance.now();
  do {
    for (const d of await round()) {
      stages.networkMs += d.timings.networkMs;
      stages.boxesMs += d.timings.boxesMs;
      stages.poolingMs += d.timings.poolingMs;
    }
    rounds++;
    frames += batch;
  } while (performance.now() - t0 < seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  const mean = (v: number) => v / frames;
  return {
    batch,
    mode,
    rounds,
    frames,
    seconds: elapsed,
    framesPerSecond: frames / elapsed,
    meanStageMs: { networkMs: mean(stages.networkMs), boxesMs: mean(stages.boxesMs), poolingMs: mean(stages.poolingMs) },
  };
}

async function timeForward(session: ort.InferenceSession, one: Float32Array, height: number, width: number, batch: number, seconds: number): Promise<ForwardThroughput> {
  const data = new Float32Array(one.length * batch);
  for (let b = 0; b < batch; b++) data.set(one, b * one.length);
  const feeds = { image: new ort.Tensor('float32', data, [batch, 3, height, width]) };
  await session.run(feeds); // warm-up
  let runs = 0;
  const t0 = performance.now();
  do {
    await session.run(feeds);
    runs++;
  } while (performance.now() - t0 < seconds * 1000);
  const elapsed = (performance.now() - t0) / 1000;
  return { batch, inputShape: [batch, 3, height, width], runs, seconds: elapsed, passesPerSecond: runs / elapsed, imagesPerSecond: (runs * batch) / elapsed };
}

/** `nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv` as printed, or null without nvidia-smi. */
export function nvidiaSmiCsv(): string | null {
  try {
    return execFileSync('nvidia-smi', ['--query-gpu=name,memory.used,memory.total', '--format=csv'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function parseGpuCsv(csv: string | null): GpuSnapshot | null {
  if (!csv) return null;
  const line = csv.split('\n').find((l) => !/^name\s*,/.test(l) && l.trim() !== '');
  if (!line) return null;
  const cells = line.split(',').map((c) => c.trim());
  const mib = (cell: string | undefined) => Number.parseFloat((cell ?? '').replace(/\s*MiB$/, ''));
  return { name: cells[0] ?? '', memoryUsedMiB: mib(cells[1]), memoryTotalMiB: mib(cells[2]) };
}

/** GPU memory around a run: snapshots at named points, and the peak from nvidia-smi's own 200 ms loop. */
class GpuWatcher {
  private readonly raw: Record<string, string | null> = {};
  private readonly sampler: ChildProcess | null;
  private peak: number | null = null;
  private readonly available: boolean;

  constructor() {
    this.raw.before = nvidiaSmiCsv();
    this.available = this.raw.before !== null;
    this.sampler = this.available ? this.startSampler() : null;
  }

  mark(point: string): void {
    if (this.available) this.raw[point] = nvidiaSmiCsv();
  }

  async stop(): Promise<GpuMemory> {
    if (!this.available) {
      return { raw: this.raw, before: null, afterLoad: null, after: null, peakUsedMiB: null, processUsedMiB: null, unavailable: 'nvidia-smi not found or failed' };
    }
    const processUsedMiB = this.processUsage();
    if (this.sampler && this.sampler.exitCode === null) {
      const exited = new Promise((resolve) => this.sampler!.once('exit', resolve));
      this.sampler.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 2000))]);
    }
    const snapshots = ['before', 'afterLoad', 'after'].map((k) => parseGpuCsv(this.raw[k] ?? null));
    for (const s of snapshots) if (s && Number.isFinite(s.memoryUsedMiB)) this.peak = Math.max(this.peak ?? 0, s.memoryUsedMiB);
    return { raw: this.raw, before: snapshots[0]!, afterLoad: snapshots[1]!, after: snapshots[2]!, peakUsedMiB: this.peak, processUsedMiB };
  }

  private startSampler(): ChildProcess | null {
    try {
      const child = spawn('nvidia-smi', ['--query-gpu=memory.used', '--format=csv,noheader,nounits', '-lms', '200'], { stdio: ['ignore', 'pipe', 'ignore'] });
      child.on('error', () => undefined);
      let buffer = '';
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (chunk: string) => {
        buffer += chunk;
        const lines = buffer.split('\n');
        buffer = lines.pop() ?? '';
        for (const line of lines) {
          const value = Number.parseFloat(line);
          if (Number.isFinite(value)) this.peak = Math.max(this.peak ?? 0, value);
        }
      });
      child.unref();
      return child;
    } catch {
      return null;
    }
  }

  private processUsage(): number | null {
    try {
      const out = execFileSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], { encoding: 'utf8', timeout: 15_000, stdio: ['ignore', 'pipe', 'ignore'] });
      for (const line of out.split('\n')) {
        const [pid, used] = line.split(',').map((c) => c.trim());
        if (Number(pid) === process.pid) return Number.parseFloat(used ?? '');
      }
      return null;
    } catch {
      return null;
    }
  }
}
