import * as ort from 'onnxruntime-node';
import { defaultLogger, type Logger } from '../log.js';
import { DEFAULT_TOPDOWN_LEVEL, ensureModels, TOPDOWN_STOPS, type TopDownLevel } from './provision.js';
import { SessionsBySize } from './sessions-by-size.js';
import { createSession, type Device } from './session.js';

/** A CHW float tensor of one image (batch 1). */
export interface FeatureMap {
  channels: number;
  height: number;
  width: number;
  data: Float32Array;
}

export interface BackboneOutputs {
  res5a: FeatureMap;
  res5c: FeatureMap;
  logits: Float32Array;
  probabilities: Float32Array;
}

/** A res5c peak: its cell on the map and R there. */
export interface Peak {
  /** column in the response map */
  x: number;
  /** row in the response map */
  y: number;
  /** R at the peak; peaks are ranked by it (and DASR* NMS orders regions by it) */
  score: number;
}

/** What one DASR model run returns: the feature maps, the peaks, and one saliency map per peak. */
export interface DasrOutputs {
  res5a: FeatureMap;
  res5c: FeatureMap;
  peaks: Peak[];
  /** K concatenated maps of saliencyHeight × saliencyWidth, one per peak, in peak order */
  saliency: Float32Array;
  saliencyWidth: number;
  saliencyHeight: number;
  /** input pixels per saliency cell */
  saliencyStride: number;
}

export interface PeakRule {
  maxPeaks: number;
  /** plain DASR: only peaks with R ≥ mean(R) */
  aboveMean: boolean;
}

export interface BackboneOptions {
  /** where the top-down pass stops (TOPDOWN_STOPS) */
  topDown?: TopDownLevel;
  /** frame sizes that keep a DASR session of their own (SessionsBySize); default GPU_FRAME_SIZES off the cpu, 1 on it */
  frameSizes?: number;
  /** run max_peaks top-down slots whatever a frame holds (emitPeaks); default: off the cpu */
  fixedSlots?: boolean;
  device?: Device;
  threads?: number;
  cacheDir?: string;
  logger?: Logger;
}

/**
 * DASR sessions a GPU provider keeps, one per keyframe size (SessionsBySize): streams of four aspect ratios at
 * once before any two share a session. Each holds its own device memory (the H200 used at most 3.3 GiB for the
 * forward and one DASR session).
 */
export const GPU_FRAME_SIZES = 4;

/** Stride of res5 feature maps relative to the network input. */
export const RES5_STRIDE = 32;

/**
 * The ResNet-50 forward (for queries and classification) and the whole DASR detection (forward, peaks, top-down
 * pass) of one top-down level, each in its own ONNX Runtime session.
 */
export class Backbone {
  private constructor(
    private readonly forwardSession: ort.InferenceSession,
    private readonly dasrSessions: SessionsBySize<ort.InferenceSession>,
    /** whether the top-down pass runs max_peaks slots whatever a frame holds (dasrFeeds) */
    readonly fixedSlots: boolean,
    readonly device: Device,
    readonly topDown: TopDownLevel,
  ) {}

  static async load(options: BackboneOptions = {}): Promise<Backbone> {
    const logger = options.logger ?? defaultLogger;
    const topDown = options.topDown ?? DEFAULT_TOPDOWN_LEVEL;
    const paths = await ensureModels({ cacheDir: options.cacheDir, logger, topDown });
    const sessionOptions = { device: options.device, threads: options.threads, logger };
    const forward = await createSession(paths.backbone, sessionOptions);
    // The DASR session follows the forward's provider so a fallback is decided (and logged) once.
    const dasr = await createSession(paths.dasr, { ...sessionOptions, device: forward.device });
    // Later sessions (one per frame size) must run where the first one does, or not at all.
    const another = async () => (await createSession(paths.dasr, { ...sessionOptions, device: dasr.device, fallback: false })).session;
    const frameSizes = options.frameSizes ?? (dasr.device === 'cpu' ? 1 : GPU_FRAME_SIZES);
    const fixedSlots = options.fixedSlots ?? dasr.device !== 'cpu';
    // The device said is the DASR session's: where the detection runs (a forward on a GPU beside it is a detail).
    return new Backbone(forward.session, new SessionsBySize(dasr.session, another, frameSizes), fixedSlots, dasr.device, topDown);
  }

  /** Forward pass of one image given as an NCHW caffe-normalised tensor. */
  async forward(image: Float32Array, height: number, width: number): Promise<BackboneOutputs> {
    const result = await this.forwardSession.run({ image: new ort.Tensor('float32', image, [1, 3, height, width]) });
    return {
      res5a: featureMap(result.res5a!),
      res5c: featureMap(result.res5c!),
      logits: result.logits!.data as Float32Array,
      probabilities: result.probabilities!.data as Float32Array,
    };
  }

  /** One DASR detection run of an image given as an NCHW caffe-normalised tensor. */
  async detect(image: Float32Array, height: number, width: number, rule: PeakRule): Promise<DasrOutputs> {
    const session = await this.dasrSessions.for(height, width);
    const result = await session.run(dasrFeeds(image, height, width, rule, this.fixedSlots));
    const res5c = featureMap(result.res5c!);
    const count = Number((result.peak_count!.data as BigInt64Array)[0]);
    const cells = result.peak_cells!.data as BigInt64Array;
    const scores = result.peak_scores!.data as Float32Array;
    const peaks = Array.from({ length: count }, (_, k) => {
      const cell = Number(cells[k]);
      return { x: cell % res5c.width, y: Math.floor(cell / res5c.width), score: scores[k]! };
    });
    const [, saliencyHeight, saliencyWidth] = result.saliency!.dims as number[];
    return {
      res5a: featureMap(result.res5a!),
      res5c,
      peaks,
      saliency: (result.saliency!.data as Float32Array).subarray(0, count * saliencyHeight! * saliencyWidth!),
      saliencyWidth: saliencyWidth!,
      saliencyHeight: saliencyHeight!,
      saliencyStride: TOPDOWN_STOPS[this.topDown].stride,
    };
  }

  async release(): Promise<void> {
    await Promise.all([this.forwardSession, ...(await this.dasrSessions.all())].map((session) => session.release()));
  }
}

/**
 * The DASR model's inputs. `fixedSlots` keeps the top-down batch at rule.maxPeaks whatever the frame holds
 * (emitPeaks): a GPU provider re-chooses its convolution kernels whenever an input shape changes, which costs
 * more than the unused slots; the cpu runs only the peaks found.
 */
export function dasrFeeds(image: Float32Array, height: number, width: number, rule: PeakRule, fixedSlots: boolean): Record<string, ort.Tensor> {
  return {
    image: new ort.Tensor('float32', image, [1, 3, height, width]),
    max_peaks: new ort.Tensor('int64', BigInt64Array.of(BigInt(rule.maxPeaks)), [1]),
    above_mean: new ort.Tensor('bool', Uint8Array.of(rule.aboveMean ? 1 : 0), [1]),
    fixed_slots: new ort.Tensor('bool', Uint8Array.of(fixedSlots ? 1 : 0), [1]),
  };
}

function featureMap(tensor: ort.Tensor): FeatureMap {
  const [, channels, height, width] = tensor.dims as number[];
  return { channels: channels!, height: height!, width: width!, data: tensor.data as Float32Array };
}
